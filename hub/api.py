"""The hub's HTTP API: stores, inventory, business days, quarantine, health."""

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite
from aiohttp import web

from hub import days, fleet, inventory, quarantine
from runtime.http import error, json_response


class HubApi:
    def __init__(self, reader: Callable[[], aiosqlite.Connection],
                 health: Callable[[], Awaitable[tuple[int, dict[str, Any]]]]) -> None:
        self._reader = reader
        self._health = health

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/stores", self.stores),
            web.get("/v1/stores/{store_id}/days/{business_day}", self.day),
            web.get("/v1/inventory/{sku}", self.inventory),
            web.get("/v1/quarantine", self.quarantined),
            web.get("/healthz", self.healthz),
        ]

    async def stores(self, request: web.Request) -> web.Response:
        return json_response({"stores": await fleet.stores(self._reader())})

    async def day(self, request: web.Request) -> web.Response:
        try:
            day = dt.date.fromisoformat(request.match_info["business_day"])
        except ValueError:
            return error(422, "business_day must be YYYY-MM-DD", "business_day")
        return json_response(await days.report(self._reader(), request.match_info["store_id"], day))

    async def inventory(self, request: web.Request) -> web.Response:
        found = await inventory.lookup(self._reader(), request.match_info["sku"])
        if found is None:
            return error(404, "no inventory recorded for this SKU", "sku")
        return json_response(found)

    async def quarantined(self, request: web.Request) -> web.Response:
        reader = self._reader()
        return json_response({"count": await quarantine.count(reader),
                              "recent": await quarantine.recent(reader)})

    async def healthz(self, request: web.Request) -> web.Response:
        status, body = await self._health()
        return json_response(body, status)
