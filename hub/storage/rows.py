"""Named rows and SQLite's variable limit, for the repositories of this package only."""

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")
# SQLite allows 32,766 variables per statement since 3.32, 999 before: 500 is safe everywhere.
MAX_VARIABLES = 500


def all_rows(conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """Every row of a query, each readable by column name (row["store_id"])."""
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    return cur.execute(sql, args).fetchall()


def one_row(conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    row: sqlite3.Row | None = cur.execute(sql, args).fetchone()
    return row


async def fetch_all(reader: aiosqlite.Connection, sql: str,
                    args: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """Every row, read in one trip to the reader's thread (execute, fetch and close as one
    call: an availability read is three queries, and each trip costs the event loop a wakeup).
    The read connections of hub.storage.database name their rows (sqlite3.Row)."""
    return list(await reader.execute_fetchall(sql, args))


async def fetch_one(reader: aiosqlite.Connection, sql: str,
                    args: Sequence[Any] = ()) -> sqlite3.Row | None:
    """The first row of a query that gives one (or none), in one trip as `fetch_all`."""
    rows = await fetch_all(reader, sql, args)
    return rows[0] if rows else None


def chunks(items: Sequence[T], size: int = MAX_VARIABLES) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def marks(items: Iterable[Any]) -> str:
    """`?,?,?` for an IN (...) list of these items."""
    return ",".join("?" for _ in items)
