"""The hub's HTTP API on a real SQLite database and a real HTTP server (port 0), without a broker."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.web.api import HubApi
from hub.config import HubConfig
from hub.storage import Database
from runtime.clock import FrozenClock
from runtime.http import json_errors
from tests.hub.helpers import NOW


async def _healthy() -> tuple[int, dict[str, Any]]:
    return 200, {"status": "ok"}


@contextlib.asynccontextmanager
async def api_server(db: Path, config: HubConfig | None = None) -> AsyncIterator[str]:
    """Serve HubApi over `db` (seed it first); yields the base URL."""
    config = config or HubConfig(data_dir=str(db.parent))
    database = Database(db)
    await database.start()
    api = HubApi(database, _healthy, None, config.erp.mapping, FrozenClock(NOW))
    app = web.Application(middlewares=[json_errors])
    app.add_routes(api.routes())
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
        await database.close()


async def get(http: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, Any]:
    async with http.get(url, params=params) as r:
        return r.status, await r.json()
