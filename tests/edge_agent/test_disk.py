"""/healthz and the status page read the same disk check, with outbox.max_size_mb as the disk."""

import os

from tests.edge_agent.helpers import post, with_

MB = 1024 * 1024


def outbox_bytes(agent) -> int:
    path = agent.config.outbox_path
    return sum(os.path.getsize(p) for p in (path, path.with_name(path.name + "-wal"))
               if p.exists())


async def both(http, url):
    async with http.get(url + "/healthz") as r:
        health = (r.status, await r.json())
    async with http.get(url + "/v1/status") as r:
        status = await r.json()
    async with http.get(url + "/") as r:
        page = await r.text()
    return health, status, page


async def test_healthz_and_the_status_page_agree_on_an_outbox_near_its_size_cap(
        running_agent, http):
    # A roomy filesystem, but a 3 MB cap with 2 MB to be kept free: nearly full past 1 MB.
    agent, url = await running_agent(extra="[outbox]\nmax_size_mb = 3\n[health]\nmin_free_mb = 2\n")
    (code, health), status, page = await both(http, url)
    assert code == 200 and health["status"] == "ok"
    assert not status["disk"]["nearly_full"] and "Disk almost full" not in page

    for n in range(20000):
        if outbox_bytes(agent) > 1.2 * MB:
            break
        assert (await post(http, url, with_("pos_txn_id", f"{n:06d}")))[0] == 201
    (code, health), status, page = await both(http, url)
    assert status["disk"]["free_bytes"] < 2 * MB and status["disk"]["nearly_full"]
    assert "Disk almost full" in status["headline"]["text"] and "Disk almost full" in page
    assert code == 503 and health["status"] == "degraded"
    assert health["reason"].startswith("disk nearly full: 1 MB free under outbox.max_size_mb = 3")
    assert "health.min_free_mb = 2" in health["reason"]
