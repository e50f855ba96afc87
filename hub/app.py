"""Wires the hub together: database writer, embedded broker, ingest and the HTTP API."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiosqlite
from aiohttp import web

from hub import __version__
from hub.api import HubApi
from hub.broker import EmbeddedBroker
from hub.config import HubConfig
from hub.ingest import Ingest
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
        self.api = HubApi(self.reader, self.health)
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
        }
        if not self.ingest.connected:
            body["status"] = "degraded"
            body["reason"] = "hub is not connected to the MQTT broker"
            return 503, body
        return 200, body

    async def run(self) -> None:
        Path(self.config.data_dir).mkdir(parents=True, exist_ok=True)
        await self.writer.start()
        self._reader = await open_reader(self.config.db_path)
        runner: web.AppRunner | None = None
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
            self.started.set()
            systemd.notify("READY=1")
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(systemd.watchdog(), name="watchdog")
                tasks.create_task(self.ingest.run(), name="ingest")
        finally:
            systemd.notify("STOPPING=1")
            if runner is not None:
                await runner.cleanup()
            if self.broker is not None:
                await self.broker.stop()
            await self._reader.close()
            await self.writer.close()
            log.info("hub stopped")
