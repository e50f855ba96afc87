"""`retail-hub export` / `import`: every row of a hub database into one file, and back into a
new database of either backend (how a SQLite hub moves to PostgreSQL, or back).

The file is a stream of length-prefixed msgpack frames: a header (format, schema version,
backend), then per table its name and columns, its rows in chunks, and its row count. Values are
what the repositories see on either backend (text, integers, bytes, None: instants as stamp
text, amounts as decimal text), so an export of one backend imports into the other unchanged.

The export reads one snapshot (a read transaction), so it may run beside a running hub; to move
a hub, stop it first, so that nothing arrives after the snapshot. The import refuses a target
that is not empty or not at the export's schema version, takes every table of the target and
no other (a table or column missing on either side refuses it: nothing is dropped quietly), loads
them parents first in one transaction, and checks each table's count before it commits. The rows
a migration writes itself (`SEEDED`) do not make a target busy: the export's replace them.
"""

import datetime as dt
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec

from hub.errors import TransferRefused
from runtime.clock import stamp

FORMAT = "retail-hub export"
FORMAT_VERSION = 1
CHUNK = 1000
_LENGTH = struct.Struct(">I")
# Tables a migration gives rows of their own (7: feed_compaction's one row).
SEEDED = frozenset({"feed_compaction"})


class Source(Protocol):
    """A database being exported, inside one read snapshot."""

    backend: str

    def schema_version(self) -> int: ...
    def tables(self) -> list[str]: ...
    def columns(self, table: str) -> list[str]: ...
    def rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]: ...
    def close(self) -> None: ...


