"""The postings outbox towards the ERP: postings, posting_sources, posting_attempts, summary_days."""

import sqlite3

import aiosqlite


class PostingsWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


class PostingsReads:
    """On the read-only connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
