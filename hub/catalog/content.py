"""What a store receives of a catalog version: the active items, the books that apply to it
(with their priorities) and every price row of those books, so that it resolves future-dated
prices itself, offline (protocol.pricing). Sent whole as a snapshot, or as the delta from the
version the store has applied while that version's content is kept ([catalog] keep_versions).

A version can hold 300,000 items: its content is read in a thread on a connection of its own
(hub.storage.version_content) and encoded page by page (protocol.catalog_stream), never on the
event loop or the writer.
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any, NamedTuple

from hub.catalog import pricing
from hub.storage import Database, Reads
from hub.storage.catalog import ItemRow, PriceRow
from hub.storage.publications import VersionRow
from hub.storage.version_content import ContentReader
from protocol.catalog_stream import ContentWriter
from protocol.messages import (
    CatalogBook,
    CatalogContent,
    CatalogDelta,
    CatalogItem,
    CatalogPrice,
    CatalogSnapshot,
)


def books_of(version: VersionRow, store_id: str) -> dict[str, CatalogBook]:
    """The books that apply to the store in `version`, by name."""
    books = version.setup["books"]
    found = pricing.store_books(books, version.setup["groups"], store_id)
    return {name: CatalogBook(name, books[name]["currency"], priority)
            for name, priority in found.items()}


class Plan(NamedTuple):
    """What a store is to be sent to reach `head`: a delta from `base`, or a snapshot (no base).
    Its content depends on the store only through the books that apply to it, so stores with
    the same `key` are sent the same bytes."""

    head: VersionRow
    base: VersionRow | None
    books: dict[str, CatalogBook]       # at head
    books_base: dict[str, CatalogBook]  # at base (empty for a snapshot)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.base.version if self.base else None, self.head.version,
                tuple(sorted(self.books.items())), tuple(sorted(self.books_base.items())))


def plan(store_id: str, head: VersionRow, since: VersionRow | None) -> Plan:
    """A delta from `since` when its content is still kept and it is not after `head`, else a
    snapshot."""
    if since is None or since.pruned or since.version > head.version:
        return Plan(head, None, books_of(head, store_id), {})
    return Plan(head, since, books_of(head, store_id), books_of(since, store_id))


def sections(reader: ContentReader, plan: Plan) -> Iterator[tuple[str, list[Any]]]:
    """The plan's rows, section by section (books, items, prices and, for a delta, the keys
    removed), items and prices in pages: only a delta's changed rows are held at once."""
    if plan.base is None:
        yield "books", _sorted_books(plan.books.values())
        for items in reader.items(plan.head.version):
            yield "items", [_item(i) for i in items]
        for prices in reader.prices(plan.head.version, sorted(plan.books)):
            yield "prices", [_price(p) for p in prices]
        return
    a, b = plan.base.version, plan.head.version
    books_a, books_b = plan.books_base, plan.books
    yield "books", _sorted_books(v for k, v in books_b.items() if books_a.get(k) != v)
    yield "books_removed", sorted(set(books_a) - set(books_b))
    skus = sorted(reader.changed_skus(a, b))
    items_a = {i.sku: i for page in reader.items(a, skus) for i in page}
    items_b = {i.sku: i for page in reader.items(b, skus) for i in page}
    yield "items", [_item(items_b[s]) for s in sorted(items_b) if items_a.get(s) != items_b[s]]
    yield "items_removed", sorted(set(items_a) - set(items_b))
    both = sorted(set(books_a) & set(books_b))
    ids = sorted(reader.changed_price_ids(a, b, both))
    prices_a = {p.price_id: p for page in reader.prices(a, both, ids) for p in page}
    prices_b = {p.price_id: p for page in reader.prices(b, both, ids) for p in page}
    # A book that starts or stops applying to the store brings or takes all of its rows.
    for page in reader.prices(a, sorted(set(books_a) - set(books_b))):
        prices_a.update((p.price_id, p) for p in page)
    for page in reader.prices(b, sorted(set(books_b) - set(books_a))):
        prices_b.update((p.price_id, p) for p in page)
    yield "prices", [_price(prices_b[i]) for i in sorted(prices_b)
                     if prices_a.get(i) != prices_b[i]]
    yield "prices_removed", sorted(set(prices_a) - set(prices_b))


