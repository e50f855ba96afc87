"""The hub's scheduled jobs: the sweep that releases daily summary postings at their cutoff, the
reconciliation of yesterday's business days, and the scheduler that runs them."""

import datetime as dt
import functools
import logging
import zoneinfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hub.config import HubConfig
from hub.postings import reconcile
from hub.postings import store as postings
from hub.postings.relay import Relay
from hub.storage import Database
from runtime.clock import Clock

log = logging.getLogger(__name__)


class Jobs:
    """The two jobs, each safe to run at any time; `scheduler()` sets them up as configured."""

    def __init__(self, config: HubConfig, db: Database, relay: Relay | None, clock: Clock) -> None:
        self.config = config
        self.db = db
        self.relay = relay
        self.clock = clock

    async def sweep_summaries(self) -> None:
        """Release daily summaries whose cutoff has passed (and late sales of released days)."""
        released = await self.db.run(functools.partial(
            postings.sweep, policy=self.config.postings, now=self.clock.now(),
            state=postings.waiting_state(self.config.erp.connector)))
        if released:
            log.info("released %d daily summary postings", released)
            if self.relay:
                self.relay.wake()

    async def reconcile_yesterday(self) -> None:
        """The scheduled check of yesterday's business days; a mismatch is logged as a WARNING."""
        zone = zoneinfo.ZoneInfo(self.config.reconcile.timezone)
        day = self.clock.now().astimezone(zone).date() - dt.timedelta(days=1)
        result = await reconcile.run(self.db.reads, self.relay.connector if self.relay else None,
                                     self.config.erp.mapping, day)
        await self.db.run(functools.partial(reconcile.save, result=result,
                                            now=self.clock.now()))
        for rep in result["stores"]:
            if rep["status"] == reconcile.ReconcileStatus.MISMATCHED:
                log.warning("reconciliation %s %s: mismatched (%s)", rep["store_id"], day,
                            ", ".join(d["field"] for d in rep["differences"]) or "postings missing in ERP")
        log.info("reconciliation of %s: %d matched, %d mismatched, %d incomplete", day,
                 result["matched"], result["mismatched"], result["incomplete"])

    def scheduler(self) -> AsyncIOScheduler:
        """A scheduler, not yet started: the sweep every `postings.sweep_interval_s` (first run
        at once) when some kind is posted as a daily summary, and the reconciliation daily at
        `reconcile.at` in `reconcile.timezone` unless that is empty."""
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        if postings.summary_kinds(self.config.postings):
            scheduler.add_job(self.sweep_summaries, "interval",
                              seconds=self.config.postings.sweep_interval_s,
                              next_run_time=dt.datetime.now(dt.UTC), misfire_grace_time=300,
                              coalesce=True, max_instances=1)
        at = self.config.reconcile.at
        if at:
            hour, minute = at.split(":")
            scheduler.add_job(self.reconcile_yesterday, "cron", hour=int(hour), minute=int(minute),
                              timezone=self.config.reconcile.timezone, misfire_grace_time=3600,
                              coalesce=True, max_instances=1)
        return scheduler
