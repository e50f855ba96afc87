"""The change feed pushed to a channel's webhook_url, to a real HTTP receiver on a real
database: the receiver ends with the hub's figure for every SKU although it refused the first
pushes (retried with backoff, the circuit breaker opened and closed again), the hub's token
comes with every push, and a new pusher (a restarted hub) resumes from the acknowledged cursor."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.availability.webhooks import Webhooks
from hub.broker.credentials import write_secret
from hub.config import ChannelConfig
from runtime.circuit import CircuitState
from tests.conftest import wait_for
from tests.hub.availability_server import Served, config, served

TOKEN = "push-token-0123456789abcdef"


class Receiver:
    """A shop connector's endpoint: refuses the first `refuse` pushes with 503."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.pages: list[dict[str, Any]] = []
        self.figures: dict[str, int] = {}
        self.tokens: set[str] = set()

    async def handle(self, request: web.Request) -> web.Response:
        self.tokens.add(request.headers.get("Authorization", ""))
        if self.refuse:
            self.refuse -= 1
            return web.Response(status=503)
        page = await request.json()
        self.pages.append(page)
        self.figures.update({c["sku"]: c["available_to_sell"] for c in page["changes"]})
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes([web.post("/feed", receiver.handle)])
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("/feed"))
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def pushing(hub: Served) -> AsyncIterator[Webhooks]:
    webhooks = Webhooks(hub.service, poll_s=0.02, retry_initial_s=0.01, retry_max_s=0.05,
                        breaker_failures=2, breaker_open_s=0.2)
    task = asyncio.create_task(webhooks.run())
    try:
        yield webhooks
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def figures(hub: Served, skus: list[str]) -> dict[str, int]:
    status, body = await hub.call("POST", "/v1/availability/query",
                                  {"channel": "web", "skus": skus}, token=None)
    assert status == 200
    return {x["sku"]: x["available_to_sell"] for x in body["availability"]}


async def receipt(hub: Served, aid: str, **lines: int) -> None:
    status, _ = await hub.call("POST", "/v1/locations/DC1/adjustments", {
        "adjustment_id": aid, "reason": "receipt", "occurred_at": "2026-11-23T08:00:00Z",
        "lines": [{"sku": s, "qty_delta": q} for s, q in lines.items()]})
    assert status == 201


async def test_the_receiver_ends_with_the_hubs_figures_through_refusals_and_a_restart(tmp_path):
    write_secret(tmp_path / "push-token", TOKEN)
    receiver = Receiver(refuse=5)
    skus = [f"SKU-{n}" for n in range(5)]
    async with receiving(receiver) as url:
        cfg = config(tmp_path, web=ChannelConfig(
            ["S001", "DC1"], webhook_url=url, webhook_token_file=str(tmp_path / "push-token")))
        cfg = msgspec.structs.replace(cfg, source=str(tmp_path / "hub.toml"))
        async with served(tmp_path, cfg) as hub:
            await receipt(hub, "RCV-1", **{s: 3 for s in skus})
            async with pushing(hub) as webhooks:
                async def caught_up() -> bool:
                    return receiver.figures == await figures(hub, skus)

                await wait_for(caught_up, 10, "the receiver to get every figure")
                assert webhooks.counters["web"]["failed"] == 5
                assert webhooks.breakers["web"].opened >= 2  # 2 failures in a row open it
                assert webhooks.breakers["web"].state == CircuitState.CLOSED
                await hub.call("POST", "/v1/reservations", {
                    "reservation_id": "R-1", "channel": "web",
                    "lines": [{"sku": "SKU-1", "qty": 2}]})
                await wait_for(caught_up, 10, "the reservation's figure")
                acknowledged = receiver.pages[-1]["next_cursor"]

                async def recorded() -> bool:  # the hub writes it once the receiver's 2xx is in
                    return await hub.db.reads.availability.webhook_cursor("web") == acknowledged
                await wait_for(recorded, 10, "the acknowledged cursor to be recorded")

            # The hub restarts: the push resumes after what the receiver acknowledged.
            await receipt(hub, "RCV-2", **{"SKU-4": 1})
            pages = len(receiver.pages)
            async with pushing(hub):
                await wait_for(caught_up, 10, "the figure changed while the push was down")
            assert all(c["cursor"] > acknowledged
                       for page in receiver.pages[pages:] for c in page["changes"])
            assert [c["sku"] for page in receiver.pages[pages:] for c in page["changes"]] == [
                "SKU-4"]
    assert receiver.tokens == {f"Bearer {TOKEN}"}
