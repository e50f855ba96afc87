"""Wire messages: store events (a tagged union), their envelope, batches, acks, control, state,
and the catalog the hub sends down (a version as a snapshot or a delta, in chunks).

Schema evolution (see docs/protocol.md): new fields get defaults, field types never change,
readers skip unknown fields, and a new event kind needs every hub upgraded before any agent
sends it. Money is Decimal (sent as a string); instants are UTC datetimes.
"""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from protocol import SCHEMA_VERSION

MAX_BATCH_EVENTS = 1000
# Additive revisions of this topic root's schema (docs/protocol.md#schema-evolution): any v >= 1
# decodes; a breaking change gets a new topic root instead of a bigger v.
Version = Annotated[int, Meta(ge=1)]
MAX_BATCH_BYTES = 1024 * 1024

StoreId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
AdjustmentReason = Literal["receipt", "count", "damage", "shrink", "transfer_in", "transfer_out"]


class Tender(msgspec.Struct, frozen=True):
    """A payment (on a sale) or a refund (on a return), by method."""

    method: Text
    amount: Decimal


class SaleLine(msgspec.Struct, frozen=True):
    """One line of a sale. `discount` and `tax` are totals for the line, not per unit.
    `catalog_price` is set by the store's agent, never the till, only when `unit_price` differs
    from the price its catalog gave the SKU at `occurred_at` (a price deviation): the sale
    stands, head office counts it."""

    sku: Text
    qty: int
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    catalog_price: Decimal | None = None


class ReturnLine(msgspec.Struct, frozen=True):
    """One returned line; `restock` says whether the goods go back on the shelf."""

    sku: Text
    qty: int
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    restock: bool = True


class TxnRef(msgspec.Struct, frozen=True):
    """A till transaction, named by its register and the POS's own transaction number."""

    register_id: Text
    pos_txn_id: Text


class AdjustmentLine(msgspec.Struct, frozen=True):
    sku: Text
    qty_delta: int


class Sale(msgspec.Struct, frozen=True, tag="sale", tag_field="kind", omit_defaults=True):
    """A till sale. `reservation_id` (added after v1's first agents; docs/protocol.md) names the
    hub reservation it collects (click and collect). A sale without one is encoded as before
    the field existed (omit_defaults), so its bytes and the digest of its meaning do not change."""

    register_id: Text
    pos_txn_id: Text
    currency: Currency
    prices_include_tax: bool
    lines: list[SaleLine]
    tenders: list[Tender]
    reservation_id: Text | None = None


class Return(msgspec.Struct, frozen=True, tag="return", tag_field="kind"):
    register_id: Text
    pos_txn_id: Text
    currency: Currency
    prices_include_tax: bool
    lines: list[ReturnLine]
    tenders: list[Tender]
    original: TxnRef | None = None


class InventoryAdjustment(msgspec.Struct, frozen=True, tag="inventory_adjustment", tag_field="kind"):
    adjustment_id: Text
    reason: AdjustmentReason
    lines: list[AdjustmentLine]


class DayClose(msgspec.Struct, frozen=True, tag="day_close", tag_field="kind"):
    """A store's (or one register's) own totals for a business day."""

    register_id: Text | None
    sales_count: int
    returns_count: int
    net_total: Decimal
    tax_total: Decimal
    tenders: dict[str, Decimal]
    currency: Currency | None = None


Event = Sale | Return | InventoryAdjustment | DayClose


class Envelope(msgspec.Struct, frozen=True):
    """One event as it travels: who sent it, where it sits in the store's stream, and when."""

    store_id: StoreId
    stream: str
    seq: int
    event_id: str
    occurred_at: dt.datetime
    business_day: dt.date
    captured_at: dt.datetime
    event: Event
    v: Version = SCHEMA_VERSION

    @property
    def kind(self) -> str:
        return type(self.event).__struct_config__.tag  # type: ignore[return-value]


class Batch(msgspec.Struct, frozen=True):
    """Consecutive events of one stream, in seq order, sent as one MQTT message."""

    store_id: StoreId
    stream: str
    events: Annotated[list[Envelope], Meta(min_length=1, max_length=MAX_BATCH_EVENTS)]
    v: Version = SCHEMA_VERSION


class Ack(msgspec.Struct, frozen=True):
    """The hub has durably applied every event of `stream` up to and including `applied_seq`."""

    stream: str
    applied_seq: int
    v: int = SCHEMA_VERSION


class Replay(msgspec.Struct, frozen=True, tag="replay", tag_field="type"):
    """The hub asks the agent to send `stream` again from `from_seq` on."""

    stream: str
    from_seq: int


