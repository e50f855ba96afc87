"""The availability API on a real database (SQLite, or the PostgreSQL database the `storage`
fixture names) and a real HTTP server (port 0), with the hub's own token middleware, a frozen
clock, and a config with stores, a warehouse and channels."""

import contextlib
import datetime as dt
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.availability.service import Availability
from hub.config import AvailabilityConfig, ChannelConfig, HubConfig, LocationConfig
from hub.ledger import fleet, inventory
from hub.storage import Database
from hub.web.auth import admin_only_writes
from hub.web.availability import AvailabilityApi
from runtime.clock import FrozenClock, stamp
from runtime.http import json_errors
from tests.hub.helpers import hub_database

START = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
ADMIN = "admin-token-0123456789"
WEB = "web-token-0123456789abc"


def config(tmp_path: Path, **channels: ChannelConfig) -> HubConfig:
    """Stores S001 and S002, warehouse DC1; channel `web` sells from all three (S001 first)."""
    return HubConfig(
        data_dir=str(tmp_path),
        locations={"S001": LocationConfig("store"), "S002": LocationConfig("store"),
                   "DC1": LocationConfig("warehouse")},
        availability=AvailabilityConfig(reservation_ttl_s=600),
        channels=channels or {"web": ChannelConfig(["S001", "S002", "DC1"], stale_after_s=300)},
    )


@dataclass
class Served:
    url: str
    db: Database
    clock: FrozenClock
    service: Availability
    http: aiohttp.ClientSession

    async def stock(self, changes: dict[tuple[str, str], int]) -> None:
        """Put units on hand at stores as their applied events would ({(store, sku): delta})."""
        await self.db.run(functools.partial(inventory.apply, changes=changes,
                                            now=stamp(self.clock.now())))

    async def seen(self, *stores: str) -> None:
        """The stores were heard from now (as a batch or state message would record)."""
        for store in stores:
            await self.db.run(functools.partial(fleet.seen, store_id=store, stream="st-1",
                                                now=stamp(self.clock.now())))

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = ADMIN,
                   **params: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.url + path, json=body, params=params,
                                     headers=headers) as r:
            return r.status, await r.json()

    async def ats(self, sku: str, channel: str = "web") -> int:
        status, body = await self.call("GET", f"/v1/availability/{sku}", channel=channel)
        assert status == 200, body
        return int(body["available_to_sell"])


@contextlib.asynccontextmanager
async def served(tmp_path: Path, cfg: HubConfig | None = None,
                 tokens: dict[str, str] | None = None, *,
                 storage: str | None = None) -> AsyncIterator[Served]:
    cfg = cfg or config(tmp_path)
    clock = FrozenClock(START)
    db = hub_database(tmp_path, storage)
    await db.start()
    service = Availability(cfg, db, clock)
    app = web.Application(middlewares=[json_errors, admin_only_writes(
        ADMIN, {"web": WEB} if tokens is None else tokens)])
    app.add_routes(AvailabilityApi(service).routes())
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Served(str(server.make_url("")).rstrip("/"), db, clock, service, http)
    finally:
        await server.close()
        await db.close()
