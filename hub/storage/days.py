"""Day totals, tenders and day-closes per store and business day."""

import sqlite3

import aiosqlite


class DaysWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


class DaysReads:
    """On the read-only connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
