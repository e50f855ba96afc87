"""The store's outbox: every captured event, fsync'd, in gapless seq order, until the hub acks it.

One SQLite file (WAL, synchronous=FULL). Writes go through one writer thread with group commit
(runtime.sqlite_writer); reads (forwarder, status) use a separate read-only connection.
`seq` is an AUTOINCREMENT key: assigned in commit order, never reused, and a rolled-back
insert gives its number back, so the numbering has no gaps.
"""

import asyncio
import datetime as dt
import logging
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import msgspec
from msgspec import Struct

from edge_agent import integrity, keys
from edge_agent.errors import Conflict, OutboxError, OutboxFull
from edge_agent.requests import Prepared
from protocol import codec, identity
from protocol.errors import ProtocolError
from protocol.messages import Receipt, Return, Sale
from protocol.money import gross_total
from runtime.clock import SYSTEM, Clock
from runtime.migrations import SchemaTooNew, Step, migrate
from runtime.sqlite_writer import SQLiteWriter, open_reader

T = TypeVar("T")

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6
COUNT_CAP = 100_000
_SCHEMA = """
CREATE TABLE outbox_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    store_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    created_at TEXT NOT NULL,
    acked_through INTEGER NOT NULL DEFAULT 0,
    acked_at TEXT
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    natural_key TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    digest BLOB NOT NULL,
    occurred_at TEXT NOT NULL,
    business_day TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    body BLOB NOT NULL
);
"""
# 2: what the status page needs: each transaction's register and amount (also as an exact integer
# of 1/10,000 units, so SQLite can add them without floats), today's rows by a covering index,
# and the hub's receipts (what the ERP made of each transaction).
_SCHEMA_V2 = """
ALTER TABLE events ADD COLUMN register_id TEXT;
ALTER TABLE events ADD COLUMN gross TEXT;
ALTER TABLE events ADD COLUMN gross_e4 INTEGER;
CREATE INDEX events_by_day ON events (business_day, kind, register_id, seq, gross_e4);
CREATE INDEX events_by_kind ON events (kind, seq);
CREATE TABLE receipts (
    event_id TEXT PRIMARY KEY,
    posting_id TEXT NOT NULL,
    state TEXT NOT NULL,
    erp_ref TEXT,
    received_at TEXT NOT NULL
);
"""


# 4: what the check at start (edge_agent.integrity) set aside and when it rebuilt the outbox.
_SCHEMA_V4 = """
CREATE TABLE quarantined_rows (
    id INTEGER PRIMARY KEY,
    old_stream TEXT,
    old_seq INTEGER NOT NULL,
    natural_key TEXT,
    reason TEXT NOT NULL,
    body BLOB,
    found_at TEXT NOT NULL
);
CREATE TABLE integrity_repairs (
    id INTEGER PRIMARY KEY,
    repaired_at TEXT NOT NULL,
    problems TEXT NOT NULL,
    kept INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    moved_to TEXT NOT NULL,
    old_stream TEXT
);
"""


# 3: the (kind, seq) index cost every capture ~8 % (bench.capture) to count waiting sales
# faster; that count now stops at COUNT_CAP instead.
_SCHEMA_V3 = "DROP INDEX IF EXISTS events_by_kind;"
# 5: unambiguous keys (ids holding `/` made `txn/R/1/coll` two transactions' key) and digests of
# a capture's meaning rather than its bytes (edge_agent.keys).
# 6: each sale's and return's currency, so the status page shows takings per currency instead of
# adding EUR to CHF; the day index covers it. Older rows get theirs from the body.


