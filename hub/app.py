"""Wires the hub together: database writer, embedded broker, ingest, ERP relay, jobs and the API."""

import asyncio
import datetime as dt
import functools
import logging
import zoneinfo
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hub import __version__
from hub.broker import provisioning
from hub.broker.embedded import EmbeddedBroker
from hub.config import HubConfig
from hub.erp.factory import make_connector
from hub.errors import BadQuery
from hub.ingest.receiver import Ingest
from hub.ledger import fleet
from hub.postings import reconcile
from hub.postings import store as postings
from hub.postings.relay import Relay
from hub.storage import Database
from hub.web import dashboard
from hub.web import metrics as hub_metrics
from hub.web.activity import Activity
from hub.web.api import HubApi
from hub.web.auth import admin_only_writes
from hub.web.catalog import CatalogApi
from protocol.messages import Receipt
from runtime import systemd
from runtime.circuit import CircuitState
from runtime.clock import SYSTEM, Clock
from runtime.http import bound_port, error, json_errors
from runtime.service import CannotListen, lock_data_dir

log = logging.getLogger(__name__)


class Hub:
    """The hub. `run()` serves until cancelled, then closes everything cleanly."""

    def __init__(self, config: HubConfig, clock: Clock = SYSTEM) -> None:
        self.config = config
        self.clock = clock
        self.db = Database(config.db_path)
        self.broker = EmbeddedBroker(config) if config.broker.embedded else None
        if self.broker is not None:
            host, port = config.broker_listen
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            url = f"mqtt://{host}:{port}"
        else:
            url = config.broker.url
        self.ingest = Ingest(config, self.db, url, clock)
        connector = make_connector(config)
        self.relay = (Relay(config, self.db, connector, on_settled=self.send_receipts, clock=clock)
                      if connector else None)
        self.api = HubApi(self.db, self.health, self.relay, config.erp.mapping,
                           clock, config.postings)
        self.catalog_api = CatalogApi(self.db, config.catalog, clock)
        self.bound_port: int | None = None
        self.started = asyncio.Event()
        self._admin_token = config.admin_token()
        self.activity = Activity()

    async def health(self) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "broker": {"embedded": self.broker is not None, "connected": self.ingest.connected,
                       "deaf_since": _iso(self.ingest.hearing.deaf_since),
                       "deaf_reconnects": self.ingest.hearing.reconnects},
            "counters": dict(self.ingest.counters),
            "erp": self.relay.status() if self.relay else {"connector": "none"},
        }
        reason = None
        health = self.config.health
        ingest = self.ingest
        if not ingest.connected:
            if ingest.disconnected_at is None:
                reason = "hub is starting: not yet connected to the MQTT broker"
            else:
                down = (self.clock.now() - ingest.disconnected_at).total_seconds()
                if down > health.broker_down_s:
                    reason = (f"hub has not been connected to the MQTT broker for {down:.0f} s "
                              f"(health.broker_down_s = {health.broker_down_s:g})")
        if reason is None and ingest.hearing.deaf_since is not None:
            reason = (f"hub has heard nothing from the MQTT broker since "
                      f"{ingest.hearing.deaf_since.isoformat()} ({ingest.hearing.reason}); "
                      "reconnecting")
        if reason is None and health.erp_circuit_open and self.relay is not None \
                and self.relay.breaker.state == CircuitState.OPEN:
            reason = (f"ERP circuit open after {self.relay.breaker.consecutive} failed calls in a "
                      "row; postings wait and are retried")
        if reason is not None:
            body["status"] = "degraded"
            body["reason"] = reason
            return 503, body
        return 200, body

    async def dashboard(self, request: web.Request) -> web.Response:
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
        except BadQuery as exc:
            return error(422, str(exc), exc.field)
        return web.Response(text=dashboard.render(data, now,
                                                  self._admin_token is not None),
                            content_type="text/html")

    async def sample_activity(self) -> None:
        """Feed the dashboard's last-hour chart: one sample every activity.interval_s."""
        while True:
            self.activity.add(self.clock.now(), self.ingest.counters["events_applied"],
                              await dashboard.total_backlog(self.db.reads))
            await asyncio.sleep(self.activity.interval_s)

    async def metrics(self, request: web.Request) -> web.Response:
        return await hub_metrics.response(self.db.reads, self.ingest, self.relay, self.clock.now())

    async def send_receipts(self, posting_id: str, state: str, erp_ref: str | None) -> None:
        """Tell the store what became of the transactions behind a posting."""
        found = await postings.sources(self.db.reads, posting_id)
        if found is None or not found[1]:
            return
        store_id, event_ids = found
        await self.ingest.outbound.receipts(
            store_id, [Receipt(e, posting_id, state, erp_ref) for e in event_ids])

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

    def _schedule(self) -> AsyncIOScheduler:
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

    async def run(self) -> None:
        """Serve until cancelled; DataDirInUse or CannotListen (runtime.service) if it cannot."""
        with lock_data_dir(self.config.data_dir, "retail-hub"):  # held until the service ends
            await self._serve()

    async def _serve(self) -> None:
        await self.db.start()
        if self.broker is not None:
            await self.db.run(functools.partial(fleet.provisioned,
                                                    store_ids=provisioning.store_ids(self.config)))
        if self.relay is None:
            kept = await self.db.run(functools.partial(postings.keep_waiting,
                                                           now=self.clock.now()))
            if kept:
                log.info("no ERP connector: %d postings that waited for one are kept", kept)
        runner: web.AppRunner | None = None
        scheduler = self._schedule()
        try:
            if self.broker is not None:
                await self.broker.start()
            app = web.Application(middlewares=[json_errors, admin_only_writes(self._admin_token)])
            app.add_routes(self.api.routes())
            app.add_routes(self.catalog_api.routes())
            app.add_routes([web.get("/", self.dashboard), web.get("/metrics", self.metrics)])
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            host, port = self.config.api_listen
            site = web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as exc:
                raise CannotListen(self.config.api.listen, "api.listen", self.config.source,
                                   exc) from exc
            self.bound_port = bound_port(site, port)
            log.info("hub API on http://%s:%d", host, self.bound_port)
            scheduler.start()
            self.started.set()
            systemd.notify("READY=1")
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(systemd.watchdog(), name="watchdog")
                tasks.create_task(self.ingest.run(), name="ingest")
                tasks.create_task(self.sample_activity(), name="activity-sampler")
                if self.relay is not None:
                    tasks.create_task(self.relay.run(), name="erp-relay")
        finally:
            systemd.notify("STOPPING=1")
            if scheduler.running:
                scheduler.shutdown(wait=False)
            if runner is not None:
                await runner.cleanup()
            if self.broker is not None:
                await self.broker.stop()
            await self.db.close()
            log.info("hub stopped")


def _iso(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at else None
