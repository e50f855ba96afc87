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


def apply(tx: Transaction, changes: dict[tuple[str, str], int], now: str) -> None:
    """Add `changes` {(store_id, sku): delta} to on hand, and tell the availability change feed
    which (SKU, location) moved, in the same transaction."""
    tx.inventory.add_on_hand(changes, now)
    tx.availability.record_changes(((sku, store) for (store, sku), delta in changes.items()
                                    if delta), now)


async def lookup(reads: Reads, sku: str, now: str) -> dict[str, Any] | None:
    """On hand, reserved and on hand less reserved for one SKU: in total and per location
    (stores and warehouses alike, under `stores`). Reserved is what reservations hold at `now`
    (docs/availability.md); safety stock and staleness are the channel figure's business
    (`GET /v1/availability/{sku}`), not this one's."""
    rows = await reads.inventory.by_store(sku, now)
    if not rows:
        return None
    stores = [
        {"store_id": r["store_id"], "on_hand": r["on_hand"], "reserved": r["reserved"],
         "available_to_sell": r["on_hand"] - r["reserved"]}
        for r in rows
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
