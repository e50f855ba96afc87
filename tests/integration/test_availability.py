"""Available to sell on a real hub process with a real agent: a store's stock reaches the
channel, a channel's own token reserves, the store drops out of the channel once it has been
silent for stale_after_s and comes back when it reconnects, and the change feed (fed by the
hub's own sweep) follows it all, also for a connector resuming from its cursor after the hub
was SIGKILLed; and a channel's webhook gets the feed pushed by the hub process. The feed's
tests run on either backend of the hub's storage (`storage`)."""

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.broker.credentials import write_secret
from tests.conftest import wait_for
from tests.integration.helpers import start
from tests.integration.procs import AgentProc, HubProc

pytestmark = pytest.mark.integration

CHANNELS = """
[locations.S001]
kind = "store"
[locations.DC1]
kind = "warehouse"
[availability]
sweep_interval_s = 0.5
[channels.web]
locations = ["S001", "DC1"]
stale_after_s = 3
token_file = "web-token"
"""
WEB_TOKEN = "web-channel-token-0123456789"


async def availability(http: aiohttp.ClientSession, hub: HubProc) -> dict[str, Any]:
    async with http.get(hub.url + "/v1/availability/SKU-1", params={"channel": "web"}) as r:
        assert r.status == 200
        return dict(await r.json())


async def feed(http: aiohttp.ClientSession, hub: HubProc) -> dict[str, int]:
    """What a connector reading the whole feed from cursor 0 ends up with."""
    seen: dict[str, int] = {}
    after = 0
    while True:
        async with http.get(hub.url + "/v1/availability/changes",
                            params={"channel": "web", "after": str(after), "limit": "1"}) as r:
            page = await r.json()
        seen.update({c["sku"]: c["available_to_sell"] for c in page["changes"]})
        if page["next_cursor"] == after:
            return seen
        after = page["next_cursor"]


async def test_a_silent_store_drops_out_of_the_channel_and_comes_back(tmp_path, http, procs):
    hub = HubProc(tmp_path / "hub", ["S001"], extra=CHANNELS)
    write_secret(tmp_path / "hub" / "web-token", WEB_TOKEN)
    start(procs, hub)
    await hub.ready(http)
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    await agent.ready(http)

    async with http.post(agent.url + "/v1/inventory-adjustments", json={
            "adjustment_id": "RCV-1", "reason": "receipt",
            "occurred_at": "2026-11-23T08:00:00+01:00",
            "lines": [{"sku": "SKU-1", "qty_delta": 5}]}) as r:
        assert r.status == 201
    async with http.post(hub.url + "/v1/locations/DC1/adjustments", headers=hub.admin, json={
            "adjustment_id": "RCV-1", "reason": "receipt",
            "occurred_at": "2026-11-23T08:00:00+01:00",
            "lines": [{"sku": "SKU-1", "qty_delta": 2}]}) as r:
        assert r.status == 201

    async def total(n: int) -> bool:
        return (await availability(http, hub))["available_to_sell"] == n

    await wait_for(lambda: total(7), 30, "the store's stock in the channel")
    async with http.post(hub.url + "/v1/reservations",
                         headers={"Authorization": f"Bearer {WEB_TOKEN}"},
                         json={"reservation_id": "WEB-1", "channel": "web",
                               "lines": [{"sku": "SKU-1", "qty": 3}]}) as r:
        assert r.status == 201
        held = await r.json()
    assert held["allocations"] == [{"sku": "SKU-1", "location": "S001", "qty": 3}]
    assert await total(4)

    agent.stop()
    await wait_for(lambda: total(2), 30, "the silent store to drop out of the channel")
    body = await availability(http, hub)
    assert [x["stale"] for x in body["locations"]] == [True, False]
    await wait_for(lambda: _equal(feed(http, hub), {"SKU-1": 2}), 30, "the feed to follow")

    agent.start()
    await agent.ready(http)
    await wait_for(lambda: total(4), 30, "the store to come back when it reconnects")
    await wait_for(lambda: _equal(feed(http, hub), {"SKU-1": 4}), 30, "the feed to follow")


async def _equal(got: Any, want: dict[str, int]) -> bool:
    return await got == want


