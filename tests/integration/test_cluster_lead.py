"""Two `retail-hub run` processes on one PostgreSQL database: one hub of two workers. Both take
in sales and serve the API; one leads the once-only work (here the ERP relay shows it); when
the leader is killed (SIGKILL), the other leads within seconds and the dead one shows as gone.

Each worker keeps its embedded broker here (the leadership does not need a shared broker); its
store's agent connects to the worker that is not the leader, so its sales are taken in there
and posted by the leader's relay."""

import time

from tests.conftest import wait_for
from tests.integration.helpers import erp_section, start
from tests.integration.procs import AgentProc, HubProc
from tests.integration.tills import Till

LEADS = "leading the cluster's scheduled jobs, relay and catalog delivery"


async def logged(hub: HubProc, text: str) -> bool:
    return text in hub.tail(200)


def worker(tmp_path, name: str, url: str, erp_url: str) -> HubProc:
    cluster = (f'[cluster]\nworker_id = "{name}"\nheartbeat_s = 0.5\ngone_after_s = 3\n'
               "leader_check_s = 0.2\n")
    return HubProc(tmp_path / name, ["S001"], storage=url,
                   extra=erp_section(erp_url) + cluster)


async def test_two_workers_one_leads_and_the_lead_moves_when_it_is_killed(tmp_path, pg_url,
                                                                          http, procs, erp):
    a = start(procs, worker(tmp_path, "hub-a", pg_url, erp.url))
    await a.ready(http)
    b = start(procs, worker(tmp_path, "hub-b", pg_url, erp.url))
    await b.ready(http)

    async def workers(hub: HubProc) -> dict[str, dict]:
        return {w["worker_id"]: w for w in (await hub.get(http, "/v1/workers"))["workers"]}

    async def both_heard() -> dict[str, dict] | None:
        seen = await workers(b)
        return seen if set(seen) == {"hub-a", "hub-b"} else None

    seen = await wait_for(both_heard, 10, "both workers' heartbeats")
    assert [w for w, row in seen.items() if row["leading"]] == ["hub-a"]
    assert (await a.get(http, "/v1/workers"))["leading"] is True
    assert (await b.get(http, "/v1/workers"))["leading"] is False
    await wait_for(lambda: logged(a, "ERP relay started"), 10, "hub-a's relay")
    assert LEADS in a.tail(200)
    assert LEADS not in b.tail(200) and "ERP relay started" not in b.tail(200)

    # Sales taken in by hub-b are posted by hub-a's relay.
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", b))
    await agent.ready(http)
    till = Till(agent.url)
    await till.sell_many(http, 2)

    async def posted(count: int) -> bool:
        return len(erp.commits) >= count

    await wait_for(lambda: posted(2), 30, "the sales posted by the leader")

    a.kill()
    killed = time.monotonic()

    async def b_leads() -> bool:
        return (await b.get(http, "/v1/workers"))["leading"]

    await wait_for(b_leads, 10, "hub-b to lead")
    assert time.monotonic() - killed < 5
    await wait_for(lambda: logged(b, "ERP relay started"), 10, "hub-b's relay")
    assert LEADS in b.tail(200)

    async def a_gone() -> dict[str, dict] | None:
        seen = await workers(b)
        return seen if seen["hub-a"]["gone"] else None

    seen = await wait_for(a_gone, 10, "hub-a shown as gone")
    assert (seen["hub-a"]["leading"], seen["hub-b"]["leading"]) == (False, True)
    assert seen["hub-b"]["batches_applied"] >= 1
    async with http.get(b.url + "/metrics") as r:
        text = await r.text()
    assert 'hub_leader{worker="hub-b"} 1.0' in text and "hub_workers 1.0" in text
    async with http.get(b.url + "/") as r:
        page = await r.text()
    assert "<h2 id=workers>Workers</h2>" in page and "<tr class='gone'><td>hub-a</td>" in page

    await till.sell_many(http, 1)  # the new leader's relay posts it
    await wait_for(lambda: posted(3), 30, "a sale posted by the new leader")
    assert all(n == 1 for n in erp.commits.values())
