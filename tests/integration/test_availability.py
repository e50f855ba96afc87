"""Available to sell on a real hub process with a real agent: a store's stock reaches the
channel, a channel's own token reserves, the store drops out of the channel once it has been
silent for stale_after_s and comes back when it reconnects, and the change feed (fed by the
hub's own sweep) follows it all."""

from typing import Any

import aiohttp
import pytest

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
