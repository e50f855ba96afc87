"""The till-facing JSON bodies, their checks, and their translation into protocol events.

Only malformed input is refused here (HTTP 422). Business rules such as "the tenders balance
the total" are checked at the hub: at the store, the customer has already paid.
"""

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import Meta, Struct

from edge_agent import keys
from edge_agent.errors import InvalidRequest
from protocol import identity, rules
from protocol.errors import InvalidEvent
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

Text = Annotated[str, Meta(pattern=rules.TEXT_PATTERN)]
Id = Annotated[str, Meta(pattern=rules.ID_PATTERN)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Qty = Annotated[int, Meta(ge=1, le=rules.MAX_QTY)]
QtyDelta = Annotated[int, Meta(ge=-rules.MAX_QTY_DELTA, le=rules.MAX_QTY_DELTA)]
Count = Annotated[int, Meta(ge=0, le=rules.MAX_COUNT)]


class Amount(Decimal):
    """An amount as docs/api.md writes it (protocol.rules): a decimal string, or a JSON number
    read exactly from its text, decoded by `_hook`; `prepare` hands plain Decimals on."""


ZERO = cast(Amount, Decimal(0))  # a default a schema can show (msgspec cannot encode Amount)


class _Number(str):
    """The text of a JSON number in an amount's place, so it is read exactly, never as a float."""


def _hook(kind: type, value: Any) -> Any:
    if kind is Amount and isinstance(value, str | int) and not isinstance(value, bool):
        return Amount(rules.parse_amount(str(value)))
    if kind is Amount:
        raise TypeError(f"Expected `decimal`, got `{type(value).__name__}`")
    raise NotImplementedError(kind)


class TenderIn(Struct, frozen=True, forbid_unknown_fields=True):
    method: Text
    amount: Amount


class SaleLineIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Text
    qty: Qty
    unit_price: Amount
    discount: Amount = ZERO
    tax: Amount = ZERO


class ReturnLineIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Text
    qty: Qty
    unit_price: Amount
    restock: bool
    discount: Amount = ZERO
    tax: Amount = ZERO


class TxnRefIn(Struct, frozen=True, forbid_unknown_fields=True):
    register_id: Id
    pos_txn_id: Id


class AdjustmentLineIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Text
    qty_delta: QtyDelta


class SaleIn(Struct, frozen=True, forbid_unknown_fields=True):
    register_id: Id
    pos_txn_id: Id
    occurred_at: dt.datetime
    currency: Currency
    lines: Annotated[list[SaleLineIn], Meta(min_length=1, max_length=rules.MAX_LINES)]
    tenders: Annotated[list[TenderIn], Meta(max_length=rules.MAX_TENDERS)]
    business_day: dt.date | None = None
    prices_include_tax: bool = True
    # Click and collect: the hub reservation this sale collects (docs/availability.md).
    reservation_id: Id | None = None


class ReturnIn(Struct, frozen=True, forbid_unknown_fields=True):
    register_id: Id
    pos_txn_id: Id
    occurred_at: dt.datetime
    currency: Currency
    lines: Annotated[list[ReturnLineIn], Meta(min_length=1, max_length=rules.MAX_LINES)]
    tenders: Annotated[list[TenderIn], Meta(max_length=rules.MAX_TENDERS)]
    business_day: dt.date | None = None
    prices_include_tax: bool = True
    original: TxnRefIn | None = None


class AdjustmentIn(Struct, frozen=True, forbid_unknown_fields=True):
    adjustment_id: Id
    reason: Literal["receipt", "count", "damage", "shrink", "transfer_in", "transfer_out"]
    occurred_at: dt.datetime
    lines: Annotated[list[AdjustmentLineIn], Meta(min_length=1, max_length=rules.MAX_LINES)]
    business_day: dt.date | None = None


class DayCloseIn(Struct, frozen=True, forbid_unknown_fields=True):
    business_day: dt.date
    sales_count: Count
    returns_count: Count
    net_total: Amount
    tax_total: Amount
    tenders: dict[Text, Amount]
    register_id: Id | None = None
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
    day_from_controller: bool = False  # the till's clock was off: the agent's dated it

    @property
    def kind(self) -> str:
        return type(self.event).__struct_config__.tag  # type: ignore[return-value]


_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t, dec_hook=_hook, float_hook=_Number)
    for t in (SaleIn, ReturnIn, AdjustmentIn, DayCloseIn)
}


