"""The stores table: each store's last state, online flag and backlog."""

import sqlite3

import aiosqlite


class FleetWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


class FleetReads:
    """On the read-only connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
