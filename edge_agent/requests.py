"""The till-facing JSON bodies, their checks, and their translation into protocol events.

Only malformed input is refused here (HTTP 422). Business rules such as "the tenders balance
the total" are checked at the hub: at the store, the customer has already paid.
"""

import datetime as dt
import hashlib
import zoneinfo
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from edge_agent.errors import InvalidRequest
from protocol import identity
from protocol.messages import (
    AdjustmentLine,
    DayClose,
    Event,
    InventoryAdjustment,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
    Tender,
    TxnRef,
)
from runtime.validation import describe

Text = Annotated[str, Meta(pattern=r"^[^\x00-\x1f\x7f]{1,64}$")]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Qty = Annotated[int, Meta(ge=1, le=1_000_000)]
Count = Annotated[int, Meta(ge=0, le=100_000_000)]
MAX_LINES = 1000
MAX_DECIMALS = 4
MAX_AMOUNT = Decimal(10) ** 12


class TenderIn(Struct, frozen=True, forbid_unknown_fields=True):
    method: Text
    amount: Decimal


class SaleLineIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Text
    qty: Qty
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)


class ReturnLineIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Text
    qty: Qty
    unit_price: Decimal
    restock: bool
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)


class TxnRefIn(Struct, frozen=True, forbid_unknown_fields=True):
    register_id: Text
    pos_txn_id: Text


class AdjustmentLineIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Text
    qty_delta: Annotated[int, Meta(ge=-1_000_000, le=1_000_000)]


class SaleIn(Struct, frozen=True, forbid_unknown_fields=True):
    register_id: Text
    pos_txn_id: Text
    occurred_at: dt.datetime
    currency: Currency
    lines: Annotated[list[SaleLineIn], Meta(min_length=1, max_length=MAX_LINES)]
    tenders: Annotated[list[TenderIn], Meta(max_length=100)]
    business_day: dt.date | None = None
    prices_include_tax: bool = True


class ReturnIn(Struct, frozen=True, forbid_unknown_fields=True):
    register_id: Text
    pos_txn_id: Text
    occurred_at: dt.datetime
    currency: Currency
    lines: Annotated[list[ReturnLineIn], Meta(min_length=1, max_length=MAX_LINES)]
    tenders: Annotated[list[TenderIn], Meta(max_length=100)]
    business_day: dt.date | None = None
    prices_include_tax: bool = True
    original: TxnRefIn | None = None


class AdjustmentIn(Struct, frozen=True, forbid_unknown_fields=True):
    adjustment_id: Text
    reason: Literal["receipt", "count", "damage", "shrink", "transfer_in", "transfer_out"]
    occurred_at: dt.datetime
    lines: Annotated[list[AdjustmentLineIn], Meta(min_length=1, max_length=MAX_LINES)]
    business_day: dt.date | None = None


class DayCloseIn(Struct, frozen=True, forbid_unknown_fields=True):
    business_day: dt.date
    sales_count: Count
    returns_count: Count
    net_total: Decimal
    tax_total: Decimal
    tenders: dict[Text, Decimal]
    register_id: Text | None = None
    currency: Currency | None = None
    occurred_at: dt.datetime | None = None


Body = SaleIn | ReturnIn | AdjustmentIn | DayCloseIn


class Prepared(Struct, frozen=True):
    """A checked request, ready for the outbox."""

    natural_key: str
    event_id: str
    digest: bytes
    occurred_at: dt.datetime
    business_day: dt.date
    event: Event
    clock_skew_s: float = 0.0  # occurred_at minus the agent's clock at capture

    @property
    def kind(self) -> str:
        return type(self.event).__struct_config__.tag  # type: ignore[return-value]


_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t) for t in (SaleIn, ReturnIn, AdjustmentIn, DayCloseIn)
}
_canonical = msgspec.json.Encoder(order="sorted")


def decode(body: bytes, kind: type[Body]) -> Body:
    """Decode a till's JSON body, or raise InvalidRequest naming the field."""
    try:
        value: Body = _decoders[kind].decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message, field = describe(exc)
        raise InvalidRequest(message, field) from exc
    _check_amounts(value)
    return value


