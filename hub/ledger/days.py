"""Per store and business day: totals from applied events, and the store's own day-close figures.

Amounts are Decimals stored as text and added in Python, never in SQL (which would use floats).
net_total and tax_total are sales minus returns; tenders are payments minus refunds, by method.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import msgspec

from hub.storage import Reads, Transaction
from protocol.messages import DayClose, Envelope, Return, Sale
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


def apply(conn: Transaction, totals: dict[DayKey, DayDelta]) -> None:
    for (store, day, currency), d in totals.items():
        row = conn.execute(
            "SELECT net_total, tax_total, gross_total FROM day_totals"
            " WHERE store_id = ? AND business_day = ? AND currency = ?",
            (store, day, currency),
        ).fetchone()
        net, tax, gross = (Decimal(x) for x in row) if row else (Decimal(0),) * 3
        conn.execute(
            "INSERT INTO day_totals (store_id, business_day, currency, sales_count, returns_count,"
            " net_total, tax_total, gross_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (store_id, business_day, currency) DO UPDATE SET"
            " sales_count = sales_count + excluded.sales_count,"
            " returns_count = returns_count + excluded.returns_count,"
            " net_total = excluded.net_total, tax_total = excluded.tax_total,"
            " gross_total = excluded.gross_total",
            (store, day, currency, d.sales_count, d.returns_count,
             str(net + d.net), str(tax + d.tax), str(gross + d.gross)),
        )
        for method, amount in d.tenders.items():
            found = conn.execute(
                "SELECT amount FROM day_tenders WHERE store_id = ? AND business_day = ?"
                " AND currency = ? AND method = ?",
                (store, day, currency, method),
            ).fetchone()
            total = (Decimal(found[0]) if found else Decimal(0)) + amount
            conn.execute(
                "INSERT OR REPLACE INTO day_tenders (store_id, business_day, currency, method,"
                " amount) VALUES (?, ?, ?, ?, ?)",
                (store, day, currency, method, str(total)),
            )


def record_close(conn: Transaction, envelope: Envelope, now: str) -> None:
    """Keep a store's (or register's) own day-close figures; a later close replaces an earlier."""
    close = envelope.event
    assert isinstance(close, DayClose)
    conn.execute(
        "INSERT OR REPLACE INTO day_closes (store_id, business_day, register_id, event_id,"
        " currency, sales_count, returns_count, net_total, tax_total, tenders, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (envelope.store_id, envelope.business_day.isoformat(), close.register_id or "",
         envelope.event_id, close.currency, close.sales_count, close.returns_count,
         str(close.net_total), str(close.tax_total),
         msgspec.json.encode({k: str(v) for k, v in close.tenders.items()}).decode(), now),
    )


async def report(reader: Reads, store_id: str, day: dt.date) -> dict[str, Any]:
    """The hub's totals for one store and business day, beside the store's own day-close."""
    d = day.isoformat()
    async with reader.execute(
        "SELECT currency, sales_count, returns_count, net_total, tax_total, gross_total"
        " FROM day_totals WHERE store_id = ? AND business_day = ? ORDER BY currency",
        (store_id, d),
    ) as cur:
        totals = await cur.fetchall()
    async with reader.execute(
        "SELECT currency, method, amount FROM day_tenders WHERE store_id = ? AND business_day = ?"
        " ORDER BY method",
        (store_id, d),
    ) as cur:
        tenders = await cur.fetchall()
    async with reader.execute(
        "SELECT register_id, currency, sales_count, returns_count, net_total, tax_total, tenders,"
        " received_at FROM day_closes WHERE store_id = ? AND business_day = ? ORDER BY register_id",
        (store_id, d),
    ) as cur:
        closes = list(await cur.fetchall())
    by_currency = [
        {
            "currency": c, "sales_count": s, "returns_count": r,
            "net_total": net, "tax_total": tax, "gross_total": gross,
            "tenders": {m: a for cc, m, a in tenders if cc == c},
        }
        for c, s, r, net, tax, gross in totals
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


def _closes(rows: list[Any]) -> dict[str, Any] | None:
    if not rows:
        return None
    registers = [
        {
            "register_id": reg or None, "currency": cur, "sales_count": s, "returns_count": r,
            "net_total": net, "tax_total": tax, "tenders": msgspec.json.decode(tenders),
            "received_at": at,
        }
        for reg, cur, s, r, net, tax, tenders, at in rows
    ]
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
