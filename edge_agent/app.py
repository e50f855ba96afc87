"""Wires the agent together: outbox, capture API, forwarder and the pruning schedule."""

import asyncio
import datetime as dt
import logging
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from edge_agent import __version__
from edge_agent.capture import CaptureApi
from edge_agent.config import AgentConfig
from edge_agent.forwarder import Forwarder
from edge_agent.outbox import Outbox
from runtime import systemd
from runtime.http import bound_port, json_errors

log = logging.getLogger(__name__)


class Agent:
    """One store's agent. `run()` serves until cancelled, then closes everything cleanly."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.outbox = Outbox(config.outbox_path, config.store_id,
                             config.outbox.max_size_mb * 1024 * 1024 or None)
        self.forwarder = Forwarder(config, self.outbox, __version__)
        self.api = CaptureApi(config, self.outbox, self.forwarder.wake, self.health)
        self.bound_port: int | None = None
        self.started = asyncio.Event()

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
        if self.api.full_since is not None:
            body["status"] = "degraded"
            body["reason"] = (f"disk full since {self.api.full_since.isoformat()}: new sales "
                              "are refused (507); call support")
            return 503, body
        return 200, body

    async def prune(self) -> None:
        hours = self.config.outbox.retention_hours
        await self.outbox.prune(dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours))

    async def run(self) -> None:
        await self.outbox.open()
        app = web.Application(
            client_max_size=self.config.api.max_body_bytes,
            middlewares=[json_errors, self.api.require_token],
        )
        app.add_routes(self.api.routes())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        try:
            host, port = self.config.listen
            site = web.TCPSite(runner, host, port)
            await site.start()
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
        finally:
            systemd.notify("STOPPING=1")
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await runner.cleanup()
            await self.outbox.close()
            log.info("store %s agent stopped", self.config.store_id)
