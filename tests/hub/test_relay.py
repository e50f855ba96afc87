"""The ERP relay against a fault-injecting ERP (a real HTTP server) and a real hub database.

Every posting must end posted exactly once (one commit in the ERP) or dead with its reason,
whatever the ERP does; the achieved rate must respect the configured limit.
"""

import asyncio
import contextlib
import datetime as dt
import functools
import time
from decimal import Decimal

import msgspec
import pytest

from hub.postings import store as postings
from hub.config import ErpConfig, HubConfig, MappingConfig, PostingsConfig
from hub.erp.http_json import HttpJsonConnector
from hub.postings.relay import Relay
from protocol.messages import Sale, SaleLine, Tender
from tests.conftest import wait_for
from tests.erp_server import FakeErp
from tests.hub.helpers import NOW, hub_database, sale_envelope

# The relay's pacing does not depend on the database: these run on SQLite only.
PACING_ONLY = pytest.mark.parametrize("storage", [None], ids=["sqlite"])
FAST = dict(retry_initial_s=0.05, retry_max_s=0.2, rate_limit_per_s=200.0, max_in_flight=8)


@pytest.fixture
async def erp():
    server = await FakeErp().start()
    yield server
    await server.stop()


@pytest.fixture
async def hubdb(tmp_path, storage):
    """The hub database on either backend (the relay's claims, resets and audit on both)."""
    db = hub_database(tmp_path, storage)
    await db.start()
    yield db, db.reads
    await db.close()


@contextlib.asynccontextmanager
async def relay_running(hubdb, erp, tmp_path, **erp_options):
    writer, reader = hubdb
    config = HubConfig(data_dir=str(tmp_path), erp=ErpConfig(
        connector="http-json", url=erp.url, **{**FAST, **erp_options}))
    relay = Relay(config, writer,
                  HttpJsonConnector(erp.url, None, config.erp.timeout_s), poll_s=0.05)
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def add_sales(writer, count, start=1, **kwargs):
    envs = [sale_envelope(i, **kwargs) for i in range(start, start + count)]
    await writer.run(functools.partial(postings.on_applied, envs=envs, policy=PostingsConfig(),
                                       now=dt.datetime.now(dt.UTC)))
    return [postings.posting_id("sale", env.event_id) for env in envs]


async def states(reader):
    return await postings.counts(reader)


async def settled(reader, total):
    counts = await states(reader)
    return counts["posted"] + counts["dead"] + counts["exception"] == total


async def test_sales_are_posted_once_with_the_idempotency_key(hubdb, erp, tmp_path):
    writer, reader = hubdb
    ids = await add_sales(writer, 20)
    async with relay_running(hubdb, erp, tmp_path):
        await wait_for(lambda: settled(reader, 20), timeout=20)
    assert (await states(reader))["posted"] == 20
    assert set(erp.commits) == set(ids) and set(erp.commits.values()) == {1}
    assert {h["Idempotency-Key"] for h in erp.headers} == set(ids)
    shown = await postings.show(reader, ids[0])
    assert shown["erp_ref"].startswith("DOC-")
    assert shown["attempt_log"][0]["outcome"] == "posted"
    assert len(shown["attempt_log"][0]["request_digest"]) == 64
    assert erp.docs[ids[0]]["totals"] == {"net": "2.00", "tax": "0.50", "gross": "2.50"}


@PACING_ONLY
async def test_a_429_storm_is_waited_out_as_retry_after_says(hubdb, erp, tmp_path):
    writer, reader = hubdb
    await add_sales(writer, 10)
    erp.storm_429, erp.retry_after = 3, "1"
    async with relay_running(hubdb, erp, tmp_path, max_in_flight=1):
        await wait_for(lambda: settled(reader, 10), timeout=30)
    assert (await states(reader))["posted"] == 10
    assert set(erp.commits.values()) == {1}
    # After each 429 the relay sent nothing for the Retry-After second.
    times = [t for t, _, _ in erp.requests]
    for t429 in erp.answered(429):
        after = [t for t in times if t > t429]
        assert after and after[0] - t429 >= 0.9


