"""Head office's master data: items, store groups, price books and staged price changes. Each
function is one writer job (`Database.run(functools.partial(f, ...))`): it checks, then writes,
all in one transaction, so a refused request leaves nothing behind.

What is written here reaches the stores only when it is published (hub.catalog.publishing).
"""

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from hub.catalog import validation
from hub.catalog.requests import BookIn, ChangeSetIn, ItemIn
from hub.errors import CatalogError, ChangesRefused
from hub.storage import Transaction
from hub.storage.catalog import BookRow, ItemRow, NewPrice


def _index(i: int, field: str) -> str:
    return f"[{i}].{field}"


def put_items(tx: Transaction, items: Sequence[ItemIn], now: dt.datetime,
              where: Callable[[int, str], str] = _index) -> dict[str, int]:
    """Create or replace these items whole. Refused when a SKU comes twice or a barcode belongs
    to another item, naming the field as `where(index, field)` does: `[3].barcode` (a CSV:
    `line 5: barcode`)."""
    first, by_barcode = check_unique(items, where)
    for barcode, owner in tx.catalog.barcode_owners(by_barcode).items():
        # An owner within this call gives its barcode up (its new one is in the call).
        if owner not in first:
            raise CatalogError(f"barcode {barcode!r} belongs to item {owner!r}",
                               where(by_barcode[barcode], "barcode"))
    known = tx.catalog.item_states(first)
    tx.catalog.upsert_items([ItemRow(i.sku, i.name, i.barcode, i.unit, i.tax_class, i.active)
                             for i in items], now)
    return {"items": len(items), "created": len(items) - len(known), "updated": len(known)}


def check_unique(items: Sequence[ItemIn], where: Callable[[int, str], str] = _index,
                 ) -> tuple[dict[str, int], dict[str, int]]:
    """The index of each SKU and of each barcode, or CatalogError when one comes twice."""
    first: dict[str, int] = {}
    by_barcode: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.sku in first:
            raise CatalogError(f"SKU {item.sku!r} comes twice (first at "
                               f"{where(first[item.sku], 'sku')})", where(i, "sku"))
        first[item.sku] = i
        if item.barcode is not None:
            if item.barcode in by_barcode:
                raise CatalogError(f"barcode {item.barcode!r} is given to two items (first at "
                                   f"{where(by_barcode[item.barcode], 'barcode')})",
                                   where(i, "barcode"))
            by_barcode[item.barcode] = i
    return first, by_barcode


def put_group(tx: Transaction, group: str, stores: Sequence[str],
              now: dt.datetime) -> dict[str, Any]:
    """A store group's members become exactly `stores`."""
    tx.catalog.put_group(group, stores, now)
    return {"group": group, "stores": sorted(set(stores))}


def put_book(tx: Transaction, book: str, body: BookIn, now: dt.datetime) -> dict[str, Any]:
    """Create or replace a price book's currency, priority and the stores it applies to.
    Refused: a currency ISO 4217 does not give minor units for; a priority another book has
    (two books never tie); a group that does not exist; a new currency while the book has
    prices."""
    if validation.minor_units(body.currency) is None:
        raise CatalogError(f"{body.currency!r} is not an ISO 4217 currency with minor units",
                           "currency")
    other = tx.catalog.book_with_priority(body.priority, book)
    if other is not None:
        raise CatalogError(f"book {other!r} has priority {body.priority}: give each book its own",
                           "priority")
    missing = sorted(set(body.groups) - tx.catalog.existing_groups(body.groups))
    if missing:
        raise CatalogError(f"no store group {missing[0]!r} (PUT /v1/store-groups/{missing[0]})",
                           f"groups[{body.groups.index(missing[0])}]")
    before = tx.catalog.book(book)
    if before is not None and before.currency != body.currency and (
            tx.publications.book_has_prices(book) or tx.catalog.staged_count(book)):
        raise CatalogError(f"book {book!r} has prices in {before.currency}: its currency cannot "
                           "change (make a new book)", "currency")
    every = body.stores == "all"
    row = BookRow(book, body.currency, body.priority, every,
                  [] if every else sorted(set(body.stores)), sorted(set(body.groups)))
    tx.catalog.put_book(row, now)
    return book_view(row)


def book_view(row: BookRow) -> dict[str, Any]:
    return {"book": row.book, "currency": row.currency, "priority": row.priority,
            "stores": "all" if row.all_stores else row.stores, "groups": row.groups}


def stage_prices(tx: Transaction, book: str, body: ChangeSetIn, now: dt.datetime,
                 max_drop_percent: int) -> dict[str, Any]:
    """Check a change set against every rule (hub.catalog.validation) and stage it whole, or
    raise ChangesRefused with a reason per refused change and stage nothing."""
    found = tx.catalog.book(book)
    if found is None:
        raise CatalogError(f"no price book {book!r} (PUT /v1/price-books/{book} first)", "book",
                           status=404)
    skus = {c.sku for c in body.changes}
    ctx = validation.Context(
        currency=found.currency, items=tx.catalog.item_states(skus),
        published=tx.publications.head_prices(book, skus),
        staged=tx.catalog.staged_prices(book, skus),
        max_drop_percent=max_drop_percent, force=body.force)
    refused = validation.refusals(body.changes, ctx)
    if refused:
        raise ChangesRefused(refused, len(body.changes))
    change_set = tx.catalog.stage(
        book, [NewPrice(c.sku, validation.in_minor_units(c.price, found.currency),
                        c.effective_from, c.effective_to) for c in body.changes], body.force, now)
    return {"book": book, "change_set": change_set, "staged": len(body.changes)}


def withdraw(tx: Transaction, book: str, now: dt.datetime) -> dict[str, Any]:
    """Take back the book's staged, unpublished price changes."""
    if tx.catalog.book(book) is None:
        raise CatalogError(f"no price book {book!r}", "book", status=404)
    return {"book": book, "withdrawn": tx.catalog.withdraw(book, now)}
