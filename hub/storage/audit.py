"""The posting_audit table: who did what to a posting, and when."""

import sqlite3

import aiosqlite


class AuditWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


class AuditReads:
    """On the read-only connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
