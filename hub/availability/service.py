"""The availability service: what the HTTP API and the scheduler call. Reads go through the
read-only connection; every change is one writer job (hub.availability.reservations,
hub.availability.stock)."""

import datetime as dt
import functools
import logging
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hub.availability import model, reservations, stock
from hub.availability.requests import (
    AdjustmentIn,
    FulfilIn,
    ReservationIn,
    RuleIn,
    checked_adjustment,
    once_each,
)
from hub.config import ChannelConfig, HubConfig
from hub.errors import AvailabilityError, BadQuery, DatabaseUnreachable
from hub.storage import Database
from runtime.clock import SYSTEM, Clock, stamp

log = logging.getLogger(__name__)
MAX_COMPACT_STEPS = 10  # per sweep: 200,000 feed rows at most


class Availability:
    """Available to sell per channel, reservations, location stock, safety stock, the feed."""

    def __init__(self, config: HubConfig, db: Database, clock: Clock = SYSTEM) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self._db_down = False

    def channel(self, name: str | None, field: str = "channel") -> ChannelConfig:
        """The named channel, or BadQuery naming `field`."""
        found = self.config.channels.get(name or "")
        if found is None:
            known = ", ".join(sorted(self.config.channels)) or "none configured"
            raise BadQuery(f"channel must be one of the hub's [channels] ({known})", field)
        return found

    async def figures(self, channel: str, skus: list[str]) -> list[dict[str, Any]]:
        """Each SKU's availability in `channel`, in the order asked."""
        self.channel(channel)
        now = self.clock.now()
        rows = await stock.read(self.db.reads, self.config, channel, skus, now)
        return [stock.sku_view(self.config, channel, sku, rows[sku], stamp(now)) for sku in skus]

    async def reserve(self, body: ReservationIn, caller: str | None) -> tuple[int, dict[str, Any]]:
        channel = self.channel(body.channel)
        if caller is not None and caller != body.channel:
            raise AvailabilityError(f"the token given is channel {caller!r}'s, not "
                                    f"{body.channel!r}'s", "channel", 403)
        if body.location is not None and body.location not in channel.locations:
            raise BadQuery(f"location {body.location!r} does not sell into channel "
                           f"{body.channel!r}", "location")
        once_each([x.sku for x in body.lines], "lines[{i}].sku", "SKU")
        return await self.db.run(functools.partial(
            reservations.reserve, config=self.config, body=body, now=self.clock.now()))

    async def release(self, reservation_id: str, caller: str | None) -> dict[str, Any]:
        return await self.db.run(functools.partial(
            reservations.release, reservation_id=reservation_id, caller=caller,
            now=self.clock.now()))

    async def fulfil(self, reservation_id: str, body: FulfilIn,
                     caller: str | None) -> dict[str, Any]:
        return await self.db.run(functools.partial(
            reservations.fulfil, config=self.config, reservation_id=reservation_id,
            location=body.location, caller=caller, now=self.clock.now()))

    async def reservation(self, reservation_id: str) -> dict[str, Any]:
        reads = self.db.reads.reservations
        found = await reads.find(reservation_id)
        if found is None:
            raise AvailabilityError("no such reservation", "reservation_id", 404)
        return reservations.view(*found, stamp(self.clock.now()),
                                 sales=await reads.sales(reservation_id))

    async def adjust(self, location: str, body: AdjustmentIn) -> tuple[int, dict[str, Any]]:
        """A stock adjustment of a hub-fed location (a warehouse or distribution centre)."""
        if location not in self.config.known_locations():
            raise AvailabilityError(f"unknown location {location!r}: a warehouse or distribution "
                                    f"centre is declared under [locations.{location}] in the "
                                    "hub's config (a store's stock comes from its own agent)",
                                    "location", 404)
        if self.config.location_kind(location) == "store":
            raise BadQuery(f"{location!r} is a store: its stock comes from its own agent "
                           "(POST /v1/inventory-adjustments there)", "location")
        day, digest = checked_adjustment(body)
        return await self.db.run(functools.partial(
            stock.adjust, location=location, body=body, business_day=day, digest=digest,
            now=self.clock.now()))

    async def set_safety_stock(self, rules: list[RuleIn]) -> dict[str, Any]:
        keyed: list[tuple[str, str, int | None]] = []
        known = self.config.known_locations()
        for i, rule in enumerate(rules):
            if rule.sku is None and rule.location is None:
                raise BadQuery("a rule names a sku, a location or both (the default is "
                               "[availability] default_safety_stock)", f"[{i}]")
            if rule.location is not None and rule.location not in known:
                raise BadQuery(f"unknown location {rule.location!r}: neither declared under "
                               "[locations] nor sold from by a channel", f"[{i}].location")
            keyed.append((rule.sku or model.EVERY, rule.location or model.EVERY, rule.qty))
        once_each([f"for {s or 'every SKU'} at {loc or 'every location'}"
                   for s, loc, _ in keyed], "[{i}]", "the rule")
        await self.db.run(functools.partial(stock.set_safety_stock, rules=keyed,
                                            now=self.clock.now()))
        return await self.safety_stock()

    async def safety_stock(self) -> dict[str, Any]:
        rules = await self.db.reads.availability.all_safety_rules()
        return {"default": self.config.availability.default_safety_stock,
                "rules": [{"sku": s or None, "location": loc or None, "qty": q, "updated_at": at}
                          for s, loc, q, at in rules]}

    async def changes(self, channel: str, after: int, limit: int) -> dict[str, Any]:
        """The latest figure of each SKU changed after cursor `after` at the channel's
        locations, oldest change first, and the cursor to ask from next."""
        ch = self.channel(channel)
        reads = self.db.reads
        last = await reads.availability.last_cursor()
        if after > last:
            raise AvailabilityError(f"cursor {after} is ahead of the feed (latest {last}): was "
                                    "the hub's database restored? Start again from after=0",
                                    "after", 410, last_cursor=last)
        found = await reads.availability.changes(after, ch.locations, limit)
        now = self.clock.now()  # read after the feed: the figures are at least that recent
        rows = await stock.read(reads, self.config, channel, [c.sku for c in found], now)
        # Fewer than `limit`: nothing else of this channel's up to `last` was left out.
        upto = found[-1].cursor if found else after
        next_cursor = upto if len(found) == limit else max(upto, last)
        return {"channel": channel, "as_of": stamp(now),
                "changes": [{"cursor": c.cursor, "sku": c.sku,
                             "available_to_sell": model.channel_available(rows[c.sku], ch.buffer)}
                            for c in found],
                "next_cursor": next_cursor}

    async def sweep(self) -> None:
        """Mark expired reservations, tell the feed about stores gone stale or back, and drop
        feed rows past the retention that newer rows supersede. While the hub database cannot
        be reached, one WARNING (not one per sweep); the next sweep does what this one could not."""
        try:
            await self._sweep()
        except DatabaseUnreachable as exc:
            if not self._db_down:
                log.warning("availability sweep skipped: %s", exc)
            self._db_down = True
            return
        if self._db_down:
            log.info("availability sweep: the hub database is reachable again")
        self._db_down = False

    async def _sweep(self) -> None:
        now = self.clock.now()
        expired = await self.db.run(functools.partial(reservations.expire, now=now))
        moved = await self.db.run(functools.partial(stock.notice_staleness,
                                                    config=self.config, now=now))
        deleted = 0
        for _ in range(MAX_COMPACT_STEPS):  # separate jobs: ingest goes on between them
            looked, dropped = await self.db.run(functools.partial(
                stock.compact_feed, keep_days=self.config.availability.feed_keep_days, now=now))
            deleted += dropped
            if looked < stock.COMPACT_ROWS:
                break
        if expired:
            log.info("%d reservations expired", expired)
        if deleted:
            log.info("change feed: %d rows older than %g days superseded and dropped", deleted,
                     self.config.availability.feed_keep_days)
        for location in moved:
            log.info("location %s went stale or came back for a channel: its SKUs are in the "
                     "change feed", location)

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add the sweep, every `[availability] sweep_interval_s`, when channels are configured."""
        if self.config.channels:
            scheduler.add_job(self.sweep, "interval",
                              seconds=self.config.availability.sweep_interval_s,
                              next_run_time=dt.datetime.now(dt.UTC), misfire_grace_time=60,
                              coalesce=True, max_instances=1)
