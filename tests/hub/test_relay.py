"""The ERP relay against a fault-injecting ERP (a real HTTP server) and a real hub database.

Every posting must end posted exactly once (one commit in the ERP) or dead with its reason,
whatever the ERP does; the achieved rate must respect the configured limit. Claims carry a lease:
a relay that dies mid-post leaves its postings to the lease, then any relay sends them again
under the same key; on PostgreSQL relays of two workers never claim the same posting.
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
from hub.config import (
    ClusterConfig,
    ErpConfig,
    HubConfig,
    MappingConfig,
    PostingsConfig,
    load_config,
)
from hub.erp.http_json import HttpJsonConnector
from runtime.config import ConfigError
from hub.postings.relay import Relay
from protocol.messages import Sale, SaleLine, Tender
from runtime.clock import SYSTEM, Clock, FrozenClock, stamp
from tests.conftest import wait_for
from tests.erp_server import FakeErp
from tests.hub.helpers import NOW, begin, database, hub_database, sale_envelope, transaction

# The relay's pacing does not depend on the database: these run on SQLite only.
PACING_ONLY = pytest.mark.parametrize("storage", [None], ids=["sqlite"])
# Workers sharing one database exist only on PostgreSQL.
SHARED_ONLY = pytest.mark.parametrize("storage", ["postgresql"], indirect=True)
FAST = dict(retry_initial_s=0.05, retry_max_s=0.2, rate_limit_per_s=200.0, max_in_flight=8)
LEASE = dt.timedelta(seconds=ErpConfig().claim_lease_s)


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
async def relay_running(hubdb, erp, tmp_path, worker: str = "hub-a", clock: Clock = SYSTEM,
                        **erp_options):
    writer, reader = hubdb
    config = HubConfig(data_dir=str(tmp_path), cluster=ClusterConfig(worker_id=worker),
                       erp=ErpConfig(connector="http-json", url=erp.url,
                                     **{**FAST, **erp_options}))
    relay = Relay(config, writer, HttpJsonConnector(erp.url, None, config.erp.timeout_s),
                  poll_s=0.05, clock=clock)
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def add_sales(writer, count, start=1, now=None, **kwargs):
    envs = [sale_envelope(i, **kwargs) for i in range(start, start + count)]
    await writer.run(functools.partial(postings.on_applied, envs=envs, policy=PostingsConfig(),
                                       now=now or dt.datetime.now(dt.UTC)))
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


async def test_a_worker_started_again_resends_what_it_left_mid_send_without_a_duplicate(
        hubdb, erp, tmp_path):
    writer, reader = hubdb
    ids = await add_sales(writer, 3)
    # As if worker hub-a died after the ERP committed the first one but before it heard back;
    # started again under the same id it does not wait for its lease.
    claimed = await writer.run(functools.partial(
        postings.claim, now=dt.datetime.now(dt.UTC), limit=5, worker="hub-a",
        until=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)))
    assert len(claimed) == 3
    erp.docs[ids[0]] = {"erp_ref": "DOC-EARLY", "store_id": "S001", "business_day": "x",
                        "totals": {}}
    erp.commits[ids[0]] = 1
    async with relay_running(hubdb, erp, tmp_path, worker="hub-a"):
        await wait_for(lambda: settled(reader, 3), timeout=20)
    assert set(erp.commits.values()) == {1}
    assert (await postings.show(reader, ids[0]))["erp_ref"] == "DOC-EARLY"


async def test_a_relay_that_dies_mid_post_leaves_the_posting_to_its_lease(hubdb, erp, tmp_path):
    """Worker hub-a's relay sends a sale, the ERP commits it and never answers, and the relay
    dies (cancelled) waiting: the posting stays hub-a's until the lease ends; then worker
    hub-b's relay sends it again under the same key, and the ERP holds it once."""
    writer, reader = hubdb
    (pid,) = await add_sales(writer, 1, now=NOW)
    clock = FrozenClock(NOW)
    erp.hang_first = 1
    async with relay_running(hubdb, erp, tmp_path, worker="hub-a", clock=clock, timeout_s=60):
        await wait_for(lambda: _committed(erp, pid), timeout=20, message="the ERP to commit")
    shown = await postings.show(reader, pid)
    assert (shown["state"], shown["claimed_by"], shown["claimed_until"]) == (
        "posting", "hub-a", stamp(NOW + LEASE))
    claim = functools.partial(postings.claim, limit=5, worker="hub-b", until=NOW + 2 * LEASE)
    assert await writer.run(functools.partial(claim, now=NOW + LEASE - dt.timedelta(seconds=1))) == []

    clock.set(NOW + LEASE)
    async with relay_running(hubdb, erp, tmp_path, worker="hub-b", clock=clock):
        await wait_for(lambda: _state(reader, pid, "posted"), timeout=20)
    assert erp.commits[pid] == 1 and len(erp.answered(409)) == 1
    assert [key for _, key, _ in erp.requests] == [pid]  # hub-a's call was never answered
    shown = await postings.show(reader, pid)
    assert (shown["claimed_by"], shown["claimed_until"], shown["attempts"]) == ("hub-b", None, 2)
    assert shown["erp_ref"] == "DOC-1"
    assert [(a["attempt"], a["status"], a["outcome"]) for a in shown["attempt_log"]] == [
        (2, 409, "posted")]


