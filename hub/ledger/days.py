"""Per store and business day: totals from applied events, and the store's own day-close figures.

Amounts are exact: Decimals here, never floats in the database (hub.storage.days says how each
backend keeps and adds them).
net_total and tax_total are sales minus returns; tenders are payments minus refunds, by method.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import msgspec

from hub.storage import Reads, Transaction
from protocol.messages import Envelope, Return, Sale
from protocol.money import line_amounts

DayKey = tuple[str, str, str]  # store_id, business_day, currency


class DayDelta(msgspec.Struct):
    sales_count: int = 0
    returns_count: int = 0
    net: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    gross: Decimal = Decimal(0)
    tenders: dict[str, Decimal] = msgspec.field(default_factory=dict)


def add_event(totals: dict[DayKey, DayDelta], envelope: Envelope) -> None:
    """Fold one sale or return into `totals` (other kinds change no day totals)."""
    event = envelope.event
    if not isinstance(event, Sale | Return):
        return
    sign = 1 if isinstance(event, Sale) else -1
    key = (envelope.store_id, envelope.business_day.isoformat(), event.currency)
    delta = totals.setdefault(key, DayDelta())
    if sign > 0:
        delta.sales_count += 1
    else:
        delta.returns_count += 1
    for line in event.lines:
        net, tax, gross = line_amounts(line, event.prices_include_tax)
        delta.net += sign * net
        delta.tax += sign * tax
        delta.gross += sign * gross
    for tender in event.tenders:
        delta.tenders[tender.method] = delta.tenders.get(tender.method, Decimal(0)) + sign * tender.amount


def apply(tx: Transaction, totals: dict[DayKey, DayDelta]) -> None:
    """Add each day's delta to its stored totals and tenders, exactly."""
    for (store, day, currency), d in totals.items():
        tx.days.add_totals(store, day, currency, sales_count=d.sales_count,
                           returns_count=d.returns_count, net=d.net, tax=d.tax, gross=d.gross,
                           tenders=d.tenders)


def record_close(tx: Transaction, envelope: Envelope, now: str) -> None:
    """Keep a store's (or register's) own day-close (a DayClose event); a later close
    replaces an earlier."""
    tx.days.record_close(envelope, now)


async def report(reads: Reads, store_id: str, day: dt.date) -> dict[str, Any]:
    """The hub's totals for one store and business day, beside the store's own day-close."""
    d = day.isoformat()
    totals = await reads.days.totals(store_id, d)
    tenders = await reads.days.tenders(store_id, d)
    closes = await reads.days.closes(store_id, d)
    by_currency = [
        {
            "currency": t["currency"], "sales_count": t["sales_count"],
            "returns_count": t["returns_count"], "net_total": t["net_total"],
            "tax_total": t["tax_total"], "gross_total": t["gross_total"],
            "tenders": {x["method"]: x["amount"] for x in tenders
                        if x["currency"] == t["currency"]},
        }
        for t in totals
    ]
    body: dict[str, Any] = {
        "store_id": store_id,
        "business_day": d,
        "sales_count": sum(x["sales_count"] for x in by_currency),
        "returns_count": sum(x["returns_count"] for x in by_currency),
        "currency": None, "net_total": "0", "tax_total": "0", "gross_total": "0", "tenders": {},
        "by_currency": by_currency,
        "store_day_close": _closes(closes),
    }
    if len(by_currency) == 1:
        only = by_currency[0]
        body.update({k: only[k] for k in ("currency", "net_total", "tax_total", "gross_total", "tenders")})
    elif len(by_currency) > 1:
        body.update(net_total=None, tax_total=None, gross_total=None, tenders=None)
    return body


def _closes(registers: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not registers:
        return None
    # A store-wide close (no register) is the store's own total: the registers' closes beside it
    # are the same sales again, listed for reading but never added to it.
    store_wide = [x for x in registers if x["register_id"] is None]
    counted = store_wide[-1:] or registers
    tender_sum: dict[str, Decimal] = defaultdict(Decimal)
    for reg in counted:
        for method, amount in reg["tenders"].items():
            tender_sum[method] += Decimal(amount)
    return {
        "sales_count": sum(x["sales_count"] for x in counted),
        "returns_count": sum(x["returns_count"] for x in counted),
        "net_total": str(sum((Decimal(x["net_total"]) for x in counted), Decimal(0))),
        "tax_total": str(sum((Decimal(x["tax_total"]) for x in counted), Decimal(0))),
        "tenders": {m: str(a) for m, a in sorted(tender_sum.items())},
        "registers": registers,
    }
