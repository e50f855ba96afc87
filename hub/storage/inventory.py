"""The inventory table: on hand per SKU per location (a store, or a warehouse of [locations]).

- `inventory`: keyed by (sku, store_id); `on_hand` changes by atomic increments only, so it needs
  no read before the write whatever the backend. Its `reserved` column is a leftover of the first
  schema that nothing writes: what is reserved is read from the held reservation lines
  (hub.storage.reservations.RESERVED_AT_ROW).
"""

from collections.abc import Mapping

from hub.storage.reservations import RESERVED_AT_ROW
from hub.storage.rows import Connection, Reader, Row, fetch_all


class InventoryWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_on_hand(self, changes: Mapping[tuple[str, str], int], now: str) -> None:
        """Add each {(store_id, sku): delta} to on hand, in one statement; a zero changes nothing."""
        self._conn.executemany(
            "INSERT INTO inventory (store_id, sku, on_hand, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (sku, store_id) DO UPDATE"
            " SET on_hand = inventory.on_hand + excluded.on_hand, updated_at = excluded.updated_at",
            # In (sku, store) order, the order in which a reservation locks the rows it checks
            # (PostgreSQL): two writers taking row locks in one order cannot deadlock.
            [(store, sku, delta, now) for (store, sku), delta
             in sorted(changes.items(), key=lambda kv: (kv[0][1], kv[0][0])) if delta],
        )


class InventoryReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def by_store(self, sku: str, now: str) -> list[Row]:
        """One SKU's rows, by location: store_id, on_hand, reserved (units held at `now` by
        reservations, in the same statement: one snapshot)."""
        return await fetch_all(
            self._conn,
            f"SELECT i.store_id, i.on_hand, {RESERVED_AT_ROW} AS reserved"
            " FROM inventory i WHERE i.sku = ? ORDER BY i.store_id", (now, sku))