@PACING_ONLY
async def test_an_outage_opens_the_circuit_and_it_closes_after_a_probe(hubdb, erp, tmp_path):
    writer, reader = hubdb
    await add_sales(writer, 30)
    erp.outage_until = time.monotonic() + 2.0
    async with relay_running(hubdb, erp, tmp_path, max_in_flight=1, breaker_failures=3,
                             breaker_open_s=0.5, retry_initial_s=0.01, retry_max_s=0.02) as relay:
        await wait_for(lambda: settled(reader, 30), timeout=30)
        assert relay.breaker.opened >= 1
        assert relay.breaker.state == "closed"
    assert set(erp.commits.values()) == {1} and len(erp.commits) == 30
    # Without the breaker, retries every 10-20 ms for 2 s would be 100+ calls; with it, a few.
    assert len(erp.answered(503)) < 20


@PACING_ONLY
async def test_slow_answers_past_the_timeout_do_not_post_twice(hubdb, erp, tmp_path):
    writer, reader = hubdb
    ids = await add_sales(writer, 5)
    erp.slow_first, erp.slow_s = 3, 1.5
    async with relay_running(hubdb, erp, tmp_path, timeout_s=0.5):
        await wait_for(lambda: settled(reader, 5), timeout=30)
    assert set(erp.commits) == set(ids) and set(erp.commits.values()) == {1}
    assert len(erp.answered(409)) >= 3  # the retries found the postings already there
    assert (await states(reader))["posted"] == 5


async def test_connection_reset_after_the_erp_committed(hubdb, erp, tmp_path):
    writer, reader = hubdb
    ids = await add_sales(writer, 6)
    erp.reset_first = 4
    async with relay_running(hubdb, erp, tmp_path):
        await wait_for(lambda: settled(reader, 6), timeout=30)
    assert set(erp.commits) == set(ids) and set(erp.commits.values()) == {1}
    assert (await states(reader))["posted"] == 6


async def test_a_validation_error_is_dead_lettered_with_the_erps_answer(hubdb, erp, tmp_path):
    writer, reader = hubdb
    await add_sales(writer, 3)
    bad = await add_sales(writer, 1, start=4, sku="SKU-GONE")
    erp.reject_skus = {"SKU-GONE"}
    async with relay_running(hubdb, erp, tmp_path):
        await wait_for(lambda: settled(reader, 4), timeout=20)
    dead = await postings.listing(reader, state="dead")
    assert [d["posting_id"] for d in dead] == bad
    assert "422" in dead[0]["reason"] and "unknown product SKU-GONE" in dead[0]["reason"]
    assert (await states(reader))["posted"] == 3


@PACING_ONLY
async def test_the_achieved_rate_respects_the_limit(hubdb, erp, tmp_path):
    writer, reader = hubdb
    await add_sales(writer, 25)
    async with relay_running(hubdb, erp, tmp_path, rate_limit_per_s=10.0, max_in_flight=8):
        await wait_for(lambda: settled(reader, 25), timeout=30)
    times = sorted(t for t, _, _ in erp.requests)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved <= 10.0 * 1.1, achieved


async def test_governance_holds_bad_postings_and_an_edit_resubmits_them(hubdb, erp, tmp_path):
    writer, reader = hubdb
    unbalanced = Sale("R1", "000900", "EUR", True, [SaleLine("SKU-1", 1, Decimal("10.00"))],
                      [Tender("cash", Decimal("9.00"))])
    env = msgspec.structs.replace(sale_envelope(900, txn="000900"), event=unbalanced)
    await writer.run(functools.partial(postings.on_applied, envs=[env], policy=PostingsConfig(),
                                       now=NOW))
    pid = postings.posting_id("sale", env.event_id)
    async with relay_running(hubdb, erp, tmp_path):
        await wait_for(lambda: settled(reader, 1), timeout=20)
        shown = await postings.show(reader, pid)
        assert shown["state"] == "exception"
        assert shown["reason"] == ("tenders (9.00 EUR) do not balance the total (10.00 EUR): "
                                   "off by -1.00 EUR")
        assert erp.requests == []  # nothing reached the ERP
        edited = dict(shown["payload"], tenders=[{"method": "cash", "amount": "10.00"}])
        await writer.run(functools.partial(postings.resubmit, pid=pid, actor="anna@finance",
                                           now=dt.datetime.now(dt.UTC),
                                           edited=msgspec.json.encode(edited).decode()))
        await wait_for(lambda: _state(reader, pid, "posted"), timeout=20)
    shown = await postings.show(reader, pid)
    (audit,) = shown["audit"]
    assert audit["actor"] == "anna@finance" and audit["action"] == "resubmit"
    assert audit["before"]["payload"]["tenders"][0]["amount"] == "9.00"
    assert audit["after"]["payload"]["tenders"][0]["amount"] == "10.00"
    assert erp.commits[pid] == 1


