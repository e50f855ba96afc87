"""Wires the agent together: outbox, catalog, capture and catalog APIs, forwarder, status page,
metrics and pruning."""

import asyncio
import datetime as dt
import logging
import shutil
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from edge_agent import __version__, disk, status, status_page
from edge_agent.capture import CaptureApi
from edge_agent.catalog import Catalog
from edge_agent.catalog_api import CatalogApi
from edge_agent.catalog_link import CatalogLink
from edge_agent.catalog_reads import CatalogReads
from edge_agent.config import AgentConfig
from edge_agent.errors import OutboxError
from edge_agent.forwarder import Forwarder
from edge_agent.outbox import Outbox
from protocol.topics import Topics
from runtime import metrics, systemd
from runtime.clock import SYSTEM, Clock
from runtime.http import Handler, bound_port, error, json_errors, json_response
from runtime.service import CannotListen, lock_data_dir

log = logging.getLogger(__name__)
REOPEN_EVERY_S = 2.0  # how often a full disk is looked at again while the outbox is read-only


@web.middleware
async def outbox_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outbox between a full disk and writable again (edge_agent.outbox `reopen`): a 503."""
    try:
        return await handler(request)
    except OutboxError as exc:
        return error(503, f"the outbox cannot be read just now ({exc}); retry", None)


class Agent:
    """One store's agent. `run()` serves until cancelled, then closes everything cleanly."""

    def __init__(self, config: AgentConfig, clock: Clock = SYSTEM) -> None:
        self.config = config
        self.clock = clock
        self.outbox = Outbox(config.outbox_path, config.store_id,
                             config.outbox.max_size_mb * 1024 * 1024 or None, clock)
        self.catalog = Catalog(config.catalog_path, clock)
        self.catalog_reads = CatalogReads(config.catalog_path)
        self.catalog_link = CatalogLink(self.catalog, Topics(config.mqtt.topic_prefix),
                                        config.store_id, clock)
        self.catalog_api = CatalogApi(self.catalog, self.catalog_reads, clock)
        self.forwarder = Forwarder(config, self.outbox, __version__, clock,
                                   catalog=self.catalog_link)
        self.api = CaptureApi(config, self.outbox, self.forwarder.wake, self.health, clock,
                              check_prices=self.catalog_api.check_prices)
        self.version = __version__
        self.bound_port: int | None = None
        self.started = asyncio.Event()
        self._acked_at_start = 0

    def measure_disk(self, last_seq: int) -> disk.Disk:
        """The one disk check: /healthz and the status page both read it (edge_agent.disk)."""
        cfg = self.config
        return disk.check(cfg.outbox_path, cfg.outbox.max_size_mb, cfg.health.min_free_mb,
                          last_seq, self.outbox.pruned_through,
                          self.api.throughput.per_hour(self.api.throughput.last_window()))

    async def health(self) -> tuple[int, dict[str, Any]]:
        stats = await self.outbox.stats()
        body = {
            "status": "ok",
            "store_id": self.config.store_id,
            "version": __version__,
            "stream": self.outbox.stream,
            "mqtt": {
                "state": self.forwarder.state,
                "since": self.forwarder.state_since.isoformat(),
                "last_error": self.forwarder.last_error,
                "deaf_since": (self.forwarder.hearing.deaf_since.isoformat()
                               if self.forwarder.hearing.deaf_since else None),
                "deaf_reconnects": self.forwarder.hearing.reconnects,
            },
            "outbox": {
                "last_seq": stats.last_seq,
                "acked_through": stats.acked_through,
                "backlog": stats.backlog,
                "oldest_unsent_at": stats.oldest_unsent_at,
            },
            "captured": self.api.captured,
            "forwarded": self.forwarder.forwarded,
        }
        reason = None
        health = self.config.health
        down_s = (self.clock.now() - self.forwarder.state_since).total_seconds()
        space = self.measure_disk(stats.last_seq)
        if self.api.full_since is not None:
            reason = (f"disk full since {self.api.full_since.isoformat()}: new sales "
                      "are refused (507); call support")
        elif space.nearly_full:
            reason = space.reason()
        elif self.forwarder.state != "connected" and down_s > health.broker_down_s:
            reason = (f"not connected to the broker for {down_s:.0f} s (more than "
                      f"health.broker_down_s = {health.broker_down_s:g}); sales are kept and "
                      "sent later")
        elif self.forwarder.hearing.deaf_since is not None:
            reason = (f"connected to the broker but no ack from head office since "
                      f"{self.forwarder.hearing.deaf_since.isoformat()} "
                      f"({self.forwarder.hearing.reason}); reconnecting; sales are kept and "
                      "sent later")
        if reason is not None:
            body["status"] = "degraded"
            body["reason"] = reason
            return 503, body
        return 200, body

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/", self.status_page), web.get("/v1/status", self.status_json),
                web.get("/metrics", self.metrics)]

    async def status_page(self, request: web.Request) -> web.Response:
        q = request.query
        lookup = (await status.lookup(self, q.get("register", ""), q.get("number", ""))
                  if "register" in q or "number" in q else None)
        return web.Response(text=status_page.render(await status.collect(self), lookup),
                            content_type="text/html")

    async def status_json(self, request: web.Request) -> web.Response:
        return json_response(await status.collect(self))

    async def metrics(self, request: web.Request) -> web.Response:
        stats = await self.outbox.stats()
        oldest = stats.oldest_unsent_at
        age = ((self.clock.now() - dt.datetime.fromisoformat(oldest)).total_seconds()
               if oldest else 0.0)
        fwd = self.forwarder
        damage = await self.outbox.damage()
        return metrics.response([
            metrics.gauge("edge_outbox_quarantined_rows",
                          "damaged outbox rows set aside by the check at start",
                          damage.quarantined_total if damage else 0),
            metrics.gauge("edge_outbox_backlog_events", "events captured, not yet acknowledged",
                          stats.backlog),
            metrics.gauge("edge_outbox_oldest_unsent_age_seconds",
                          "age of the oldest event not yet acknowledged", age),
            metrics.gauge("edge_outbox_last_seq", "seq of the newest captured event", stats.last_seq),
            metrics.gauge("edge_outbox_acked_seq", "acknowledged by the hub through this seq",
                          stats.acked_through),
            metrics.counter("edge_events_captured", "events captured since start",
                            self.api.captured),
            metrics.counter("edge_events_forwarded", "events sent to the broker since start",
                            fwd.forwarded),
            metrics.counter("edge_events_acked", "events acknowledged by the hub since start",
                            max(0, stats.acked_through - self._acked_at_start)),
            metrics.counter("edge_captures_rejected", "capture requests refused (4xx)",
                            self.api.rejected),
            metrics.counter("edge_captures_duplicate", "repeated captures answered 200",
                            self.api.duplicates),
            metrics.counter("edge_mqtt_reconnects", "connections to the broker made",
                            fwd.reconnects),
            metrics.counter("edge_mqtt_resends", "resends after an ack timeout", fwd.resends),
            metrics.counter("edge_mqtt_deaf_reconnects",
                            "reconnects because resends got no ack while the hub said it was "
                            "online (a deaf session)", fwd.hearing.reconnects),
            metrics.counter("edge_outbox_restreams",
                            "moves to a new stream because the hub held other events at our seqs",
                            fwd.restreams),
            metrics.gauge("edge_mqtt_connected", "1 when connected to the broker",
                          1.0 if fwd.state == "connected" else 0.0),
            metrics.gauge("edge_catalog_version", "the catalog version applied (0: none yet)",
                          self.catalog.state.version or 0),
            metrics.counter("edge_catalog_chunks", "catalog chunks received since start",
                            self.catalog_link.counters["chunks"]),
            metrics.counter("edge_catalog_versions_applied", "catalog versions applied since start",
                            self.catalog_link.counters["applied"]),
            metrics.counter("edge_catalog_copies_refused",
                            "catalog versions refused (digest, base version) and asked for again",
                            self.catalog_link.counters["copies_refused"]),
            metrics.counter("edge_price_deviations",
                            "sale lines the price check flagged as priced otherwise than the "
                            "catalog (a till's retry is checked again; the hub counts each "
                            "line once)", self.catalog_api.deviations),
            metrics.gauge("edge_disk_free_bytes", "free space where the outbox lives",
                          shutil.disk_usage(self.config.outbox_path.parent).free),
        ])

    async def prune(self) -> None:
        hours = self.config.outbox.retention_hours
        await self.outbox.prune(self.clock.now() - dt.timedelta(hours=hours))

    async def reopen_when_room(self) -> None:
        """While a full disk keeps the outbox read-only, look for room; then captures resume."""
        while not await self.outbox.reopen():
            await asyncio.sleep(REOPEN_EVERY_S)
        if self.api.full_since is not None:
            log.warning("capture works again after a full disk since %s", self.api.full_since)
            self.api.full_since = None

    async def open_catalog_when_room(self) -> None:
        """While a full disk keeps the catalog shut, look for room; then lookups resume."""
        while not await self.catalog.open():
            await asyncio.sleep(REOPEN_EVERY_S)
        self.catalog_reads.open()
        log.warning("the store's catalog is open again after a full disk")

    async def run(self) -> None:
        """Serve until cancelled; DataDirInUse or CannotListen (runtime.service) if it cannot."""
        with lock_data_dir(self.config.data_dir, "edge-agent"):  # held until the service ends
            await self._serve()

    async def _serve(self) -> None:
        await self.outbox.open()
        if not self.outbox.writable:
            self.api.full_since = self.clock.now()
        if await self.catalog.open():
            self.catalog_reads.open()
        self._acked_at_start = self.outbox.acked_through
        app = web.Application(
            client_max_size=self.config.api.max_body_bytes,
            middlewares=[json_errors, outbox_unavailable, self.api.require_token],
        )
        app.add_routes(self.api.routes())
        app.add_routes(self.catalog_api.routes())
        app.add_routes(self.routes())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        try:
            host, port = self.config.listen
            site = web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as exc:
                raise CannotListen(self.config.api.listen, "api.listen", self.config.source,
                                   exc) from exc
            self.bound_port = bound_port(site, port)
            log.info("store %s capture API on http://%s:%s", self.config.store_id, host,
                     self.bound_port)
            scheduler.add_job(
                self.prune, "interval", seconds=self.config.outbox.prune_interval_s,
                misfire_grace_time=300, coalesce=True, max_instances=1,
            )
            scheduler.start()
            self.started.set()
            systemd.notify("READY=1")
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(systemd.watchdog(), name="watchdog")
                tasks.create_task(self.forwarder.run(), name="forwarder")
                tasks.create_task(self.catalog_link.run(), name="catalog-apply")
                if not self.outbox.writable:
                    tasks.create_task(self.reopen_when_room(), name="outbox-reopen")
                if not self.catalog.is_open:
                    tasks.create_task(self.open_catalog_when_room(), name="catalog-reopen")
        finally:
            systemd.notify("STOPPING=1")
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await runner.cleanup()
            self.catalog_reads.close()
            await self.catalog.close()
            await self.outbox.close()
            log.info("store %s agent stopped", self.config.store_id)
