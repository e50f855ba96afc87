"""What the relay needs from an ERP: post one posting, name what it knows, read back what it holds.

A connector never raises for the ERP's answers to a posting: it classifies them into a `Result`
(posted, retry later, or dead with the ERP's reason). Its other calls raise `hub.errors.ErpUnavailable`.
"""

import datetime as dt
from decimal import Decimal
from typing import Literal, Protocol

import msgspec

from hub.postings.payloads import Payload

Outcome = Literal["posted", "retry", "dead"]


class Result(msgspec.Struct, frozen=True):
    outcome: Outcome
    status: int | None = None
    erp_ref: str | None = None
    reason: str | None = None
    answer: str | None = None
    retry_after: float | None = None
    # True when the answer says the ERP is unwell (counts towards opening the circuit breaker).
    failure: bool = False


class Catalog(msgspec.Struct, frozen=True):
    """The names an ERP knows; None where it cannot tell (then the config's tables decide)."""

    stores: frozenset[str] | None = None
    skus: frozenset[str] | None = None
    tenders: frozenset[str] | None = None


class ErpProduct(msgspec.Struct, frozen=True):
    """A saleable product as the ERP has it: its code is the hub's SKU; `list_price` is in
    `ErpProducts.currency`, None when the ERP has none."""

    sku: str
    name: str
    active: bool
    barcode: str | None
    list_price: Decimal | None


class ErpProducts(msgspec.Struct, frozen=True):
    currency: str
    products: list[ErpProduct]


class PostedDoc(msgspec.Struct, frozen=True):
    """One document the ERP holds for a posting, with its totals as the ERP computed them."""

    posting_id: str
    erp_ref: str
    gross: Decimal
    state: str = "posted"


class Connector(Protocol):
    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def post(self, payload: Payload) -> Result:
        """Deliver one posting (already mapped to the ERP's names); safe to repeat."""
        ...

    async def catalog(self) -> Catalog:
        ...

    async def day_closed(self, day: dt.date) -> bool:
        ...

    async def posted(self, store: str, day: dt.date) -> list[PostedDoc] | None:
        """Every document the ERP holds for a store-day (`store` in the ERP's names) that came
        from the hub; None if this ERP cannot be asked."""
        ...