def encode(reader: ContentReader, plan: Plan) -> tuple[bytes, dict[str, int]]:
    """The plan's content encoded (protocol.catalog_stream), and its row counts."""
    kind = "snapshot" if plan.base is None else "delta"
    writer = ContentWriter(kind, plan.head.version, plan.base.version if plan.base else None)
    for section, rows in sections(reader, plan):
        writer.add(section, rows)
    return writer.payload(), writer.counts()


def build(reader: ContentReader, plan: Plan) -> CatalogContent:
    """The plan's content as one message (the API's view; small versions)."""
    found: dict[str, list[Any]] = {}
    for section, rows in sections(reader, plan):
        found.setdefault(section, []).extend(rows)
    if plan.base is None:
        return CatalogSnapshot(plan.head.version, found["books"], found.get("items", []),
                               found.get("prices", []))
    return CatalogDelta(plan.head.version, plan.base.version, **{
        name: found.get(name, []) for name in ("books", "books_removed", "items",
                                               "items_removed", "prices", "prices_removed")})


def plan_in(reader: ContentReader, store_id: str, since: int | None,
            version: int | None = None) -> Plan | None:
    """The plan to bring a store from `since` (None: nothing) to `version` (default: the
    newest); None before the first publication, or for a version not kept."""
    head = reader.version(version or reader.head())
    if head is None or head.pruned:
        return None
    return plan(store_id, head, reader.version(since) if since is not None else None)


async def for_store(db: Database, store_id: str, since: int | None,
                    version: int | None = None) -> CatalogContent | None:
    """What to send a store whose applied version is `since` (None: none) to bring it to
    `version` (default: the newest): a delta when `since`'s content is still kept, else a
    snapshot. None before the first publication, or for a version not kept. Read in a thread."""

    def job(reader: ContentReader) -> CatalogContent | None:
        found = plan_in(reader, store_id, since, version)
        return None if found is None else build(reader, found)

    return await db.read_content(job)


async def price(reads: Reads, store_id: str, sku: str, at: dt.datetime) -> dict[str, Any] | None:
    """The price the store sells `sku` at, at the instant `at`, by the newest version (as the
    store's agent resolves it); None when the newest version has no such active item."""
    head = await reads.publications.version(await reads.publications.head())
    if head is None or not await reads.publications.items_at(head.version, [sku]):
        return None
    books = books_of(head, store_id)
    rows = await reads.publications.prices_at(head.version, sorted(books), sku=sku)
    found = pricing.for_store(rows, {b: v.priority for b, v in books.items()}, at)
    return {"store_id": store_id, "sku": sku, "at": at.isoformat(), "version": head.version,
            "price": None if found is None else {
                "amount": str(found.price), "currency": books[found.book].currency,
                "price_book": found.book, "effective_from": found.effective_from.isoformat(),
                "effective_to": found.effective_to.isoformat() if found.effective_to else None}}


def counts(content: CatalogContent) -> dict[str, int]:
    """How many rows a snapshot holds, or a delta adds or changes and removes."""
    if isinstance(content, CatalogSnapshot):
        return {"books": len(content.books), "items": len(content.items),
                "prices": len(content.prices)}
    return {"books": len(content.books), "books_removed": len(content.books_removed),
            "items": len(content.items), "items_removed": len(content.items_removed),
            "prices": len(content.prices), "prices_removed": len(content.prices_removed)}


def _sorted_books(books: Any) -> list[CatalogBook]:
    return sorted(books, key=lambda b: (-b.priority, b.book))


def _item(row: ItemRow) -> CatalogItem:
    return CatalogItem(row.sku, row.name, row.barcode, row.unit, row.tax_class)


def _price(row: PriceRow) -> CatalogPrice:
    return CatalogPrice(row.price_id, row.book, row.sku, row.price, row.effective_from,
                        row.effective_to)
