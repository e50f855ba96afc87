"""Catalog versions from head office to real store agents over a real broker: a publication
reaches every store; a store offline meanwhile catches up by a delta when it is back, or by a
snapshot when it fell behind [catalog] keep_versions; a future-dated price switches at its
instant by the store's clock with the hub stopped; cancel and rollback reach the stores (with the
hub's state on either backend: `storage`)."""

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from runtime.clock import CLOCK_ENV
from tests.conftest import wait_for
from tests.integration.catalog import HeadOffice, change, store_catalog, store_has, till_item
from tests.integration.helpers import start
from tests.integration.procs import AgentProc, HubProc, Mosquitto

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SKUS = [f"SKU-{n:03d}" for n in range(40)]


def applied_as(agent: AgentProc) -> tuple[int, str]:
    """(version, "snapshot" or "delta") the agent's catalog file says it last applied."""
    conn = sqlite3.connect(f"file:{agent.root / 'data' / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return tuple(conn.execute("SELECT version, kind FROM catalog_state").fetchone())
    finally:
        conn.close()


async def head_office(tmp_path: Path, http, procs, stores: list[str], extra: str = "",
                      broker: str = "embedded", storage: str | None = None):
    """A hub on its embedded broker (or on Mosquitto) with SKUS priced in one book for all; its
    state in PostgreSQL at `storage` if given."""
    if broker == "mosquitto" and not Mosquitto.available():
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    mosquitto = tmp_path / "mosquitto" if broker == "mosquitto" else None
    hub = HubProc(tmp_path / "hub", stores, extra=extra, mosquitto_root=mosquitto,
                  storage=storage)
    if hub.mosquitto:
        start(procs, hub.mosquitto)
    start(procs, hub)
    await hub.ready(http)
    office = HeadOffice(http, hub)
    await office.items(SKUS)
    await office.book("base", 10, stores="all")
    await office.prices("base", [change(s, "2.00", T0) for s in SKUS])
    return hub, office


async def reported(http, hub: HubProc, store: str, version: int | None) -> None:
    """Wait until the hub has heard from `store`, online, that it has `version` (None: none)."""

    async def heard() -> bool:
        rows = {s["store_id"]: s for s in (await hub.get(http, "/v1/stores"))["stores"]}
        row = rows.get(store)
        return row is not None and row["online"] and row["catalog_version"] == version

    await wait_for(heard, 30, f"the hub to hear {store} has catalog version {version}")


@pytest.mark.parametrize("broker", ["embedded", "mosquitto"])
async def test_a_publication_reaches_every_store_and_one_offline_catches_up_by_delta(
        tmp_path, http, procs, broker):
    stores = ["S001", "S002", "S003"]
    hub, office = await head_office(tmp_path, http, procs, stores, broker=broker)
    agents = {s: start(procs, AgentProc(tmp_path / s, s, hub)) for s in stores}
    for agent in agents.values():
        await agent.ready(http)
    for store in stores:  # on Mosquitto, the hub knows a store once it has heard from it
        await reported(http, hub, store, None)
    first = await office.publish()
    await office.applied_by(first["id"], stores)
    for agent in agents.values():
        assert applied_as(agent) == (1, "snapshot")
        status, item = await till_item(http, agent, "SKU-007")
        assert status == 200 and item["price"]["amount"] == "2.00", item
        assert item["catalog_version"] == 1
    view = await office.publication(first["id"])
    assert view["progress"] == "applied by 3 of 3 stores"
    assert all(s["applied_at"] for s in view["stores"])

    agents["S003"].stop()
    await office.prices("base", [change("SKU-007", "2.50", T0 + dt.timedelta(days=1))])
    second = await office.publish()
    await office.applied_by(second["id"], ["S001", "S002"])
    assert (await office.publication(second["id"]))["counts"]["pending"] == 1
    metrics = await text(http, hub.url + "/metrics")
    assert 'hub_store_catalog_versions_behind{store="S003"} 1.0' in metrics
    assert 'hub_store_catalog_versions_behind{store="S001"} 0.0' in metrics
    page = await text(http, hub.url + "/")
    assert "applied by 2 of 3 stores" in page and "S003 pending since" in page
    start(procs, agents["S003"])  # its catalog file kept version 1: a delta brings it to 2
    await office.applied_by(second["id"], stores)
    assert applied_as(agents["S003"]) == (2, "delta")
    assert (await till_item(http, agents["S003"], "SKU-007"))[1]["price"]["amount"] == "2.50"
    rows = {s["store_id"]: s for s in (await hub.get(http, "/v1/stores"))["stores"]}
    assert {s: rows[s]["catalog_version"] for s in stores} == dict.fromkeys(stores, 2)

    # A till rings SKU-007 up at the old price: the sale stands, head office counts it.
    sale = {"register_id": "R1", "pos_txn_id": "1", "currency": "EUR",
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
            "lines": [{"sku": "SKU-007", "qty": 1, "unit_price": "2.00"},
                      {"sku": "SKU-008", "qty": 1, "unit_price": "2.00"}],
            "tenders": [{"method": "cash", "amount": "4.00"}]}
    async with http.post(agents["S001"].url + "/v1/sales", json=sale) as r:
        assert r.status == 201, await r.text()

    async def counted() -> bool:
        found = await text(http, hub.url + "/metrics")
        return 'hub_price_deviations_total{sku="SKU-007",store="S001"} 1.0' in found

    await wait_for(counted, 30, "the hub to count the price deviation")
    metrics = await text(http, hub.url + "/metrics")
    assert 'hub_sale_lines_total{store="S001"} 2.0' in metrics
    page = await text(http, hub.url + "/")
    assert "50.00 % of 2 sale lines priced as published" in page


async def text(http, url: str) -> str:
    async with http.get(url) as r:
        assert r.status == 200
        return await r.text()


async def test_a_store_behind_keep_versions_gets_a_snapshot(tmp_path, http, procs):
    hub, office = await head_office(tmp_path, http, procs, ["S001", "S002"],
                                    extra="[catalog]\nkeep_versions = 2\n")
    behind = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    other = start(procs, AgentProc(tmp_path / "S002", "S002", hub))
    await behind.ready(http)
    await other.ready(http)
    first = await office.publish()
    await office.applied_by(first["id"], ["S001", "S002"])
    behind.stop()
    for n in range(3):
        await office.prices("base", [change("SKU-001", f"3.0{n}", T0 + dt.timedelta(days=n + 1))])
        made = await office.publish()
        await office.applied_by(made["id"], ["S002"])
    assert applied_as(other) == (4, "delta")
    start(procs, behind)
    await office.applied_by(made["id"], ["S001"])
    assert applied_as(behind) == (4, "snapshot")
    assert (await till_item(http, behind, "SKU-001"))[1]["price"]["amount"] == "3.02"


async def test_a_future_dated_price_switches_at_its_instant_with_the_hub_stopped(
        tmp_path, http, procs):
    hub, office = await head_office(tmp_path, http, procs, ["S001"])
    midnight = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    await office.prices("base", [change("SKU-001", "1.75", midnight)])
    agent = AgentProc(tmp_path / "S001", "S001", hub)
    # The store's clock reads two seconds before the new price and ticks on.
    agent.env[CLOCK_ENV] = (midnight - dt.timedelta(seconds=2)).isoformat()
    start(procs, agent)
    await agent.ready(http)
    made = await office.publish()
    await office.applied_by(made["id"], ["S001"])
    summary = await store_catalog(http, agent)
    assert summary["next_change"] == {"at": midnight.isoformat(), "items": 1} or \
        summary["next_change"] is None  # already past it on a slow machine
    hub.stop()

    async def switched() -> bool:
        return (await till_item(http, agent, "SKU-001"))[1]["price"]["amount"] == "1.75"

    await wait_for(switched, 30, "the new price at its instant")
    status, before = await till_item(http, agent, "SKU-001", midnight - dt.timedelta(seconds=1))
    assert status == 200 and before["price"]["amount"] == "2.00"


async def test_cancel_stops_a_store_that_has_not_applied_and_rollback_reaches_all(
        tmp_path, http, procs, storage):
    hub, office = await head_office(tmp_path, http, procs, ["S001", "S002"], storage=storage)
    agents = {s: start(procs, AgentProc(tmp_path / s, s, hub)) for s in ("S001", "S002")}
    for agent in agents.values():
        await agent.ready(http)
    first = await office.publish()
    await office.applied_by(first["id"], ["S001", "S002"])
    agents["S002"].stop()
    await office.prices("base", [change("SKU-002", "9.00", T0 + dt.timedelta(days=2))])
    second = await office.publish()
    await office.applied_by(second["id"], ["S001"])
    cancelled = await office.call("POST", f"/v1/publications/{second['id']}/cancel")
    assert cancelled["counts"]["cancelled"] == 1 and cancelled["counts"]["applied"] == 1
    start(procs, agents["S002"])
    await agents["S002"].ready(http)
    await reported(http, hub, "S002", 1)
    assert (await store_catalog(http, agents["S002"]))["version"] == 1
    rollback = await office.publish(rollback_to=1)
    await office.applied_by(rollback["id"], ["S001", "S002"])
    for agent in agents.values():
        assert applied_as(agent) == (3, "delta")
        assert (await till_item(http, agent, "SKU-002"))[1]["price"]["amount"] == "2.00"
    await store_has(http, agents["S001"], 3)
