"""The pipeline against a real Mosquitto, configured as packaging/mosquitto ships it."""

import asyncio
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.integration.helpers import assert_delivered, start
from tests.integration.procs import AgentProc, HubProc, Mosquitto
from tests.integration.tills import Till

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Mosquitto.available(),
                       reason="mosquitto is not installed (apt-get install mosquitto)"),
]


async def _more(till: Till, n: int) -> bool:
    return len(till.accepted) > n


async def test_sales_reach_the_hub_through_mosquitto_exactly_once(tmp_path: Path, http, procs):
    hub = HubProc(tmp_path / "hub", ["S001", "S002"], mosquitto_root=tmp_path / "mosquitto")
    assert hub.mosquitto is not None
    start(procs, hub.mosquitto)
    start(procs, hub)
    await hub.ready(http)
    agents = [start(procs, AgentProc(tmp_path / s, s, hub)) for s in ("S001", "S002")]
    for a in agents:
        await a.ready(http)
    tills = {a.store_id: Till(a.url) for a in agents}
    await asyncio.gather(*(t.sell_many(http, 50) for t in tills.values()))
    # Kill the agent and the hub once each mid-run, as in the embedded-broker tests.
    agents[0].kill()
    agents[0].start()
    hub.kill()
    await tills["S001"].sell_many(http, 10)
    hub.start()
    await hub.ready(http)
    for a in agents:
        await assert_delivered(http, hub, a.store_id, tills[a.store_id])


async def test_broker_down_while_tills_keep_selling_then_back(tmp_path: Path, http, procs):
    hub = HubProc(tmp_path / "hub", ["S001"], mosquitto_root=tmp_path / "mosquitto")
    assert hub.mosquitto is not None
    broker = start(procs, hub.mosquitto)
    start(procs, hub)
    await hub.ready(http)
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    await agent.ready(http)
    till = Till(agent.url)
    stop = asyncio.Event()
    selling = asyncio.create_task(till.sell_until(http, stop, pause=0.005))
    await wait_for(lambda: _more(till, 30), 30, "sales before the outage")
    broker.kill()
    during = len(till.accepted)
    await wait_for(lambda: _more(till, during + 100), 30, "sales during the outage")

    async def backlog() -> int:
        health = await agent.health(http)
        return health["outbox"]["backlog"] if health else 0

    assert await backlog() > 50
    broker.start()
    after = len(till.accepted)
    await wait_for(lambda: _more(till, after + 30), 30, "sales after the outage")
    stop.set()
    await selling
    await assert_delivered(http, hub, "S001", till)
    await wait_for(lambda: _zero(backlog), 30, "the agent's backlog to drain")


async def _zero(f) -> bool:  # type: ignore[no-untyped-def]
    return await f() == 0


async def test_stores_hold_their_sales_while_the_hub_is_away(tmp_path: Path, http, procs):
    """The broker announces a killed hub (its last will); agents then keep sales in their outbox
    instead of queueing them at the broker, and send them in big batches when it is back."""
    hub = HubProc(tmp_path / "hub", ["S001"], mosquitto_root=tmp_path / "mosquitto")
    assert hub.mosquitto is not None
    start(procs, hub.mosquitto)
    start(procs, hub)
    await hub.ready(http)
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    await agent.ready(http)
    till = Till(agent.url)
    await till.sell_many(http, 5)
    hub.kill()

    async def hub_away():
        status = await (await http.get(agent.url + "/v1/status")).json()
        return status if status["connection"]["head_office_online"] is False else None

    status = await wait_for(hub_away, 40, "the agent to hear that the hub is gone (its will)")
    forwarded = status["throughput"]["forwarded"]
    await till.sell_many(http, 20)
    status = await (await http.get(agent.url + "/v1/status")).json()
    assert status["throughput"]["forwarded"] == forwarded  # kept, not queued at the broker
    assert status["headline"]["text"].startswith("Head office is not answering since")
    assert status["backlog"]["sales"] >= 20
    hub.start()
    await hub.ready(http)
    await assert_delivered(http, hub, "S001", till)
