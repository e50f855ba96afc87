"""Sequencing and dedupe: whatever order, loss and repetition the network brings, each event
is applied exactly once, in seq order, with its effects. On both backends (`storage`)."""

import tempfile
from pathlib import Path

from decimal import Decimal

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.ingest.eventlog import Sequencer
from protocol.messages import SaleLine
from tests.hub.helpers import apply, batch, database, empty, sale_envelope


@pytest.fixture
def conn(storage, tmp_path):
    """A migrated hub database's writer connection on the test's backend."""
    connection = database(storage or tmp_path / "hub.sqlite")
    yield connection
    connection.close()


def log_of(conn, store="S001"):
    return [r[0] for r in conn.execute(
        "SELECT seq FROM events WHERE store_id = ? ORDER BY seq", (store,))]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 40),
    deliveries=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 10)), max_size=30),
)
def test_any_delivery_order_applies_each_event_once_in_order(storage, n, deliveries):
    with tempfile.TemporaryDirectory() as d:
        conn = database(storage or Path(d) / "hub.sqlite")
        if storage:
            empty(conn)  # the database is the test's, shared by its examples
        seq = Sequencer(max_held_events=1000, replay_min_interval_s=0)
        events = [sale_envelope(i, qty=1 + i % 3) for i in range(1, n + 1)]
        # Arbitrary (possibly overlapping, out-of-order, repeated) slices first...
        for start, length in deliveries:
            chunk = [e for e in events if start <= e.seq < start + length]
            if chunk:
                apply(conn, seq, batch(chunk))
        # ...then the agent's resends from whatever the hub acked, until caught up.
        out = None
        for _ in range(n + 1):
            applied = conn.execute("SELECT COALESCE(MAX(applied_seq), 0) FROM streams").fetchone()[0]
            if applied == n:
                break
            out = apply(conn, seq, batch(events[applied:applied + 7]))
        assert log_of(conn) == list(range(1, n + 1))
        on_hand = conn.execute("SELECT on_hand FROM inventory WHERE sku = 'SKU-1'").fetchone()[0]
        assert on_hand == -sum(e.event.lines[0].qty for e in events)
        sales = conn.execute("SELECT sales_count FROM day_totals").fetchone()[0]
        assert sales == n
        assert out is None or out.applied_seq == n
        conn.close()


def test_a_gap_holds_later_events_and_asks_for_a_replay(conn):
    seq = Sequencer(replay_min_interval_s=0)
    events = [sale_envelope(i) for i in range(1, 6)]
    out = apply(conn, seq, batch(events[:2]))
    assert (out.applied_seq, out.applied, out.replay_from) == (2, 2, None)
    out = apply(conn, seq, batch(events[3:]))  # 4 and 5 arrive; 3 is missing
    assert (out.applied_seq, out.held, out.replay_from) == (2, 2, 3)
    assert log_of(conn) == [1, 2]
    out = apply(conn, seq, batch([events[2]]))
    assert (out.applied_seq, out.applied, out.held) == (5, 3, 0)
    assert log_of(conn) == [1, 2, 3, 4, 5]


def test_the_same_transaction_in_a_new_stream_is_not_applied_twice(conn):
    seq = Sequencer()
    apply(conn, seq, batch([sale_envelope(1, txn="T1"), sale_envelope(2, txn="T2")]))
    # A replaced controller's new outbox re-sends T2 (its till retried), then a new sale T3.
    out = apply(conn, seq, batch([sale_envelope(1, stream="st-2", txn="T2"),
                                  sale_envelope(2, stream="st-2", txn="T3")]))
    assert (out.applied_seq, out.applied, out.duplicates) == (2, 1, 1)
    txns = [r[0] for r in conn.execute("SELECT pos_txn_id FROM events ORDER BY pos_txn_id")]
    assert txns == ["T1", "T2", "T3"]
    assert conn.execute("SELECT count(*) FROM duplicate_events").fetchone()[0] == 1
    assert conn.execute("SELECT on_hand FROM inventory").fetchone()[0] == -3


def test_a_poison_event_is_quarantined_and_does_not_block_its_stream(conn):
    seq = Sequencer()
    good = sale_envelope(2)
    lines = [SaleLine("SKU-1", 2, Decimal("9E+999999"))]  # overflows when multiplied out
    poison = msgspec.structs.replace(good, event=msgspec.structs.replace(good.event, lines=lines))
    out = apply(conn, seq, batch([sale_envelope(1), poison, sale_envelope(3)]))
    assert (out.applied_seq, out.applied, out.quarantined) == (3, 2, 1)
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1


def test_other_events_at_seqs_the_log_holds_mean_the_stream_diverged(conn):
    seq = Sequencer()
    apply(conn, seq, batch([sale_envelope(n) for n in range(1, 6)]))
    # A resend of the same events: plain duplicates.
    out = apply(conn, seq, batch([sale_envelope(n) for n in range(3, 6)]))
    assert (out.duplicates, out.diverged_from) == (3, None)
    # The store went back to seq 3 and sold other things there.
    out = apply(conn, seq, batch([sale_envelope(3)] + [sale_envelope(n, txn=f"B{n}") for n in (4, 5, 6)]))
    assert out.diverged_from == 4
    assert out.applied_seq == 6  # seq 6 is new: applied (a resend in the new stream is a duplicate)
