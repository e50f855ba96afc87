"""Each SKU's figures in a channel, read from the database: from the read-only connection for
the API and the feed, or inside the writer's transaction when a reservation checks them."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from hub.availability import model
from hub.availability.model import Figure
from hub.config import HubConfig
from hub.storage import Reads, Transaction
from runtime.clock import stamp


async def read(reads: Reads, config: HubConfig, channel: str, skus: Sequence[str],
               now: dt.datetime) -> dict[str, list[Figure]]:
    """The figures as the last commit left them; reservations expired by `now` do not count."""
    ch = config.channels[channel]
    at = stamp(now)
    held = await reads.availability.stock(skus, ch.locations, at)
    rules = await reads.availability.safety_rules(skus)
    seen = await reads.availability.last_seen(ch.locations)
    return model.figures(config, ch, skus, held, rules, seen, now, at)


def read_in(tx: Transaction, config: HubConfig, channel: str, skus: Sequence[str],
            now: dt.datetime) -> dict[str, list[Figure]]:
    """The same inside the writer's transaction: what a reservation checks, then holds."""
    ch = config.channels[channel]
    at = stamp(now)
    held = tx.availability.stock(skus, ch.locations, at)
    rules = tx.availability.safety_rules(skus)
    seen = tx.availability.last_seen(ch.locations)
    return model.figures(config, ch, skus, held, rules, seen, now, at)


def sku_view(config: HubConfig, channel: str, sku: str, row: Sequence[Figure],
             at: str) -> dict[str, Any]:
    """`GET /v1/availability/{sku}`'s answer."""
    return {"sku": sku, "channel": channel,
            "available_to_sell": model.channel_available(row, config.channels[channel].buffer),
            "as_of": at, "locations": [f.view() for f in row]}
