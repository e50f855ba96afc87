"""The one rule set for what an event may carry: the capture API refuses (422) and the hub
quarantines whatever breaks it, so the hub never applies what a store would have refused.

Bounds (documented in docs/api.md): amounts are written `-?[0-9]+(\\.[0-9]+)?` (ASCII digits),
at most 4 decimal places and less than 10^12 in magnitude, and so is the total of every line and
of every sale or return; `qty` 1..1,000,000; `qty_delta` -1,000,000..1,000,000; day-close counts
0..100,000,000; instants carry an offset and fall in the years 2000-2999 (UTC), business days too.
"""

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal

from protocol.errors import InvalidEvent
from protocol.messages import (
    DayClose,
    Envelope,
    Event,
    InventoryAdjustment,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
)
from protocol.money import line_amounts

AMOUNT_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)
AMOUNT_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,4})?$"  # the same, within bounds (OpenAPI)
MAX_DECIMALS = 4
MAX_AMOUNT = Decimal(10) ** 12
MAX_QTY = 1_000_000
MAX_QTY_DELTA = 1_000_000
MAX_COUNT = 100_000_000
MAX_LINES = 1000
MAX_TENDERS = 100
FIRST_INSTANT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
END_INSTANT = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
# Ids a till may give new transactions: no separator or space can make two keys collide.
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
# Free text (sku, tender method) and ids already on the wire (older agents took any of these).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"
_TEXT = re.compile(TEXT_PATTERN)


def amount_problem(value: Decimal) -> str | None:
    """What is wrong with an amount's value, or None."""
    if not value.is_finite():
        return "amount must be a finite decimal"
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent > 0:
        return "amount must be digits with an optional decimal point, e.g. 12.00 (no exponent)"
    if exponent < -MAX_DECIMALS:
        return f"amount has more than {MAX_DECIMALS} decimal places"
    if abs(value) >= MAX_AMOUNT:
        return "amount is out of range: it must be less than 10^12 in magnitude"
    return None


def parse_amount(text: str) -> Decimal:
    """An amount written as the API documents it, else ValueError saying why."""
    if not AMOUNT_TEXT.fullmatch(text):
        raise ValueError(f"amount must match -?[0-9]+(.[0-9]+)? (ASCII digits), not {text[:40]!r}")
    value = Decimal(text)
    problem = amount_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def check_instant(value: dt.datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEvent("timestamp must carry a UTC offset, e.g. +01:00 or Z", field)
    if not FIRST_INSTANT <= value < END_INSTANT:
        raise InvalidEvent("timestamp must fall in the years 2000-2999 (UTC)", field)


def check_day(value: dt.date, field: str = "business_day") -> None:
    if not FIRST_INSTANT.year <= value.year < END_INSTANT.year:
        raise InvalidEvent("business day must fall in the years 2000-2999", field)


def check_event(event: Event) -> None:
    """Raise InvalidEvent naming the first field (a path like `lines[0].qty`) that breaks a rule."""
    if isinstance(event, Sale | Return):
        _check_transaction(event)
    elif isinstance(event, InventoryAdjustment):
        _text(event.adjustment_id, "adjustment_id")
        _count(len(event.lines), 1, MAX_LINES, "lines", "lines")
        for i, adj in enumerate(event.lines):
            _text(adj.sku, f"lines[{i}].sku")
            _count(adj.qty_delta, -MAX_QTY_DELTA, MAX_QTY_DELTA, f"lines[{i}].qty_delta")
    elif isinstance(event, DayClose):
        if event.register_id is not None:
            _text(event.register_id, "register_id")
        _count(event.sales_count, 0, MAX_COUNT, "sales_count")
        _count(event.returns_count, 0, MAX_COUNT, "returns_count")
        _amount(event.net_total, "net_total")
        _amount(event.tax_total, "tax_total")
        for method, amount in event.tenders.items():
            _text(method, "tenders")
            _amount(amount, f"tenders.{method}")


def check_envelope(env: Envelope) -> None:
    """The hub's check of one event as it arrived: its instants and day, then the event."""
    check_instant(env.occurred_at, "occurred_at")
    check_instant(env.captured_at, "captured_at")
    check_day(env.business_day)
    check_event(env.event)


def _check_transaction(event: Sale | Return) -> None:
    _text(event.register_id, "register_id")
    _text(event.pos_txn_id, "pos_txn_id")
    if isinstance(event, Sale) and event.reservation_id is not None:
        _text(event.reservation_id, "reservation_id")
    if isinstance(event, Return) and event.original is not None:
        _text(event.original.register_id, "original.register_id")
        _text(event.original.pos_txn_id, "original.pos_txn_id")
    _count(len(event.lines), 1, MAX_LINES, "lines", "lines")
    _count(len(event.tenders), 0, MAX_TENDERS, "tenders", "tenders")
    total = Decimal(0)
    lines: Sequence[SaleLine | ReturnLine] = event.lines
    for i, line in enumerate(lines):
        _text(line.sku, f"lines[{i}].sku")
        _count(line.qty, 1, MAX_QTY, f"lines[{i}].qty")
        _amount(line.unit_price, f"lines[{i}].unit_price")
        _amount(line.discount, f"lines[{i}].discount")
        _amount(line.tax, f"lines[{i}].tax")
        gross = line_amounts(line, event.prices_include_tax)[2]
        if abs(gross) >= MAX_AMOUNT:
            raise InvalidEvent("the line's total must be less than 10^12 in magnitude", f"lines[{i}]")
        total += gross
    if abs(total) >= MAX_AMOUNT:
        raise InvalidEvent("the transaction's total must be less than 10^12 in magnitude", "lines")
    for i, tender in enumerate(event.tenders):
        _text(tender.method, f"tenders[{i}].method")
        _amount(tender.amount, f"tenders[{i}].amount")


def _amount(value: Decimal, field: str) -> None:
    problem = amount_problem(value)
    if problem:
        raise InvalidEvent(problem, field)


def _count(value: int, low: int, high: int, field: str, what: str = "value") -> None:
    if not low <= value <= high:
        raise InvalidEvent(f"{what} must be {low:,} to {high:,}, not {value:,}", field)


def _text(value: str, field: str) -> None:
    if not _TEXT.match(value):
        raise InvalidEvent("must be 1-64 characters without control characters", field)
