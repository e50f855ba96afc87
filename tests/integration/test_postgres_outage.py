"""The hub's PostgreSQL goes away mid-stream, stopped cleanly and then killed (`pg_ctl stop -m
immediate`, a crash), while a till sells: the hub keeps running, reconnects by itself when the
server is back, and afterwards every 2xx'd sale is in the hub once and in the ERP once."""

import asyncio

from tests.conftest import wait_for
from tests.integration.helpers import assert_delivered, erp_section, hub_and_agents
from tests.integration.tills import Till


async def _more_sales(till: Till, than: int) -> bool:
    return len(till.accepted) > than


async def test_the_hub_outlives_its_database_restarting_and_crashing(tmp_path, http, procs, erp,
                                                                     pg_server, pg_url):
    hub, (agent,) = await hub_and_agents(tmp_path, http, procs, ["S001"], storage=pg_url,
                                         extra=erp_section(erp.url))
    till = Till(agent.url)
    stop = asyncio.Event()
    selling = asyncio.create_task(till.sell_until(http, stop, pause=0.005))
    try:
        for mode in ("fast", "immediate"):
            await wait_for(lambda n=len(till.accepted): _more_sales(till, n + 50), 30, "sales")
            await asyncio.to_thread(pg_server.stop, mode)
            await wait_for(lambda n=len(till.accepted): _more_sales(till, n + 50), 30,
                           "sales while the database is down")
            await asyncio.to_thread(pg_server.start)
        await wait_for(lambda n=len(till.accepted): _more_sales(till, n + 50), 30, "sales")
    finally:
        stop.set()
        await selling
        if not pg_server.running():  # the next tests share the server
            await asyncio.to_thread(pg_server.start)
    assert hub.running, hub.tail()
    await assert_delivered(http, hub, "S001", till)

    async def all_posted() -> bool:
        return len(erp.commits) == len(till.accepted)

    await wait_for(all_posted, 60, f"all {len(till.accepted)} sales posted to the ERP")
    assert set(erp.commits.values()) == {1}, "a sale was posted twice"
    assert "reachable again" in hub.log.read_text()
