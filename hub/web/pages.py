"""The dashboard page (`GET /`): its request handler, and the sampler that feeds its last-hour
chart. dashboard.py gathers and renders; activity.py holds and draws the samples."""

import asyncio
import zoneinfo

from aiohttp import web

from hub.config import HubConfig
from hub.errors import BadQuery, DatabaseUnreachable
from hub.ingest.receiver import Ingest
from hub.postings import reconcile
from hub.postings.relay import Relay
from hub.storage import Database
from hub.web import dashboard
from hub.web.activity import Activity
from hub.web.workers_board import WorkersBoard
from runtime.clock import Clock
from runtime.http import error


class DashboardPage:
    """`handle` answers `GET /`; `sample_activity` runs beside it for as long as the hub serves."""

    def __init__(self, config: HubConfig, db: Database, ingest: Ingest, relay: Relay | None,
                 clock: Clock, *, token_configured: bool,
                 workers: WorkersBoard | None = None) -> None:
        self.config = config
        self.workers = workers
        self.db = db
        self.ingest = ingest
        self.relay = relay
        self.clock = clock
        self.token_configured = token_configured
        self.activity = Activity()

    async def handle(self, request: web.Request) -> web.Response:
        """The page, with the day check of `?day=` run against the ERP when asked; 422 on a
        query it cannot read."""
        relay = self.relay.status() if self.relay else {"connector": "none"}
        query = dict(request.query)
        now = self.clock.now()
        try:
            day = dashboard.check_day(query)
            checked = (await reconcile.run(self.db.reads, self.relay.connector if self.relay else None,
                                           self.config.erp.mapping, day, query.get("store_id") or None)
                       if day else None)
            data = await dashboard.gather(
                self.db.reads, query, dict(self.ingest.gaps_by_store), relay, now,
                zoneinfo.ZoneInfo(self.config.reconcile.timezone), checked, self.activity.svg(now))
            if self.workers is not None:
                data["workers"] = await self.workers.gather()
        except BadQuery as exc:
            return error(422, str(exc), exc.field)
        return web.Response(text=dashboard.render(data, now, self.token_configured),
                            content_type="text/html")

    async def sample_activity(self) -> None:
        """Feed the dashboard's last-hour chart: one sample every activity.interval_s."""
        while True:
            try:
                backlog = await dashboard.total_backlog(self.db.reads)
            except DatabaseUnreachable:  # a gap in the chart; the hub says so elsewhere
                pass
            else:
                self.activity.add(self.clock.now(), self.ingest.counters["events_applied"],
                                  backlog)
            await asyncio.sleep(self.activity.interval_s)
