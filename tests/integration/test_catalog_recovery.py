"""A store's catalog survives what goes wrong on the way, with real processes: the agent killed
(SIGKILL) in the middle of applying a large version keeps the previous one whole and applies
the new one after its restart; a chunk damaged on the way is refused by the digest of the whole
and the version is fetched again."""

import datetime as dt
import sqlite3

import pytest

from tests.conftest import wait_for
from tests.integration.catalog import HeadOffice, change, store_catalog, store_has, till_item
from tests.integration.deafproxy import DeafProxy
from tests.integration.helpers import start
from tests.integration.procs import AgentProc, HubProc

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def catalog_file(agent: AgentProc) -> tuple[int | None, int, int]:
    """(version, items, prices) as the agent's catalog file holds them, read by itself."""
    conn = sqlite3.connect(f"file:{agent.root / 'data' / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return (conn.execute("SELECT version FROM catalog_state").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM items").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM prices").fetchone()[0])
    finally:
        conn.close()


async def test_sigkill_during_a_large_apply_keeps_the_old_version_and_applies_after_restart(
        tmp_path, http, procs):
    hub = start(procs, HubProc(tmp_path / "hub", ["S001"]))
    await hub.ready(http)
    office = HeadOffice(http, hub)
    first = [f"A-{n:03d}" for n in range(10)]
    await office.items(first)
    await office.book("base", 10, stores="all")
    await office.prices("base", [change(s, "1.00", T0) for s in first])
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    await agent.ready(http)
    made = await office.publish()
    await office.applied_by(made["id"], ["S001"])
    assert catalog_file(agent) == (1, 10, 10)

    many = [f"B-{n:06d}" for n in range(120_000)]
    await office.items(many)
    await office.prices("base", [change(s, "2.00", T0) for s in many])
    big = await office.publish()

    async def applying() -> bool:
        try:
            return (await store_catalog(http, agent))["applying"] == big["version"]
        except (OSError, TimeoutError):
            return False

    await wait_for(applying, 120, "the agent applying the large version", interval=0.02)
    agent.kill()
    # The previous version, whole: not one row of the new one.
    assert catalog_file(agent) == (1, 10, 10)
    start(procs, agent)
    await agent.ready(http)
    found = await store_has(http, agent, big["version"], timeout=120)
    assert found["items"] == 120_010
    assert catalog_file(agent) == (big["version"], 120_010, 120_010)
    await office.applied_by(big["id"], ["S001"])
    status, item = await till_item(http, agent, "B-000007")
    assert status == 200 and item["price"]["amount"] == "2.00"


async def test_a_chunk_damaged_on_the_way_is_refused_by_the_digest_and_fetched_again(
        tmp_path, http, procs):
    hub = start(procs, HubProc(tmp_path / "hub", ["S001"]))
    await hub.ready(http)
    office = HeadOffice(http, hub)
    skus = [f"SKU-{n:04d}" for n in range(3000)]
    await office.items(skus, name="CORRUPT-ME")
    await office.book("base", 10, stores="all")
    await office.prices("base", [change(s, "4.20", T0) for s in skus])
    proxy = DeafProxy(hub.broker_port)
    await proxy.start()
    try:
        agent = AgentProc(tmp_path / "S001", "S001", hub)
        conf = agent.root / "agent.toml"
        conf.write_text(conf.read_text().replace(hub.broker_url,
                                                 f"mqtt://127.0.0.1:{proxy.port}"))
        start(procs, agent)
        await agent.ready(http)
        proxy.corrupt = b"CORRUPT-ME SKU-1500"
        made = await office.publish()
        await office.applied_by(made["id"], ["S001"])
    finally:
        await proxy.close()
    assert proxy.corrupted == 1
    status, item = await till_item(http, agent, "SKU-1500")
    assert status == 200 and item["name"] == "CORRUPT-ME SKU-1500"
    async with http.get(agent.url + "/metrics") as r:
        metrics = await r.text()
    assert "edge_catalog_copies_refused_total 1" in metrics, metrics
    assert "edge_catalog_versions_applied_total 1" in metrics
