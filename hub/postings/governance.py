"""The rules a posting must pass before anything is sent to the ERP, and its mapping to ERP names.

A posting that fails gets a reason a finance user can act on; nothing about it reaches the ERP.
Mapping: a config table entry renames a hub name; a name without an entry passes through as is.
The result must be a name the ERP knows: checked against the ERP's own catalog when the
connector can read one, otherwise against the config table when that table is not empty.
"""

import datetime as dt
from decimal import Decimal

import msgspec

from hub.config import MappingConfig
from hub.erp.base import Catalog
from hub.errors import Rejected
from hub.postings.payloads import Payload, PostingTender

# ISO 4217 currencies whose minor unit is not 1/100.
_MINOR_DIGITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "HUF": 2,
                 "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}


def rounding_step(currency: str, overrides: dict[str, Decimal]) -> Decimal:
    """The smallest amount a tender can differ by: the cash rounding, else the minor unit."""
    if currency in overrides:
        return overrides[currency]
    return Decimal(1).scaleb(-_MINOR_DIGITS.get(currency, 2))


def check(payload: Payload, *, rounding: dict[str, Decimal], closed_through: dt.date | None,
          erp_closed: bool) -> None:
    """Raise Rejected unless the posting balances and its business day is open."""
    day = payload.business_day
    if closed_through is not None and day <= closed_through:
        raise Rejected(f"business day {day} is closed for posting (closed through {closed_through})",
                       "business_day")
    if erp_closed:
        raise Rejected(f"business day {day} is in a closed period in the ERP", "business_day")
    if payload.kind == "inventory_adjustment":
        return
    if payload.currency is None:
        raise Rejected("the posting has no currency", "currency")
    cur = payload.currency
    totals = payload.totals
    net = sum((line.net for line in payload.lines), Decimal(0))
    tax = sum((line.tax for line in payload.lines), Decimal(0))
    if net != totals.net or tax != totals.tax or totals.net + totals.tax != totals.gross:
        raise Rejected(f"lines (net {net}, tax {tax}) do not add up to the totals "
                       f"(net {totals.net}, tax {totals.tax}, gross {totals.gross} {cur})", "totals")
    paid = sum((t.amount for t in payload.tenders), Decimal(0))
    step = rounding_step(cur, rounding)
    if abs(paid - totals.gross) * 2 > step:
        raise Rejected(f"tenders ({paid} {cur}) do not balance the total ({totals.gross} {cur}): "
                       f"off by {paid - totals.gross} {cur}", "tenders")


def to_erp(payload: Payload, mapping: MappingConfig, catalog: Catalog) -> Payload:
    """The posting in the ERP's names; Rejected names the first thing that has no mapping."""
    store = _map("store", payload.store_id, mapping.stores, catalog.stores, "store_id")
    lines = [msgspec.structs.replace(line, sku=_map("SKU", line.sku, mapping.skus, catalog.skus,
                                                    f"lines[{i}].sku"))
             for i, line in enumerate(payload.lines)]
    tenders = [PostingTender(_map("tender method", t.method, mapping.tenders, catalog.tenders,
                                  f"tenders[{i}].method"), t.amount)
               for i, t in enumerate(payload.tenders)]
    return msgspec.structs.replace(payload, store_id=store, lines=lines, tenders=tenders)


def _map(what: str, name: str, table: dict[str, str], known: frozenset[str] | None,
         field: str) -> str:
    erp_name = table.get(name, name)
    if known is not None:
        if erp_name not in known:
            via = f" (mapped to {erp_name!r})" if erp_name != name else ""
            raise Rejected(f"{what} {name!r}{via} is not known to the ERP; add it to the ERP or "
                           f"map it under [erp.mapping]", field)
    elif table and name not in table:
        raise Rejected(f"{what} {name!r} is not mapped to the ERP; add it under [erp.mapping]",
                       field)
    return erp_name