async def test_an_answer_after_the_claim_was_lost_changes_nothing_but_its_attempt(hubdb):
    """hub-a's lease ends while it waits for the ERP; hub-b claims the posting. hub-a's late
    answer is kept as its attempt, and the posting stays hub-b's to settle."""
    writer, reader = hubdb
    first, second = await add_sales(writer, 2, now=NOW)
    lease_end = NOW + dt.timedelta(seconds=60)
    run = writer.run
    claimed = await run(functools.partial(postings.claim, now=NOW, limit=5, worker="hub-a",
                                          until=lease_end))
    assert [(c.posting_id, c.attempts) for c in claimed] == sorted([(first, 1), (second, 1)])
    assert await run(functools.partial(postings.claim, now=lease_end - dt.timedelta(seconds=1),
                                       limit=5, worker="hub-b", until=NOW)) == []
    assert sorted(await postings.due(reader, lease_end, 5)) == sorted([first, second])
    (taken,) = await run(functools.partial(postings.claim, now=lease_end, limit=1,
                                           worker="hub-b", until=lease_end + LEASE))
    assert taken.attempts == 2
    mine = next(c for c in claimed if c.posting_id == taken.posting_id)
    kept = next(c for c in claimed if c.posting_id != taken.posting_id)

    def late_answer(tx):
        postings.record_attempt(tx, mine.posting_id, mine.attempts, NOW, "d", 503, "retry",
                                "late", 60000)
        return postings.settle(tx, mine, "hub-a", postings.PostingState.PENDING, lease_end,
                               reason="late")

    assert await run(late_answer) is False
    shown = await postings.show(reader, taken.posting_id)
    assert (shown["state"], shown["claimed_by"], shown["reason"]) == ("posting", "hub-b", None)
    assert [(a["attempt"], a["answer"]) for a in shown["attempt_log"]] == [(1, "late")]
    # The claims still standing settle as usual.
    assert await run(functools.partial(postings.settle, claimed=taken, worker="hub-b",
                                       state=postings.PostingState.POSTED, now=lease_end,
                                       erp_ref="DOC-9"))
    assert await run(functools.partial(postings.settle, claimed=kept, worker="hub-a",
                                       state=postings.PostingState.POSTED, now=lease_end,
                                       erp_ref="DOC-8"))
    assert (await postings.counts(reader))["posted"] == 2
    # hub-b's answer is in; hub-a's answer of the same attempt of hub-b would be refused too.
    assert not await run(functools.partial(postings.settle, claimed=taken, worker="hub-a",
                                           state=postings.PostingState.DEAD, now=lease_end))
    assert (await postings.show(reader, taken.posting_id))["erp_ref"] == "DOC-9"


async def test_without_a_connector_a_posting_another_relay_is_sending_is_left_to_it(hubdb):
    writer, reader = hubdb
    ids = await add_sales(writer, 2, now=NOW)
    lease_end = NOW + dt.timedelta(seconds=60)
    await writer.run(functools.partial(postings.claim, now=NOW, limit=1, worker="hub-a",
                                       until=lease_end))
    assert await writer.run(functools.partial(postings.keep_waiting, now=NOW)) == 1
    assert (await postings.counts(reader))["posting"] == 1
    assert await writer.run(functools.partial(postings.keep_waiting, now=lease_end)) == 1
    assert (await postings.counts(reader))["kept"] == len(ids)


