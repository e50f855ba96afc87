"""Whole-system runs with real processes: every 2xx'd sale reaches the hub exactly once, on
either backend of the hub's storage (`storage`: SQLite, or the session's private PostgreSQL)."""

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.integration.helpers import assert_delivered, hub_and_agents
from tests.integration.tills import Till

pytestmark = pytest.mark.integration


async def test_sales_from_two_stores_reach_the_hub_exactly_once(tmp_path: Path, http, procs,
                                                                storage):
    hub, agents = await hub_and_agents(tmp_path, http, procs, ["S001", "S002"], storage=storage)
    tills = {a.store_id: [Till(a.url, "R1"), Till(a.url, "R2")] for a in agents}
    await asyncio.gather(*(t.sell_many(http, 40) for ts in tills.values() for t in ts))
    for a in agents:
        await assert_delivered(http, hub, a.store_id, *tills[a.store_id])
    stores = {s["store_id"]: s for s in (await hub.get(http, "/v1/stores"))["stores"]}
    assert stores["S001"]["online"] and stores["S002"]["online"]
    assert stores["S001"]["applied_seq"] == 80


async def test_a_till_retry_is_captured_once_and_a_changed_retry_is_refused(tmp_path, http, procs,
                                                                            storage):
    hub, (agent,) = await hub_and_agents(tmp_path, http, procs, ["S001"], storage=storage)
    till = Till(agent.url)
    await till.sell(http)
    body = till.accepted["000001"]
    async with http.post(agent.url + "/v1/sales", json=body) as r:
        assert r.status == 200
        again = await r.json()
    assert again["seq"] == 1 and again["status"] == "captured"
    changed = {**body, "currency": "USD"}
    async with http.post(agent.url + "/v1/sales", json=changed) as r:
        assert r.status == 409
        assert (await r.json())["field"] == "pos_txn_id"
    await assert_delivered(http, hub, "S001", till)

    async def delivered() -> bool:
        async with http.get(agent.url + "/v1/transactions/R1/000001") as r:
            return (await r.json())["state"] == "delivered"

    await wait_for(delivered, 10, "the agent to see the hub's ack")


async def test_agent_killed_mid_stream_loses_nothing(tmp_path, http, procs, storage):
    hub, (agent,) = await hub_and_agents(tmp_path, http, procs, ["S001"], storage=storage)
    till = Till(agent.url)
    for round_ in range(3):
        stop = asyncio.Event()
        selling = asyncio.create_task(till.sell_until(http, stop, pause=0.002))
        await wait_for(lambda n=len(till.accepted): _gt(len(till.accepted), n + 30), 30, "sales")
        agent.kill()
        stop.set()
        agent.start()  # the till's in-flight sale is retried against the restarted agent
        await selling
        await agent.ready(http)
    await assert_delivered(http, hub, "S001", till)


async def _gt(a: int, b: int) -> bool:
    return a > b


async def test_hub_killed_and_restarted_while_tills_sell(tmp_path, http, procs, storage):
    hub, (agent,) = await hub_and_agents(tmp_path, http, procs, ["S001"], storage=storage)
    till = Till(agent.url)
    stop = asyncio.Event()
    selling = asyncio.create_task(till.sell_until(http, stop, pause=0.005))
    for _ in range(2):
        await wait_for(lambda n=len(till.accepted): _gt(len(till.accepted), n + 40), 30, "sales")
        hub.kill()
        # The store keeps selling while the hub is gone.
        await wait_for(lambda n=len(till.accepted): _gt(len(till.accepted), n + 40), 30,
                       "sales while the hub is down")
        health = await agent.health(http)
        assert health and health["outbox"]["backlog"] > 0
        hub.start()
        await hub.ready(http)
    stop.set()
    await selling
    await assert_delivered(http, hub, "S001", till)


async def test_replaced_outbox_starts_a_new_stream_and_old_sales_are_not_doubled(
        tmp_path, http, procs, storage):
    hub, (agent,) = await hub_and_agents(tmp_path, http, procs, ["S001"], storage=storage)
    till = Till(agent.url)
    for _ in range(10):
        await till.sell(http)
    await assert_delivered(http, hub, "S001", till)
    old_stream = (await agent.health(http))["stream"]
    agent.stop()
    shutil.rmtree(agent.root / "data")  # a replaced controller: new disk, empty outbox
    agent.start()
    await agent.ready(http)
    new_stream = (await agent.health(http))["stream"]
    assert new_stream != old_stream
    # The till re-sends its last sale to the new controller, then goes on selling.
    till.next_number -= 1
    for _ in range(6):
        await till.sell(http)
    await assert_delivered(http, hub, "S001", till)
    stores = {s["store_id"]: s for s in (await hub.get(http, "/v1/stores"))["stores"]}
    assert stores["S001"]["stream"] == new_stream
    assert stores["S001"]["applied_seq"] == 6  # seq restarted at 1 in the new stream


