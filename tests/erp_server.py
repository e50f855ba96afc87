"""A fault-injecting ERP: a real HTTP server speaking the `http-json` connector's contract.

It keeps every posting it commits (by Idempotency-Key) and counts commits per posting, so a test
can prove "exactly once". Faults are switched on by setting attributes: 429 storms with
Retry-After, 503 outages, slow answers (after committing), 422 for chosen SKUs, connection
resets after the commit, and requests committed but never answered (until `stop`).
"""

import asyncio
import random
import time
from collections import Counter
from decimal import Decimal
from typing import Any

from aiohttp import web


class FakeErp:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.commits: Counter[str] = Counter()
        self.requests: list[tuple[float, str, int]] = []  # (monotonic, posting_id, status)
        self.headers: list[dict[str, str]] = []
        self.storm_429 = 0            # answer this many requests with 429
        self.random_429 = 0.0         # and this share of the others, at random
        self.retry_after = "1"        # "" for a 429 without Retry-After
        self.outage_until = 0.0       # monotonic time until which every request gets 503
        self.slow_first = 0           # commit, then answer this many requests late
        self.slow_s = 0.0
        self.reject_skus: set[str] = set()
        self.echo_auth = False        # a careless ERP: rejections quote the Authorization header
        self.reset_first = 0          # commit, then drop the connection, this many times
        self.hang_first = 0           # commit, then answer this many requests only at `stop`
        self._stopping = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> "FakeErp":
        app = web.Application()
        app.add_routes([web.post("/postings", self.post), web.get("/postings", self.listing)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def answered(self, status: int) -> list[float]:
        return [t for t, _, s in self.requests if s == status]

    async def post(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        key = request.headers.get("Idempotency-Key", "")
        self.headers.append(dict(request.headers))

        def answer(status: int, payload: dict[str, Any], **headers: str) -> web.Response:
            self.requests.append((time.monotonic(), key, status))
            return web.json_response(payload, status=status, headers=headers)

        if key != body.get("posting_id"):
            return answer(400, {"error": "Idempotency-Key must equal posting_id"})
        if self.storm_429 > 0 or (self.random_429 and random.random() < self.random_429):
            self.storm_429 = max(0, self.storm_429 - 1)
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return answer(429, {"error": "slow down"}, **headers)
        if time.monotonic() < self.outage_until:
            return answer(503, {"error": "maintenance"})
        if key in self.docs:
            return answer(409, {"erp_ref": self.docs[key]["erp_ref"]})
        bad = [line["sku"] for line in body["lines"] if line["sku"] in self.reject_skus]
        if bad:
            echo = f" (request had {request.headers.get('Authorization')})" if self.echo_auth else ""
            return answer(422, {"error": f"unknown product {bad[0]}{echo}"})
        gross = Decimal(body["totals"]["gross"])
        if gross != sum((Decimal(t["amount"]) for t in body["tenders"]), Decimal(0)) and body["tenders"]:
            return answer(422, {"error": "unbalanced"})
        self.commits[key] += 1
        self.docs[key] = {**body, "erp_ref": f"DOC-{len(self.docs) + 1}"}
        if self.reset_first > 0:
            self.reset_first -= 1
            self.requests.append((time.monotonic(), key, 0))
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=201)
        if self.hang_first > 0:
            self.hang_first -= 1
            await self._stopping.wait()
        if self.slow_first > 0:
            self.slow_first -= 1
            await asyncio.sleep(self.slow_s)
        return answer(201, {"erp_ref": self.docs[key]["erp_ref"]})

    async def listing(self, request: web.Request) -> web.Response:
        store, day = request.query.get("store_id"), request.query.get("business_day")
        docs = [{"posting_id": k, "erp_ref": d["erp_ref"], "totals": d["totals"]}
                for k, d in self.docs.items()
                if d["store_id"] == store and d["business_day"] == day]
        return web.json_response({"postings": docs})
