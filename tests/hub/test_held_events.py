"""Several hub workers, one database: events held past a gap live in the database, so whichever
worker fills the gap applies them; and a store is applied by one worker at a time (its lock),
the others told StoreBusy before they have written anything. Held events on both backends
(`storage`); the lock on PostgreSQL, where several workers can share a database."""

import logging
import time
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.config import HubConfig
from hub.errors import StoreBusy
from hub.ingest import receiver
from hub.ingest.eventlog import Sequencer
from hub.ingest.receiver import Ingest
from hub.storage.postgres.connection import Target
from hub.storage.postgres.database import PostgresDatabase
from protocol import codec
from tests.conftest import wait_for
from tests.hub.helpers import apply, batch, begin, database, empty, sale_envelope, transaction

TOPIC = "retail/v1/stores/S001/events"


@pytest.fixture
def workers(storage, tmp_path):
    """Two workers on one database: each its own Sequencer and writer connection."""
    where = storage or tmp_path / "hub.sqlite"
    conns = [database(where), database(where)]
    yield [(conn, Sequencer(replay_min_interval_s=0)) for conn in conns]
    for conn in conns:
        conn.close()


def log_of(conn):
    return [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")]


def held_of(conn):
    """The seqs held in the database; each stream's `held` counts them."""
    seqs = [r[0] for r in conn.execute("SELECT seq FROM held_events ORDER BY seq")]
    assert conn.execute("SELECT COALESCE(SUM(held), 0) FROM streams").fetchone()[0] == len(seqs)
    return seqs


def test_whichever_worker_fills_the_gap_applies_what_another_held(workers):
    (a_conn, a), (b_conn, b) = workers
    events = [sale_envelope(i) for i in range(1, 8)]
    apply(a_conn, a, batch(events[:2]))
    out = apply(b_conn, b, batch(events[3:5]))  # 4 and 5 reach worker B; 3 is missing
    assert (out.applied_seq, out.held, out.replay_from) == (2, 2, 3)
    assert held_of(a_conn) == [4, 5]
    # Worker A hears of 5 (held by B: a duplicate) and 7 (held as well).
    out = apply(a_conn, a, batch([events[4], events[6]]))
    assert (out.applied_seq, out.duplicates, out.held) == (2, 1, 3)
    # 3 reaches A: A applies 3 and what B held, 4 and 5; 7 waits for 6.
    out = apply(a_conn, a, batch([events[2]]))
    assert (out.applied_seq, out.applied, out.held, out.replay_from) == (5, 3, 1, 6)
    assert log_of(b_conn) == [1, 2, 3, 4, 5]
    # 6 reaches B, which applies it and 7 (held by A's batch); a new Sequencer (a restarted
    # worker) would do the same: nothing of it lives in memory.
    out = apply(b_conn, Sequencer(replay_min_interval_s=0), batch([events[5]]))
    assert (out.applied_seq, out.applied, out.held, out.replay_from) == (7, 2, 0, None)
    assert log_of(a_conn) == [1, 2, 3, 4, 5, 6, 7]
    assert held_of(a_conn) == []
    assert a_conn.execute("SELECT on_hand FROM inventory").fetchone()[0] == -7
    assert a_conn.execute("SELECT sales_count FROM day_totals").fetchone()[0] == 7


def test_a_held_event_already_applied_by_event_id_is_a_duplicate_when_its_turn_comes(workers):
    (a_conn, a), (b_conn, b) = workers
    apply(a_conn, a, batch([sale_envelope(1, txn="T1")]))
    apply(b_conn, b, batch([sale_envelope(3, txn="T1")]))  # T1 again, past a gap: held
    out = apply(a_conn, a, batch([sale_envelope(2, txn="T2")]))
    assert (out.applied_seq, out.applied, out.duplicates, out.held) == (3, 1, 1, 0)
    assert a_conn.execute("SELECT seq FROM duplicate_events").fetchall() == [(3,)]
    assert held_of(a_conn) == []


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 30),
    deliveries=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 8), st.booleans()),
                        max_size=20),
)
def test_any_delivery_to_either_worker_applies_each_event_once_in_order(storage, n, deliveries):
    with tempfile.TemporaryDirectory() as d:
        where = storage or Path(d) / "hub.sqlite"
        conns = [database(where), database(where)]
        if storage:
            empty(conns[0])  # the database is the test's, shared by its examples
        workers = [(conn, Sequencer(max_held_events=1000, replay_min_interval_s=0))
                   for conn in conns]
        events = [sale_envelope(i, qty=1 + i % 3) for i in range(1, n + 1)]
        # Slices in any order, overlapping and repeated, each to one worker or the other...
        for start, length, second in deliveries:
            chunk = [e for e in events if start <= e.seq < start + length]
            if chunk:
                apply(*workers[second], batch(chunk))
        # ...then the agent's resends from what the hub acked, each to the other worker.
        for turn in range(n + 1):
            applied = conns[0].execute(
                "SELECT COALESCE(MAX(applied_seq), 0) FROM streams").fetchone()[0]
            if applied == n:
                break
            apply(*workers[turn % 2], batch(events[applied:applied + 5]))
        assert log_of(conns[0]) == list(range(1, n + 1))
        assert held_of(conns[0]) == []
        on_hand = conns[1].execute("SELECT on_hand FROM inventory").fetchone()[0]
        assert on_hand == -sum(e.event.lines[0].qty for e in events)
        for conn in conns:
            conn.close()


