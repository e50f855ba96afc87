"""What operations see: the hub dashboard with 1,000 stores, metrics, health, store receipts."""

import datetime as dt
import re
import time

from prometheus_client.parser import text_string_to_metric_families

from hub.storage.schema import migrate
from runtime.sqlite_writer import connect
from tests.conftest import wait_for
from tests.integration.helpers import erp_section, hub_and_agents, start
from tests.integration.procs import HubProc
from tests.integration.tills import Till


def seed_stores(hub: HubProc, count: int) -> None:
    hub.db.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(hub.db)
    migrate(conn)
    now = dt.datetime.now(dt.UTC).isoformat()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO stores (store_id, online, last_seen, backlog) VALUES (?, ?, ?, ?)",
                     [(f"S{n:04d}", n % 10 != 0, now, n % 7) for n in range(1, count + 1)])
    conn.execute("COMMIT")
    conn.close()


async def test_the_dashboard_pages_a_thousand_stores_and_metrics_parse(tmp_path, http, procs):
    hub = HubProc(tmp_path / "hub", [])
    seed_stores(hub, 1000)
    start(procs, hub)
    await hub.ready(http)
    async with http.get(hub.url + "/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
    assert "900 / 1000" in html and "page 1 of 20 (1000 stores)" in html
    assert len(re.findall(r"<tr class=[^>]*><td>S\d{4}</td>", html)) == 50
    async with http.get(hub.url + "/", params={"stores": "offline", "q": "S09"}) as r:
        html = await r.text()
    rows = re.findall(r"<td>(S\d{4})</td><td>(offline|online)</td>", html)
    assert rows and all(s.startswith("S09") and state == "offline" for s, state in rows)
    async with http.get(hub.url + "/", params={"page": "x"}) as r:
        assert r.status == 422 and (await r.json())["field"] == "page"
    async with http.get(hub.url + "/metrics") as r:
        families = {f.name: f for f in text_string_to_metric_families(await r.text())}
    assert families["hub_stores_online"].samples[0].value == 900
    assert len(families["hub_store_backlog_events"].samples) == 1000
    assert {s.labels["state"] for s in families["hub_postings"].samples} >= {"pending", "dead"}


async def test_health_degrades_while_the_erp_circuit_is_open(tmp_path, http, procs, erp):  # noqa: F811
    erp.outage_until = time.monotonic() + 3600
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"],
                                        extra=erp_section(
        erp.url, breaker_failures=1, breaker_open_s=60))
    await Till(agent.url).sell_many(http, 1)

    async def degraded():
        async with http.get(hub.url + "/healthz") as r:
            return (await r.json()) if r.status == 503 else None

    body = await wait_for(degraded, 30, "hub /healthz 503 with the circuit open")
    assert "ERP circuit open" in body["reason"] and body["erp"]["circuit"] == "open"


async def test_the_store_hears_which_erp_document_its_sale_became(tmp_path, http, procs, erp):  # noqa: F811
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"],
                                        extra=erp_section(erp.url))
    await Till(agent.url).sell_many(http, 2)

    async def receipts():
        async with http.get(agent.url + "/v1/status") as r:
            recent = (await r.json())["recent"]
        return recent if all(t["state"] == "posted" for t in recent) else None

    recent = await wait_for(receipts, 30, "receipts for both sales at the store")
    assert sorted(t["erp_ref"] for t in recent) == ["DOC-1", "DOC-2"]
    async with http.get(agent.url + "/") as r:
        assert "posted to ERP DOC-1" in await r.text()
