"""Inventory projection: on hand per SKU per store, updated in the transaction that applies events.

Sales take stock off the shelf, restocked returns put it back, adjustments apply their delta.
"""

from collections import Counter
from typing import Any

from hub.storage import Reads, Transaction
from protocol.messages import Envelope, InventoryAdjustment, Return, Sale


def deltas(envelope: Envelope) -> Counter[str]:
    """Change in on-hand units per SKU that one event causes."""
    out: Counter[str] = Counter()
    event = envelope.event
    if isinstance(event, Sale):
        for line in event.lines:
            out[line.sku] -= line.qty
    elif isinstance(event, Return):
        for rline in event.lines:
            if rline.restock:
                out[rline.sku] += rline.qty
    elif isinstance(event, InventoryAdjustment):
        for aline in event.lines:
            out[aline.sku] += aline.qty_delta
    return out


def apply(conn: Transaction, changes: dict[tuple[str, str], int], now: str) -> None:
    """Add `changes` {(store_id, sku): delta} to on hand."""
    conn.executemany(
        "INSERT INTO inventory (store_id, sku, on_hand, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (sku, store_id) DO UPDATE"
        " SET on_hand = on_hand + excluded.on_hand, updated_at = excluded.updated_at",
        [(store, sku, delta, now) for (store, sku), delta in changes.items() if delta],
    )


async def lookup(reader: Reads, sku: str) -> dict[str, Any] | None:
    """On hand, reserved and available to sell for one SKU: in total and per store."""
    async with reader.execute(
        "SELECT store_id, on_hand, reserved FROM inventory WHERE sku = ? ORDER BY store_id", (sku,)
    ) as cur:
        rows = await cur.fetchall()
    if not rows:
        return None
    stores = [
        {"store_id": s, "on_hand": h, "reserved": r, "available_to_sell": h - r}
        for s, h, r in rows
    ]
    on_hand = sum(x["on_hand"] for x in stores)
    reserved = sum(x["reserved"] for x in stores)
    return {
        "sku": sku,
        "on_hand": on_hand,
        "reserved": reserved,
        "available_to_sell": on_hand - reserved,
        "stores": stores,
    }