def _check_amounts(value: Body) -> None:
    for field, amount in _amounts(value):
        if not amount.is_finite():
            raise InvalidRequest("amount must be a finite decimal", field)
        if abs(amount) >= MAX_AMOUNT:
            raise InvalidRequest("amount is out of range", field)
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
            raise InvalidRequest(f"amount has more than {MAX_DECIMALS} decimal places", field)
    occurred = getattr(value, "occurred_at", None)
    if occurred is not None and occurred.tzinfo is None:
        raise InvalidRequest("timestamp must carry a UTC offset, e.g. +01:00 or Z", "occurred_at")


def _amounts(value: Body) -> list[tuple[str, Decimal]]:
    out: list[tuple[str, Decimal]] = []
    if isinstance(value, SaleIn | ReturnIn):
        lines: Sequence[SaleLineIn | ReturnLineIn] = value.lines
        for i, line in enumerate(lines):
            out += [
                (f"lines[{i}].unit_price", line.unit_price),
                (f"lines[{i}].discount", line.discount),
                (f"lines[{i}].tax", line.tax),
            ]
        out += [(f"tenders[{i}].amount", t.amount) for i, t in enumerate(value.tenders)]
    elif isinstance(value, DayCloseIn):
        out += [("net_total", value.net_total), ("tax_total", value.tax_total)]
        out += [(f"tenders.{m}", a) for m, a in value.tenders.items()]
    return out


def prepare(value: Body, store_id: str, zone: zoneinfo.ZoneInfo | None, now: dt.datetime,
            max_skew_s: float | None = None) -> Prepared:
    """Give a checked body its natural key, event id, business day and protocol event.

    Without an explicit `business_day`, the day is the store-local date of `occurred_at`, unless
    the till's clock is more than `max_skew_s` away from the agent's (`now`): then the agent's
    clock decides, so a till set hours wrong cannot book sales into another day."""
    digest = hashlib.sha256(_canonical.encode(value)).digest()
    occurred = value.occurred_at or now
    skew = (occurred - now).total_seconds()
    dated = now if max_skew_s is not None and abs(skew) > max_skew_s else occurred
    day = value.business_day or (dated.astimezone(zone) if zone else dated).date()
    event: Event
    if isinstance(value, SaleIn):
        key = f"txn/{value.register_id}/{value.pos_txn_id}"
        event_id = identity.transaction_event_id(store_id, value.register_id, value.pos_txn_id)
        event = Sale(
            register_id=value.register_id,
            pos_txn_id=value.pos_txn_id,
            currency=value.currency,
            prices_include_tax=value.prices_include_tax,
            lines=[SaleLine(x.sku, x.qty, x.unit_price, x.discount, x.tax) for x in value.lines],
            tenders=[Tender(t.method, t.amount) for t in value.tenders],
        )
    elif isinstance(value, ReturnIn):
        key = f"txn/{value.register_id}/{value.pos_txn_id}"
        event_id = identity.transaction_event_id(store_id, value.register_id, value.pos_txn_id)
        original = value.original
        event = Return(
            register_id=value.register_id,
            pos_txn_id=value.pos_txn_id,
            currency=value.currency,
            prices_include_tax=value.prices_include_tax,
            lines=[
                ReturnLine(x.sku, x.qty, x.unit_price, x.discount, x.tax, x.restock)
                for x in value.lines
            ],
            tenders=[Tender(t.method, t.amount) for t in value.tenders],
            original=TxnRef(original.register_id, original.pos_txn_id) if original else None,
        )
    elif isinstance(value, AdjustmentIn):
        key = f"adj/{value.adjustment_id}"
        event_id = identity.adjustment_event_id(store_id, value.adjustment_id)
        event = InventoryAdjustment(
            adjustment_id=value.adjustment_id,
            reason=value.reason,
            lines=[AdjustmentLine(x.sku, x.qty_delta) for x in value.lines],
        )
    else:
        key = f"close/{value.register_id or ''}/{value.business_day.isoformat()}"
        event_id = identity.day_close_event_id(
            store_id, value.register_id, value.business_day.isoformat()
        )
        event = DayClose(
            register_id=value.register_id,
            sales_count=value.sales_count,
            returns_count=value.returns_count,
            net_total=value.net_total,
            tax_total=value.tax_total,
            tenders=dict(value.tenders),
            currency=value.currency,
        )
    return Prepared(
        natural_key=key,
        event_id=event_id,
        digest=digest,
        occurred_at=occurred.astimezone(dt.UTC),
        business_day=day,
        event=event,
        clock_skew_s=skew,
    )
