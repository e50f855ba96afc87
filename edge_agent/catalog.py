"""The store's catalog file (`catalog.sqlite`): the items, books and prices head office published,
each version staged chunk by chunk and applied whole. The one owner of the file's writes.

- Chunks are staged durably as they arrive (table `chunks`, WAL + synchronous=FULL like the
  outbox): the agent never holds a version in memory (300,000 items are about 55 MB), and a
  restart keeps what has come.
- A version is applied in one transaction, only once every part of one copy (version and
  digest) is staged and the SHA-256 of the whole matches; its content is decoded page by page
  (protocol.catalog_stream). A till reading meanwhile sees the previous version whole (WAL), and
  a SIGKILL during the apply leaves it so: at the next start the staged copy is applied again.
- A copy that cannot be applied (a digest that does not match, a delta from another version
  than the store has, content that does not decode) is dropped: CopyRefused.
- Every row keeps the version it last changed in (`changed_in`), and removed rows leave a
  tombstone (`removed`), so tills can ask what changed since a version (edge_agent.catalog_reads).
"""

import asyncio
import datetime as dt
import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from edge_agent import integrity
from edge_agent.errors import CopyRefused
from protocol import catalog_stream, chunking
from protocol.errors import PayloadError
from protocol.messages import CatalogBook, CatalogChunk, CatalogItem, CatalogPrice
from runtime.clock import SYSTEM, Clock, stamp
from runtime.migrations import SchemaTooNew, migrate
from runtime.sqlite_writer import SQLiteWriter

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE catalog_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER,
    applied_at TEXT,
    kind TEXT,
    heard_version INTEGER,
    heard_at TEXT
);
INSERT INTO catalog_state (id) VALUES (1);
CREATE TABLE books (
    book TEXT PRIMARY KEY,
    currency TEXT NOT NULL,
    priority INTEGER NOT NULL,
    changed_in INTEGER NOT NULL,
    seen_in INTEGER NOT NULL
);
CREATE TABLE items (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    barcode TEXT,
    unit TEXT,
    tax_class TEXT,
    changed_in INTEGER NOT NULL,
    seen_in INTEGER NOT NULL
);
CREATE INDEX items_by_barcode ON items (barcode) WHERE barcode IS NOT NULL;
CREATE INDEX items_changed ON items (changed_in);
CREATE TABLE prices (
    id INTEGER PRIMARY KEY,
    book TEXT NOT NULL,
    sku TEXT NOT NULL,
    price TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    effective_to TEXT,
    changed_in INTEGER NOT NULL,
    seen_in INTEGER NOT NULL
);
CREATE INDEX prices_by_sku ON prices (sku);
CREATE INDEX prices_starting ON prices (effective_from);
CREATE INDEX prices_ending ON prices (effective_to) WHERE effective_to IS NOT NULL;
CREATE INDEX prices_changed ON prices (changed_in);
CREATE TABLE removed (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    sku TEXT,
    version INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX removed_by_version ON removed (version);
CREATE TABLE chunks (
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    part INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (version, digest, part)
);
"""
_MIGRATIONS = [_SCHEMA]
CACHE_KIB = 512

# Each table's columns as a version names them, and how a changed row is told from the same one.
_UPSERT = {
    "books": ("book", ("currency", "priority")),
    "items": ("sku", ("name", "barcode", "unit", "tax_class")),
    "prices": ("id", ("book", "sku", "price", "effective_from", "effective_to")),
}
_KIND = {"books": "book", "items": "item", "prices": "price"}


def _upsert_sql(table: str) -> str:
    key, cols = _UPSERT[table]
    names = (key, *cols)
    same = (f"({', '.join(f'{table}.{c}' for c in cols)}) IS "
            f"({', '.join(f'excluded.{c}' for c in cols)})")
    return (f"INSERT INTO {table} ({', '.join(names)}, changed_in, seen_in) VALUES"
            f" ({', '.join('?' for _ in names)}, ?, ?) ON CONFLICT ({key}) DO UPDATE SET"
            f" changed_in = CASE WHEN {same} THEN {table}.changed_in ELSE excluded.changed_in END,"
            + "".join(f" {c} = excluded.{c}," for c in cols) + " seen_in = excluded.seen_in")


_SQL = {table: _upsert_sql(table) for table in _UPSERT}


def _row(section: str, row: Any) -> tuple[Any, ...]:
    if section == "books":
        b: CatalogBook = row
        return (b.book, b.currency, b.priority)
    if section == "items":
        i: CatalogItem = row
        return (i.sku, i.name, i.barcode, i.unit, i.tax_class)
    p: CatalogPrice = row
    return (p.id, p.book, p.sku, str(p.price), stamp(p.effective_from),
            stamp(p.effective_to) if p.effective_to else None)


class State(NamedTuple):
    """The version the store has (None: none yet) and the newest it has heard of."""

    version: int | None
    applied_at: str | None
    kind: str | None
    heard_version: int | None
    heard_at: str | None


class Staged(NamedTuple):
    """What staging one chunk came to: `held` of `parts` parts of its copy are staged; `stale`
    when the store has this version or a newer one already (nothing was staged)."""

    version: int
    digest: str
    held: int
    parts: int
    stale: bool = False

    @property
    def complete(self) -> bool:
        return not self.stale and self.held == self.parts


class Catalog:
    """The catalog file's writer (one thread, group commit: runtime.sqlite_writer) and what the
    store has applied (`state`, kept in step after each write)."""

    def __init__(self, path: Path | str, clock: Clock = SYSTEM) -> None:
        self.path = Path(path)
        self.clock = clock
        self._writer = SQLiteWriter(self.path, self._setup, name="catalog-writer")
        self._opened = False
        self.opened = asyncio.Event()  # set once the file is open
        self.state = State(None, None, None, None, None)
        self.applying: int | None = None  # the version being applied just now

    def _setup(self, conn: sqlite3.Connection) -> None:
        # A smaller page cache than SQLite's 2 MB: applying 600,000 rows would fill any cache,
        # and the agent keeps within 50 MB (bench.catalog_load).
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        migrate(conn, _MIGRATIONS, "catalog")

    @property
    def is_open(self) -> bool:
        """Whether the file is open (not while a full disk keeps it shut)."""
        return self._writer.started and self._opened

    async def open(self) -> bool:
        """Open (or create) the file; False when the disk has no room for it just now (the
        caller tries again later; sales never wait for the catalog). A file SQLite cannot read
        (or one a newer agent wrote) is moved aside and a new one made: head office sends the
        catalog again (the store then reports version 0)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            await self._start()
        except (sqlite3.Error, SchemaTooNew) as exc:
            if isinstance(exc, sqlite3.Error) and integrity.full_disk(self.path, exc) is not None:
                log.error("catalog %s cannot be opened: the disk is full; prices are not "
                          "looked up until there is room", self.path)
                return False
            aside = f"{self.path.name}.damaged-{self.clock.now():%Y%m%dT%H%M%S}"
            log.error("catalog %s cannot be read (%s): moved to %s; head office sends the "
                      "catalog again", self.path, exc, aside)
            for suffix in ("", "-wal", "-shm"):
                found = self.path.with_name(self.path.name + suffix)
                if found.exists():
                    found.rename(self.path.with_name(aside + suffix))
            try:
                await self._start()
            except sqlite3.Error:
                log.exception("catalog %s cannot be made anew", self.path)
                return False
        log.info("catalog %s open: version %s", self.path, self.state.version)
        return True

    async def _start(self) -> None:
        self._writer = SQLiteWriter(self.path, self._setup, name="catalog-writer")
        await self._writer.start()
        self.state = await self._writer.run(_state)
        self._opened = True
        self.opened.set()

    async def close(self) -> None:
        self._opened = False
        if self._writer.started:
            await self._writer.close()

    async def stage(self, chunk: CatalogChunk) -> Staged:
        """Keep one chunk durably (PayloadError for a chunk that cannot belong to any copy)."""
        chunking.check(chunk)
        now = stamp(self.clock.now())

        def job(conn: sqlite3.Connection) -> tuple[Staged, State]:
            state = _state(conn)
            if state.version is not None and chunk.version <= state.version:
                return Staged(chunk.version, chunk.digest, 0, chunk.parts, stale=True), state
            # A newer version, or another copy of this one, replaces what was staged before.
            conn.execute("DELETE FROM chunks WHERE version < ? OR (version = ? AND digest != ?)",
                         (chunk.version, chunk.version, chunk.digest))
            conn.execute(
                "INSERT INTO chunks (version, digest, part, parts, size, data, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (chunk.version, chunk.digest, chunk.part, chunk.parts, chunk.size, chunk.data,
                 now))
            if state.heard_version is None or chunk.version > state.heard_version:
                conn.execute("UPDATE catalog_state SET heard_version = ?, heard_at = ?",
                             (chunk.version, now))
            held = conn.execute("SELECT COUNT(*) FROM chunks WHERE version = ? AND digest = ?"
                                " AND parts = ?", (chunk.version, chunk.digest, chunk.parts))
            return (Staged(chunk.version, chunk.digest, held.fetchone()[0], chunk.parts),
                    _state(conn))

        staged, self.state = await self._writer.run(job)
        return staged

    async def staged(self) -> list[Staged]:
        """The copies staged now, newest version first (complete ones are applied at start)."""

        def job(conn: sqlite3.Connection) -> list[Staged]:
            return [Staged(*r) for r in conn.execute(
                "SELECT version, digest, COUNT(*), MAX(parts) FROM chunks"
                " GROUP BY version, digest ORDER BY version DESC")]

        return await self._writer.run(job)

    async def apply(self, version: int, digest: str) -> State:
        """Apply a complete staged copy in one transaction, its chunks then dropped; the new
        state. CopyRefused (the copy dropped) when it cannot be applied."""
        now = self.clock.now()
        self.applying = version
        try:
            self.state = await self._writer.run(lambda conn: _apply(conn, version, digest, now))
        except CopyRefused:
            await self.drop(version, digest)
            raise
        finally:
            self.applying = None
        return self.state

    async def drop(self, version: int, digest: str) -> None:
        """Forget a staged copy."""
        await self._writer.run(lambda conn: conn.execute(
            "DELETE FROM chunks WHERE version = ? AND digest = ?", (version, digest)))


