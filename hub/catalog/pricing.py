"""When two prices clash, how much a change cuts, which books apply to a store; and which price
applies, whose rule lives in protocol.pricing because a store's agent resolves by it too, from
what it was sent (docs/catalog.md#effective-dating). Pure functions over price rows.

A book holds at most one price for a SKU at any instant under protocol.pricing's rule (list
prices and temporary prices), unless two rows cannot be told apart: two list prices from the same
instant, or two temporary prices whose intervals overlap.
Those are the clashes a change set is refused for ("two prices for the same book and SKU at the
same instant").

For a store, the price of a SKU at an instant is the one of the highest-priority book that
applies to the store (directly, through a group, or to all stores) and has a price in force.
"""

from collections.abc import Iterable, Mapping
from decimal import Decimal

# The rule of which price applies is the wire contract's: the stores resolve by it too.
from protocol.pricing import BookedPrice, PriceLike, for_store, in_book, in_force

__all__ = ["BookedPrice", "PriceLike", "clash", "cut_percent", "for_store", "in_book",
           "in_force", "store_books"]


def clash(a: PriceLike, b: PriceLike) -> bool:
    """Whether two rows of the same book and SKU cannot be told apart at some instant."""
    if a.effective_to is None and b.effective_to is None:
        return a.effective_from == b.effective_from
    if a.effective_to is not None and b.effective_to is not None:
        return a.effective_from < b.effective_to and b.effective_from < a.effective_to
    return False


def cut_percent(old: Decimal, new: Decimal) -> Decimal:
    """How much `new` cuts `old`, in percent of `old` (0 for a rise, or when old is 0)."""
    if old <= 0 or new >= old:
        return Decimal(0)
    return (old - new) * 100 / old


def store_books(setup: Mapping[str, Mapping[str, object]], groups: Mapping[str, Iterable[str]],
                store_id: str) -> dict[str, int]:
    """{book: priority} of the books that apply to a store, from a version's setup (its books
    and groups, as hub.storage.catalog.CatalogWrites.setup records them)."""
    member_of = {g for g, stores in groups.items() if store_id in stores}
    found: dict[str, int] = {}
    for book, body in setup.items():
        stores = body["stores"]
        named = stores if isinstance(stores, list) else []
        book_groups = body["groups"]
        assert isinstance(book_groups, list)
        if body["all_stores"] or store_id in named or member_of & set(book_groups):
            priority = body["priority"]
            assert isinstance(priority, int)
            found[book] = priority
    return found
