"""The till-facing catalog (docs/api.md#the-stores-catalog): an item and its price by SKU or
barcode, now or at another instant; the catalog's version and next price change; what changed
since a version. Answered from the store's own catalog, with or without head office. And the
price check of captured sales: a line whose unit price differs from the catalog's at
`occurred_at` is kept as the till sent it and flagged (SaleLine.catalog_price).
"""

import datetime as dt
from typing import Any

import msgspec
from aiohttp import web

from edge_agent.catalog import Catalog
from edge_agent.catalog_reads import MAX_CHANGES, CatalogReads
from edge_agent.errors import CatalogUnavailable, InvalidRequest
from edge_agent.requests import Prepared
from protocol import rules
from protocol.errors import InvalidEvent
from protocol.messages import Sale
from runtime.clock import Clock
from runtime.http import error, json_response


def _at(request: web.Request, now: dt.datetime) -> dt.datetime:
    """`?at=` as an instant with an offset, else now by the store's clock."""
    text = request.query.get("at")
    if text is None:
        return now
    try:
        at = dt.datetime.fromisoformat(text)
        rules.check_instant(at, "at")
    except ValueError:
        raise InvalidRequest("at must be an ISO 8601 instant with an offset, e.g. "
                       "2026-12-01T00:00:00+01:00", "at") from None
    except InvalidEvent as exc:
        raise InvalidRequest(f"at: {exc.message}", "at") from None
    return at


def _whole(request: web.Request, name: str, default: int | None, high: int) -> int:
    text = request.query.get(name)
    if text is None and default is not None:
        return default
    if text is None or not (text.isascii() and text.isdigit()) or int(text) > high:
        raise InvalidRequest(f"{name} must be a whole number from 0 to {high}", name)
    return int(text)


class CatalogApi:
    """The routes, over the catalog's reads; the store's clock decides "now"."""

    def __init__(self, catalog: Catalog, reads: CatalogReads, clock: Clock) -> None:
        self.catalog = catalog
        self.reads = reads
        self.clock = clock
        self.deviations = 0  # sale lines flagged since start

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/items/{sku}", self._answering(self.item)),
                web.get("/v1/items", self._answering(self.by_barcode)),
                web.get("/v1/catalog", self._answering(self.summary)),
                web.get("/v1/catalog/changes", self._answering(self.changes))]

    def _answering(self, handler: Any) -> Any:
        async def answer(request: web.Request) -> web.StreamResponse:
            try:
                response: web.StreamResponse = await handler(request)
            except InvalidRequest as exc:
                return error(422, exc.message, exc.field)
            except CatalogUnavailable as exc:
                return error(503, f"{exc}: the controller's disk is full; call support", None)
            return response

        return answer

    async def item(self, request: web.Request) -> web.Response:
        sku = request.match_info["sku"]
        found = self.reads.item(_at(request, self.clock.now()), sku=sku)
        if found is None:
            return error(404, f"no item {sku!r} in this store's catalog"
                              f" (version {self.catalog.state.version or 'none yet'})", "sku")
        return json_response(found)

    async def by_barcode(self, request: web.Request) -> web.Response:
        barcode = request.query.get("barcode", "")
        if not barcode:
            return error(422, "give ?barcode=... (or ask /v1/items/{sku})", "barcode")
        found = self.reads.item(_at(request, self.clock.now()), barcode=barcode)
        if found is None:
            return error(404, f"no item with barcode {barcode!r} in this store's catalog"
                              f" (version {self.catalog.state.version or 'none yet'})", "barcode")
        return json_response(found)

    async def summary(self, request: web.Request) -> web.Response:
        return json_response({**await self.reads.summary(self.clock.now()),
                              "applying": self.catalog.applying})

    async def changes(self, request: web.Request) -> web.Response:
        since = _whole(request, "since", None, 2**62)
        limit = _whole(request, "limit", MAX_CHANGES, MAX_CHANGES) or MAX_CHANGES
        at = _at(request, self.clock.now())
        return json_response(await self.reads.changes(since, at, request.query.get("after", ""),
                                                      limit))

    def check_prices(self, prepared: Prepared) -> Prepared:
        """A sale whose line prices all match the catalog at `occurred_at` as it is; else the
        deviating lines carry the catalog's price (a line of another currency, or of a SKU the
        catalog has no price for, is not checked)."""
        event = prepared.event
        if (not isinstance(event, Sale) or self.catalog.state.version is None
                or not self.reads.available):
            return prepared
        found = self.reads.prices([line.sku for line in event.lines], prepared.occurred_at)
        lines = [msgspec.structs.replace(line, catalog_price=row.price)
                 if (row := found.get(line.sku)) is not None and row.currency == event.currency
                 and row.price != line.unit_price else line for line in event.lines]
        if lines == event.lines:
            return prepared
        self.deviations += sum(1 for line in lines if line.catalog_price is not None)
        return msgspec.structs.replace(prepared, event=msgspec.structs.replace(event, lines=lines))
