"""Wires the hub together: database writer, embedded broker, ingest, catalog delivery, ERP relay,
jobs and the API.

Every worker of a cluster (docs/scale-out.md) takes in batches and serves the API and the
dashboard; the work that must run once per cluster (the scheduled jobs, the ERP relay, catalog
delivery, the availability webhooks' push) runs in `_lead`, only while this worker leads
(hub.cluster.leadership: on SQLite always)."""

import asyncio
import functools
import logging

from aiohttp import web

from hub.availability.service import Availability
from hub.availability.webhooks import Webhooks
from hub.broker import provisioning
from hub.broker.embedded import EmbeddedBroker
from hub.catalog.delivery import Delivery
from hub.catalog.erp_sync import ErpSync
from hub.cluster.connector import KeptOpen
from hub.cluster.leadership import Leader
from hub.cluster.workers import Workers
from hub.config import HubConfig
from hub.erp.factory import make_connector, read_products
from hub.errors import DatabaseUnreachable
from hub.ingest.receiver import Ingest
from hub.ledger import fleet
from hub.postings import store as postings
from hub.postings.jobs import Jobs
from hub.postings.relay import Relay
from hub.storage.factory import make_database
from hub.web import metrics as hub_metrics
from hub.web.api import HubApi
from hub.web.auth import admin_only_writes
from hub.web.availability import AvailabilityApi
from hub.web.catalog import CatalogApi
from hub.web.health import Health
from hub.web.pages import DashboardPage
from hub.web.workers_board import WorkersBoard
from runtime import systemd
from runtime.clock import SYSTEM, Clock
from runtime.http import bound_port, json_errors
from runtime.service import CannotListen, lock_data_dir

log = logging.getLogger(__name__)

GOODBYE_S = 5.0


class Hub:
    """The hub. `run()` serves until cancelled, then closes everything cleanly."""

    def __init__(self, config: HubConfig, clock: Clock = SYSTEM) -> None:
        self.config = config
        self.clock = clock
        self.db = make_database(config)
        self.broker = EmbeddedBroker(config) if config.broker.embedded else None
        if self.broker is not None:
            host, port = config.broker_listen
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            url = f"mqtt://{host}:{port}"
        else:
            url = config.broker.url
        self.ingest = Ingest(config, self.db, url, clock)
        erp = make_connector(config)
        self.connector = KeptOpen(erp) if erp else None
        receipts = functools.partial(self.ingest.outbound.settled, self.db)
        self.relay = (Relay(config, self.db, self.connector, on_settled=receipts, clock=clock,
                            leads=True)
                      if self.connector else None)
        self.leader = Leader(self.db, config.worker_id, config.cluster.leader_check_s)
        self.workers = Workers(config, self.db, clock,
                               batches=lambda: self.ingest.counters["batches"],
                               leading=lambda: self.leader.leading)
        self.leader.on_change = self.workers.wake
        self.workers_board = WorkersBoard(self.workers)
        self.health = Health(config.health, self.ingest, self.relay, clock,
                             embedded_broker=self.broker is not None)
        self.api = HubApi(self.db, self.health, self.relay, config.erp.mapping,
                           clock, config.postings)
        self._admin_token = config.admin_token()
        self.dashboard = DashboardPage(config, self.db, self.ingest, self.relay, clock,
                                       token_configured=self._admin_token is not None,
                                       workers=self.workers_board)
        self.jobs = Jobs(config, self.db, self.relay, clock)
        self.delivery = Delivery(self.db, config.catalog, self.ingest.outbound, clock)
        self.ingest.listen(self.delivery)
        self.catalog_api = CatalogApi(self.db, config.catalog, clock,
                                      on_published=self.delivery.wake)
        self.bound_port: int | None = None
        self.started = asyncio.Event()
        self.availability = Availability(config, self.db, clock)
        self.erp_sync = ErpSync(config, self.db, clock, functools.partial(read_products, config),
                                on_published=self.delivery.wake)
        self.webhooks = Webhooks(self.availability)

    async def metrics(self, request: web.Request) -> web.Response:
        # The push's figures are the leader's: another worker's would read as far behind.
        webhooks = self.webhooks if self.leader.leading else None
        return await hub_metrics.response(self.db.reads, self.ingest, self.relay, self.clock.now(),
                                          webhooks, self.delivery, self.workers_board)

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
        try:
            if self.connector is not None:
                await self.connector.open()
            if self.broker is not None:
                await self.broker.start()
            app = web.Application(middlewares=[
                json_errors, admin_only_writes(self._admin_token, self.config.channel_tokens())])
            app.add_routes(self.api.routes())
            app.add_routes(AvailabilityApi(self.availability).routes())
            app.add_routes(self.catalog_api.routes())
            app.add_routes(self.workers_board.routes())
            app.add_routes([web.get("/", self.dashboard.handle), web.get("/metrics", self.metrics)])
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
            self.started.set()
            systemd.notify("READY=1")
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(systemd.watchdog(), name="watchdog")
                tasks.create_task(self.ingest.run(), name="ingest")
                tasks.create_task(self.dashboard.sample_activity(), name="activity-sampler")
                tasks.create_task(self.workers.run(), name="worker-heartbeat")
                tasks.create_task(self.leader.run(self._lead), name="leadership")
        finally:
            systemd.notify("STOPPING=1")
            if runner is not None:
                await runner.cleanup()
            if self.broker is not None:
                await self.broker.stop()
            await self._goodbye()
            if self.connector is not None:
                await self.connector.shut()
            await self.db.close()
            log.info("hub stopped")

    async def _lead(self) -> None:
        """What runs once per cluster, for one term of this worker's lead (cancelled when it
        ends): the scheduled jobs, catalog delivery, the ERP relay, the webhooks' push."""
        scheduler = self.jobs.scheduler()
        self.availability.schedule(scheduler)
        self.erp_sync.schedule(scheduler)
        scheduler.start()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.delivery.run(), name="catalog-delivery")
                if self.relay is not None:
                    tasks.create_task(self.relay.run(), name="erp-relay")
                if self.webhooks.channels:
                    tasks.create_task(self.webhooks.run(), name="availability-webhooks")
        finally:
            scheduler.shutdown(wait=False)  # and cancels a job still running

    async def _goodbye(self) -> None:
        """Take this worker's row out of the workers table, unless the database is away."""
        try:
            await asyncio.wait_for(self.workers.goodbye(), GOODBYE_S)
        except (DatabaseUnreachable, TimeoutError) as exc:
            log.info("worker %s: its row stays until it is pruned (%s)", self.config.worker_id,
                     exc or "the database did not answer")
        except Exception:  # the database must still be closed
            log.exception("worker %s: removing its row failed", self.config.worker_id)