def decode(body: bytes, kind: type[Body]) -> Body:
    """Decode a till's JSON body, or raise InvalidRequest naming the field."""
    try:
        value: Body = _decoders[kind].decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message, field = describe(exc)
        raise InvalidRequest(message, field) from exc
    return value


def prepare(value: Body, store_id: str, zone: zoneinfo.ZoneInfo | None, now: dt.datetime,
            max_skew_s: float | None = None) -> Prepared:
    """Give a checked body its natural key, event id, business day and protocol event.

    Without an explicit `business_day`, the day is the store-local date of `occurred_at`, unless
    the till's clock is more than `max_skew_s` away from the agent's (`now`): then the agent's
    clock decides, so a till set hours wrong cannot book sales into another day."""
    try:
        if value.occurred_at is not None:
            rules.check_instant(value.occurred_at, "occurred_at")
        if value.business_day is not None:
            rules.check_day(value.business_day)
    except InvalidEvent as exc:
        raise InvalidRequest(exc.message, exc.field) from exc
    occurred = value.occurred_at or now
    skew = (occurred - now).total_seconds()
    from_controller = (value.business_day is None and max_skew_s is not None
                       and abs(skew) > max_skew_s)
    dated = now if from_controller else occurred
    day = value.business_day or (dated.astimezone(zone) if zone else dated).date()
    event: Event
    if isinstance(value, SaleIn):
        event_id = identity.transaction_event_id(store_id, value.register_id, value.pos_txn_id)
        event = Sale(
            register_id=value.register_id,
            pos_txn_id=value.pos_txn_id,
            currency=value.currency,
            prices_include_tax=value.prices_include_tax,
            lines=[SaleLine(x.sku, x.qty, Decimal(x.unit_price), Decimal(x.discount), Decimal(x.tax))
                   for x in value.lines],
            tenders=[Tender(t.method, Decimal(t.amount)) for t in value.tenders],
            reservation_id=value.reservation_id,
        )
    elif isinstance(value, ReturnIn):
        event_id = identity.transaction_event_id(store_id, value.register_id, value.pos_txn_id)
        original = value.original
        event = Return(
            register_id=value.register_id,
            pos_txn_id=value.pos_txn_id,
            currency=value.currency,
            prices_include_tax=value.prices_include_tax,
            lines=[
                ReturnLine(x.sku, x.qty, Decimal(x.unit_price), Decimal(x.discount),
                           Decimal(x.tax), x.restock)
                for x in value.lines
            ],
            tenders=[Tender(t.method, Decimal(t.amount)) for t in value.tenders],
            original=TxnRef(original.register_id, original.pos_txn_id) if original else None,
        )
    elif isinstance(value, AdjustmentIn):
        event_id = identity.adjustment_event_id(store_id, value.adjustment_id)
        event = InventoryAdjustment(
            adjustment_id=value.adjustment_id,
            reason=value.reason,
            lines=[AdjustmentLine(x.sku, x.qty_delta) for x in value.lines],
        )
    else:
        event_id = identity.day_close_event_id(
            store_id, value.register_id, value.business_day.isoformat()
        )
        event = DayClose(
            register_id=value.register_id,
            sales_count=value.sales_count,
            returns_count=value.returns_count,
            net_total=Decimal(value.net_total),
            tax_total=Decimal(value.tax_total),
            tenders={method: Decimal(a) for method, a in value.tenders.items()},
            currency=value.currency,
        )
    try:
        rules.check_event(event)
    except InvalidEvent as exc:
        raise InvalidRequest(exc.message, exc.field) from exc
    return Prepared(
        natural_key=keys.natural_key(event, day),
        event_id=event_id,
        digest=keys.digest(event, occurred, day),
        occurred_at=occurred.astimezone(dt.UTC),
        business_day=day,
        event=event,
        clock_skew_s=skew,
        day_from_controller=from_controller,
    )
