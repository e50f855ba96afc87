"""Inventory projection: on hand per SKU per store, updated in the transaction that applies events.

Sales take stock off the shelf, restocked returns put it back, adjustments apply their delta.
"""

import logging
from collections import Counter
from typing import Any

from hub.storage import Reads, Transaction
from protocol.messages import Envelope, InventoryAdjustment, Return, Sale

log = logging.getLogger(__name__)


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
    """Add `changes` {(store_id, sku): delta} to on hand, tell the availability change feed
    which (SKU, location) moved, and mark the reservations held there that on hand no longer
    covers `short` (or covered again), in the same transaction."""
    tx.inventory.add_on_hand(changes, now)
    moved = [(sku, store) for (store, sku), delta in changes.items() if delta]
    tx.availability.record_changes(moved, now)
    for line in tx.reservations.recheck_short(moved, now):
        log.warning("reservation %s (channel %s) is short %d of its %d %s at %s: on hand there "
                    "no longer covers it (the store sold it, maybe offline)", line.reservation_id,
                    line.channel, line.short, line.qty, line.sku, line.location)


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