def test_on_sqlite_the_store_lock_is_always_granted(tmp_path):
    conn = database(tmp_path / "hub.sqlite")
    begin(conn)
    assert transaction(conn).events.lock_store("S001")
    conn.execute("COMMIT")


def test_a_store_one_worker_applies_is_busy_for_another_until_it_commits(pg_url):
    first, second = database(pg_url), database(pg_url)
    second.execute("SET lock_timeout = '10s'")  # a wait on the first would fail, not hang
    a, b = Sequencer(), Sequencer()
    begin(first)
    out = a.apply(transaction(first), batch([sale_envelope(1), sale_envelope(2)]), TOPIC)
    assert out.applied_seq == 2
    # The lock is the transaction's: its next job of the same store is granted it again.
    assert a.apply(transaction(first), batch([sale_envelope(3)]), TOPIC).applied_seq == 3
    begin(second)
    with pytest.raises(StoreBusy, match="S001"):
        b.apply(transaction(second), batch([sale_envelope(3), sale_envelope(4)]), TOPIC)
    # Refused before writing anything (no transaction id assigned), and only that store is
    # held up: the same transaction applies another store.
    assert second.execute("SELECT pg_current_xact_id_if_assigned()").fetchone()[0] is None
    other = b.apply(transaction(second), batch([sale_envelope(1, store="S002")]),
                    "retail/v1/stores/S002/events")
    assert other.applied == 1
    second.execute("COMMIT")
    first.execute("COMMIT")
    # Once the first has committed, the second is granted the store and sees what it wrote.
    out = apply(second, b, batch([sale_envelope(3), sale_envelope(4)]))
    assert (out.applied_seq, out.applied, out.duplicates) == (4, 1, 1)
    assert log_of(second) == [1, 1, 2, 3, 4]  # S002's 1 and S001's 1..4
    first.close()
    second.close()


@pytest.fixture
async def ingest(pg_url, tmp_path):
    """The hub's receiver on PostgreSQL, fed messages directly (no broker needed), and a
    connection of the test's own standing for another worker."""
    db = PostgresDatabase(Target(pg_url))
    await db.start()
    other = database(pg_url)
    yield Ingest(HubConfig(data_dir=str(tmp_path)), db, "mqtt://127.0.0.1:1883"), other
    other.close()
    await db.close()


def applied(conn):
    async def check():
        return log_of(conn)
    return check


async def test_a_batch_of_a_store_another_worker_applies_is_tried_again_after_it(
        ingest, caplog):
    hub, other = ingest
    begin(other)
    assert transaction(other).events.lock_store("S001")  # another worker applies S001
    await hub.handle(TOPIC, codec.encode(batch([sale_envelope(1), sale_envelope(2)])))

    async def busy():
        return hub.counters["store_busy"] >= 2
    await wait_for(busy, 10, "the batch to find its store busy")
    other.execute("COMMIT")
    assert await wait_for(applied(other), 10, "the batch to be applied") == [1, 2]
    assert hub.counters["events_applied"] == 2
    assert hub.counters["apply_failures"] == hub.counters["store_busy_dropped"] == 0
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_store_busy_for_long_has_its_batch_dropped_unacked_and_sent_again(
        ingest, caplog, monkeypatch):
    monkeypatch.setattr(receiver, "BUSY_GIVE_UP_S", 0.3)  # instead of 5 s
    hub, other = ingest
    begin(other)
    assert transaction(other).events.lock_store("S001")
    sent = codec.encode(batch([sale_envelope(1), sale_envelope(2)]))
    await hub.handle(TOPIC, sent)

    async def dropped():
        return hub.counters["store_busy_dropped"] == 1
    await wait_for(dropped, 10, "the batch to be dropped")
    assert hub.counters["store_busy"] >= 3  # tried again, with pauses, until it gave up
    other.execute("COMMIT")
    assert log_of(other) == []
    await hub.handle(TOPIC, sent)  # the store sends it again after its ack timeout
    assert await wait_for(applied(other), 10, "the batch to be applied") == [1, 2]
    assert hub.counters["apply_failures"] == 0
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_with_a_grace_a_replay_is_asked_for_only_once_the_gap_has_stood(tmp_path):
    """Beside other workers (`ingest.replay_grace_s`), a gap is usually the batch another worker
    is applying that moment: no replay at first sight; one once the same gap has stood the
    grace; a gap that moved (filled, a new one further on) starts its grace again."""
    conn = database(tmp_path / "hub.sqlite")
    seq = Sequencer(replay_min_interval_s=0, replay_grace_s=0.2)
    events = [sale_envelope(i) for i in range(1, 8)]
    apply(conn, seq, batch(events[:1]))
    first = time.monotonic()
    assert apply(conn, seq, batch([events[2]])).replay_from is None  # 2 is missing

    def asked() -> int | None:  # the store keeps sending what follows: 4, 5, ...
        return apply(conn, seq, batch([events[3]])).replay_from
    deadline = time.monotonic() + 10
    while (replay := asked()) is None:
        assert time.monotonic() < deadline, "no replay asked for within 10 s"
    assert replay == 2 and time.monotonic() - first >= 0.2
    out = apply(conn, seq, batch([events[1]]))  # 2 arrives: 1-4 applied
    assert (out.applied_seq, out.held, out.replay_from) == (4, 0, None)
    assert apply(conn, seq, batch([events[6]])).replay_from is None  # a new gap: 5, 6
    conn.close()