class Target(Protocol):
    """A database being imported into, inside one write transaction."""

    def schema_version(self) -> int: ...
    def tables(self) -> list[str]: ...
    def columns(self, table: str) -> list[str]: ...
    def count(self, table: str) -> int: ...
    def clear(self, table: str) -> None: ...
    def load(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None: ...
    def finish(self) -> None:
        """After the last row: what the backend must set right (identity counters)."""
        ...


def ordered(tables: list[str], parents: dict[str, set[str]]) -> list[str]:
    """The tables with every table after the tables it references (then by name)."""
    done: list[str] = []
    waiting = sorted(tables)
    while waiting:
        ready = [t for t in waiting if parents.get(t, set()) - {t} <= set(done)]
        if not ready:  # a cycle: no schema of the hub has one; keep going by name
            ready = waiting[:1]
        done += ready
        waiting = [t for t in waiting if t not in ready]
    return done


def export(source: Source, out: IO[bytes], now: dt.datetime) -> dict[str, int]:
    """Write every table of `source` to `out`; the number of rows of each."""
    _frame(out, {"kind": "header", "format": FORMAT, "format_version": FORMAT_VERSION,
                 "schema": source.schema_version(), "backend": source.backend, "at": stamp(now)})
    counts: dict[str, int] = {}
    for table in source.tables():
        columns = source.columns(table)
        _frame(out, {"kind": "table", "name": table, "columns": columns})
        count = 0
        chunk: list[tuple[Any, ...]] = []
        for row in source.rows(table, columns):
            chunk.append(tuple(row))
            if len(chunk) == CHUNK:
                _frame(out, {"kind": "rows", "rows": chunk})
                count += len(chunk)
                chunk = []
        if chunk:
            _frame(out, {"kind": "rows", "rows": chunk})
            count += len(chunk)
        _frame(out, {"kind": "end", "name": table, "count": count})
        counts[table] = count
    _frame(out, {"kind": "done", "counts": counts})
    return counts


def load(target: Target, src: IO[bytes]) -> dict[str, int]:
    """Load an export into `target` (see the module docstring); the rows of each table."""
    frames = _frames(src)
    header = next(frames, None)
    if not header or header.get("format") != FORMAT or header.get("kind") != "header":
        raise TransferRefused("not a retail-hub export")
    if header["format_version"] != FORMAT_VERSION:
        raise TransferRefused(f"export format {header['format_version']} is not this hub's "
                              f"({FORMAT_VERSION})")
    if header["schema"] != target.schema_version():
        raise TransferRefused(
            f"the export is of schema {header['schema']}, this database is at "
            f"{target.schema_version()}: export with the same release of the hub as imports "
            "(`retail-hub migrate` the source first)")
    expected = set(target.tables())
    busy = [t for t in sorted(expected - SEEDED) if target.count(t)]
    if busy:
        raise TransferRefused(f"the database is not empty ({', '.join(busy)}): import into a new "
                              "database, before the hub first runs on it")
    counts: dict[str, int] = {}
    table, columns = "", []
    for frame in frames:
        kind = frame["kind"]
        if kind == "table":
            table, columns = frame["name"], list(frame["columns"])
            if table not in expected:
                raise TransferRefused(f"table {table} of the export is not in this database")
            if set(columns) != set(target.columns(table)):
                raise TransferRefused(f"table {table}: the export's columns {sorted(columns)} "
                                      f"differ from this database's {sorted(target.columns(table))}")
            counts[table] = 0
            if table in SEEDED:
                target.clear(table)
        elif kind == "rows":
            rows = [tuple(r) for r in frame["rows"]]
            target.load(table, columns, rows)
            counts[table] += len(rows)
        elif kind == "end":
            if counts[frame["name"]] != frame["count"]:
                raise TransferRefused(f"table {frame['name']}: the export says {frame['count']} "
                                      f"rows, it holds {counts[frame['name']]} (a cut-off file?)")
        elif kind == "done":
            break
    else:
        raise TransferRefused("the export ends before its last table (a cut-off file?)")
    missing = sorted(expected - set(counts))
    if missing:
        raise TransferRefused(f"the export has no table {', '.join(missing)} this database has")
    target.finish()
    for name, count in counts.items():
        if target.count(name) != count:
            raise TransferRefused(f"table {name}: {target.count(name)} rows after the import, "
                                  f"the export holds {count}")
    return counts


def _frame(out: IO[bytes], value: dict[str, Any]) -> None:
    data = msgspec.msgpack.encode(value)
    out.write(_LENGTH.pack(len(data)))
    out.write(data)


def _frames(src: IO[bytes]) -> Iterator[dict[str, Any]]:
    while True:
        head = src.read(_LENGTH.size)
        if not head:
            return
        if len(head) < _LENGTH.size:
            raise TransferRefused("the export ends in the middle of a frame (a cut-off file?)")
        (size,) = _LENGTH.unpack(head)
        data = src.read(size)
        if len(data) < size:
            raise TransferRefused("the export ends in the middle of a frame (a cut-off file?)")
        try:
            value = msgspec.msgpack.decode(data)
        except msgspec.DecodeError as exc:
            raise TransferRefused(f"not a retail-hub export, or a damaged one ({exc})") from exc
        if not isinstance(value, dict) or "kind" not in value:
            raise TransferRefused("not a retail-hub export, or a damaged one")
        yield value


class _SQLiteSchema:
    """What a hub.sqlite says of itself: its version, tables (parents first) and columns."""

    conn: sqlite3.Connection

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def tables(self) -> list[str]:
        return sqlite_tables(self.conn)

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")]


class SQLiteSource(_SQLiteSchema):
    """A hub.sqlite being exported, read inside one read transaction (a WAL snapshot)."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        self.conn.execute("BEGIN")

    def rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        yield from self.conn.execute(f"SELECT {', '.join(columns)} FROM {table}")

    def close(self) -> None:
        self.conn.close()


class SQLiteTarget(_SQLiteSchema):
    """A new hub.sqlite being imported into, inside one `BEGIN IMMEDIATE` transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def clear(self, table: str) -> None:
        self.conn.execute(f"DELETE FROM {table}")

    def load(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" for _ in columns)
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                              rows)

    def finish(self) -> None:
        """Nothing: an AUTOINCREMENT counter follows the highest id inserted."""


def sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    """The hub's tables, parents before the tables that reference them."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    parents = {t: {r[2] for r in conn.execute(f"PRAGMA foreign_key_list({t})")} for t in names}
    return ordered(names, parents)
