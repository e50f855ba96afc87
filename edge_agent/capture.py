"""The till-facing HTTP API: capture sales, returns, adjustments and day-close; look them up.

A 2xx answer is given only after the event is fsync'd in the outbox.
"""

import collections
import datetime as dt
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from edge_agent import openapi
from edge_agent.config import AgentConfig
from edge_agent.errors import Conflict, InvalidRequest, OutboxError, OutboxFull
from edge_agent.outbox import Outbox
from edge_agent.requests import (
    AdjustmentIn,
    Body,
    DayCloseIn,
    Prepared,
    ReturnIn,
    SaleIn,
    decode,
    prepare,
)
from runtime import timefmt
from runtime.clock import SYSTEM, Clock
from runtime.http import Handler, error, json_response

log = logging.getLogger(__name__)

WINDOW_S = 15 * 60  # the capture rate is counted over this window


class Throughput:
    """Captures in the last 15 minutes: all of them (for the disk estimate) and the sales alone
    (the rate staff see; returns, adjustments and day closes are not sales)."""

    def __init__(self) -> None:
        self._times: collections.deque[float] = collections.deque(maxlen=200_000)
        self._sales: collections.deque[float] = collections.deque(maxlen=200_000)

    def add(self, sale: bool = False) -> None:
        now = time.monotonic()
        self._times.append(now)
        if sale:
            self._sales.append(now)

    def last_window(self) -> int:
        return self._count(self._times)

    def sales_last_window(self) -> int:
        return self._count(self._sales)

    @staticmethod
    def per_hour(in_window: int) -> int:
        """A count over the window, as a rate per hour."""
        return in_window * 3600 // WINDOW_S

    @staticmethod
    def _count(times: collections.deque[float]) -> int:
        cutoff = time.monotonic() - WINDOW_S
        while times and times[0] < cutoff:
            times.popleft()
        return len(times)


_OPEN_PATHS = frozenset({"/", "/v1/status", "/metrics", "/healthz", "/openapi.json"})


class CaptureApi:
    """Routes for tills. `on_captured` is called after each new event commits."""

    def __init__(
        self,
        config: AgentConfig,
        outbox: Outbox,
        on_captured: Callable[[], None],
        health: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
        clock: Clock = SYSTEM,
        check_prices: Callable[[Prepared], Prepared] | None = None,
    ) -> None:
        self.config = config
        self.check_prices = check_prices  # flags sale lines priced off the store's catalog
        self.clock = clock
        self.outbox = outbox
        self.on_captured = on_captured
        self.health = health
        self._token = config.api_token()
        self.full_since: dt.datetime | None = None  # set while captures fail for a full disk
        self.captured = 0
        self.throughput = Throughput()
        self.duplicates = 0
        self.rejected = 0
        # register -> (seconds its clock is ahead of ours, when we last saw it), when beyond limits
        self.till_clocks: dict[str, tuple[float, dt.datetime]] = {}

    @web.middleware
    async def require_token(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """With `api.token_file` set, captures and lookups need the tills' bearer token; the
        read-only status page, /v1/status, /metrics and /healthz do not (staff and monitoring)."""
        if self._token is None or request.path in _OPEN_PATHS:
            return await handler(request)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode()):
            return error(401, "missing or wrong bearer token", "Authorization")
        return await handler(request)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/sales", self._kind(SaleIn)),
            web.post("/v1/returns", self._kind(ReturnIn)),
            web.post("/v1/inventory-adjustments", self._kind(AdjustmentIn)),
            web.post("/v1/day-close", self._kind(DayCloseIn)),
            web.get("/v1/transactions/{register_id}/{pos_txn_id}", self.transaction),
            web.get("/healthz", self.healthz),
            web.get("/openapi.json", self.openapi),
        ]

    def _kind(self, kind: type[Body]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            return await self.capture(request, kind)

        return handler

    async def capture(self, request: web.Request, kind: type[Body]) -> web.Response:
        ctype = request.headers.get("Content-Type")
        if ctype is not None and request.content_type != "application/json":
            self.rejected += 1
            return error(415, "Content-Type must be application/json", "Content-Type")
        raw = await request.read()
        now = self.clock.now()
        try:
            prepared = prepare(decode(raw, kind), self.config.store_id, self.config.zone, now,
                               self.config.api.max_clock_skew_s)
        except InvalidRequest as exc:
            self.rejected += 1
            return error(422, exc.message, exc.field)
        if self.check_prices is not None:
            prepared = self.check_prices(prepared)
        try:
            result = await self.outbox.capture(prepared, now)
        except Conflict as exc:
            self.rejected += 1
            return error(
                409,
                "this transaction was already captured with different content",
                _key_field(kind),
                event_id=exc.event_id,
                seq=exc.seq,
            )
        except OutboxFull as exc:
            if self.full_since is None:
                self.full_since = now
                log.error("capture refused: %s", exc)
            return error(507, f"{exc}; the sale was NOT recorded, call support")
        except OutboxError as exc:
            log.error("capture failed: %s", exc)
            return error(503, "the outbox could not record this; retry", None)
        if self.full_since is not None:
            log.warning("capture works again after a full disk since %s", self.full_since)
            self.full_since = None
        body: dict[str, Any] = {"event_id": result.event_id, "seq": result.seq, "status": "captured"}
        if abs(prepared.clock_skew_s) > self.config.api.max_clock_skew_s:
            body["warning"] = self._skewed(prepared, now)
        if result.created:
            self.captured += 1
            self.throughput.add(sale=prepared.kind == "sale")
            self.on_captured()
            return json_response(body, 201)
        self.duplicates += 1
        return json_response(body, 200)

    def _skewed(self, prepared: Prepared, now: dt.datetime) -> str:
        register = str(getattr(prepared.event, "register_id", None) or "-")
        skew = prepared.clock_skew_s
        last = self.till_clocks.get(register)
        if last is None or (now - last[1]).total_seconds() > 600:
            log.warning("till %s: clock is %+.0f s off the store controller's; business days "
                        "follow the controller's clock", register, skew)
        self.till_clocks[register] = (skew, now)
        ahead = "ahead of" if skew > 0 else "behind"
        off = f"the till's clock is {timefmt.duration(skew)} {ahead} the store controller's"
        if not prepared.day_from_controller:  # the till gave business_day (or occurred_at) itself
            return f"{off}; please correct the till's time"
        return (f"{off}: business_day {prepared.business_day.isoformat()} was taken from the"
                " controller's clock; please correct the till's time")

    async def transaction(self, request: web.Request) -> web.Response:
        found = await self.outbox.transaction(
            request.match_info["register_id"], request.match_info["pos_txn_id"]
        )
        if found is None:
            return error(404, "no such transaction in this store's outbox", "pos_txn_id")
        return json_response(found)

    async def openapi(self, request: web.Request) -> web.Response:
        return json_response(openapi.document())

    async def healthz(self, request: web.Request) -> web.Response:
        status, body = await self.health()
        return json_response(body, status)


def _key_field(kind: type[Body]) -> str:
    if kind is AdjustmentIn:
        return "adjustment_id"
    if kind is DayCloseIn:
        return "business_day"
    return "pos_txn_id"
