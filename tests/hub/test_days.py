"""Day totals are exact: Decimal arithmetic, stored as text (SQLite) or NUMERIC (PostgreSQL, added
in SQL), never through float; the same figures on both backends (`storage`)."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.ingest.eventlog import Sequencer
from hub.ledger import days
from protocol.messages import DayClose, Envelope, Return, ReturnLine, SaleLine, Tender
from protocol.money import line_amounts
from tests.hub.helpers import (
    NOW,
    apply,
    batch,
    begin,
    database,
    reading,
    sale_envelope,
    transaction,
)

cents = st.integers(0, 10**9).map(lambda c: Decimal(c) / 100)


def test_line_amounts_with_and_without_tax_included():
    line = SaleLine("SKU", 2, Decimal("12.00"), Decimal("1.00"), Decimal("4.00"))
    assert line_amounts(line, True) == (Decimal("19.00"), Decimal("4.00"), Decimal("23.00"))
    assert line_amounts(line, False) == (Decimal("23.00"), Decimal("4.00"), Decimal("27.00"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), cents, cents), min_size=1, max_size=30))
def test_totals_equal_the_exact_sum_of_lines(lines):
    totals: dict = {}
    expect_gross = Decimal(0)
    for i, (qty, price, tax) in enumerate(lines, 1):
        env = sale_envelope(i, qty=qty, price=str(price))
        expect_gross += qty * price
        days.add_event(totals, env)
    (delta,) = totals.values()
    assert delta.gross == expect_gross
    assert delta.net + delta.tax == delta.gross
    assert delta.sales_count == len(lines)
    assert delta.tenders["cash"] == expect_gross


def test_returns_subtract(tmp_path, storage):
    conn = database(storage or tmp_path / "hub.sqlite")
    totals: dict = {}
    days.add_event(totals, sale_envelope(1, qty=2, price="0.10"))
    ret = Return("R1", "R-1", "EUR", True, [ReturnLine("SKU-1", 1, Decimal("0.10"), tax=Decimal("0.02"))],
                 [Tender("cash", Decimal("0.10"))])
    days.add_event(totals, sale_envelope(2).__class__(
        "S001", "st-1", 2, "r", NOW, NOW.date(), NOW, ret))
    begin(conn)
    days.apply(transaction(conn), totals)
    days.apply(transaction(conn), totals)  # applied twice: 0.1 + 0.2 style sums must stay exact
    conn.execute("COMMIT")
    row = conn.execute("SELECT sales_count, returns_count, gross_total FROM day_totals").fetchone()
    assert row == (2, 2, "0.20")
    assert conn.execute("SELECT amount FROM day_tenders").fetchone()[0] == "0.20"
    assert dt.date.fromisoformat(conn.execute("SELECT business_day FROM day_totals").fetchone()[0])
    conn.close()


def _close(seq: int, register: str | None, sales: int, net: str, tax: str, cash: str):
    return Envelope("S001", "st-1", seq, f"close-{seq}", NOW, NOW.date(), NOW,
                    DayClose(register, sales, 0, Decimal(net), Decimal(tax),
                             {"cash": Decimal(cash)}, "EUR"))


@pytest.mark.parametrize("closes, expected", [
    # Register closes only: the store's figure is their sum.
    ([("R1", 1, "2.00", "0.50", "2.50"), ("R2", 1, "2.00", "0.50", "2.50")], (2, "4.00", "5.00")),
    # A store-wide close beside register closes is the store's own total: never added to them.
    ([("R1", 1, "2.00", "0.50", "2.50"), ("R2", 1, "2.00", "0.50", "2.50"),
      (None, 2, "4.00", "1.00", "5.00")], (2, "4.00", "5.00")),
    ([("R1", 2, "4.00", "1.00", "5.00"), (None, 2, "4.00", "1.00", "5.00")], (2, "4.00", "5.00")),
])
async def test_the_store_day_close_counts_each_sale_once(tmp_path, storage, closes, expected):
    where = storage or tmp_path / "hub.sqlite"
    conn = database(where)
    events = [sale_envelope(1), sale_envelope(2)]
    events += [_close(3 + i, *c) for i, c in enumerate(closes)]
    apply(conn, Sequencer(posting_state="kept"), batch(events))
    conn.close()
    async with reading(where) as reader:
        close = (await days.report(reader, "S001", NOW.date()))["store_day_close"]
    assert (close["sales_count"], close["net_total"], close["tenders"]["cash"]) == expected
    assert len(close["registers"]) == len(closes)
