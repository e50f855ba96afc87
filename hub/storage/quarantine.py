"""The quarantine table: payloads the hub refused, with their reason."""

import sqlite3

import aiosqlite


class QuarantineWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


class QuarantineReads:
    """On the read-only connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