def _add_currency(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE events ADD COLUMN currency TEXT")
    conn.execute("DROP INDEX IF EXISTS events_by_day")
    conn.execute("CREATE INDEX events_by_day ON events"
                 " (business_day, kind, register_id, currency, seq, gross_e4)")
    rows = conn.execute("SELECT seq, body FROM events WHERE kind IN ('sale', 'return')").fetchall()
    filled = []
    for seq, body in rows:
        try:
            event = codec.decode_event(body)
        except ProtocolError:
            continue  # the integrity check deals with unreadable rows
        filled.append((getattr(event, "currency", None), seq))
    conn.executemany("UPDATE events SET currency = ? WHERE seq = ?", filled)


_MIGRATIONS: list[Step] = [_SCHEMA, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4, keys.rekey, _add_currency]
assert len(_MIGRATIONS) == SCHEMA_VERSION


class Captured(Struct, frozen=True):
    seq: int
    event_id: str
    created: bool


class Row(Struct, frozen=True):
    """One outbox row, as the forwarder reads it."""

    seq: int
    event_id: str
    occurred_at: str
    business_day: str
    captured_at: str
    body: bytes


class Stats(Struct, frozen=True):
    last_seq: int
    acked_through: int
    backlog: int
    oldest_unsent_at: str | None
    acked_at: str | None


class Entry(Struct, frozen=True):
    """One outbox row as an operator sees it (`edge-agent outbox list|show`)."""

    seq: int
    natural_key: str
    event_id: str
    kind: str
    state: str
    occurred_at: str
    business_day: str
    captured_at: str
    event: dict[str, object] | None = None


class Damage(Struct, frozen=True):
    """The outbox's last rebuild after damage was found at start."""

    repaired_at: str
    problems: list[str]
    kept: int
    quarantined: int
    moved_to: str
    quarantined_total: int


class TxnState(Struct, frozen=True):
    event_id: str
    seq: int
    kind: str
    state: str
    captured_at: str
    business_day: str


def _money(e4: int) -> str:
    """An amount kept in 1/10,000 units, shown with cents unless it has finer digits."""
    value = Decimal(e4).scaleb(-4)
    cents = value.quantize(Decimal("0.01"))
    return str(cents if cents == value else value.normalize())


def _migrate(store_id: str, max_bytes: int | None, clock: Clock):  # type: ignore[no-untyped-def]
    def setup(conn: sqlite3.Connection) -> None:
        if max_bytes:
            # SQLite itself refuses to grow past this (SQLITE_FULL), exactly as a full disk would.
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {max(16, max_bytes // page)}")
        try:
            migrate(conn, _MIGRATIONS, "outbox")
        except SchemaTooNew as exc:
            raise OutboxError(str(exc)) from exc
        conn.execute(
            "INSERT OR IGNORE INTO outbox_state (id, store_id, stream, created_at) VALUES (1, ?, ?, ?)",
            (store_id, identity.new_stream_id(), clock.now().isoformat()),
        )
        owner = conn.execute("SELECT store_id FROM outbox_state").fetchone()[0]
        if owner != store_id:
            raise OutboxError(f"outbox belongs to store {owner!r}, not {store_id!r}")

    return setup


async def _open_without_shm(path: Path) -> aiosqlite.Connection:
    """A reader for a disk with no room for SQLite's `-shm` file: in EXCLUSIVE locking mode SQLite
    keeps the WAL index in memory, so committed events in the WAL are read too. It holds the
    file's lock: close it before anything else opens the outbox."""
    conn = await aiosqlite.connect(path)
    await conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    await conn.execute("PRAGMA query_only=ON")
    return conn


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc)


class Outbox:
    """The outbox file and everything stored in it: the one owner of `outbox.sqlite`.

    It owns the events from capture to the hub's ack (capture with dedupe by natural key, batches
    in seq order, acks, restreams, pruning), the receipts the hub sends back, what the integrity
    check found at open (`check`, `damage`), reopening after a full disk, and the read-only
    queries the status page, the capture API and the inspect command make. All writes go
    through one writer thread; reads use one read-only connection."""

    def __init__(self, path: Path | str, store_id: str, max_bytes: int | None = None,
                 clock: Clock = SYSTEM) -> None:
        self.path = Path(path)
        self._clock = clock
        self.store_id = store_id
        self.stream = ""
        self.acked_through = 0
        self.pruned_through = 0  # events up to here were pruned (they were acked long ago)
        self._setup = _migrate(store_id, max_bytes, clock)
        self._writer = SQLiteWriter(self.path, self._setup, name="outbox-writer")
        self._reader: aiosqlite.Connection | None = None
        self.check: integrity.Report | None = None  # what the check at this start found
        self._ack_unrecorded = False  # the disk was full when the hub's last ack came
        self.writable = True  # False while a full disk kept the outbox from opening for writing
        self._reopening = asyncio.Lock()

    def _now(self) -> str:
        return self._clock.now().isoformat()

    async def open(self) -> None:
        """Check the outbox (edge_agent.integrity) and open it for capture.

        On a disk with no room even to open it (SQLite's `-shm` file), an existing outbox opens
        for reading only (`writable` is False): status and forwarding work, every write raises
        OutboxFull, and `reopen()` makes it writable once there is room. Nothing is repaired or
        set aside for a full disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            await self._open_writable()
        except OutboxFull as exc:
            if not self.path.exists():
                raise
            log.error("%s; it opens read-only: captures are refused (507) until there is room",
                      exc)
            self._reader = await _open_without_shm(self.path)
            self.writable = False
            await self._read_state()

    async def reopen(self) -> bool:
        """Make a read-only outbox (a full disk at open) writable, if there is room now."""
        async with self._reopening:
            if self.writable:
                return True
            if integrity.no_room(self.path.parent) is not None:
                return False
            snapshot, self._reader = self.reader, None
            await snapshot.close()
            try:
                await self._open_writable()
            except OutboxFull as exc:
                log.warning("%s; still read-only", exc)
                self._reader = await _open_without_shm(self.path)
                await self._read_state()
                return False
            self.writable = True
            log.warning("outbox %s is writable again: captures resume", self.path)
            return True

    async def _open_writable(self) -> None:
        self.check = await asyncio.to_thread(integrity.check_and_repair, self.path,
                                               self._setup, self._clock.now())
        try:
            await self._writer.start()
            self._reader = await open_reader(self.path)
        except sqlite3.Error as exc:
            await self.close()
            self._writer = SQLiteWriter(self.path, self._setup, name="outbox-writer")
            full = integrity.full_disk(self.path, exc)
            if full is not None:
                raise full from exc
            raise
        await self._read_state()
        log.info("outbox %s open: stream %s, acked through %d", self.path, self.stream, self.acked_through)

    async def _read_state(self) -> None:
        async with self.reader.execute("SELECT stream, acked_through FROM outbox_state") as cur:
            row = await cur.fetchone()
        assert row is not None
        self.stream = row[0]
        self.acked_through = max(self.acked_through, row[1])  # an ack kept only in memory stays
        await self._read_pruned()

    async def open_readonly(self) -> None:
        """Open only for reading (operator commands): never creates or changes the file."""
        if not self.path.exists():
            raise OutboxError(f"no outbox at {self.path}")
        self._reader = await open_reader(self.path)
        async with self._reader.execute("SELECT stream, acked_through FROM outbox_state") as cur:
            row = await cur.fetchone()
        assert row is not None
        self.stream, self.acked_through = row[0], row[1]

    async def damage(self) -> Damage | None:
        """The last rebuild by the check at start, if there ever was one (status page)."""
        async with self.reader.execute(
            "SELECT repaired_at, problems, kept, quarantined, moved_to FROM integrity_repairs"
            " ORDER BY id DESC LIMIT 1"
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        async with self.reader.execute("SELECT COUNT(*) FROM quarantined_rows") as cur:
            total = await cur.fetchone()
        return Damage(row[0], row[1].splitlines(), row[2], row[3], row[4],
                      int(total[0]) if total else 0)

    async def _read_pruned(self) -> None:
        async with self.reader.execute("SELECT MIN(seq) FROM events") as cur:
            row = await cur.fetchone()
        first = row[0] if row and row[0] is not None else None
        self.pruned_through = (first - 1) if first else self.acked_through

    async def entries(self, after_seq: int, limit: int, *, unsent: bool = False) -> list[Entry]:
        floor = max(after_seq, self.acked_through) if unsent else after_seq
        async with self.reader.execute(
            "SELECT seq, natural_key, event_id, kind, occurred_at, business_day, captured_at"
            " FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (floor, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [Entry(r[0], r[1], r[2], r[3], self._state(r[0]), r[4], r[5], r[6]) for r in rows]

    async def entry(self, seq: int) -> Entry | None:
        async with self.reader.execute(
            "SELECT seq, natural_key, event_id, kind, occurred_at, business_day, captured_at, body"
            " FROM events WHERE seq = ?",
            (seq,),
        ) as cur:
            r = await cur.fetchone()
        if r is None:
            return None
        event = msgspec.to_builtins(codec.decode_event(r[7]))
        return Entry(r[0], r[1], r[2], r[3], self._state(r[0]), r[4], r[5], r[6], event)

    def _state(self, seq: int) -> str:
        return "delivered" if seq <= self.acked_through else "captured"

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._writer.started:
            await self._writer.close()

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise OutboxError("outbox is not open")
        return self._reader

    async def capture(self, p: Prepared, captured_at: dt.datetime) -> Captured:
        """Commit `p` durably and return its seq; the same key with the same content is a no-op."""
        body = codec.encode(p.event)
        event = p.event
        txn = event if isinstance(event, Sale | Return) else None
        gross = gross_total(txn.lines, txn.prices_include_tax) if txn else None
        row = (
            p.natural_key,
            p.event_id,
            p.kind,
            p.digest,
            p.occurred_at.isoformat(),
            p.business_day.isoformat(),
            captured_at.isoformat(),
            body,
            getattr(event, "register_id", None),
            str(gross) if gross is not None else None,
            int(gross.scaleb(4).to_integral_value()) if gross is not None else None,
            txn.currency if txn else None,
        )

        def job(conn: sqlite3.Connection) -> Captured:
            found = conn.execute(
                "SELECT seq, event_id, digest FROM events WHERE natural_key = ?", (p.natural_key,)
            ).fetchone()
            if found is not None:
                if found[2] != p.digest:
                    raise Conflict(p.natural_key, found[0], found[1])
                return Captured(found[0], found[1], created=False)
            cur = conn.execute(
                "INSERT INTO events (natural_key, event_id, kind, digest, occurred_at,"
                " business_day, captured_at, body, register_id, gross, gross_e4, currency)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            assert cur.lastrowid is not None
            return Captured(cur.lastrowid, p.event_id, created=True)

        try:
            # The job raises (Conflict) only before it writes: no savepoint needed.
            return await self._write(job, isolate=False)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox could not commit: {exc}") from exc

    async def next_batch(self, after_seq: int, max_events: int, max_bytes: int) -> list[Row]:
        """Events after `after_seq` in seq order, at most `max_events` and about `max_bytes`."""
        rows: list[Row] = []
        size = 0
        async with self.reader.execute(
            "SELECT seq, event_id, occurred_at, business_day, captured_at, body FROM events"
            " WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, max_events),
        ) as cur:
            async for r in cur:
                size += len(r[5]) + 200
                if rows and size > max_bytes:
                    break
                rows.append(Row(*r))
        return rows

    async def restream(self) -> str:
        """Move the whole outbox to a new stream, renumbered from seq 1, nothing acked: the hub
        holds other events than ours at some seqs of the old one (our history went back in
        time). It drops, by event_id, what it already has of what we resend."""
        stream = identity.new_stream_id()

        def job(conn: sqlite3.Connection) -> int:
            first = conn.execute("SELECT MIN(seq) FROM events").fetchone()[0] or 1
            # Two steps, so no renumbered row meets one not yet moved.
            conn.execute("UPDATE events SET seq = -seq")
            conn.execute("UPDATE events SET seq = -seq - ?", (first - 1,))
            last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
            conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'", (last,))
            conn.execute("UPDATE outbox_state SET stream = ?, acked_through = 0, acked_at = NULL",
                         (stream,))
            return int(last)

        kept = await self._write(job)
        log.warning("outbox moved to new stream %s (was %s); its %d events are resent from seq 1",
                    stream, self.stream, kept)
        self.stream, self.acked_through, self.pruned_through = stream, 0, 0
        return stream

    async def mark_acked(self, seq: int) -> int:
        """Record that the hub has applied everything through `seq`; returns the new mark.

        On a full disk the mark is kept in memory only and written with the next ack once there
        is room: forwarding goes on, and a restart meanwhile merely resends what the hub then
        drops as duplicates. A full disk must never stop the agent (tills would hear
        "connection refused" instead of 507)."""

        def job(conn: sqlite3.Connection) -> int:
            conn.execute(
                "UPDATE outbox_state SET acked_through = ?, acked_at = ? WHERE acked_through < ?",
                (seq, self._now(), seq),
            )
            return int(conn.execute("SELECT acked_through FROM outbox_state").fetchone()[0])

        try:
            self.acked_through = await self._write(job)
        except OutboxFull:
            if not self._ack_unrecorded:
                log.warning("disk full: the hub's ack through seq %d is kept in memory until "
                            "there is room to write it down", seq)
            self._ack_unrecorded = True
            self.acked_through = max(self.acked_through, seq)
            return self.acked_through
        if self._ack_unrecorded:
            log.info("the hub's ack is written down again (through seq %d)", self.acked_through)
            self._ack_unrecorded = False
        return self.acked_through

    async def _write(self, job: Callable[[sqlite3.Connection], T], isolate: bool = True) -> T:
        """Run a write job; a full disk is OutboxFull, so callers can carry on without it."""
        if not self.writable:
            raise OutboxFull("the store controller's disk is full")
        try:
            return await self._writer.run(job, isolate=isolate)
        except sqlite3.Error as exc:
            if _is_full(exc):
                raise OutboxFull("the store controller's disk is full") from exc
            raise

    async def last_seq(self) -> int:
        async with self.reader.execute(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def stats(self) -> Stats:
        last = await self.last_seq()
        async with self.reader.execute(
            "SELECT acked_through, acked_at,"
            " (SELECT captured_at FROM events WHERE seq > s.acked_through ORDER BY seq LIMIT 1)"
            " FROM outbox_state s"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        acked = int(row[0])
        return Stats(last, acked, max(0, last - acked), row[2], row[1])

    async def transaction(self, register_id: str, pos_txn_id: str) -> TxnState | None:
        async with self.reader.execute(
            "SELECT event_id, seq, kind, captured_at, business_day FROM events"
            " WHERE natural_key = ?",
            (keys.transaction_key(register_id, pos_txn_id),),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return TxnState(row[0], row[1], row[2], self._state(row[1]), row[3], row[4])

    async def prune(self, older_than: dt.datetime) -> int:
        """Delete events the hub has acked and that were captured before `older_than`."""

        def job(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "DELETE FROM events WHERE seq <= (SELECT acked_through FROM outbox_state)"
                " AND captured_at < ?",
                (older_than.isoformat(),),
            )
            return cur.rowcount

        if not self.writable:
            return 0
        removed = await self._writer.run(job)
        await self._read_pruned()
        if removed:
            log.info("pruned %d acknowledged events captured before %s", removed, older_than)
        return removed

    async def record_receipts(self, receipts: list[Receipt]) -> None:
        """Keep what the hub says the ERP made of our transactions (a later word replaces)."""
        now = self._now()
        rows = [(r.event_id, r.posting_id, r.state, r.erp_ref, now) for r in receipts]

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO receipts (event_id, posting_id, state, erp_ref, received_at)"
                " VALUES (?, ?, ?, ?, ?)", rows)

        try:
            await self._write(job)
        except OutboxFull:  # what the ERP made of them only informs the status page
            log.warning("disk full: %d receipts from the hub not kept", len(rows))

    async def count_unsent(self, kind: str) -> int:
        """Events of `kind` waiting, counted up to COUNT_CAP (then the page says "100000+")."""
        async with self.reader.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE seq > ? AND kind = ? LIMIT ?)",
                (self.acked_through, kind, COUNT_CAP)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    _TXN_SQL = ("SELECT e.seq, e.kind, e.natural_key, e.captured_at, e.gross, e.currency,"
                " e.business_day, r.state, r.erp_ref FROM events e"
                " LEFT JOIN receipts r ON r.event_id = e.event_id")

    def _described(self, rows: list[sqlite3.Row]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for seq, kind, key, captured_at, gross, currency, day, erp_state, erp_ref in rows:
            parts = key.split("/")
            state = erp_state or ("at_head_office" if seq <= self.acked_through else "waiting")
            out.append({"seq": seq, "kind": kind,
                        "reference": "/".join(keys.unquote(p) for p in parts[1:]),
                        "captured_at": captured_at, "gross": gross, "currency": currency,
                        "business_day": day, "state": state, "erp_ref": erp_ref})
        return out

    async def recent(self, limit: int) -> list[dict[str, object]]:
        """The newest transactions with what became of them: waiting, at head office, or the
        ERP's answer (posted with its document number, or a problem at head office)."""
        async with self.reader.execute(self._TXN_SQL + " ORDER BY e.seq DESC LIMIT ?",
                                       (limit,)) as cur:
            return self._described(list(await cur.fetchall()))

    async def find(self, register_id: str, pos_txn_id: str) -> dict[str, object] | None:
        """One transaction by its till's register and number, described as `recent` does."""
        async with self.reader.execute(self._TXN_SQL + " WHERE e.natural_key = ?",
                                       (keys.transaction_key(register_id, pos_txn_id),)) as cur:
            found = self._described(list(await cur.fetchall()))
        return found[0] if found else None

    async def day_by_register(self, day: dt.date) -> list[dict[str, Any]]:
        """Sales, returns and takings per register and currency for one business day, summed by
        SQLite over exact integers; beside them the part head office has acknowledged.

        Amounts in different currencies are never added: each register lists `by_currency`,
        and its own `gross`/`currency` are filled only when it took one currency that day."""
        acked = self.acked_through
        async with self.reader.execute(
            "SELECT register_id, currency, kind, COUNT(*), COALESCE(SUM(gross_e4), 0),"
            " SUM(seq <= ?), SUM(CASE WHEN seq <= ? THEN COALESCE(gross_e4, 0) ELSE 0 END)"
            " FROM events WHERE business_day = ? AND kind IN ('sale', 'return')"
            " GROUP BY register_id, currency, kind", (acked, acked, day.isoformat())) as cur:
            rows = await cur.fetchall()
        # (register, currency) -> [sales, returns, gross_e4, acked sales, acked returns, acked gross_e4]
        sums: dict[tuple[str, str], list[int]] = {}
        for register, currency, kind, count, gross, acked_count, acked_gross in rows:
            t = sums.setdefault((register or "?", currency or "?"), [0] * 6)
            sale = kind == "sale"
            t[0 if sale else 1] += count
            t[3 if sale else 4] += acked_count
            t[2] += (1 if sale else -1) * int(gross)
            t[5] += (1 if sale else -1) * int(acked_gross)
        out: dict[str, dict[str, Any]] = {}
        for (reg, currency), t in sorted(sums.items()):
            entry = out.setdefault(reg, {"register_id": reg, "sales": 0, "returns": 0,
                                         "at_head_office": {"sales": 0, "returns": 0},
                                         "by_currency": []})
            entry["sales"] += t[0]
            entry["returns"] += t[1]
            entry["at_head_office"]["sales"] += t[3]
            entry["at_head_office"]["returns"] += t[4]
            entry["by_currency"].append({
                "currency": currency, "sales": t[0], "returns": t[1], "gross": _money(t[2]),
                "at_head_office": {"sales": t[3], "returns": t[4], "gross": _money(t[5])}})
        for entry in out.values():
            one = entry["by_currency"][0] if len(entry["by_currency"]) == 1 else None
            entry["currency"] = one["currency"] if one else None
            entry["gross"] = one["gross"] if one else None
            entry["at_head_office"]["gross"] = one["at_head_office"]["gross"] if one else None
        return [out[k] for k in sorted(out)]
