"""The rules a price change set must keep before anything of it is staged (docs/catalog.md):
each change is checked on its own and against the book's published and staged prices and the
set's other changes; every change that breaks a rule gets one reason, naming its field.

The rules, in the order they are checked for a change: the SKU is an item and active; the price
is not negative, below 10^12 and has no more decimals than the book's currency (ISO 4217 minor
units: 12.50 EUR, 1250 JPY, 1.250 KWD); the instants carry an offset and fall in 2000-2999;
`effective_to`, when given, is after `effective_from`; the change does not clash with another
price of the same book and SKU (hub.catalog.pricing.clash); and unless the set says "force",
it does not cut the price in force at its `effective_from` by more than
`[catalog] max_price_drop_percent`.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

from hub.catalog import pricing
from hub.catalog.requests import ChangeIn
from hub.storage.catalog import PriceRow
from protocol import rules
from protocol.errors import InvalidEvent

# ISO 4217 (amendment 179 of 2025): the active codes with minor units (codes without, such as
# precious metals and testing codes, are not prices a till can ring up), by how many.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN"
    " BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD"
    " FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD"
    " KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD"
    " NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP"
    " SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS"
    " VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)
MINOR_UNITS: dict[str, int] = {
    code: units for units, codes in ((0, _ZERO), (2, _TWO), (3, _THREE), (4, _FOUR))
    for code in codes.split()
}


def minor_units(currency: str) -> int | None:
    """Decimals a price in `currency` may have; None for a code this table does not know."""
    return MINOR_UNITS.get(currency)


def fits(amount: Decimal, currency: str) -> bool:
    """Whether `amount` has no more decimals than `currency` allows (trailing zeros aside:
    12.500 is 12.50 in EUR)."""
    units = MINOR_UNITS[currency]
    return amount == amount.quantize(Decimal(1).scaleb(-units))


def in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """`amount` written with exactly the currency's decimals (it must fit)."""
    return amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]))


class Context(NamedTuple):
    """What the changes are checked against, read in the same transaction that stages them."""

    currency: str
    items: Mapping[str, bool]        # sku -> active, for the SKUs the changes name
    published: Sequence[PriceRow]    # the book's prices in the newest version, for those SKUs
    staged: Sequence[PriceRow]       # the book's staged prices, for those SKUs
    max_drop_percent: int
    force: bool


class _Other(NamedTuple):
    """Another price a change is compared with, and how to name it in a reason."""

    row: pricing.PriceLike
    label: str


def refusals(changes: Sequence[ChangeIn], ctx: Context) -> list[dict[str, object]]:
    """One {"index", "field", "error"} per change that breaks a rule, in index order; empty
    when the whole set may be staged."""
    others: dict[str, list[_Other]] = defaultdict(list)
    for row in ctx.published:
        others[row.sku].append(_Other(row, f"the published price {row.price} {_span(row)}"))
    for row in ctx.staged:
        others[row.sku].append(_Other(row, f"the staged price {row.price} {_span(row)}"))
    in_set: dict[str, list[int]] = defaultdict(list)
    for i, change in enumerate(changes):
        in_set[change.sku].append(i)
    found: list[dict[str, object]] = []
    for i, change in enumerate(changes):
        reason = _check(i, change, changes, in_set[change.sku], others[change.sku], ctx)
        if reason is not None:
            field, error = reason
            found.append({"index": i, "field": f"changes[{i}].{field}",
                          "error": f"changes[{i}].{field}: {error}"})
    return found


def _check(i: int, change: ChangeIn, changes: Sequence[ChangeIn], same_sku: list[int],
           others: list[_Other], ctx: Context) -> tuple[str, str] | None:
    active = ctx.items.get(change.sku)
    if active is None:
        return "sku", f"no item {change.sku!r} (PUT /v1/items first)"
    if not active:
        return "sku", f"item {change.sku!r} is not active"
    price = Decimal(change.price)
    if price < 0:
        return "price", f"a price cannot be negative ({price})"
    if price >= rules.MAX_AMOUNT:
        return "price", "a price must be less than 10^12"
    if not fits(price, ctx.currency):
        units = minor_units(ctx.currency)
        return "price", (f"{ctx.currency} has {units} decimal{'s' if units != 1 else ''}: "
                         f"{price} has more")
    for field, at in (("effective_from", change.effective_from),
                      ("effective_to", change.effective_to)):
        if at is not None:
            try:
                rules.check_instant(at, field)
            except InvalidEvent as exc:
                return field, exc.message
    if change.effective_to is not None and change.effective_to <= change.effective_from:
        return "effective_to", "effective_to must be after effective_from"
    for other in others:
        if pricing.clash(change, other.row):
            return "effective_from", (f"two prices for {change.sku!r} at the same instant: "
                                      f"{price} {_span(change)} and {other.label}")
    for j in same_sku:
        if j < i and pricing.clash(change, changes[j]):
            return "effective_from", (f"two prices for {change.sku!r} at the same instant: "
                                      f"{price} {_span(change)} and changes[{j}]")
    if not ctx.force:
        rest = [o.row for o in others] + [changes[j] for j in same_sku if j != i]
        before = pricing.in_book(rest, change.effective_from)
        if before is not None:
            cut = pricing.cut_percent(Decimal(before.price), price)
            if cut > ctx.max_drop_percent:
                return "price", (f"cuts {before.price} to {price} ({cut:.1f} % off), more than "
                                 f"[catalog] max_price_drop_percent = {ctx.max_drop_percent}; "
                                 "send \"force\": true if it is meant")
    return None


def _span(row: pricing.PriceLike) -> str:
    start = row.effective_from.isoformat()
    return f"from {start}" + (f" to {row.effective_to.isoformat()}" if row.effective_to else "")
