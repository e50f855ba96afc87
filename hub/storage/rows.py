"""What the repositories of this package hold on to: the connection types both backends give
them, rows read by name, and the variable limit of an IN (...) list.

A repository is written once for both backends. In the writer it calls `execute` and
`executemany` on a `Connection`: a `sqlite3.Connection` as it is (nothing in between on
SQLite's hot path), or the PostgreSQL adapter (`hub.storage.postgres.connection`), which takes
the same SQL with `?` placeholders and gives back rows readable by name and by position. Its
reads go through `fetch_all` / `fetch_one` on a `Reader`: an aiosqlite connection, or the
PostgreSQL pool's adapter. The SQL is the dialect both understand: `INSERT ... ON CONFLICT`,
the target table named in `DO UPDATE SET t.x = t.x + excluded.x`, `COUNT(*) FILTER (...)`,
`json_each(?)` for a list (the adapter turns it into `json_array_elements_text`),
`json_group_array(column)` for a list read back as JSON text (the adapter: `json_agg`),
`RETURNING` for a key the database gives out (never `lastrowid`), and a null-safe comparison
spelt out (`a = b OR (a IS NULL AND b IS NULL)`, not SQLite's `a IS b`).
"""

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, overload

import aiosqlite

T = TypeVar("T")
# SQLite allows 32,766 variables per statement since 3.32, 999 before: 500 is safe everywhere.
MAX_VARIABLES = 500


class Row(Protocol):
    """A row readable by column name (row["store_id"]) and by position, and as a dict (dict(row))."""

    @overload
    def __getitem__(self, key: int | str, /) -> Any: ...
    @overload
    def __getitem__(self, key: slice, /) -> tuple[Any, ...]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What a statement gives back: its rows (plain tuples) and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchmany(self, size: int = ..., /) -> list[Any]: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The writer's connection as a repository uses it (sqlite3.Connection has this shape)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


class NamedReads(Protocol):
    """A read connection of another backend than SQLite: rows by name, awaited."""

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...
    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Row | None: ...


Reader = aiosqlite.Connection | NamedReads


def all_rows(conn: Connection, sql: str, args: Sequence[Any] = ()) -> list[Row]:
    """Every row of a query, each readable by column name (row["store_id"])."""
    if isinstance(conn, sqlite3.Connection):
        cur = conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(sql, args).fetchall()
    return conn.execute(sql, args).fetchall()  # the PostgreSQL adapter's rows have names


def one_row(conn: Connection, sql: str, args: Sequence[Any] = ()) -> Row | None:
    if isinstance(conn, sqlite3.Connection):
        cur = conn.cursor()
        cur.row_factory = sqlite3.Row
        row: Row | None = cur.execute(sql, args).fetchone()
        return row
    found: Row | None = conn.execute(sql, args).fetchone()
    return found


async def fetch_all(reader: Reader, sql: str, args: Sequence[Any] = ()) -> list[Row]:
    """Every row, readable by name. On SQLite one trip to the reader's thread (execute, fetch
    and close as one call: an availability read is three queries, and each trip costs the event
    loop a wakeup); the read connections of hub.storage.database name their rows (sqlite3.Row).
    Another backend's reader answers itself."""
    if not isinstance(reader, aiosqlite.Connection):
        return await reader.fetch_all(sql, args)
    return list(await reader.execute_fetchall(sql, args))


async def fetch_one(reader: Reader, sql: str, args: Sequence[Any] = ()) -> Row | None:
    """The first row of a query that gives one (or none), in one trip as `fetch_all`."""
    if not isinstance(reader, aiosqlite.Connection):
        return await reader.fetch_one(sql, args)
    rows = await fetch_all(reader, sql, args)
    return rows[0] if rows else None


def chunks(items: Sequence[T], size: int = MAX_VARIABLES) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def marks(items: Iterable[Any]) -> str:
    """`?,?,?` for an IN (...) list of these items."""
    return ",".join("?" for _ in items)