def _state(conn: sqlite3.Connection) -> State:
    row = conn.execute("SELECT version, applied_at, kind, heard_version, heard_at"
                       " FROM catalog_state").fetchone()
    return State(*row)


def _blocks(conn: sqlite3.Connection, version: int, digest: str) -> Iterator[bytes]:
    for (data,) in conn.execute("SELECT data FROM chunks WHERE version = ? AND digest = ?"
                                " ORDER BY part", (version, digest)):
        yield data


def _check(conn: sqlite3.Connection, version: int, digest: str) -> None:
    """Every part there and the digest of the whole matching, or CopyRefused."""
    rows = conn.execute("SELECT COUNT(*), MAX(parts), MAX(size) FROM chunks WHERE version = ?"
                        " AND digest = ?", (version, digest)).fetchone()
    if not rows[0] or rows[0] != rows[1]:
        raise CopyRefused(version, f"{rows[0]} of {rows[1]} parts staged")
    whole = hashlib.sha256()
    length = 0
    for data in _blocks(conn, version, digest):
        whole.update(data)
        length += len(data)
    if length != rows[2] or whole.hexdigest() != digest:
        raise CopyRefused(version, "the digest does not match (a corrupted chunk)")


def _apply(conn: sqlite3.Connection, version: int, digest: str, now: dt.datetime) -> State:
    _check(conn, version, digest)
    state = _state(conn)
    events = catalog_stream.read(_blocks(conn, version, digest))
    try:
        header = next(events)
        assert isinstance(header, catalog_stream.Header)
        if header.version != version:
            raise CopyRefused(version, f"its content says version {header.version}",
                              ask_again=False)
        if header.kind == "delta" and header.base_version != state.version:
            raise CopyRefused(version, f"a delta from version {header.base_version}, and this "
                                       f"store has {state.version or 'none'}")
        for event in events:
            assert not isinstance(event, catalog_stream.Header)
            section, rows = event
            if section in _SQL:
                conn.executemany(_SQL[section], [(*_row(section, r), version, version)
                                                 for r in rows])
            else:
                _remove(conn, section.removesuffix("_removed"), rows, version)
    except PayloadError as exc:
        raise CopyRefused(version, f"its content does not decode: {exc}",
                          ask_again=False) from exc
    if header.kind == "snapshot":
        for table, kind in _KIND.items():
            key = _UPSERT[table][0]
            sku = "sku" if table != "books" else "NULL"
            _tombstone(conn, f"SELECT '{kind}', {key}, {sku}, ? FROM {table} WHERE seen_in < ?",
                       (version, version))
            conn.execute(f"DELETE FROM {table} WHERE seen_in < ?", (version,))
    conn.execute("UPDATE catalog_state SET version = ?, applied_at = ?, kind = ?",
                 (version, stamp(now), header.kind))
    conn.execute("DELETE FROM chunks WHERE version <= ?", (version,))
    return _state(conn)


def _remove(conn: sqlite3.Connection, table: str, keys: list[Any], version: int) -> None:
    """Rows of `table` a delta removes: each leaves a tombstone."""
    kind, key = _KIND[table], _UPSERT[table][0]
    sku = "sku" if table != "books" else "NULL"
    for part in range(0, len(keys), 500):
        some = keys[part:part + 500]
        marks = ",".join("?" for _ in some)
        _tombstone(conn, f"SELECT '{kind}', {key}, {sku}, ? FROM {table} WHERE {key} IN ({marks})",
                   (version, *some))
        conn.execute(f"DELETE FROM {table} WHERE {key} IN ({marks})", some)


def _tombstone(conn: sqlite3.Connection, select: str, args: tuple[Any, ...]) -> None:
    conn.execute(f"INSERT INTO removed (kind, key, sku, version) {select}"
                 " ON CONFLICT (kind, key) DO UPDATE SET sku = excluded.sku,"
                 " version = excluded.version", args)
