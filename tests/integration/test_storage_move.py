"""A SQLite hub with real data moves into PostgreSQL (`retail-hub export` / `import`, then the
same config with a [storage] section) and nothing is lost: every table's rows, the day totals,
postings with their attempts and audit trail, quarantine, the catalog and its publication;
afterwards the stores go on selling into the moved hub and every sale is in it exactly once, and
the next publication is numbered after the moved one."""

import asyncio
import datetime as dt
import sqlite3
import subprocess
import sys
from decimal import Decimal

import aiomqtt
import psycopg

from tests.conftest import wait_for
from tests.integration.helpers import assert_delivered, erp_section, hub_and_agents
from tests.integration.tills import Till

STORES = ["S001", "S002"]


def cli(hub, *args):
    return subprocess.run([sys.executable, "-m", "hub", *args, "--config",
                           str(hub.root / "hub.toml")], capture_output=True, text=True, timeout=120)


async def postings_in(http, hub, state):
    async with http.get(f"{hub.url}/v1/postings", params={"state": state, "limit": "1000"}) as r:
        return (await r.json())["postings"]


async def admin(http, hub, method, path, body, status):
    async with http.request(method, hub.url + path, json=body, headers=hub.admin) as r:
        assert r.status == status, await r.text()
        return await r.json()


async def catalog(http, hub):
    """Items, a price book with a staged price, and their publication to every store."""
    await admin(http, hub, "PUT", "/v1/items", [
        {"sku": s, "name": f"Item {s}", "active": True} for s in ("SKU-1", "SKU-2")], 200)
    await admin(http, hub, "PUT", "/v1/price-books/base",
                {"currency": "EUR", "priority": 10, "stores": "all"}, 200)
    await admin(http, hub, "POST", "/v1/price-books/base/prices", {"changes": [
        {"sku": "SKU-1", "price": "2.50", "effective_from": "2026-01-01T00:00:00Z"}]}, 201)
    return await admin(http, hub, "POST", "/v1/publications", {"stores": "all"}, 201)


async def what_the_hub_says(http, hub, dead_id):
    day = dt.datetime.now(dt.UTC).date().isoformat()
    stores = (await hub.get(http, "/v1/stores"))["stores"]
    return {
        "stores": sorted((s["store_id"], s["applied_seq"], s["events"]) for s in stores),
        "days": {s: await hub.get(http, f"/v1/stores/{s}/days/{day}") for s in STORES},
        "postings": {state: sorted(p["posting_id"] for p in await postings_in(http, hub, state))
                     for state in ("pending", "posted", "dead")},
        "quarantined": (await hub.get(http, "/v1/quarantine"))["count"],
        "retried": await hub.get(http, f"/v1/postings/{dead_id}"),
        "inventory": await hub.get(http, "/v1/inventory/SKU-2"),
        "catalog": await hub.get(http, "/v1/catalog"),
        "publication": await hub.get(http, "/v1/publications/1"),
        "price": await hub.get(http, "/v1/stores/S001/prices/SKU-1?at=2026-06-01T00:00:00Z"),
    }


def sqlite_counts(path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        conn.close()


def pg_counts(url) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name <> 'schema_version'")]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


async def test_a_sqlite_hub_moves_into_postgresql_and_loses_nothing(tmp_path, http, procs, erp,
                                                                    pg_server):
    erp.reject_skus = {"SKU-2"}
    hub, agents = await hub_and_agents(tmp_path, http, procs, STORES, extra=erp_section(erp.url))
    tills = {a.store_id: Till(a.url) for a in agents}
    await asyncio.gather(*(t.sell_many(http, 12) for t in tills.values()))
    async with aiomqtt.Client("127.0.0.1", hub.broker_port, username="S001",
                              password=hub.passwords["S001"], identifier="S001") as client:
        await client.publish("retail/v1/stores/S001/events", b"garbage", qos=1)
    for store, till in tills.items():
        await assert_delivered(http, hub, store, till)

    async def settled():
        dead = await postings_in(http, hub, "dead")
        posted = await postings_in(http, hub, "posted")
        return dead if len(dead) + len(posted) == 24 and dead else None

    dead = await wait_for(settled, 60, "every sale posted, those of SKU-2 dead")
    erp.reject_skus = set()
    async with http.post(f"{hub.url}/v1/postings/{dead[0]['posting_id']}/retry",
                         json={"actor": "olga@finance"}, headers=hub.admin) as r:
        assert r.status == 200, await r.text()
    await wait_for(lambda: _posted(http, hub, 24 - len(dead) + 1), 60, "the retried sale posted")
    assert (await catalog(http, hub))["id"] == 1

    async def applied_everywhere() -> bool:  # else a store applying it mid-move changes "before"
        counts = (await hub.get(http, "/v1/publications/1"))["counts"]
        return counts["applied"] == len(STORES)

    await wait_for(applied_everywhere, 60, "the publication applied at every store")
    before = await what_the_hub_says(http, hub, dead[0]["posting_id"])
    assert before["quarantined"] == 1 and before["retried"]["audit"][0]["actor"] == "olga@finance"
    assert before["price"]["price"]["amount"] == "2.50"

    # The move: stop the hub (the stores keep selling into their outboxes), export, import.
    hub.stop()
    selling = [asyncio.create_task(t.sell_many(http, 5)) for t in tills.values()]
    export = tmp_path / "hub.export"
    done = await asyncio.to_thread(cli, hub, "export", "--output", str(export))
    assert done.returncode == 0, done.stderr
    url = pg_server.url(pg_server.create_database(migrated=False))
    with open(hub.root / "hub.toml", "a") as config:
        config.write(f'[storage]\nbackend = "postgresql"\nurl = "{url}"\n')
    hub.storage = url
    done = await asyncio.to_thread(cli, hub, "import", "--input", str(export))
    assert done.returncode == 0, done.stderr
    assert pg_counts(url) == sqlite_counts(hub.db)
    again = await asyncio.to_thread(cli, hub, "import", "--input", str(export))
    assert again.returncode == 4 and "not empty" in again.stderr

    hub.start()
    await hub.ready(http)
    assert await what_the_hub_says(http, hub, dead[0]["posting_id"]) == before
    await asyncio.gather(*selling)
    for store, till in tills.items():
        await assert_delivered(http, hub, store, till)
        day = dt.datetime.now(dt.UTC).date().isoformat()
        totals = await hub.get(http, f"/v1/stores/{store}/days/{day}")
        assert totals["sales_count"] == len(till.accepted) == 17
        assert Decimal(totals["gross_total"]) == sum(
            Decimal(b["tenders"][0]["amount"]) for b in till.accepted.values())
    await wait_for(lambda: _posted(http, hub, 34 - len(dead) + 1), 60, "the new sales posted")
    assert set(erp.commits.values()) == {1}, "a sale was posted twice"
    # The identities went past the moved ids: the next change set and publication follow them.
    staged = await admin(http, hub, "POST", "/v1/price-books/base/prices", {"changes": [
        {"sku": "SKU-2", "price": "1.00", "effective_from": "2026-01-01T00:00:00Z"}]}, 201)
    published = await admin(http, hub, "POST", "/v1/publications", {"stores": "all"}, 201)
    assert (staged["change_set"], published["id"], published["version"]) == (2, 2, 2)


async def _posted(http, hub, count):
    return len(await postings_in(http, hub, "posted")) >= count
