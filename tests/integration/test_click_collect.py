"""Click and collect and oversell on a real hub process with a real agent and real HTTP: a web
channel reserves at S001 (a store no [locations] entry declares), the till sells with that
reservation_id, and on hand and reserved move once, also when the store's batch reaches the hub
again; a store that sold reserved stock while the hub was down leaves the reservation short,
its figure 0, and the dashboard and /metrics show it. On either backend of the hub's storage
(`storage`: SQLite, or the session's private PostgreSQL)."""

from typing import Any

import aiohttp
import aiomqtt
import msgspec
import pytest

from hub.broker.credentials import write_secret
from protocol import codec
from protocol.messages import Batch
from tests.conftest import wait_for
from tests.hub.helpers import database
from tests.integration.helpers import start
from tests.integration.procs import AgentProc, HubProc

pytestmark = pytest.mark.integration

CHANNELS = """
[availability]
sweep_interval_s = 0.5
[channels.web]
locations = ["S001"]
stale_after_s = 30
token_file = "web-token"
"""
WEB = {"Authorization": "Bearer web-channel-token-0123456789"}


def sale(txn: str, qty: int, reservation_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "register_id": "R1", "pos_txn_id": txn, "occurred_at": "2026-11-23T10:15:00+01:00",
        "currency": "EUR", "lines": [{"sku": "SKU-1", "qty": qty, "unit_price": "10.00"}],
        "tenders": [{"method": "card", "amount": f"{10 * qty}.00"}]}
    if reservation_id:
        body["reservation_id"] = reservation_id
    return body


async def running(tmp_path, http: aiohttp.ClientSession, procs: list,
                  storage: str | None) -> tuple[HubProc, AgentProc]:
    """A hub with the web channel, and S001's agent with 5 units of SKU-1 the channel sees."""
    hub = HubProc(tmp_path / "hub", ["S001"], extra=CHANNELS, storage=storage)
    write_secret(tmp_path / "hub" / "web-token", WEB["Authorization"].removeprefix("Bearer "))
    start(procs, hub)
    await hub.ready(http)
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    await agent.ready(http)
    async with http.post(agent.url + "/v1/inventory-adjustments", json={
            "adjustment_id": "RCV-1", "reason": "receipt",
            "occurred_at": "2026-11-23T08:00:00+01:00",
            "lines": [{"sku": "SKU-1", "qty_delta": 5}]}) as r:
        assert r.status == 201
    await wait_for(lambda: at_s001(http, hub, (5, 0, 5)), 30, "the receipt in the channel")
    return hub, agent


async def at_s001(http: aiohttp.ClientSession, hub: HubProc,
                  want: tuple[int, int, int] | None = None) -> Any:
    """(on hand, reserved, available to sell) of SKU-1 at S001; with `want`, whether it is that."""
    async with http.get(hub.url + "/v1/availability/SKU-1", params={"channel": "web"}) as r:
        assert r.status == 200
        s001 = (await r.json())["locations"][0]
    got = (s001["on_hand"], s001["reserved"], s001["available_to_sell"])
    return got if want is None else got == want


async def reservation(http: aiohttp.ClientSession, hub: HubProc, rid: str) -> dict[str, Any]:
    return dict(await hub.get(http, f"/v1/reservations/{rid}"))


async def test_click_and_collect_moves_on_hand_and_reserved_once(tmp_path, http, procs, storage):
    hub, agent = await running(tmp_path, http, procs, storage)
    async with http.post(hub.url + "/v1/reservations", headers=WEB, json={
            "reservation_id": "WEB-1", "channel": "web", "location": "S001",
            "lines": [{"sku": "SKU-1", "qty": 2}]}) as r:
        assert r.status == 201, await r.text()
    assert await at_s001(http, hub) == (5, 2, 3)

    for expected in (201, 200):  # the till retries: captured once
        async with http.post(agent.url + "/v1/sales", json=sale("000001", 2, "WEB-1")) as r:
            assert r.status == expected
    await wait_for(lambda: _state(http, hub, "WEB-1", "collected"), 30, "the sale to collect it")
    assert await at_s001(http, hub) == (3, 0, 3)
    stock = await hub.get(http, "/v1/inventory/SKU-1")
    assert (stock["on_hand"], stock["reserved"]) == (3, 0)

    # The store's batch reaches the hub again, on its stream and on another one (a rebuilt
    # outbox resends): dropped as duplicates, nothing moves twice.
    conn = database(hub.database)
    body = bytes(conn.execute("SELECT body FROM events WHERE kind = 'sale'").fetchone()[0])
    conn.close()
    env = codec.decode_envelope(body)
    before = (await hub.get(http, "/healthz"))["counters"].get("duplicates", 0)
    async with aiomqtt.Client("127.0.0.1", hub.broker_port, username="S001",
                              password=hub.passwords["S001"], identifier="S001") as client:
        for again in (env, msgspec.structs.replace(env, stream="rebuilt-outbox", seq=1)):
            await client.publish("retail/v1/stores/S001/events",
                                 codec.encode(Batch("S001", again.stream, [again])), qos=1)

    async def both_dropped() -> bool:
        counters = (await hub.get(http, "/healthz"))["counters"]
        return bool(counters.get("duplicates", 0) >= before + 2)

    await wait_for(both_dropped, 30, "the hub to drop both resends")
    assert await at_s001(http, hub) == (3, 0, 3)
    got = await reservation(http, hub, "WEB-1")
    assert [(s["store_id"], s["outcome"]) for s in got["sales"]] == [("S001", "collected")]
    async with http.get(hub.url + "/metrics") as r:
        text = await r.text()
    assert 'hub_reservation_sales_total{outcome="collected"} 1.0' in text
    assert "hub_reservations_held 0.0" in text


async def test_a_store_that_sold_reserved_stock_offline_leaves_it_short(tmp_path, http, procs,
                                                                        storage):
    hub, agent = await running(tmp_path, http, procs, storage)
    for rid, qty in (("WEB-OLD", 2), ("WEB-NEW", 2)):
        async with http.post(hub.url + "/v1/reservations", headers=WEB, json={
                "reservation_id": rid, "channel": "web",
                "lines": [{"sku": "SKU-1", "qty": qty}]}) as r:
            assert r.status == 201
    assert await at_s001(http, hub) == (5, 4, 1)

    hub.kill()  # the store's link is down: the till goes on selling what is on the shelf
    for n in range(3):
        async with http.post(agent.url + "/v1/sales", json=sale(f"00001{n}", 1)) as r:
            assert r.status == 201
    hub.start()
    await hub.ready(http)
    await wait_for(lambda: at_s001(http, hub, (2, 4, 0)), 60, "the offline sales at the hub")
    assert (await reservation(http, hub, "WEB-OLD"))["state"] == "held"
    newest = await reservation(http, hub, "WEB-NEW")
    assert newest["state"] == "short"
    assert newest["short"] == [{"sku": "SKU-1", "location": "S001", "qty": 2}]
    async with http.get(hub.url + "/v1/availability/SKU-1", params={"channel": "web"}) as r:
        assert (await r.json())["available_to_sell"] == 0
    async with http.get(hub.url + "/metrics") as r:
        text = await r.text()
    assert "hub_reservations_short 1.0" in text and "hub_reservations_held 2.0" in text
    async with http.get(hub.url + "/") as r:
        page = await r.text()
    assert "Reservations short" in page and "WEB-NEW" in page and "WEB-OLD" not in page


async def _state(http: aiohttp.ClientSession, hub: HubProc, rid: str, state: str) -> bool:
    return bool((await reservation(http, hub, rid))["state"] == state)