@SHARED_ONLY
async def test_another_workers_claim_is_not_taken_back_at_start(hubdb, erp, tmp_path):
    """hub-a started again takes back its own claim at once; hub-b's waits for its lease."""
    writer, reader = hubdb
    await add_sales(writer, 2, now=NOW)
    (mine,), (theirs,) = [[c.posting_id for c in await writer.run(functools.partial(
        postings.claim, now=NOW, limit=1, worker=worker, until=NOW + LEASE))]
        for worker in ("hub-a", "hub-b")]
    async with relay_running(hubdb, erp, tmp_path, worker="hub-a", clock=FrozenClock(NOW)):
        await wait_for(lambda: _state(reader, mine, "posted"), timeout=20)
        # The relay has claimed (with room for both) since it started: hub-b's stays hub-b's.
        shown = await postings.show(reader, theirs)
        assert (shown["state"], shown["claimed_by"]) == ("posting", "hub-b")
    assert list(erp.commits) == [mine]


async def test_concurrent_claims_skip_the_postings_another_transaction_holds(pg_url):
    conns = [database(pg_url) for _ in range(3)]
    try:
        begin(conns[0])
        postings.on_applied(transaction(conns[0]), [sale_envelope(i) for i in range(1, 7)],
                            PostingsConfig(), NOW)
        conns[0].execute("COMMIT")
        first, second = conns[1], conns[2]
        second.execute("SET lock_timeout = '10s'")  # waiting on a lock would fail, not hang
        begin(first)
        taken_a = postings.claim(transaction(first), NOW, 4, "hub-a", NOW + LEASE)
        begin(second)  # while the first claim is not committed yet
        taken_b = postings.claim(transaction(second), NOW, 4, "hub-b", NOW + LEASE)
        first.execute("COMMIT")
        second.execute("COMMIT")
    finally:
        for conn in conns:
            conn.close()
    a, b = {c.posting_id for c in taken_a}, {c.posting_id for c in taken_b}
    assert (len(a), len(b), a & b) == (4, 2, set())
    assert {c.attempts for c in taken_a + taken_b} == {1}


@SHARED_ONLY
async def test_two_workers_relays_on_one_database_post_every_posting_once(hubdb, erp, tmp_path,
                                                                         storage):
    writer, reader = hubdb
    ids = await add_sales(writer, 40)
    other = hub_database(tmp_path, storage)
    await other.start()
    try:
        async with (relay_running(hubdb, erp, tmp_path, worker="hub-a", max_in_flight=3),
                    relay_running((other, other.reads), erp, tmp_path, worker="hub-b",
                                  max_in_flight=3)):
            await wait_for(lambda: settled(reader, 40), timeout=60)
    finally:
        await other.close()
    assert (await states(reader))["posted"] == 40
    assert set(erp.commits) == set(ids) and set(erp.commits.values()) == {1}
    # Each posting was claimed once (one attempt) and sent once (no "already posted").
    assert sorted(key for _, key, _ in erp.requests) == sorted(ids)
    workers = set()
    for pid in ids:
        shown = await postings.show(reader, pid)
        assert shown["attempts"] == 1
        workers.add(shown["claimed_by"])
    assert workers <= {"hub-a", "hub-b"}


def test_a_lease_not_longer_than_the_erp_timeout_is_a_config_error(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('data_dir = "d"\n[erp]\ntimeout_s = 30\nclaim_lease_s = 30\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "erp.claim_lease_s" and "erp.timeout_s" in caught.value.message


async def _committed(erp, pid):
    return erp.commits[pid] == 1


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
    assert sorted(order[:3]) == sorted(sales)  # (made at one instant: in posting_id order)
    assert erp.docs[order[-1]]["kind"] == "inventory_adjustment"
    assert erp.docs[order[-1]]["lines"] == [{"sku": "SKU-1", "qty": 5, "net": "0", "tax": "0"}]