async def test_garbage_and_spoofed_batches_are_quarantined_and_the_hub_keeps_serving(
        tmp_path, http, procs, storage):
    import aiomqtt
    import msgspec

    from protocol import codec
    from protocol.messages import Batch
    from tests.hub.helpers import sale_envelope

    hub, (agent,) = await hub_and_agents(tmp_path, http, procs, ["S001", "S002"], ["S002"],
                                         storage=storage)
    from protocol.messages import MAX_BATCH_BYTES, MAX_BATCH_EVENTS

    spoofed = codec.encode(Batch("S002", "st", [sale_envelope(1, store="S002", stream="st")]))
    good = msgspec.msgpack.decode(codec.encode(Batch("S001", "st", [sale_envelope(1, stream="st")])))
    wrong_versions = [msgspec.msgpack.encode({**good, "v": v}) for v in (0, "2")]
    too_many = codec.encode(Batch("S001", "st", [sale_envelope(n, stream="st")
                                                for n in range(1, MAX_BATCH_EVENTS + 2)]))
    too_big = b"\x00" * (MAX_BATCH_BYTES + 1)
    payloads = [b"garbage", b"", msgspec.msgpack.encode({"v": 99}), spoofed, *wrong_versions,
                too_many, too_big]
    async with aiomqtt.Client("127.0.0.1", hub.broker_port, username="S001",
                              password=hub.passwords["S001"], identifier="S001") as client:
        for p in payloads:
            await client.publish("retail/v1/stores/S001/events", p, qos=1)
        # The broker's ACL stops S001 from publishing as S002 at all.
        await client.publish("retail/v1/stores/S002/events", spoofed, qos=1)

    async def quarantined() -> int:
        return (await hub.get(http, "/v1/quarantine"))["count"] >= len(payloads)

    await wait_for(quarantined, 20, "the hub to quarantine the bad payloads")
    body = await hub.get(http, "/v1/quarantine")
    assert body["count"] == len(payloads)
    reasons = [q["reason"] for q in body["recent"]]
    assert any("differs from topic" in r for r in reasons)
    assert any("exceeds" in r for r in reasons), reasons
    assert sum("`$.v`" in r for r in reasons) == 2, reasons
    assert any("length <= 1000" in r for r in reasons), reasons
    async with http.get(hub.url + "/metrics") as r:
        assert f"hub_quarantined_total {len(payloads)}.0" in await r.text()
    till = Till(agent.url)
    await till.sell_many(http, 5)
    await assert_delivered(http, hub, "S002", till)


async def test_events_the_capture_api_would_refuse_are_quarantined_not_applied(
        tmp_path, http, procs, storage):
    import aiomqtt

    from protocol import codec
    from protocol.messages import Batch
    from tests.hub.admission_cases import bad_events
    from tests.hub.helpers import NOW, sale_envelope

    hub, _ = await hub_and_agents(tmp_path, http, procs, ["S001"], [], storage=storage)
    bad = bad_events(start_seq=2)
    events = [sale_envelope(1), *bad, sale_envelope(len(bad) + 2)]
    async with aiomqtt.Client("127.0.0.1", hub.broker_port, username="S001",
                              password=hub.passwords["S001"], identifier="S001") as client:
        await client.publish("retail/v1/stores/S001/events",
                             codec.encode(Batch("S001", "st-1", events)), qos=1)

    async def applied() -> bool:
        stores = (await hub.get(http, "/v1/stores"))["stores"]
        return any(s["store_id"] == "S001" and s["applied_seq"] == len(events) for s in stores)

    await wait_for(applied, 20, "the hub to get through the batch")
    body = await hub.get(http, "/v1/quarantine")
    assert body["count"] == len(bad), body
    day = await hub.get(http, f"/v1/stores/S001/days/{NOW.date().isoformat()}")
    assert (day["sales_count"], day["net_total"], day["gross_total"]) == (2, "4.00", "5.00")
    stock = await hub.get(http, "/v1/inventory/SKU-1")
    assert stock["on_hand"] == -2
