"""Which price applies at an instant: the rule the hub and every store resolve by, so a store
prices by itself, offline, from the rows it was sent (docs/catalog.md#which-price-applies).

Within one price book, for one SKU:
- a row without `effective_to` is a *list price*: in force from `effective_from` until the next
  list price starts;
- a row with `effective_to` is a *temporary price* (a promotion, a markdown): in force from
  `effective_from` until just before `effective_to`, and while it runs it wins over the list
  price, which applies again afterwards.

For a store, the price of a SKU at an instant is the one of the highest-priority book that
applies to the store and has a price in force then.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Protocol, TypeVar


class PriceLike(Protocol):
    """A price row: hub.storage.catalog.PriceRow, protocol.messages.CatalogPrice, a change."""

    @property
    def price(self) -> Decimal: ...

    @property
    def effective_from(self) -> dt.datetime: ...

    @property
    def effective_to(self) -> dt.datetime | None: ...


class BookedPrice(PriceLike, Protocol):
    """A price row that names its book."""

    @property
    def book(self) -> str: ...


P = TypeVar("P", bound=PriceLike)
B = TypeVar("B", bound=BookedPrice)


def in_force(row: PriceLike, at: dt.datetime) -> bool:
    """Whether the row's own interval holds `at` (a list price may still be superseded)."""
    return row.effective_from <= at and (row.effective_to is None or at < row.effective_to)


def in_book(rows: Iterable[P], at: dt.datetime) -> P | None:
    """The row in force at `at` among one book's rows for one SKU: the temporary price that
    runs then, else the list price that started last by then; None when neither."""
    temporary: P | None = None
    listed: P | None = None
    for row in rows:
        if row.effective_to is not None:
            if in_force(row, at) and (temporary is None
                                      or row.effective_from > temporary.effective_from):
                temporary = row
        elif row.effective_from <= at and (listed is None
                                           or row.effective_from > listed.effective_from):
            listed = row
    return temporary or listed


def for_store(rows: Iterable[B], books: Mapping[str, int], at: dt.datetime) -> B | None:
    """The price in force at `at` for a store to which `books` ({book: priority}) apply, from
    rows of one SKU (of any books)."""
    by_book: dict[str, list[B]] = defaultdict(list)
    for row in rows:
        if row.book in books:
            by_book[row.book].append(row)
    for book in sorted(by_book, key=lambda b: -books[b]):
        found = in_book(by_book[book], at)
        if found is not None:
            return found
    return None
