"""Wires the hub together: database writer, embedded broker, ingest, ERP relay, jobs and the API."""

import asyncio
import datetime as dt
import functools
import logging
import zoneinfo
from pathlib import Path
from typing import Any

import aiosqlite
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hub import __version__, postings, reconcile
from hub.api import HubApi
from hub.broker import EmbeddedBroker
from hub.config import HubConfig
from hub.erp.base import Connector
from hub.ingest import Ingest
from hub.relay import Relay
from hub.schema import migrate
from runtime import systemd
from runtime.http import bound_port, json_errors
from runtime.sqlite_writer import SQLiteWriter, open_reader

log = logging.getLogger(__name__)


class Hub:
    """The hub. `run()` serves until cancelled, then closes everything cleanly."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.writer = SQLiteWriter(config.db_path, migrate, name="hub-writer")
        self.broker = EmbeddedBroker(config) if config.broker.embedded else None
        if self.broker is not None:
            host, port = config.broker_listen
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            url = f"mqtt://{host}:{port}"
        else:
            url = config.broker.url
        self.ingest = Ingest(config, self.writer, url)
        self._reader: aiosqlite.Connection | None = None
        connector = make_connector(config)
        self.relay = Relay(config, self.writer, self.reader, connector) if connector else None
        self.api = HubApi(self.reader, self.health, self.writer, self.relay, config.erp.mapping)
        self.bound_port: int | None = None
        self.started = asyncio.Event()

    def reader(self) -> aiosqlite.Connection:
        assert self._reader is not None, "hub database is not open"
        return self._reader

    async def health(self) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "broker": {"embedded": self.broker is not None, "connected": self.ingest.connected},
            "counters": dict(self.ingest.counters),
            "erp": self.relay.status() if self.relay else {"connector": "none"},
        }
        if not self.ingest.connected:
            body["status"] = "degraded"
            body["reason"] = "hub is not connected to the MQTT broker"
            return 503, body
        return 200, body

    async def sweep_summaries(self) -> None:
        """Release daily summaries whose cutoff has passed (and late sales of released days)."""
        released = await self.writer.run(functools.partial(
            postings.sweep, policy=self.config.postings, now=dt.datetime.now(dt.UTC)))
        if released:
            log.info("released %d daily summary postings", released)
            if self.relay:
                self.relay.wake()

    async def reconcile_yesterday(self) -> None:
        """The scheduled check of yesterday's business days; a mismatch is logged as a WARNING."""
        zone = zoneinfo.ZoneInfo(self.config.reconcile.timezone)
        day = dt.datetime.now(zone).date() - dt.timedelta(days=1)
        result = await reconcile.run(self.reader(), self.relay.connector if self.relay else None,
                                     self.config.erp.mapping, day)
        await self.writer.run(functools.partial(reconcile.save, result=result,
                                                now=dt.datetime.now(dt.UTC)))
        for rep in result["stores"]:
            if rep["status"] == "mismatched":
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
        Path(self.config.data_dir).mkdir(parents=True, exist_ok=True)
        await self.writer.start()
        self._reader = await open_reader(self.config.db_path)
        runner: web.AppRunner | None = None
        scheduler = self._schedule()
        try:
            if self.broker is not None:
                await self.broker.start()
            app = web.Application(middlewares=[json_errors])
            app.add_routes(self.api.routes())
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            host, port = self.config.api_listen
            site = web.TCPSite(runner, host, port)
            await site.start()
            self.bound_port = bound_port(site, port)
            log.info("hub API on http://%s:%d", host, self.bound_port)
            scheduler.start()
            self.started.set()
            systemd.notify("READY=1")
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(systemd.watchdog(), name="watchdog")
                tasks.create_task(self.ingest.run(), name="ingest")
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
            await self._reader.close()
            await self.writer.close()
            log.info("hub stopped")


def make_connector(config: HubConfig) -> Connector | None:
    """The configured ERP connector, or None for `connector = "none"` (postings are only kept)."""
    erp = config.erp
    if erp.connector == "http-json":
        from hub.erp.http_json import HttpJsonConnector

        return HttpJsonConnector(erp.url, config.erp_secret("token_file"), erp.timeout_s)
    if erp.connector == "tryton":
        from hub.erp.tryton import TrytonConnector

        password = config.erp_secret("password_file")
        assert password is not None
        return TrytonConnector(erp.url, erp.database, erp.username, password, erp.timeout_s)
    return None
