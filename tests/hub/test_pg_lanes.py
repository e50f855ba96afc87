"""Two hub workers' writers on one PostgreSQL database (two PostgresDatabase objects, as two
`retail-hub run` processes have): ingest's lane applies beside other writers, the change feed's
cursors still commit in order, a reservation is never decided on a figure a sale is changing,
and a job that loses a deadlock fails alone with WriteConflict.

Each scenario holds one writer's transaction open (its job waits on an event in the writer
thread) and looks at what the other can and cannot do meanwhile; waits are on conditions the
server reports (`pg_stat_activity`), never on time."""

import asyncio
import contextlib
import datetime as dt
import functools
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from hub.availability import reservations
from hub.availability.requests import LineIn, ReservationIn
from hub.config import ChannelConfig, PostingsConfig
from hub.errors import Insufficient, StoreBusy, WriteConflict
from hub.ingest.eventlog import Sequencer
from hub.ledger import fleet, inventory
from hub.postings import store as postings
from hub.storage import Lane, Transaction
from hub.storage.postgres.connection import Target
from hub.storage.postgres.database import PostgresDatabase
from runtime.clock import stamp
from tests.hub.availability_server import START, config
from tests.hub.helpers import batch, day_close, sale_envelope

NOW = stamp(START)


@contextlib.asynccontextmanager
async def workers(pg_url: str) -> AsyncIterator[tuple[PostgresDatabase, PostgresDatabase]]:
    one, two = PostgresDatabase(Target(pg_url)), PostgresDatabase(Target(pg_url))
    await one.start()
    await two.start()
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


class HeldOpen:
    """A job that runs `job`, then waits (in the writer thread, its transaction open) until
    `release()`; `await wrote()` returns once `job` has run."""

    def __init__(self, job: Callable[[Transaction], Any]) -> None:
        self.job = job
        self._wrote = threading.Event()
        self._release = threading.Event()

    def __call__(self, tx: Transaction) -> Any:
        result = self.job(tx)
        self._wrote.set()
        assert self._release.wait(30), "the test never released the transaction"
        return result

    async def wrote(self) -> None:
        assert await asyncio.to_thread(self._wrote.wait, 10), "the job did not run"

    def release(self) -> None:
        self._release.set()


