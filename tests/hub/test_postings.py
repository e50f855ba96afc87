"""Postings are made in the transaction that applies their events: per transaction or per day
(daily summaries and operators' checks on both backends: `storage`)."""

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from hub.config import PostingsConfig
from hub.errors import PostingError
from hub.ingest.eventlog import Sequencer
from hub.postings import store as postings
from protocol import identity
from protocol.messages import Envelope, Return, ReturnLine, Tender
from tests.hub.helpers import (
    NOW,
    apply,
    batch,
    begin,
    database,
    day_close,
    sale_envelope,
    transaction,
)

SUMMARY = PostingsConfig(sales="daily_summary", returns="daily_summary", summary_cutoff="04:00")


def return_envelope(seq: int) -> Envelope:
    ret = Return("R1", f"{seq:06d}", "EUR", True,
                 [ReturnLine("SKU-1", 1, Decimal("2.50"), tax=Decimal("0.50"))],
                 [Tender("cash", Decimal("2.50"))])
    return Envelope("S001", "st-1", seq, identity.transaction_event_id("S001", "R1", f"{seq:06d}"),
                    NOW, NOW.date(), NOW, ret)


@pytest.fixture
def conn(storage, tmp_path):
    """A migrated hub database's writer connection on the test's backend."""
    connection = database(storage or tmp_path / "hub.sqlite")
    yield connection
    connection.close()


def rows(conn, sql, *args):
    return conn.execute(sql, args).fetchall()


def test_per_transaction_postings_are_created_with_their_events_once(tmp_path):
    conn = database(tmp_path / "hub.sqlite")
    seq = Sequencer()
    envs = [sale_envelope(i) for i in range(1, 4)]
    apply(conn, seq, batch(envs))
    apply(conn, seq, batch(envs))  # a redelivery makes no second posting
    found = rows(conn, "SELECT kind, state, payload FROM postings ORDER BY created_at, rowid")
    assert [(k, s) for k, s, _ in found] == [("sale", "pending")] * 3
    payload = msgspec.json.decode(found[0][2])
    assert payload["source"] == [{"register_id": "R1", "pos_txn_id": "000001"}]
    assert payload["totals"] == {"net": "2.00", "tax": "0.50", "gross": "2.50"}


def test_a_daily_summary_is_released_by_the_stores_day_close(conn):
    seq = Sequencer(policy=SUMMARY)
    apply(conn, seq, batch([sale_envelope(1, qty=2), sale_envelope(2, sku="SKU-2"), return_envelope(3)]))
    assert rows(conn, "SELECT COUNT(*) FROM postings") == [(0,)]
    apply(conn, seq, batch([day_close(4, register="R1")]))  # a register's close does not release
    assert rows(conn, "SELECT COUNT(*) FROM postings") == [(0,)]
    apply(conn, seq, batch([day_close(5)]))
    ((kind, payload),) = rows(conn, "SELECT kind, payload FROM postings")
    body = msgspec.json.decode(payload)
    assert kind == "daily_summary"
    assert body["lines"] == [
        {"sku": "SKU-1", "qty": 1, "net": "2.00", "tax": "0.50"},  # 2 sold, 1 returned
        {"sku": "SKU-2", "qty": 1, "net": "2.00", "tax": "0.50"},
    ]
    assert body["tenders"] == [{"method": "cash", "amount": "5.00"}]
    assert body["totals"] == {"net": "4.00", "tax": "1.00", "gross": "5.00"}
    assert len(body["source"]) == 3


def test_late_sales_of_a_released_day_go_into_a_second_part(conn):
    seq = Sequencer(policy=SUMMARY)
    apply(conn, seq, batch([sale_envelope(1), day_close(2)]))
    apply(conn, seq, batch([sale_envelope(3), sale_envelope(4)]))
    begin(conn)
    later = dt.datetime.now(dt.UTC)
    assert postings.sweep(transaction(conn), SUMMARY, later) == 1
    assert postings.sweep(transaction(conn), SUMMARY, later) == 0
    conn.execute("COMMIT")
    parts = [msgspec.json.decode(p) for (p,) in rows(conn, "SELECT payload FROM postings ORDER BY created_at")]
    assert [len(p["source"]) for p in parts] == [1, 2]
    assert parts[0]["posting_id"] != parts[1]["posting_id"]


def test_the_cutoff_releases_a_day_without_a_day_close(conn):
    seq = Sequencer(policy=SUMMARY)
    apply(conn, seq, batch([sale_envelope(1)]))
    day = NOW.date()
    before = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(3, 59), dt.UTC)
    after = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(4, 0), dt.UTC)
    begin(conn)
    assert postings.sweep(transaction(conn), SUMMARY, before) == 0
    assert postings.sweep(transaction(conn), SUMMARY, after) == 1
    conn.execute("COMMIT")


def test_an_operator_cannot_retry_a_posting_that_is_not_stuck(conn):
    apply(conn, Sequencer(), batch([sale_envelope(1)]))
    ((pid,),) = rows(conn, "SELECT posting_id FROM postings")
    for action in (postings.retry, postings.resubmit):
        try:
            action(transaction(conn), pid, "ops", NOW)
        except PostingError as exc:
            assert "pending" in str(exc) and exc.status == 409
        else:
            raise AssertionError("a pending posting was retried")
