"""The hub applies only what the capture API would accept (the shared rules), and a store cannot
make it hold unbounded memory by inventing streams or far-ahead events."""

import pytest

from hub.config import IngestConfig
from hub.ingest import admission
from hub.ingest.eventlog import Sequencer
from protocol.messages import MAX_BATCH_EVENTS
from runtime.clock import FrozenClock
from tests.hub.admission_cases import BAD
from tests.hub.helpers import NOW, apply, batch, database, sale_envelope


def day_total(conn):
    return conn.execute("SELECT sales_count, net_total FROM day_totals").fetchone()


@pytest.mark.parametrize("name", sorted(BAD))
def test_what_the_capture_api_refuses_is_quarantined_and_the_stream_goes_on(tmp_path, name):
    conn = database(tmp_path / "hub.sqlite")
    seq = Sequencer()
    bad = BAD[name](sale_envelope(2))
    out = apply(conn, seq, batch([sale_envelope(1), bad, sale_envelope(3)]))
    assert (out.applied_seq, out.applied, out.quarantined) == (3, 2, 1)
    assert day_total(conn) == (2, "4.00")  # two sales of 2.50 with 0.50 tax included
    assert conn.execute("SELECT on_hand FROM inventory").fetchone()[0] == -2
    (reason,) = conn.execute("SELECT reason FROM quarantine").fetchone()
    assert reason.startswith("seq 2: refused by the event rules")


def limits(**kw):
    return IngestConfig(**{"max_held_events_per_store": 3000, "max_held_events_total": 5000,
                           "max_new_streams_per_day": 4, **kw})


def gapped(stream: str, store="S001", start=2000, n=1000):
    return batch([sale_envelope(s, store=store, stream=stream) for s in range(start, start + n)])


def held(conn) -> int:
    """The events held past a gap: in the database, as each stream counts them too."""
    rows = conn.execute("SELECT count(*) FROM held_events").fetchone()[0]
    assert conn.execute("SELECT COALESCE(SUM(held), 0) FROM streams").fetchone()[0] == rows
    return rows


def test_held_events_are_bounded_per_store_and_in_total(tmp_path, storage):
    conn = database(storage or tmp_path / "hub.sqlite")
    seq = Sequencer(max_held_events=20000, limits=limits(max_new_streams_per_day=100))
    for n in range(8):  # eight invented streams, each far ahead of its seq 1
        for start in range(2000, 12000, 1000):
            apply(conn, seq, gapped(f"fake-{n}", start=start))
    assert held(conn) <= 3000
    for store in ("S002", "S003"):
        for n in range(3):
            apply(conn, seq, gapped(f"fake-{n}", store=store, start=5000))
    assert held(conn) <= 5000
    # A real stream still makes progress: what comes next after its applied seq is always taken.
    out = apply(conn, seq, batch([sale_envelope(s, stream="real") for s in (1, 2, 4)]))
    assert (out.applied_seq, out.held, out.replay_from) == (2, 1, 3)
    out = apply(conn, seq, batch([sale_envelope(3, stream="real")]))
    assert out.applied_seq == 4


def test_new_streams_beyond_the_daily_limit_are_quarantined(tmp_path):
    conn = database(tmp_path / "hub.sqlite")
    seq = Sequencer(limits=limits(max_new_streams_per_day=3))
    # The outbox's first stream, one rebuilt after damage, one after a restream: all applied.
    for n, stream in enumerate(("first", "rebuilt", "restreamed")):
        out = apply(conn, seq, batch([sale_envelope(1, stream=stream, txn=f"T{n}")]))
        assert (out.applied, out.quarantined) == (1, 0)
    out = apply(conn, seq, batch([sale_envelope(1, stream="invented", txn="T9")]))
    assert (out.applied, out.quarantined, out.applied_seq) == (0, 1, 0)
    assert conn.execute("SELECT count(*) FROM streams WHERE stream = 'invented'").fetchone()[0] == 0
    (reason,) = conn.execute("SELECT reason FROM quarantine").fetchone()
    assert "ingest.max_new_streams_per_day" in reason
    # Known streams carry on, and other stores are not affected.
    assert apply(conn, seq, batch([sale_envelope(2, stream="restreamed")])).applied == 1
    assert apply(conn, seq, batch([sale_envelope(1, store="S002", stream="x")])).applied == 1


def test_the_next_batch_worth_of_seqs_is_always_held_whatever_the_limits():
    room = admission.HeldRoom(per_stream=10, per_store=20, total=30)
    applied = 7
    assert room.admits(applied + MAX_BATCH_EVENTS, applied, 10, 20, 30)  # every limit reached
    assert not room.admits(applied + MAX_BATCH_EVENTS + 1, applied, 10, 0, 0)
    assert not room.admits(applied + MAX_BATCH_EVENTS + 1, applied, 0, 20, 0)
    assert not room.admits(applied + MAX_BATCH_EVENTS + 1, applied, 0, 0, 30)
    assert room.admits(applied + MAX_BATCH_EVENTS + 1, applied, 9, 19, 29)


def test_the_new_stream_limit_counts_only_the_last_24_hours(tmp_path):
    conn = database(tmp_path / "hub.sqlite")
    clock = FrozenClock(NOW)
    seq = Sequencer(clock=clock, limits=limits(max_new_streams_per_day=2))
    for n, stream in enumerate(("first", "second")):
        assert apply(conn, seq, batch([sale_envelope(1, stream=stream, txn=f"T{n}")])).applied == 1
    assert apply(conn, seq, batch([sale_envelope(1, stream="third", txn="T2")])).quarantined == 1
    clock.advance(hours=23, minutes=59)
    assert apply(conn, seq, batch([sale_envelope(1, stream="third", txn="T2")])).quarantined == 1
    clock.advance(minutes=2)  # the first two started more than 24 h ago
    assert apply(conn, seq, batch([sale_envelope(1, stream="third", txn="T2")])).applied == 1
    assert apply(conn, seq, batch([sale_envelope(1, stream="fourth", txn="T3")])).applied == 1
    assert apply(conn, seq, batch([sale_envelope(1, stream="fifth", txn="T4")])).quarantined == 1