async def waiting_on_a_lock(pg_url: str, count: int = 1) -> None:
    """Until `count` sessions of this database wait for a lock (deadline 10 s)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for _ in range(1000):
            (waiting,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'").fetchone()
            if waiting >= count:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"no {count} session(s) waiting on a lock within 10 s")


async def test_ingest_applies_beside_a_writer_whose_transaction_is_open(pg_url):
    async with workers(pg_url) as (one, two):
        stock = functools.partial(inventory.apply, now=NOW)
        held = HeldOpen(functools.partial(stock, changes={("S001", "A"): 1}))
        first = one.submit(held, lane=Lane.INGEST)
        await held.wrote()
        # Another worker's ingest, another store: it commits while the first is still open.
        await asyncio.wait_for(two.run(functools.partial(stock, changes={("S002", "B"): 2})),
                               10)
        assert not first.done()
        held.release()
        await first
        rows = await two.reads.inventory.by_store("A", NOW)
        assert [(r["store_id"], r["on_hand"]) for r in rows] == [("S001", 1)]


async def test_the_change_feed_commits_its_cursors_in_order(pg_url):
    """A reader that has seen cursor N must never later find a new row below N. The feed's
    appends run just before COMMIT under one lock, so a transaction that changed stock first
    but commits last still gets the later cursor."""
    async with workers(pg_url) as (one, two):
        held = HeldOpen(functools.partial(inventory.apply, changes={("S001", "EARLY"): 1},
                                          now=NOW))
        early = one.submit(held, lane=Lane.INGEST)
        await held.wrote()
        await two.run(functools.partial(inventory.apply, changes={("S002", "LATE"): 1},
                                        now=NOW))
        seen = await two.reads.availability.last_cursor()
        stores = ["S001", "S002"]
        assert [c.sku for c in await two.reads.availability.changes(0, stores, 10)] == ["LATE"]
        held.release()
        await early
        after = await two.reads.availability.changes(seen, stores, 10)
        assert [c.sku for c in after] == ["EARLY"] and after[0].cursor > seen


async def test_a_reservation_waits_for_a_sale_of_the_same_units_and_sees_it(pg_url, tmp_path):
    cfg = config(tmp_path, web=ChannelConfig(["S001"], stale_after_s=300))
    async with workers(pg_url) as (one, two):
        await one.run(functools.partial(inventory.apply, changes={("S001", "SKU-1"): 1},
                                        now=NOW))
        await one.run(functools.partial(fleet.seen, store_id="S001", stream="st-1", now=NOW))
        # A sale of the last unit, applied by one worker, not yet committed.
        held = HeldOpen(functools.partial(inventory.apply, changes={("S001", "SKU-1"): -1},
                                          now=NOW))
        sale = one.submit(held, lane=Lane.INGEST)
        await held.wrote()
        body = ReservationIn("R-1", "web", [LineIn("SKU-1", 1)])
        reserving = two.submit(functools.partial(reservations.reserve, config=cfg, body=body,
                                                 now=START))
        await waiting_on_a_lock(pg_url)  # the reservation waits for the sale's row
        assert not reserving.done()
        held.release()
        await sale
        with pytest.raises(Insufficient):
            await reserving


async def test_a_job_that_loses_a_deadlock_fails_alone_with_write_conflict(pg_url):
    """Two workers' ingest transactions lock two rows in opposite orders: PostgreSQL breaks the
    deadlock by failing one statement; that job fails with WriteConflict (safe to try again)
    and the other commits."""
    go_on, has_x = threading.Event(), threading.Event()

    def first_x_then_y(tx: Transaction) -> None:
        tx.inventory.add_on_hand({("S001", "X"): 1}, NOW)
        has_x.set()
        assert go_on.wait(30)
        tx.inventory.add_on_hand({("S001", "Y"): 1}, NOW)

    def first_y_then_x(tx: Transaction) -> None:
        tx.inventory.add_on_hand({("S001", "Y"): 1}, NOW)
        tx.inventory.add_on_hand({("S001", "X"): 1}, NOW)

    async with workers(pg_url) as (one, two):
        await one.run(functools.partial(inventory.apply, now=NOW,
                                        changes={("S001", "X"): 0, ("S001", "Y"): 0}))
        a = one.submit(first_x_then_y, lane=Lane.INGEST)
        assert await asyncio.to_thread(has_x.wait, 10)
        b = two.submit(first_y_then_x, lane=Lane.INGEST)
        await waiting_on_a_lock(pg_url)  # b holds Y and waits for X
        go_on.set()  # a now waits for Y: a deadlock
        results = await asyncio.gather(a, b, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert len(failed) == 1 and isinstance(failed[0], WriteConflict), results
        rows = await one.reads.inventory.by_store("X", NOW)
        assert [r["on_hand"] for r in rows] == [1]  # the winner's only


async def test_the_summary_sweep_and_a_late_sale_of_the_store_never_interleave(pg_url):
    """The leader's sweep releases a store-day's late sales under the store's lock, as ingest
    applies them: a late sale that comes while the sweep is between its reads and its writes
    waits (StoreBusy, tried again by ingest), and ends up in exactly one summary."""
    summary = PostingsConfig(sales="daily_summary", returns="daily_summary",
                             summary_cutoff="04:00")
    sequencer = Sequencer(policy=summary)
    after_cutoff = START + dt.timedelta(days=2)

    async with workers(pg_url) as (one, two):
        def ingest(envs: list) -> Any:
            return one.submit(functools.partial(sequencer.apply, batch=batch(envs), topic="t"),
                              lane=Lane.INGEST)

        await ingest([sale_envelope(1), day_close(2)])  # part 1, released by the day close
        await ingest([sale_envelope(3)])  # a late sale of the released day
        held = HeldOpen(lambda tx: None)

        def sweep(tx: Transaction) -> int:
            released = postings.sweep(tx, summary, after_cutoff)
            held(tx)  # the sweep's transaction stays open after its reads and writes
            return released

        sweeping = two.submit(sweep)
        await held.wrote()
        with pytest.raises(StoreBusy):
            await ingest([sale_envelope(4)])
        held.release()
        assert await sweeping == 1
        await ingest([sale_envelope(4)])  # ingest's retry
        assert await two.run(functools.partial(postings.sweep, policy=summary,
                                               now=after_cutoff)) == 1
        with psycopg.connect(pg_url) as conn:
            sources = conn.execute(
                "SELECT e.seq, count(s.posting_id) FROM events e LEFT JOIN posting_sources s"
                " USING (event_id) WHERE e.kind = 'sale' GROUP BY e.seq ORDER BY e.seq").fetchall()
        assert sources == [(1, 1), (3, 1), (4, 1)]
