"""The inventory table: on hand and reserved per SKU per store."""

import sqlite3

import aiosqlite


class InventoryWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


class InventoryReads:
    """On the read-only connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
