"""Locations' stock and its figures: each SKU's figures in a channel, read from the read-only
connection (the API, the feed) or inside the writer's transaction (a reservation's check); and
the writer jobs that change them besides reservations: stock adjustments of the hub-fed
locations (warehouses, distribution centres), safety-stock rules, the sweep's look at which
stores went stale or came back, and the feed's compaction. Each job appends what it changed to
the change feed."""

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from hub.availability import model
from hub.availability.model import Figure
from hub.availability.requests import AdjustmentIn
from hub.config import HubConfig
from hub.errors import AvailabilityError
from hub.storage import Reads, Transaction
from runtime.clock import stamp

# Feed rows one compaction step looks at: one writer job, a few tens of milliseconds.
COMPACT_ROWS = 20_000


async def read(reads: Reads, config: HubConfig, channel: str, skus: Sequence[str],
               now: dt.datetime) -> dict[str, list[Figure]]:
    """The figures as the last commit left them; reservations expired by `now` do not count."""
    ch = config.channels[channel]
    at = stamp(now)
    held = await reads.availability.stock(skus, ch.locations, at)
    rules = await reads.availability.safety_rules(skus)
    seen = await reads.fleet.last_seen(ch.locations)
    return model.figures(config, ch, skus, held, rules, seen, now, at)


def read_in(tx: Transaction, config: HubConfig, channel: str, skus: Sequence[str],
            now: dt.datetime) -> dict[str, list[Figure]]:
    """The same inside the writer's transaction: what a reservation checks, then holds."""
    ch = config.channels[channel]
    at = stamp(now)
    held = tx.availability.stock(skus, ch.locations, at)
    rules = tx.availability.safety_rules(skus)
    seen = tx.fleet.last_seen(ch.locations)
    return model.figures(config, ch, skus, held, rules, seen, now, at)


def sku_view(config: HubConfig, channel: str, sku: str, row: Sequence[Figure],
             at: str) -> dict[str, Any]:
    """`GET /v1/availability/{sku}`'s answer."""
    return {"sku": sku, "channel": channel,
            "available_to_sell": model.channel_available(row, config.channels[channel].buffer),
            "as_of": at, "locations": [f.view() for f in row]}


def adjust(tx: Transaction, *, location: str, body: AdjustmentIn, business_day: dt.date,
           digest: str, now: dt.datetime) -> tuple[int, dict[str, Any]]:
    """Apply a stock adjustment once per (location, adjustment_id): (201, answer); (200, the
    same answer) for a retry with the same meaning; AvailabilityError 409 for another."""
    at = stamp(now)
    found = tx.availability.adjustment(location, body.adjustment_id)
    if found is not None:
        if found.digest != digest:
            raise AvailabilityError("this adjustment_id was already used at this location for "
                                    "another adjustment", "adjustment_id", 409)
        return 200, _answer(location, body.adjustment_id, found.applied_at)
    deltas: Counter[tuple[str, str]] = Counter()
    for line in body.lines:
        deltas[(location, line.sku)] += line.qty_delta
    tx.inventory.add_on_hand(deltas, at)
    tx.availability.save_adjustment(
        location, body.adjustment_id, digest=digest, reason=body.reason,
        occurred_at=stamp(body.occurred_at), business_day=business_day.isoformat(),
        lines=json.dumps([[x.sku, x.qty_delta] for x in body.lines]), now=at)
    keys = [(sku, loc) for loc, sku in deltas]
    tx.availability.record_changes(keys, at)
    tx.reservations.recheck_short(keys, at)  # a count may find less than is held there
    return 201, _answer(location, body.adjustment_id, at)


def _answer(location: str, adjustment_id: str, applied_at: str) -> dict[str, Any]:
    return {"location": location, "adjustment_id": adjustment_id, "status": "applied",
            "applied_at": applied_at}


def set_safety_stock(tx: Transaction, *, rules: Sequence[tuple[str, str, int | None]],
                     now: dt.datetime) -> None:
    """Write the rules ('' for "every"; qty None removes one) and tell the feed which SKUs they
    touch: a rule for a whole location touches every SKU stocked there."""
    at = stamp(now)
    tx.availability.set_safety_stock(rules, at)
    tx.availability.record_changes(((sku, loc) for sku, loc, _ in rules if sku), at)
    for location in sorted({loc for sku, loc, _ in rules if not sku}):
        tx.availability.record_location_changed(location, at)


def notice_staleness(tx: Transaction, *, config: HubConfig, now: dt.datetime) -> list[str]:
    """Compare each channel's stores with what the last sweep saw: every store that went stale
    or came back has all its SKUs appended to the feed (its contribution to the channel changed
    with no write of its own). A store not looked at before counts as fresh until then: the
    first look announces it only if it is stale. Returns the stores announced."""
    at = stamp(now)
    changed: set[str] = set()
    for name, channel in config.channels.items():
        stores = [x for x in channel.locations if config.location_kind(x) == "store"]
        if not stores:
            continue
        before = tx.availability.freshness(name)
        seen = tx.fleet.last_seen(stores)
        for location in stores:
            stale = model.is_stale("store", seen.get(location), now, channel.stale_after_s)
            if before.get(location) == stale:
                continue
            tx.availability.set_freshness(name, location, stale, at)
            if stale or location in before:  # a store never looked at counted as fresh
                changed.add(location)
    for location in sorted(changed):
        tx.availability.record_location_changed(location, at)
    return sorted(changed)


def compact_feed(tx: Transaction, *, keep_days: float, now: dt.datetime,
                 limit: int = COMPACT_ROWS) -> tuple[int, int]:
    """One step of the feed's retention: of the rows older than `keep_days`, drop those a newer
    row of the same SKU and location supersedes. No reader misses anything: whatever cursor it
    holds, each SKU changed after it still has its latest row after it. (rows looked at,
    rows deleted)."""
    return tx.availability.compact_feed(stamp(now - dt.timedelta(days=keep_days)), limit)