class Receipt(msgspec.Struct, frozen=True):
    """What became of one captured event at the ERP: `state` is "posted" (with the ERP's document
    reference) or "dead" / "exception" (head office has to act)."""

    event_id: str
    posting_id: str
    state: str
    erp_ref: str | None = None


class Receipts(msgspec.Struct, frozen=True, tag="receipts", tag_field="type"):
    """The hub tells a store what the ERP made of its transactions (so staff can see it)."""

    items: list[Receipt]


class Restream(msgspec.Struct, frozen=True, tag="restream", tag_field="type"):
    """The hub holds *other* events at some seqs of `stream` than the agent just sent (the
    agent's outbox went back in time: a restored backup, a lost WAL). The agent moves its whole
    outbox to a new stream; the hub drops, by event_id, what it already has."""

    stream: str
    from_seq: int


Control = Replay | Receipts | Restream
MAX_RECEIPTS = 500


class StoreState(msgspec.Struct, frozen=True):
    """Retained per store: online or not (the offline form is the MQTT last will)."""

    store_id: StoreId
    online: bool
    at: dt.datetime | None = None
    stream: str | None = None
    version: str | None = None
    backlog: int | None = None
    # The catalog version the store has applied: 0 when it takes catalogs and has none yet,
    # None from an agent that does not take catalogs (the hub sends it none).
    catalog_version: int | None = None


class HubState(msgspec.Struct, frozen=True):
    """Retained by the hub: online when it connects, offline as its last will or when it stops.
    While it is offline, agents keep their events instead of queueing them at the broker."""

    online: bool
    at: dt.datetime | None = None
    version: str | None = None


# --- The catalog, hub -> store (docs/catalog.md) ---

class CatalogItem(msgspec.Struct, frozen=True):
    """An item a store may sell (only active items are sent)."""

    sku: Text
    name: str
    barcode: str | None = None
    unit: str | None = None
    tax_class: str | None = None


class CatalogBook(msgspec.Struct, frozen=True):
    """A price book that applies to the store: of two books with a price for a SKU at an instant,
    the higher `priority` wins."""

    book: str
    currency: Currency
    priority: int


class CatalogPrice(msgspec.Struct, frozen=True):
    """One price row of a book, `id` unique and never reused. In force from `effective_from` on;
    a row with `effective_to` is a temporary price that ends then and, while it runs, wins over
    the book's list price (the row without `effective_to` that started last)."""

    id: int
    book: str
    sku: Text
    price: Decimal
    effective_from: dt.datetime
    effective_to: dt.datetime | None = None


class CatalogSnapshot(msgspec.Struct, frozen=True, tag="snapshot", tag_field="kind"):
    """A store's whole catalog at `version`: it replaces whatever the store had."""

    version: int
    books: list[CatalogBook]
    items: list[CatalogItem]
    prices: list[CatalogPrice]


class CatalogDelta(msgspec.Struct, frozen=True, tag="delta", tag_field="kind"):
    """What changed for a store from `base_version` to `version`: rows added or changed (whole
    rows, replacing the row with the same key) and the keys of rows removed. Only a store whose
    applied version is `base_version` may apply it."""

    version: int
    base_version: int
    books: list[CatalogBook]
    books_removed: list[str]
    items: list[CatalogItem]
    items_removed: list[str]
    prices: list[CatalogPrice]
    prices_removed: list[int]


CatalogContent = CatalogSnapshot | CatalogDelta


class CatalogChunk(msgspec.Struct, frozen=True):
    """Part `part` of `parts` (from 1) of one encoded CatalogContent for `version`. `digest` is the
    SHA-256 (hex) of the whole encoded content and `size` its length in bytes: the store joins the
    parts only when all have come and the digest matches (protocol.chunking)."""

    version: int
    part: int
    parts: int
    size: int
    digest: str
    data: bytes
    v: Version = SCHEMA_VERSION


class CatalogAck(msgspec.Struct, frozen=True):
    """A store about one catalog version: `state` is "applied" (at `at`), "failed" (with the
    `reason`: the store cannot apply it and head office has to act), "resend" (a part is
    missing or the digest did not match: send the version again) or "receiving" (`part` parts
    held so far). A reader ignores a state it does not know."""

    store_id: StoreId
    version: int
    state: str
    at: dt.datetime | None = None
    reason: str | None = None
    v: Version = SCHEMA_VERSION
    # The version the store has applied as it says this (None: none), so a "resend" is answered
    # with a delta from what the store really has.
    catalog_version: int | None = None
    # With state "receiving": how many parts of the version's copy the store holds so far; the
    # hub sends only a few parts ahead of it (flow control: a store's memory stays bounded).
    part: int | None = None
