"""The catalog's HTTP API (docs/api.md#catalog): items, store groups, price books and their
price changes, publications and what each store is sent. Writes need the admin token (the
Hub's admin_only_writes middleware); reads are open like the other GETs. Every refused input is
422 (404 for an unknown book or publication, 409 for a state that forbids it) naming the field.
"""

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from hub.catalog import content, master, publishing
from hub.catalog.requests import (
    BookIn,
    ChangeSetIn,
    GroupIn,
    Items,
    PublicationIn,
    check_id,
    decode,
)
from hub.config import CatalogConfig
from hub.errors import CatalogError, ChangesRefused
from hub.storage import Database, Transaction
from protocol import rules
from protocol.errors import InvalidEvent
from runtime.clock import SYSTEM, Clock
from runtime.http import Handler, error, json_response

# 10,000 items or price changes take about 2 MB; aiohttp's own bound (1 MiB) is not used here.
MAX_BODY_BYTES = 16 * 1024 * 1024


class CatalogApi:
    """The catalog routes and their handlers: writes through the writer, one job each (checks
    and writes in one transaction), reads on the read-only connection."""

    def __init__(self, db: Database, config: CatalogConfig, clock: Clock = SYSTEM,
                 on_published: Callable[[], None] = lambda: None) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._published = on_published  # catalog delivery: something may be due now

    def routes(self) -> list[web.RouteDef]:
        return [web.route(method, path, _answering(handler)) for method, path, handler in (
            ("PUT", "/v1/items", self.put_items),
            ("GET", "/v1/items", self.items),
            ("GET", "/v1/items/{sku}", self.item),
            ("PUT", "/v1/store-groups/{group}", self.put_group),
            ("GET", "/v1/store-groups", self.groups),
            ("PUT", "/v1/price-books/{book}", self.put_book),
            ("GET", "/v1/price-books", self.books),
            ("POST", "/v1/price-books/{book}/prices", self.stage_prices),
            ("DELETE", "/v1/price-books/{book}/prices/staged", self.withdraw),
            ("POST", "/v1/publications", self.publish),
            ("GET", "/v1/publications", self.publications),
            ("GET", "/v1/publications/{id}", self.publication),
            ("POST", "/v1/publications/{id}/cancel", self.cancel),
            ("GET", "/v1/catalog", self.catalog),
            ("GET", "/v1/stores/{store_id}/catalog", self.store_catalog),
            ("GET", "/v1/stores/{store_id}/prices/{sku}", self.store_price),
        )]

    # --- writes ---

    async def put_items(self, request: web.Request) -> web.Response:
        items = decode(await _body(request), Items)
        return await self._write(lambda tx, now: master.put_items(tx, items, now), "items")

    async def put_group(self, request: web.Request) -> web.Response:
        group = check_id(request.match_info["group"], "group")
        body = decode(await _body(request), GroupIn)
        return await self._write(lambda tx, now: master.put_group(tx, group, body.stores, now),
                                 f"store group {group}")

    async def put_book(self, request: web.Request) -> web.Response:
        book = check_id(request.match_info["book"], "book")
        body = decode(await _body(request), BookIn)
        return await self._write(lambda tx, now: master.put_book(tx, book, body, now),
                                 f"price book {book}")

    async def stage_prices(self, request: web.Request) -> web.Response:
        book = check_id(request.match_info["book"], "book")
        body = decode(await _body(request), ChangeSetIn)
        drop = self._config.max_price_drop_percent
        return await self._write(lambda tx, now: master.stage_prices(tx, book, body, now, drop),
                                 f"price changes of {book}", status=201)

    async def withdraw(self, request: web.Request) -> web.Response:
        book = check_id(request.match_info["book"], "book")
        return await self._write(lambda tx, now: master.withdraw(tx, book, now), None)

    async def publish(self, request: web.Request) -> web.Response:
        body = decode(await _body(request), PublicationIn)
        made = await self._db.run(functools.partial(
            publishing.publish, body=body, now=self._clock.now(), config=self._config))
        self._published()
        return json_response(await publishing.view(self._db.reads, made["id"]), 201)

    async def cancel(self, request: web.Request) -> web.Response:
        pid = _number(request.match_info["id"], "id")
        await self._db.run(functools.partial(publishing.cancel, pid=pid, now=self._clock.now()))
        self._published()
        return json_response(await publishing.view(self._db.reads, pid))

    async def _write(self, job: Callable[[Transaction, dt.datetime], dict[str, Any]],
                     what: str | None, status: int = 200) -> web.Response:
        """Run `job` in one transaction; with auto_publish, publish what it accepted in the
        same transaction (`what` names it in the note; None: nothing to publish)."""
        now = self._clock.now()

        def run(tx: Transaction) -> dict[str, Any]:
            done = job(tx, now)
            if what is not None:
                made = publishing.auto_publish(tx, now, self._config, what)
                done["publication"] = made["id"] if made else None
            return done

        done = await self._db.run(run)
        if done.get("publication"):
            self._published()
        return json_response(done, status)

    # --- reads ---

    async def items(self, request: web.Request) -> web.Response:
        limit = _number(request.query.get("limit", "100"), "limit", 1000)
        rows = await self._db.reads.catalog.items(after=request.query.get("after", ""),
                                                  limit=limit)
        return json_response({"items": [r._asdict() for r in rows],
                              "next": rows[-1].sku if len(rows) == limit else None})

    async def item(self, request: web.Request) -> web.Response:
        row = await self._db.reads.catalog.item(request.match_info["sku"])
        if row is None:
            return error(404, "no such item", "sku")
        return json_response(row._asdict())

    async def groups(self, request: web.Request) -> web.Response:
        return json_response({"groups": await self._db.reads.catalog.groups()})

    async def books(self, request: web.Request) -> web.Response:
        return json_response({"books": await self._db.reads.catalog.books()})

    async def publications(self, request: web.Request) -> web.Response:
        q = request.query
        limit = _number(q.get("limit", "50"), "limit", 1000)
        before = _number(q["before"], "before") if "before" in q else None
        found = await publishing.listing(self._db.reads, before=before, limit=limit)
        return json_response({"publications": found,
                              "next": found[-1]["id"] if len(found) == limit else None})

    async def publication(self, request: web.Request) -> web.Response:
        found = await publishing.view(self._db.reads, _number(request.match_info["id"], "id"))
        if found is None:
            return error(404, "no such publication", "id")
        return json_response(found)

    async def catalog(self, request: web.Request) -> web.Response:
        reads = self._db.reads
        head = await reads.publications.version(await reads.publications.head())
        return json_response({
            **await reads.catalog.counts(),
            "version": head.version if head else None,
            "published_at": head.created_at if head else None,
            "published_items": head.items if head else 0,
            "published_prices": head.prices if head else 0,
            "rollback_of": head.rollback_of if head else None,
            "keep_versions": self._config.keep_versions})

    async def store_catalog(self, request: web.Request) -> web.Response:
        store_id = check_id(request.match_info["store_id"], "store_id")
        q = request.query
        since = _number(q["since"], "since") if "since" in q else None
        version = _number(q["version"], "version") if "version" in q else None
        found = await content.for_store(self._db, store_id, since, version)
        if found is None:
            return error(404, "no such version is kept (or nothing was published yet)",
                         "version")
        return json_response({"counts": content.counts(found), **msgspec.to_builtins(found)})

    async def store_price(self, request: web.Request) -> web.Response:
        store_id = check_id(request.match_info["store_id"], "store_id")
        at = self._clock.now()
        if "at" in request.query:
            at = _instant(request.query["at"], "at")
        found = await content.price(self._db.reads, store_id, request.match_info["sku"], at)
        if found is None:
            return error(404, "the newest catalog version has no such active item", "sku")
        return json_response(found)


def _answering(handler: Handler) -> Handler:
    """The handler, with a CatalogError it raises answered with its status, naming its field
    (and, for a refused change set, every reason)."""

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ChangesRefused as exc:
            return error(exc.status, str(exc), exc.field, refused=exc.refusals)
        except CatalogError as exc:
            return error(exc.status, str(exc), exc.field)

    return answer


async def _body(request: web.Request) -> bytes:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise CatalogError(f"body larger than {MAX_BODY_BYTES} bytes", "$")
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise CatalogError(f"body larger than {MAX_BODY_BYTES} bytes", "$")
        parts.append(chunk)
    return b"".join(parts)


def _number(text: str, field: str, high: int = 2**62) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= high:
        raise CatalogError(f"{field} must be a whole number from 1 to {high}", field)
    return int(text)


def _instant(text: str, field: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)
        rules.check_instant(at, field)
    except ValueError as exc:
        raise CatalogError(f"{field} must be an ISO 8601 instant with an offset", field) from exc
    except InvalidEvent as exc:
        raise CatalogError(exc.message, field) from exc
    return at
