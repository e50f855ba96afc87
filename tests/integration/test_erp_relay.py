"""The whole chain to an HTTP ERP: till → agent → hub → fault-injecting ERP, then reconciliation.

The ERP is a real HTTP server in this test process; hub and agent are real processes, the hub
on either backend of its storage (`storage`).
"""

import asyncio
import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal

from tests.conftest import wait_for
from tests.integration.helpers import erp_section, hub_and_agents
from tests.integration.tills import Till, sale


async def postings_in(http, hub, state):
    async with http.get(f"{hub.url}/v1/postings", params={"state": state, "limit": "1000"}) as r:
        return (await r.json())["postings"]


def cli(hub, *args):
    return subprocess.run([sys.executable, "-m", "hub", *args, "--config", str(hub.root / "hub.toml")]
                          if args[0] == "reconcile" else
                          [sys.executable, "-m", "hub", args[0], "--config",
                           str(hub.root / "hub.toml"), *args[1:]],
                          capture_output=True, text=True, timeout=60)


async def test_sales_reach_the_erp_once_and_a_withheld_sale_is_named(tmp_path, http, procs, erp,
                                                                     storage):
    erp.storm_429, erp.retry_after = 2, "1"
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"],
                                        extra=erp_section(erp.url), storage=storage)
    till = Till(agent.url)
    await till.sell_many(http, 4)
    withheld = sale("R1", 5)  # rung up at the till, never reached the agent
    till.next_number = 6
    await till.sell_many(http, 2)
    rung = [*till.accepted.values(), withheld]
    day = dt.datetime.now(dt.UTC).date()
    close = {
        "business_day": day.isoformat(), "sales_count": len(rung), "returns_count": 0,
        "net_total": str(sum(Decimal(s["lines"][0]["unit_price"]) * s["lines"][0]["qty"]
                             - Decimal(s["lines"][0]["tax"]) for s in rung)),
        "tax_total": str(sum(Decimal(s["lines"][0]["tax"]) for s in rung)),
        "tenders": {"cash": str(sum(Decimal(s["tenders"][0]["amount"]) for s in rung))},
        "currency": "EUR",
    }
    async with http.post(agent.url + "/v1/day-close", json=close) as r:
        assert r.status == 201, await r.text()

    async def all_posted():
        return len(await postings_in(http, hub, "posted")) == 6

    await wait_for(all_posted, 60, "6 sales posted to the ERP")
    assert sorted(erp.commits.values()) == [1] * 6
    assert len(erp.answered(429)) == 2

    async with http.get(f"{hub.url}/v1/reconciliation", params={"day": day.isoformat()}) as r:
        assert r.status == 200
        result = await r.json()
    (report,) = result["stores"]
    assert report["status"] == "mismatched"
    assert report["missing_in_hub"]["sales_short"] == 1
    assert report["missing_in_hub"]["register_gaps"] == [
        {"register_id": "R1", "missing": ["000005"], "last_seen": "000007"}]
    assert report["erp"]["available"] is True
    assert report["erp"]["gross_total"] == report["hub"]["gross_total"]
    assert report["missing_in_erp"] == [] and report["extra_in_erp"] == []
    fields = {d["field"] for d in report["differences"]}
    assert {"sales_count", "net_total", "gross_total", "tenders.cash"} <= fields

    done = await asyncio.to_thread(cli, hub, "reconcile", "--day", day.isoformat())
    assert done.returncode == 1, done.stderr
    assert "register R1: no transaction 000005" in done.stdout
    listed = await asyncio.to_thread(cli, hub, "postings", "list", "--state", "posted")
    assert listed.returncode == 0 and listed.stdout.count("posted") == 6


async def test_an_erp_refusal_is_dead_lettered_and_retried_by_an_operator(tmp_path, http, procs, erp,
                                                                          storage):
    erp.reject_skus = {"SKU-2"}
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"],
                                        extra=erp_section(erp.url), storage=storage)
    await Till(agent.url).sell_many(http, 3)  # the second sale is of SKU-2

    async def settled():
        dead = await postings_in(http, hub, "dead")
        return dead if len(dead) + len(await postings_in(http, hub, "posted")) == 3 else None

    (posting,) = await wait_for(settled, 60, "two sales posted and the refused one dead")
    assert posting["reason"].startswith("ERP refused the posting (422)")
    (ok, *_) = await postings_in(http, hub, "posted")
    async with http.post(f"{hub.url}/v1/postings/{posting['posting_id']}/retry") as r:
        assert r.status == 401  # actions need the admin token
        assert (await r.json())["field"] == "Authorization"
    async with http.post(f"{hub.url}/v1/postings/{ok['posting_id']}/retry", headers=hub.admin) as r:
        assert r.status == 409  # a posted posting is never sent again
        assert (await r.json())["field"] == "posting_id"
    async with http.post(f"{hub.url}/v1/postings/nope/retry", headers=hub.admin) as r:
        assert r.status == 404
    erp.reject_skus = set()
    async with http.post(f"{hub.url}/v1/postings/{posting['posting_id']}/retry",
                         json={"actor": "olga@finance"}, headers=hub.admin) as r:
        assert r.status == 200, await r.text()
    done = await asyncio.to_thread(cli, hub, "postings", "show", posting["posting_id"])
    shown = json.loads(done.stdout)
    assert shown["state"] in ("pending", "posting", "posted")
    assert shown["audit"][0]["actor"] == "olga@finance"

    async def posted():
        return len(await postings_in(http, hub, "posted")) == 3

    await wait_for(posted, 60, "the retried sale to be posted")
    assert sorted(erp.commits.values()) == [1, 1, 1]
