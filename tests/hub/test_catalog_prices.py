"""Which price a store sells at: the highest-priority book that applies to it (directly, through a
group, or to every store) and has a price in force; effective dating at instants, on a frozen clock;
a temporary price over the list price; the API ones on SQLite and PostgreSQL (`storage`)."""

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from hub.catalog import pricing
from tests.hub.catalog_server import catalog_server


class Row(NamedTuple):
    book: str
    price: Decimal
    effective_from: dt.datetime
    effective_to: dt.datetime | None = None


def day(n: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, n, hour, tzinfo=dt.UTC)


def test_within_a_book_a_temporary_price_wins_while_it_runs_then_the_list_price_applies():
    rows = [Row("b", Decimal(10), day(1)), Row("b", Decimal(12), day(5)),
            Row("b", Decimal(7), day(3), day(10))]
    assert [pricing.in_book(rows, day(n)).price for n in (1, 3, 4, 5, 9)] == [10, 7, 7, 7, 7]
    assert pricing.in_book(rows, day(10)).price == 12
    assert pricing.in_book(rows, dt.datetime(2026, 11, 30, tzinfo=dt.UTC)) is None


def test_what_clashes():
    list_1, temp_1_5 = Row("b", Decimal(1), day(1)), Row("b", Decimal(1), day(1), day(5))
    assert pricing.clash(list_1, Row("b", Decimal(2), day(1)))
    assert not pricing.clash(list_1, Row("b", Decimal(2), day(2)))
    assert not pricing.clash(list_1, temp_1_5)  # the temporary price wins while it runs
    assert pricing.clash(temp_1_5, Row("b", Decimal(2), day(4), day(9)))
    assert not pricing.clash(temp_1_5, Row("b", Decimal(2), day(5), day(9)))  # back to back


def test_a_cut_in_percent():
    assert pricing.cut_percent(Decimal("10.00"), Decimal("1.00")) == 90
    assert pricing.cut_percent(Decimal("10.00"), Decimal("12.00")) == 0
    assert pricing.cut_percent(Decimal("0"), Decimal("0")) == 0


def test_the_books_of_a_store_directly_through_a_group_or_for_all():
    books = {"base": {"priority": 1, "all_stores": True, "stores": [], "groups": []},
             "north": {"priority": 5, "all_stores": False, "stores": [], "groups": ["n"]},
             "s1": {"priority": 9, "all_stores": False, "stores": ["S001"], "groups": []}}
    groups = {"n": ["S001", "S002"]}
    assert pricing.store_books(books, groups, "S001") == {"base": 1, "north": 5, "s1": 9}
    assert pricing.store_books(books, groups, "S002") == {"base": 1, "north": 5}
    assert pricing.store_books(books, groups, "S003") == {"base": 1}


async def chain(client):
    """base (all stores) < north (group north: S001, S002) < s1 (S001 only)."""
    await client.items("A", "B")
    await client.ok("PUT", "/v1/store-groups/north", {"stores": ["S001", "S002"]})
    await client.book("base", 10, stores="all")
    await client.book("north", 20, groups=["north"])
    await client.book("s1", 30, stores=["S001"])
    await client.prices("base", {"sku": "A", "price": "10.00",
                                 "effective_from": "2026-11-01T00:00:00Z"},
                        {"sku": "B", "price": "3.00", "effective_from": "2026-11-01T00:00:00Z"})
    await client.prices("north", {"sku": "A", "price": "9.00",
                                  "effective_from": "2026-12-01T00:00:00+01:00"})
    await client.prices("s1", {"sku": "A", "price": "8.00", "effective_from": "2026-12-10T00:00:00Z",
                               "effective_to": "2026-12-20T00:00:00Z"})
    await client.publish()


async def test_the_highest_priority_book_with_a_price_in_force_wins(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await chain(client)
        dec_15 = "2026-12-15T12:00:00Z"
        assert await client.price("S003", "A", dec_15) == ("10.00", "base")
        assert await client.price("S002", "A", "2026-11-30T22:59:59Z") == ("10.00", "base")
        assert await client.price("S002", "A", "2026-11-30T23:00:00Z") == ("9.00", "north")
        assert await client.price("S001", "A", dec_15) == ("8.00", "s1")
        assert await client.price("S001", "A", "2026-12-20T00:00:00Z") == ("9.00", "north")
        assert await client.price("S001", "B", dec_15) == ("3.00", "base")  # only base has B
        assert await client.price("S001", "A", "2026-10-01T00:00:00Z") is None
        status, body = await client.get("/v1/stores/S001/prices/NOPE")
        assert (status, body["field"]) == (404, "sku")


async def test_effective_dating_follows_the_clock(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await chain(client)
        assert await client.price("S001", "A") == ("10.00", "base")  # the clock: Nov 23
        client.clock.set("2026-12-01T00:00:00+01:00")
        assert await client.price("S001", "A") == ("9.00", "north")
        client.clock.set("2026-12-10T00:00:00Z")
        assert await client.price("S001", "A") == ("8.00", "s1")
        client.clock.advance(days=10)
        assert await client.price("S001", "A") == ("9.00", "north")


async def test_priorities_and_groups_count_as_published(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await chain(client)
        dec_15 = "2026-12-15T12:00:00Z"
        await client.book("north", 5, groups=["north"])  # now below base
        assert await client.price("S002", "A", dec_15) == ("9.00", "north")  # not yet published
        await client.publish()
        assert await client.price("S002", "A", dec_15) == ("10.00", "base")
        await client.book("north", 20, groups=["north"])
        await client.ok("PUT", "/v1/store-groups/north", {"stores": ["S001"]})
        await client.publish()
        assert await client.price("S002", "A", dec_15) == ("10.00", "base")
        assert await client.price("S001", "A", "2026-12-21T00:00:00Z") == ("9.00", "north")


async def test_a_staged_price_applies_only_once_published(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await chain(client)
        await client.prices("base", {"sku": "A", "price": "11.00",
                                     "effective_from": "2026-11-20T00:00:00Z"})
        assert await client.price("S003", "A") == ("10.00", "base")
        await client.publish(stores=["S003"])
        assert await client.price("S003", "A") == ("11.00", "base")
