"""The reconciliations table: the saved result of each day's check."""

import sqlite3

import aiosqlite


class ReconciliationsWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


class ReconciliationsReads:
    """On the read-only connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
