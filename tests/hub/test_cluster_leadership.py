"""The cluster's lead (hub.cluster.leadership over hub.storage.leadership): on the test session's
own PostgreSQL, two workers' leads, exactly one held, and the lead moving when the leader's
connection is killed from a third one (pg_terminate_backend); on SQLite the hub always leads."""

import asyncio
import time

import psycopg
import pytest

from hub.cluster.leadership import Leader
from hub.errors import DatabaseUnreachable
from hub.storage.database import Database
from hub.storage.postgres.connection import Target
from hub.storage.postgres.database import PostgresDatabase
from hub.storage.postgres.leadership import LEADER_LOCK
from tests.conftest import wait_for


def kill_the_leader(url: str) -> int:
    """Terminate the session holding the lead, from a connection of the test's; how many."""
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND granted AND database = (SELECT oid FROM pg_database"
            "  WHERE datname = current_database())"
            " AND classid::bigint = %s AND objid::bigint = %s",
            (LEADER_LOCK >> 32, LEADER_LOCK & 0xFFFFFFFF)).fetchall()
    return len(rows)


def until(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_one_of_two_leads_and_the_other_takes_over_when_the_leaders_connection_dies(pg_url):
    a = PostgresDatabase(Target(pg_url, application_name="worker-a")).leadership()
    b = PostgresDatabase(Target(pg_url, application_name="worker-b")).leadership()
    try:
        assert a.hold() is True
        assert b.hold() is False
        assert (a.hold(), b.hold(), a.hold()) == (True, False, True)  # checks do not stack it
        assert kill_the_leader(pg_url) == 1
        with pytest.raises(DatabaseUnreachable):
            a.hold()  # the leader learns it at its next check
        until(b.hold)
        assert a.hold() is False  # connected again, and the lead is b's now
        b.release()  # a clean stop gives it up at once
        until(a.hold)
        assert b.hold() is False
    finally:
        a.release()
        b.release()


def test_on_sqlite_the_hub_always_leads(tmp_path):
    lead = Database(tmp_path / "hub.sqlite").leadership()
    assert lead.hold() and lead.hold()
    lead.release()


class Duties:
    """A leader's duties that say when they run and when they were cancelled."""

    def __init__(self) -> None:
        self.running = False
        self.started = 0
        self.cancelled = 0

    async def __call__(self) -> None:
        self.running = True
        self.started += 1
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False
            self.cancelled += 1


async def test_the_duties_run_on_one_worker_and_move_when_its_lead_is_lost(pg_url):
    leaders = [Leader(PostgresDatabase(Target(pg_url, application_name=f"w{n}")), f"w{n}", 0.1)
               for n in (1, 2)]
    duties = [Duties(), Duties()]
    tasks = [asyncio.create_task(lead.run(job)) for lead, job in zip(leaders, duties)]
    try:
        async def one_leads() -> list[int]:
            return [n for n, lead in enumerate(leaders) if lead.leading]

        [first] = await wait_for(one_leads, 10, "a leader")
        await wait_for(lambda: _true(duties[first].running), 5, "its duties")
        await asyncio.sleep(0.5)  # several checks: still one leader, the other's duties idle
        assert [n for n, lead in enumerate(leaders) if lead.leading] == [first]
        other = 1 - first
        assert duties[other].started == 0

        assert await asyncio.to_thread(kill_the_leader, pg_url) == 1
        started = time.monotonic()
        await wait_for(lambda: _true(leaders[other].leading and duties[other].running), 5,
                       "the other worker to lead")
        assert time.monotonic() - started < 3
        await wait_for(lambda: _true(not leaders[first].leading), 5, "the old leader to stop")
        assert duties[first].cancelled == 1 and not duties[first].running
        assert (leaders[first].terms, leaders[other].terms) == (1, 1)

        tasks[other].cancel()  # the leader stops: its duties stop, the lead goes back
        await asyncio.gather(tasks[other], return_exceptions=True)
        assert not duties[other].running and not leaders[other].leading
        await wait_for(lambda: _true(leaders[first].leading and duties[first].running), 5,
                       "the first worker to lead again")
        assert duties[first].started == 2
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_failing_duty_ends_the_leader_with_its_error(tmp_path):
    async def broken() -> None:
        raise RuntimeError("the relay broke")

    leader = Leader(Database(tmp_path / "hub.sqlite"), "solo", 0.05)
    with pytest.raises(RuntimeError, match="the relay broke"):
        await asyncio.wait_for(leader.run(broken), 5)
    assert not leader.leading


async def test_on_sqlite_the_duties_run_at_once(tmp_path):
    leader = Leader(Database(tmp_path / "hub.sqlite"), "solo", 0.05)
    job = Duties()
    task = asyncio.create_task(leader.run(job))
    try:
        await wait_for(lambda: _true(job.running and leader.leading), 5, "the duties")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert job.cancelled == 1 and not leader.leading


async def _true(value: object) -> bool:
    return bool(value)


async def test_duties_stopped_by_the_database_away_give_the_lead_up_and_take_it_again(tmp_path):
    """The relay's first writes, say, just as the lead was taken after an outage."""
    terms = []

    async def duties() -> None:
        terms.append(1)
        if len(terms) == 1:
            async with asyncio.TaskGroup() as tasks:  # as the hub's duties run
                tasks.create_task(_unreachable())
        await asyncio.Event().wait()

    leader = Leader(Database(tmp_path / "hub.sqlite"), "solo", 0.05)
    task = asyncio.create_task(leader.run(duties))
    try:
        await wait_for(lambda: _true(len(terms) == 2 and leader.leading), 5, "a second term")
        assert leader.terms == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _unreachable() -> None:
    raise DatabaseUnreachable("cannot reach the hub database at postgresql://h/db: gone")
