"""The hub's PostgreSQL goes away mid-stream, stopped cleanly and then killed (`pg_ctl stop -m
immediate`, a crash), while a till sells and a channel's feed is pushed to its webhook: the hub
keeps running (relay, catalog delivery, availability sweep and push included), reconnects by
itself when the server is back, and afterwards every 2xx'd sale is in the hub once and in the
ERP once, and the push goes on."""

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import wait_for
from tests.integration.helpers import assert_delivered, erp_section, hub_and_agents
from tests.integration.tills import Till


async def _more_sales(till: Till, than: int) -> bool:
    return len(till.accepted) > than


async def test_the_hub_outlives_its_database_restarting_and_crashing(tmp_path, http, procs, erp,
                                                                     pg_server, pg_url):
    pushes: list[int] = []

    async def receive(request: web.Request) -> web.Response:
        pushes.append(len((await request.json())["changes"]))
        return web.Response(status=204)

    app = web.Application()
    app.add_routes([web.post("/feed", receive)])
    receiver = TestServer(app, host="127.0.0.1", port=0)
    await receiver.start_server()
    channel = ("[availability]\nsweep_interval_s = 0.5\n[channels.web]\nlocations = [\"S001\"]\n"
               f'webhook_url = "{receiver.make_url("/feed")}"\n')
    try:
        await _outage(tmp_path, http, procs, erp, pg_server, pg_url, channel, pushes)
    finally:
        await receiver.close()


async def _outage(tmp_path, http, procs, erp, pg_server, pg_url, channel, pushes):
    hub, (agent,) = await hub_and_agents(tmp_path, http, procs, ["S001"], storage=pg_url,
                                         extra=erp_section(erp.url) + channel)
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
        pushed = len(pushes)
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

    async def pushing_again() -> bool:
        return len(pushes) > pushed

    await wait_for(pushing_again, 30, "the feed pushed again after the outage")
