"""The availability API's JSON bodies, their checks, and the digests that tell a retry (200) from
another request under the same id (409).

The SKU, id and quantity bounds are the store events' own (protocol.rules); a location's stock
adjustment has the body of a store's `POST /v1/inventory-adjustments`.
"""

import datetime as dt
import hashlib
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from hub.errors import BadQuery
from protocol import rules
from protocol.errors import InvalidEvent
from protocol.messages import AdjustmentLine, InventoryAdjustment
from runtime.validation import describe

Sku = Annotated[str, Meta(pattern=rules.TEXT_PATTERN)]
Id = Annotated[str, Meta(pattern=rules.ID_PATTERN)]
Name = Annotated[str, Meta(min_length=1, max_length=64)]
Qty = Annotated[int, Meta(ge=1, le=rules.MAX_QTY)]
QtyDelta = Annotated[int, Meta(ge=-rules.MAX_QTY_DELTA, le=rules.MAX_QTY_DELTA)]
Units = Annotated[int, Meta(ge=0, le=1_000_000_000)]
MAX_EXPIRES_IN_S = 7 * 24 * 3600
MAX_SKUS = 1000
MAX_RULES = 1000


class LineIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Sku
    qty: Qty


class ReservationIn(Struct, frozen=True, forbid_unknown_fields=True):
    reservation_id: Id
    channel: Name
    lines: Annotated[list[LineIn], Meta(min_length=1, max_length=rules.MAX_LINES)]
    location: Name | None = None
    expires_in_s: Annotated[int, Meta(ge=1, le=MAX_EXPIRES_IN_S)] | None = None


class FulfilIn(Struct, frozen=True, forbid_unknown_fields=True):
    location: Name | None = None


class QueryIn(Struct, frozen=True, forbid_unknown_fields=True):
    channel: Name
    skus: Annotated[list[Sku], Meta(min_length=1, max_length=MAX_SKUS)]


class RuleIn(Struct, frozen=True, forbid_unknown_fields=True):
    """A safety-stock rule; `qty` null removes it."""

    qty: Units | None
    sku: Sku | None = None
    location: Name | None = None


SafetyStockIn = Annotated[list[RuleIn], Meta(max_length=MAX_RULES)]


class AdjustmentLineIn(Struct, frozen=True, forbid_unknown_fields=True):
    sku: Sku
    qty_delta: QtyDelta


class AdjustmentIn(Struct, frozen=True, forbid_unknown_fields=True):
    """The body of a store's `POST /v1/inventory-adjustments`, for a hub-fed location."""

    adjustment_id: Id
    reason: Literal["receipt", "count", "damage", "shrink", "transfer_in", "transfer_out"]
    occurred_at: dt.datetime
    lines: Annotated[list[AdjustmentLineIn], Meta(min_length=1, max_length=rules.MAX_LINES)]
    business_day: dt.date | None = None


T = TypeVar("T")
_canonical = msgspec.json.Encoder(order="sorted")


def decode(body: bytes, kind: type[T]) -> T:
    """Decode a JSON body, or raise BadQuery naming the field."""
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message, field = describe(exc)
        raise BadQuery(message, field) from exc


def once_each(items: list[str], field: str, what: str) -> None:
    """BadQuery naming `field` (formatted with the index) at the first item given twice."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            raise BadQuery(f"{what} {item!r} is given twice", field.format(i=i))
        seen.add(item)


def reservation_digest(body: ReservationIn, expires_in_s: int) -> str:
    """What a reservation request means: line order and an omitted default do not count."""
    meaning = [body.channel, body.location, sorted((x.sku, x.qty) for x in body.lines),
               expires_in_s]
    return hashlib.sha256(_canonical.encode(meaning)).hexdigest()


def checked_adjustment(body: AdjustmentIn) -> tuple[dt.date, str]:
    """The adjustment's business day (given, or `occurred_at`'s own date) and the digest of its
    meaning (the instant counts in UTC, amounts and order as sent); BadQuery if it breaks one
    of the store events' rules."""
    try:
        rules.check_instant(body.occurred_at, "occurred_at")
        if body.business_day is not None:
            rules.check_day(body.business_day)
        rules.check_event(InventoryAdjustment(
            body.adjustment_id, body.reason,
            [AdjustmentLine(x.sku, x.qty_delta) for x in body.lines]))
    except InvalidEvent as exc:
        raise BadQuery(exc.message, exc.field) from exc
    day = body.business_day or body.occurred_at.date()
    meaning: list[Any] = [body.reason, body.occurred_at.astimezone(dt.UTC).isoformat(),
                          day.isoformat(), [(x.sku, x.qty_delta) for x in body.lines]]
    return day, hashlib.sha256(_canonical.encode(meaning)).hexdigest()
