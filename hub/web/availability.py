"""The availability API (docs/api.md#availability): available to sell per channel, the change
feed, safety stock, reservations and the stock of hub-fed locations. Reads are open; writes need
the admin token or, for reservations, the channel's own token (hub.web.auth)."""

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.availability import requests
from hub.availability.requests import (
    AdjustmentIn,
    FulfilIn,
    QueryIn,
    ReservationIn,
    SafetyStockIn,
    decode,
)
from hub.availability.service import Availability
from hub.errors import AvailabilityError, BadQuery
from hub.web.auth import caller_channel
from protocol import rules
from runtime.http import error, json_response

_SKU = re.compile(rules.TEXT_PATTERN)
MAX_FEED_PAGE = 1000


class AvailabilityApi:
    """The routes and their handlers; every bad input is a 422 naming the field."""

    def __init__(self, service: Availability) -> None:
        self._service = service

    def routes(self) -> list[web.RouteDef]:
        return [
            # Before /v1/availability/{sku}: the feed's path is not a SKU.
            web.get("/v1/availability/changes", self._answers(self.changes)),
            web.get("/v1/availability/{sku}", self._answers(self.one)),
            web.post("/v1/availability/query", self._answers(self.query)),
            web.get("/v1/safety-stock", self._answers(self.safety_stock)),
            web.put("/v1/safety-stock", self._answers(self.set_safety_stock)),
            web.post("/v1/reservations", self._answers(self.reserve)),
            web.get("/v1/reservations/{reservation_id}", self._answers(self.reservation)),
            web.post("/v1/reservations/{reservation_id}/release", self._answers(self.release)),
            web.post("/v1/reservations/{reservation_id}/fulfil", self._answers(self.fulfil)),
            web.post("/v1/locations/{location}/adjustments", self._answers(self.adjust)),
        ]

    @staticmethod
    def _answers(handler: Callable[[web.Request], Awaitable[web.Response]]
                 ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The handler, with the service's refusals turned into JSON answers."""

        async def answer(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except BadQuery as exc:
                return error(422, str(exc), exc.field)
            except AvailabilityError as exc:
                return error(exc.status, str(exc), exc.field, **exc.extra)

        return answer

    async def one(self, request: web.Request) -> web.Response:
        sku = request.match_info["sku"]
        if not _SKU.match(sku):
            raise BadQuery("must be 1-64 characters without control characters", "sku")
        channel = request.query.get("channel")
        self._service.channel(channel)
        assert channel is not None
        return json_response((await self._service.figures(channel, [sku]))[0])

    async def query(self, request: web.Request) -> web.Response:
        body = decode(await request.read(), QueryIn)
        requests.once_each(body.skus, "skus[{i}]", "SKU")
        found = await self._service.figures(body.channel, body.skus)
        return json_response({"channel": body.channel,
                              "as_of": found[0]["as_of"] if found else None,
                              "availability": found})

    async def changes(self, request: web.Request) -> web.Response:
        q = request.query
        channel = q.get("channel")
        self._service.channel(channel)
        assert channel is not None
        after = _whole(q.get("after", "0"), "after", 0, 2**63 - 1)
        limit = _whole(q.get("limit", "100"), "limit", 1, MAX_FEED_PAGE)
        return json_response(await self._service.changes(channel, after, limit))

    async def safety_stock(self, request: web.Request) -> web.Response:
        return json_response(await self._service.safety_stock())

    async def set_safety_stock(self, request: web.Request) -> web.Response:
        body = decode(await request.read(), SafetyStockIn)
        return json_response(await self._service.set_safety_stock(body))

    async def reserve(self, request: web.Request) -> web.Response:
        body = decode(await request.read(), ReservationIn)
        status, answer = await self._service.reserve(body, caller_channel(request))
        return json_response(answer, status)

    async def reservation(self, request: web.Request) -> web.Response:
        return json_response(await self._service.reservation(_reservation_id(request)))

    async def release(self, request: web.Request) -> web.Response:
        return json_response(await self._service.release(_reservation_id(request),
                                                         caller_channel(request)))

    async def fulfil(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = decode(raw, FulfilIn) if raw.strip() else FulfilIn()
        return json_response(await self._service.fulfil(_reservation_id(request), body,
                                                        caller_channel(request)))

    async def adjust(self, request: web.Request) -> web.Response:
        location = request.match_info["location"]
        body = decode(await request.read(), AdjustmentIn)
        status, answer = await self._service.adjust(location, body)
        return json_response(answer, status)


def _reservation_id(request: web.Request) -> str:
    reservation_id = request.match_info["reservation_id"]
    if not re.match(rules.ID_PATTERN, reservation_id):
        raise BadQuery("must be 1-64 of A-Z a-z 0-9 . _ : -", "reservation_id")
    return reservation_id


def _whole(text: str, field: str, low: int, high: int) -> int:
    """A query parameter that must be a whole number from `low` to `high`."""
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise BadQuery(f"{field} must be a whole number from {low} to {high}", field)
    return int(text)
