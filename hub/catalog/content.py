"""What a store receives of a catalog version: the active items, the books that apply to it
(with their priorities) and every price row of those books, so that it resolves future-dated
prices itself, offline (hub.catalog.pricing). Sent whole as a snapshot, or as the delta from the
version the store has applied while that version's content is kept ([catalog] keep_versions).
"""

import datetime as dt
from typing import Any

from hub.catalog import pricing
from hub.storage import Reads
from hub.storage.catalog import ItemRow, PriceRow
from hub.storage.publications import VersionRow
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


async def snapshot(reads: Reads, store_id: str, version: VersionRow) -> CatalogSnapshot:
    """The store's whole catalog at `version` (whose content must still be kept)."""
    books = books_of(version, store_id)
    items = await reads.publications.items_at(version.version)
    prices = await reads.publications.prices_at(version.version, sorted(books))
    return CatalogSnapshot(version.version, _sorted_books(books.values()),
                           [_item(i) for i in items], [_price(p) for p in prices])


async def delta(reads: Reads, store_id: str, base: VersionRow,
                version: VersionRow) -> CatalogDelta:
    """What changed for the store from `base` to `version` (both kept, base before version):
    rows added or changed, whole, and the keys of rows removed."""
    a, b = base.version, version.version
    books_a, books_b = books_of(base, store_id), books_of(version, store_id)
    skus = await reads.publications.changed_skus(a, b)
    items_a = {i.sku: i for i in await reads.publications.items_at(a, skus)}
    items_b = {i.sku: i for i in await reads.publications.items_at(b, skus)}
    both = sorted(set(books_a) & set(books_b))
    ids = await reads.publications.changed_price_ids(a, b, both)
    prices_a = {p.price_id: p for p in await reads.publications.prices_at(a, both, ids=ids)}
    prices_b = {p.price_id: p for p in await reads.publications.prices_at(b, both, ids=ids)}
    # A book that starts or stops applying to the store brings or takes all of its rows.
    for p in await reads.publications.prices_at(a, sorted(set(books_a) - set(books_b))):
        prices_a[p.price_id] = p
    for p in await reads.publications.prices_at(b, sorted(set(books_b) - set(books_a))):
        prices_b[p.price_id] = p
    return CatalogDelta(
        version=b, base_version=a,
        books=_sorted_books(v for k, v in books_b.items() if books_a.get(k) != v),
        books_removed=sorted(set(books_a) - set(books_b)),
        items=[_item(items_b[s]) for s in sorted(items_b) if items_a.get(s) != items_b[s]],
        items_removed=sorted(set(items_a) - set(items_b)),
        prices=[_price(prices_b[i]) for i in sorted(prices_b) if prices_a.get(i) != prices_b[i]],
        prices_removed=sorted(set(prices_a) - set(prices_b)))


async def for_store(reads: Reads, store_id: str, since: int | None,
                    version: int | None = None) -> CatalogContent | None:
    """What to send a store whose applied version is `since` (None: none) to bring it to
    `version` (default: the newest): a delta when `since`'s content is still kept, else a
    snapshot. None before the first publication, or for a version not kept."""
    head = await reads.publications.version(version or await reads.publications.head())
    if head is None or head.pruned:
        return None
    base = await reads.publications.version(since) if since is not None else None
    if base is None or base.pruned or base.version > head.version:
        return await snapshot(reads, store_id, head)
    return await delta(reads, store_id, base, head)


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