async def test_a_feed_consumer_resuming_from_its_cursor_survives_a_hub_sigkill(
        tmp_path, http, procs, storage):
    """A connector polls the feed and saves its cursor with the figures it applied; the hub is
    SIGKILLed while the till sells and the channel reserves. Resuming from the saved cursor,
    the connector ends with the hub's figure for every SKU. On either backend (`storage`)."""
    hub = HubProc(tmp_path / "hub", ["S001"], extra=CHANNELS, storage=storage)
    write_secret(tmp_path / "hub" / "web-token", WEB_TOKEN)
    start(procs, hub)
    await hub.ready(http)
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    await agent.ready(http)
    skus = [f"SKU-{n}" for n in range(8)]
    async with http.post(agent.url + "/v1/inventory-adjustments", json={
            "adjustment_id": "RCV-1", "reason": "receipt",
            "occurred_at": "2026-11-23T08:00:00+01:00",
            "lines": [{"sku": s, "qty_delta": 40} for s in skus]}) as r:
        assert r.status == 201

    saved: dict[str, Any] = {"cursor": 0, "figures": {}}  # what the connector persists
    done = asyncio.Event()

    async def connector() -> None:
        while not done.is_set():
            try:
                async with http.get(hub.url + "/v1/availability/changes", params={
                        "channel": "web", "after": str(saved["cursor"]), "limit": "3"}) as r:
                    page = await r.json()
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.05)  # the hub is down: poll again later
                continue
            figures = dict(saved["figures"])
            figures.update({c["sku"]: c["available_to_sell"] for c in page["changes"]})
            saved.update(cursor=page["next_cursor"], figures=figures)  # both, or neither
            if not page["changes"]:
                await asyncio.sleep(0.05)

    async def till(first: int, count: int) -> None:
        for n in range(first, first + count):
            async with http.post(agent.url + "/v1/sales", json={
                    "register_id": "R1", "pos_txn_id": f"{n:06d}",
                    "occurred_at": "2026-11-23T10:15:00+01:00", "currency": "EUR",
                    "lines": [{"sku": skus[n % len(skus)], "qty": 1, "unit_price": "1.00"}],
                    "tenders": [{"method": "cash", "amount": "1.00"}]}) as r:
                assert r.status == 201

    async def reserve(rid: str) -> None:
        async def held() -> bool:  # 409 while the store is stale, just after the restart
            async with http.post(hub.url + "/v1/reservations",
                                 headers={"Authorization": f"Bearer {WEB_TOKEN}"},
                                 json={"reservation_id": rid, "channel": "web",
                                       "lines": [{"sku": skus[len(rid)], "qty": 1}]}) as r:
                assert r.status in (201, 409), await r.text()
                return r.status == 201

        await wait_for(held, 30, f"reservation {rid}")

    reading = asyncio.create_task(connector())
    try:
        await till(1, 40)
        await reserve("WEB-A")
        hub.kill()
        await till(41, 40)  # the store sells on while the hub is down
        hub.start()
        await hub.ready(http)
        await reserve("WEB-BB")
        await till(81, 40)

        async def applied() -> bool:
            stores = (await hub.get(http, "/v1/stores"))["stores"]
            return bool(stores and stores[0]["events"] == 121)

        await wait_for(applied, 60, "the hub to apply every sale")

        async def caught_up() -> bool:
            async with http.post(hub.url + "/v1/availability/query",
                                 json={"channel": "web", "skus": skus}) as r:
                body = await r.json()
            return saved["figures"] == {x["sku"]: x["available_to_sell"]
                                        for x in body["availability"]}

        await wait_for(caught_up, 30, "the connector to end with the hub's figures")
    finally:
        done.set()
        await reading
    assert sum(saved["figures"].values()) == 8 * 40 - 120 - 2


async def test_a_channel_with_a_webhook_gets_the_feed_pushed(tmp_path, http, procs, storage):
    got: dict[str, int] = {}

    async def receive(request: web.Request) -> web.Response:
        got.update({c["sku"]: c["available_to_sell"] for c in (await request.json())["changes"]})
        return web.Response(status=204)

    app = web.Application()
    app.add_routes([web.post("/feed", receive)])
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        extra = CHANNELS + f'webhook_url = "{server.make_url("/feed")}"\n'
        hub = start(procs, HubProc(tmp_path / "hub", ["S001"], extra=extra, storage=storage))
        write_secret(tmp_path / "hub" / "web-token", WEB_TOKEN)
        await hub.ready(http)
        async with http.post(hub.url + "/v1/locations/DC1/adjustments", headers=hub.admin, json={
                "adjustment_id": "RCV-1", "reason": "receipt",
                "occurred_at": "2026-11-23T08:00:00+01:00",
                "lines": [{"sku": "SKU-1", "qty_delta": 6}]}) as r:
            assert r.status == 201

        async def pushed() -> bool:
            return got == {"SKU-1": 6}

        await wait_for(pushed, 30, "the push to reach the receiver")
        async with http.get(hub.url + "/metrics") as r:
            text = await r.text()
        assert 'hub_availability_webhook_pushes_total{channel="web"}' in text
    finally:
        await server.close()
