"""What a posting says, in the hub's own names: built from applied sales, returns and adjustments.

This is the body the `http-json` connector sends (after mapping) and what operators see and edit.
Amounts are Decimals (strings on the wire). A return's quantities and amounts are positive (the
kind says it is a refund); a daily summary nets returns against sales, so its figures are signed.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import msgspec

from protocol.messages import Envelope, InventoryAdjustment, Return, Sale
from protocol.money import line_amounts

ZERO = Decimal(0)


class Source(msgspec.Struct, frozen=True):
    register_id: str
    pos_txn_id: str


class Line(msgspec.Struct, frozen=True):
    sku: str
    qty: int
    net: Decimal = ZERO
    tax: Decimal = ZERO


class PostingTender(msgspec.Struct, frozen=True):
    method: str
    amount: Decimal


class Totals(msgspec.Struct, frozen=True):
    net: Decimal = ZERO
    tax: Decimal = ZERO
    gross: Decimal = ZERO


class Payload(msgspec.Struct, frozen=True, omit_defaults=True):
    posting_id: str
    kind: str
    store_id: str
    business_day: dt.date
    currency: str | None
    source: list[Source]
    lines: list[Line]
    tenders: list[PostingTender]
    totals: Totals
    adjustment_id: str | None = None
    reason: str | None = None


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(Payload)


def encode(payload: Payload) -> str:
    return _encoder.encode(payload).decode()


def decode(text: str | bytes) -> Payload:
    """Raises msgspec.ValidationError / DecodeError for a payload that is not a posting."""
    return _decoder.decode(text)


def for_transaction(posting_id: str, env: Envelope) -> Payload:
    """One sale or one return, as it was rung up."""
    event = env.event
    assert isinstance(event, Sale | Return)
    lines = []
    net_sum = tax_sum = gross_sum = ZERO
    for line in event.lines:
        net, tax, gross = line_amounts(line, event.prices_include_tax)
        lines.append(Line(line.sku, line.qty, net, tax))
        net_sum, tax_sum, gross_sum = net_sum + net, tax_sum + tax, gross_sum + gross
    return Payload(
        posting_id=posting_id, kind=env.kind, store_id=env.store_id,
        business_day=env.business_day, currency=event.currency,
        source=[Source(event.register_id, event.pos_txn_id)], lines=lines,
        tenders=[PostingTender(t.method, t.amount) for t in event.tenders],
        totals=Totals(net_sum, tax_sum, gross_sum),
    )


def for_adjustment(posting_id: str, env: Envelope) -> Payload:
    event = env.event
    assert isinstance(event, InventoryAdjustment)
    return Payload(
        posting_id=posting_id, kind=env.kind, store_id=env.store_id,
        business_day=env.business_day, currency=None, source=[],
        lines=[Line(line.sku, line.qty_delta) for line in event.lines], tenders=[],
        totals=Totals(), adjustment_id=event.adjustment_id, reason=event.reason,
    )


def daily_summary(posting_id: str, store_id: str, day: dt.date, currency: str,
                  envs: list[Envelope]) -> Payload:
    """Sales minus returns of one store, day and currency: summed per SKU and per tender."""
    qty: dict[str, int] = defaultdict(int)
    net: dict[str, Decimal] = defaultdict(Decimal)
    tax: dict[str, Decimal] = defaultdict(Decimal)
    tenders: dict[str, Decimal] = defaultdict(Decimal)
    totals = [ZERO, ZERO, ZERO]
    sources = []
    for env in envs:
        event = env.event
        assert isinstance(event, Sale | Return)
        sign = 1 if isinstance(event, Sale) else -1
        sources.append(Source(event.register_id, event.pos_txn_id))
        for line in event.lines:
            amounts = line_amounts(line, event.prices_include_tax)
            qty[line.sku] += sign * line.qty
            net[line.sku] += sign * amounts[0]
            tax[line.sku] += sign * amounts[1]
            totals = [t + sign * a for t, a in zip(totals, amounts, strict=True)]
        for tender in event.tenders:
            tenders[tender.method] += sign * tender.amount
    return Payload(
        posting_id=posting_id, kind="daily_summary", store_id=store_id, business_day=day,
        currency=currency, source=sources,
        lines=[Line(sku, qty[sku], net[sku], tax[sku]) for sku in sorted(qty)],
        tenders=[PostingTender(m, a) for m, a in sorted(tenders.items())],
        totals=Totals(*totals),
    )
