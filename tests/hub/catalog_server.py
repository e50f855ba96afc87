"""The catalog API on a real database (SQLite, or the PostgreSQL database the `storage` fixture
names) and a real HTTP server (port 0), with the admin token on its writes as the Hub has it,
and a client that sends the token."""

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.config import CatalogConfig
from hub.ledger import fleet
from hub.storage import Database
from hub.web.auth import admin_only_writes
from hub.web.catalog import CatalogApi
from runtime.clock import FrozenClock
from runtime.http import json_errors
from tests.hub.helpers import NOW, hub_database

TOKEN = "catalog-admin-token"


class Client:
    """Requests to the catalog API: each answers (status, JSON body)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, db: Database,
                 clock: FrozenClock) -> None:
        self.http = http
        self.url = url
        self.db = db
        self.clock = clock

    async def call(self, method: str, path: str, body: Any = None,
                   **params: str) -> tuple[int, Any]:
        async with self.http.request(method, self.url + path, json=body, params=params) as r:
            return r.status, await r.json()

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        return await self.call("GET", path, **params)

    async def put(self, path: str, body: Any) -> tuple[int, Any]:
        return await self.call("PUT", path, body)

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.call("POST", path, body)

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, answer = await self.call(method, path, body)
        assert got == status, answer
        return answer

    async def items(self, *skus: str, active: bool = True) -> None:
        await self.ok("PUT", "/v1/items", [{"sku": s, "name": f"Item {s}", "active": active}
                                           for s in skus])

    async def book(self, book: str, priority: int, currency: str = "EUR", **assigned: Any) -> None:
        await self.ok("PUT", f"/v1/price-books/{book}",
                      {"currency": currency, "priority": priority, **assigned})

    async def prices(self, book: str, *changes: dict[str, Any], force: bool = False) -> Any:
        return await self.ok("POST", f"/v1/price-books/{book}/prices",
                             {"changes": list(changes), "force": force}, status=201)

    async def publish(self, **body: Any) -> Any:
        return await self.ok("POST", "/v1/publications", body or {"stores": "all"}, status=201)

    async def price(self, store: str, sku: str, at: str | None = None) -> Any:
        status, body = await self.get(f"/v1/stores/{store}/prices/{sku}",
                                      **({"at": at} if at else {}))
        assert status == 200, body
        return body["price"] and (body["price"]["amount"], body["price"]["price_book"])


@contextlib.asynccontextmanager
async def catalog_server(tmp_path: Path, *, stores: Sequence[str] = ("S001", "S002", "S003"),
                         config: CatalogConfig | None = None,
                         token: str | None = TOKEN,
                         storage: str | None = None) -> AsyncIterator[Client]:
    """Serve the catalog API over a fresh database in `tmp_path` (or the PostgreSQL database at
    `storage`), with `stores` provisioned; the clock stands at tests.hub.helpers.NOW until a
    test moves it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    db = hub_database(tmp_path, storage)
    await db.start()
    await db.run(lambda tx: fleet.provisioned(tx, list(stores)))
    clock = FrozenClock(NOW)
    app = web.Application(middlewares=[json_errors, admin_only_writes(token)])
    app.add_routes(CatalogApi(db, config or CatalogConfig(), clock).routes())
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            yield Client(http, str(server.make_url("")).rstrip("/"), db, clock)
    finally:
        await server.close()
        await db.close()