async def test_unmapped_skus_and_closed_days_are_exceptions(hubdb, erp, tmp_path):
    writer, reader = hubdb
    (mapped,) = await add_sales(writer, 1, sku="SKU-1")
    (unmapped,) = await add_sales(writer, 1, start=2, sku="SKU-NEW")
    config_mapping = MappingConfig(skus={"SKU-1": "P-1"})
    async with relay_running(hubdb, erp, tmp_path, mapping=config_mapping):
        await wait_for(lambda: settled(reader, 2), timeout=20)
    assert erp.docs[mapped]["lines"][0]["sku"] == "P-1"
    shown = await postings.show(reader, unmapped)
    assert shown["state"] == "exception"
    assert shown["reason"].startswith("SKU 'SKU-NEW' is not mapped to the ERP")
    # The day is closed now: a retry is held again, with that reason.
    await writer.run(functools.partial(postings.retry, pid=unmapped, actor="ops", now=NOW))
    config = HubConfig(data_dir=str(tmp_path), postings=PostingsConfig(closed_through=NOW.date()),
                       erp=ErpConfig(connector="http-json", url=erp.url, **FAST))
    relay = Relay(config, writer, HttpJsonConnector(erp.url, None, 5), poll_s=0.05)
    task = asyncio.create_task(relay.run())
    try:
        await wait_for(lambda: _state(reader, unmapped, "exception"), timeout=20)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    shown = await postings.show(reader, unmapped)
    assert "closed for posting" in shown["reason"]
    assert [a["action"] for a in shown["audit"]] == ["retry"]


async def test_postings_caught_mid_send_are_resumed_without_a_duplicate(hubdb, erp, tmp_path):
    writer, reader = hubdb
    ids = await add_sales(writer, 3)
    # As if the hub died after the ERP committed the first one but before it heard back.
    claimed = await writer.run(functools.partial(postings.claim, ids=ids, now=NOW))
    assert len(claimed) == 3
    erp.docs[ids[0]] = {"erp_ref": "DOC-EARLY", "store_id": "S001", "business_day": "x",
                        "totals": {}}
    erp.commits[ids[0]] = 1
    async with relay_running(hubdb, erp, tmp_path):
        await wait_for(lambda: settled(reader, 3), timeout=20)
    assert set(erp.commits.values()) == {1}
    assert (await postings.show(reader, ids[0]))["erp_ref"] == "DOC-EARLY"


async def _state(reader, pid, state):
    shown = await postings.show(reader, pid)
    return shown is not None and shown["state"] == state


async def test_finance_critical_postings_go_before_stock_adjustments(hubdb, erp, tmp_path):
    from protocol.messages import AdjustmentLine, Envelope, InventoryAdjustment

    writer, reader = hubdb
    adjustments = [Envelope("S001", "st-1", 100 + i, f"adj-{i}", NOW, NOW.date(), NOW,
                            InventoryAdjustment(f"ADJ-{i}", "count", [AdjustmentLine("SKU-1", 5)]))
                   for i in range(5)]
    await writer.run(functools.partial(postings.on_applied, envs=adjustments,
                                       policy=PostingsConfig(), now=NOW))
    sales = await add_sales(writer, 3)  # made after the adjustments
    async with relay_running(hubdb, erp, tmp_path, max_in_flight=1):
        await wait_for(lambda: settled(reader, 8), timeout=20)
    order = [key for _, key, _ in erp.requests]
    assert order[:3] == sales
    assert erp.docs[order[-1]]["kind"] == "inventory_adjustment"
    assert erp.docs[order[-1]]["lines"] == [{"sku": "SKU-1", "qty": 5, "net": "0", "tax": "0"}]
