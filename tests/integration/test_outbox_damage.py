"""A store's outbox damaged while the agent was down: the agent starts anyway, says so, and the
hub ends up with every intact sale exactly once (delivered ones are not applied again)."""

import sqlite3
from pathlib import Path

import pytest

from tests.integration.helpers import assert_delivered, hub_and_agents
from tests.integration.tills import Till

pytestmark = pytest.mark.integration


async def test_damaged_rows_are_set_aside_and_the_rest_reach_the_hub_once(tmp_path: Path, http,
                                                                          procs):
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"])
    till = Till(agent.url)
    await till.sell_many(http, 40)
    await assert_delivered(http, hub, "S001", till)
    hub.kill()
    await till.sell_many(http, 40)  # these wait in the outbox
    agent.kill()
    with sqlite3.connect(agent.outbox) as conn:
        damaged = [r[0].rsplit("/", 1)[1] for r in conn.execute(
            "SELECT natural_key FROM events WHERE seq IN (55, 70)")]
        conn.execute("UPDATE events SET body = randomblob(50) WHERE seq IN (55, 70)")
    assert len(damaged) == 2
    agent.start()
    await agent.ready(http)
    async with http.get(agent.url + "/v1/status") as r:
        status = await r.json()
    repair = status["outbox_check"]["last_repair"]
    assert repair["quarantined"] == 2 and repair["kept"] == 78, repair
    assert "damaged" in status["headline"]["text"]
    async with http.get(agent.url + "/metrics") as r:
        assert "edge_outbox_quarantined_rows 2.0" in await r.text()
    hub.start()
    await hub.ready(http)
    for pos_txn_id in damaged:
        del till.accepted[pos_txn_id]
    await assert_delivered(http, hub, "S001", till)


async def test_an_outbox_restored_from_a_backup_moves_to_a_new_stream(tmp_path: Path, http,
                                                                       procs):
    """The outbox goes back in time (a restored backup; a WAL lost with its committed frames):
    its next sales reuse seqs the hub already holds for other sales. The hub notices, the agent
    moves to a new stream, and the new sales are not taken for duplicates."""
    import shutil

    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"])
    till = Till(agent.url)
    await till.sell_many(http, 20)
    await assert_delivered(http, hub, "S001", till)
    assert agent.stop() == 0
    backup = tmp_path / "backup"
    shutil.copytree(agent.outbox.parent, backup)
    agent.start()
    await agent.ready(http)
    await till.sell_many(http, 20)  # seqs 21-40, delivered
    await assert_delivered(http, hub, "S001", till)
    agent.kill()
    shutil.rmtree(agent.outbox.parent)
    shutil.copytree(backup, agent.outbox.parent)  # back to 20 events, acked through 20
    agent.start()
    await agent.ready(http)
    await till.sell_many(http, 10)  # seqs 21-30 again, but other sales
    await assert_delivered(http, hub, "S001", till)
    async with http.get(hub.url + "/metrics") as r:
        assert "hub_streams_diverged_total 0.0" not in await r.text()
    stores = {s["store_id"]: s for s in (await hub.get(http, "/v1/stores"))["stores"]}
    async with http.get(agent.url + "/healthz") as r:
        assert stores["S001"]["stream"] == (await r.json())["stream"]
