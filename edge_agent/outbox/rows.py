"""Rows read by column name (row["seq"]), for the modules of this package only.

The row factory is set on each cursor, never on a connection: code outside the package (tests,
tools) reads the same reader connection and compares its rows to tuples, which sqlite3.Row never
equals.
"""

import sqlite3
from collections.abc import Sequence
from typing import Any, TypeVar

import aiosqlite

C = TypeVar("C", sqlite3.Cursor, aiosqlite.Cursor)


def named(cur: C) -> C:
    """`cur`, whose rows are now read by column name (SQLite applies the factory at each fetch,
    so a cursor that has already executed can still be given one)."""
    cur.row_factory = sqlite3.Row
    return cur


async def fetch_one(reader: aiosqlite.Connection, sql: str,
                    args: Sequence[Any] = ()) -> sqlite3.Row | None:
    async with reader.execute(sql, args) as cur:
        return await named(cur).fetchone()


async def fetch_all(reader: aiosqlite.Connection, sql: str,
                    args: Sequence[Any] = ()) -> list[sqlite3.Row]:
    async with reader.execute(sql, args) as cur:
        return list(await named(cur).fetchall())
