"""The hub's HTTP API: stores, inventory, business days, postings, reconciliation, health."""

import datetime as dt
import functools
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub.config import MappingConfig, PostingsConfig
from hub.errors import PostingError, UnknownStore
from hub.ingest import quarantine
from hub.ledger import days, fleet, inventory
from hub.postings import reconcile
from hub.postings import store as postings
from hub.postings.store import PostingState
from hub.storage import Database
from runtime.clock import SYSTEM, Clock, stamp
from runtime.http import error, json_response

if TYPE_CHECKING:
    from hub.postings.relay import Relay


class HubApi:
    """The routes of the hub's HTTP API (docs/api.md) and their handlers; reads through the
    read-only connection, writes (operators' retry and resubmit) through the writer."""

    def __init__(self, db: Database,
                 health: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
                 relay: "Relay | None", mapping: MappingConfig,
                 clock: Clock = SYSTEM, policy: PostingsConfig | None = None) -> None:
        self._db = db
        self._clock = clock
        self._health = health
        self._relay = relay
        self._mapping = mapping
        self._policy = policy or PostingsConfig()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/stores", self.stores),
            web.get("/v1/stores/{store_id}/days/{business_day}", self.day),
            web.get("/v1/inventory/{sku}", self.inventory),
            web.get("/v1/quarantine", self.quarantined),
            web.get("/v1/postings", self.postings),
            web.get("/v1/postings/{posting_id}", self.posting),
            web.post("/v1/postings/{posting_id}/retry", self.retry),
            web.post("/v1/postings/{posting_id}/resubmit", self.resubmit),
            web.get("/v1/reconciliation", self.reconciliation),
            web.get("/healthz", self.healthz),
        ]

    async def stores(self, request: web.Request) -> web.Response:
        return json_response({"stores": await fleet.stores(self._db.reads)})

    async def day(self, request: web.Request) -> web.Response:
        try:
            day = dt.date.fromisoformat(request.match_info["business_day"])
        except ValueError:
            return error(422, "business_day must be YYYY-MM-DD", "business_day")
        return json_response(await days.report(self._db.reads, request.match_info["store_id"], day))

    async def inventory(self, request: web.Request) -> web.Response:
        found = await inventory.lookup(self._db.reads, request.match_info["sku"],
                                       stamp(self._clock.now()))
        if found is None:
            return error(404, "no inventory recorded for this SKU", "sku")
        return json_response(found)

    async def quarantined(self, request: web.Request) -> web.Response:
        reader = self._db.reads
        return json_response({"count": await quarantine.count(reader),
                              "recent": await quarantine.recent(reader)})

    async def postings(self, request: web.Request) -> web.Response:
        q = request.query
        state = q.get("state")
        if state is not None and state not in postings.STATES:
            return error(422, f"state must be one of {', '.join(postings.STATES)}", "state")
        day = q.get("business_day")
        if day is not None and _date(day) is None:
            return error(422, "business_day must be YYYY-MM-DD", "business_day")
        try:
            limit = int(q.get("limit", "100"))
            if not 1 <= limit <= 1000:
                raise ValueError
        except ValueError:
            return error(422, "limit must be a whole number from 1 to 1000", "limit")
        reader = self._db.reads
        store_id = q.get("store_id")
        try:
            rows, next_cursor = await postings.page(reader, state=state, store_id=store_id,
                                                    business_day=day, limit=limit,
                                                    cursor=q.get("cursor") or None)
        except ValueError as exc:
            return error(422, str(exc), "cursor")
        return json_response({
            "counts": await postings.counts(reader, store_id=store_id, business_day=day),
            "postings": rows,
            "next_cursor": next_cursor,
        })

    async def posting(self, request: web.Request) -> web.Response:
        found = await postings.show(self._db.reads, request.match_info["posting_id"])
        if found is None:
            return error(404, "no such posting", "posting_id")
        return json_response(found)

    async def retry(self, request: web.Request) -> web.Response:
        return await self._act(request, "retry")

    async def resubmit(self, request: web.Request) -> web.Response:
        return await self._act(request, "resubmit")

    async def _act(self, request: web.Request, action: str) -> web.Response:
        body: Any = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return error(422, "body must be JSON", "$")
            if not isinstance(body, dict):
                return error(422, "body must be a JSON object", "$")
        actor = body.get("actor")
        if actor is None:
            actor = f"api@{request.remote}"
        elif not isinstance(actor, str):
            return error(422, "actor must be a string, a name", "actor")
        try:
            actor = postings.actor_name(actor)
        except ValueError as exc:
            return error(422, str(exc), "actor")
        pid = request.match_info["posting_id"]
        now = self._clock.now()
        to = PostingState.PENDING if self._relay is not None else PostingState.KEPT
        if action == "retry":
            job = functools.partial(postings.retry, pid=pid, actor=actor, now=now, to=to)
        else:
            edited = body.get("payload")
            if edited is not None and not isinstance(edited, dict):
                return error(422, "payload must be a JSON object (the whole posting)", "payload")
            job = functools.partial(postings.resubmit, pid=pid, actor=actor, now=now,
                                    edited=json.dumps(edited) if edited is not None else None,
                                    policy=self._policy, mapping=self._mapping, to=to)
        try:
            result = await self._db.run(job)
        except PostingError as exc:
            return error(exc.status, str(exc), exc.field)
        if self._relay is not None:
            self._relay.wake()
        return json_response(result)

    async def reconciliation(self, request: web.Request) -> web.Response:
        day = _date(request.query.get("day", ""))
        if day is None:
            return error(422, "day is required, as a date YYYY-MM-DD (e.g. 2026-11-23)", "day")
        connector = self._relay.connector if self._relay else None
        try:
            return json_response(await reconcile.run(self._db.reads, connector, self._mapping, day,
                                                     request.query.get("store_id")))
        except UnknownStore as exc:
            return error(422, str(exc), "store_id")

    async def healthz(self, request: web.Request) -> web.Response:
        status, body = await self._health()
        return json_response(body, status)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None
