"""Every rule a catalog write is checked against, over real HTTP on a real database: 422 naming
the field (and for price changes the change's index), all or nothing."""

import aiohttp
import pytest

from tests.hub.catalog_server import catalog_server

DEC_1 = "2026-12-01T00:00:00+01:00"
DEC_8 = "2026-12-08T00:00:00+01:00"
DEC_4 = "2026-12-04T00:00:00+01:00"
DEC_12 = "2026-12-12T00:00:00+01:00"


async def seeded(client):
    """Items A, B (inactive), C; book base (EUR) for all stores with A at 10.00 published from
    Nov 1, and a staged promo for C; book yen (JPY) and kwd (KWD)."""
    await client.items("A", "C")
    await client.items("B", active=False)
    await client.book("base", 10, stores="all")
    await client.book("yen", 5, currency="JPY")
    await client.book("kwd", 4, currency="KWD")
    await client.prices("base", {"sku": "A", "price": "10.00",
                                 "effective_from": "2026-11-01T00:00:00Z"})
    await client.publish()
    await client.prices("base", {"sku": "C", "price": "5.00", "effective_from": DEC_1,
                                 "effective_to": DEC_8})


def change(sku="A", price="9.00", start=DEC_1, end=None):
    return {"sku": sku, "price": price, "effective_from": start,
            **({"effective_to": end} if end else {})}


async def refused(client, book, *changes, force=False):
    status, body = await client.post(f"/v1/price-books/{book}/prices",
                                     {"changes": list(changes), "force": force})
    assert status == 422, body
    assert body["field"] == body["refused"][0]["field"]
    return [(r["index"], r["field"]) for r in body["refused"]], body


@pytest.mark.parametrize("book, bad, field, words", [
    ("base", change(sku="NOPE"), "sku", "no item"),
    ("base", change(sku="B"), "sku", "not active"),
    ("base", change(price="-0.01"), "price", "negative"),
    ("base", change(price="12.345"), "price", "EUR has 2 decimals"),
    ("yen", change(price="100.5"), "price", "JPY has 0 decimals"),
    ("kwd", change(price="1.2345"), "price", "KWD has 3 decimals"),
    ("base", change(price="1000000000000"), "price", "10^12"),
    ("base", change(end=DEC_1), "effective_to", "after effective_from"),
    ("base", change(start=DEC_8, end=DEC_1), "effective_to", "after effective_from"),
    ("base", change(start="1999-12-31T00:00:00Z"), "effective_from", "2000-2999"),
    ("base", change(start="2026-12-01T00:00:00"), "effective_from", "offset"),
    # A list price from the same instant as the published one.
    ("base", change(start="2026-11-01T01:00:00+01:00"), "effective_from", "published price"),
    # A temporary price overlapping the staged promo for C.
    ("base", change(sku="C", price="4.50", start=DEC_4, end=DEC_12), "effective_from",
     "staged price"),
    ("base", change(price="0.99"), "price", "max_price_drop_percent = 90"),
])
async def test_each_rule_refuses_the_change_naming_its_index_and_field(
        tmp_path, book, bad, field, words):
    async with catalog_server(tmp_path) as client:
        await seeded(client)
        good = change(sku="C", price="6.00", start="2027-01-01T00:00:00Z")
        found, body = await refused(client, book, good, bad)
        assert found == [(1, f"changes[1].{field}")]
        assert words in body["refused"][0]["error"], body
        assert "nothing staged" in body["error"]
        books = (await client.ok("GET", "/v1/price-books"))["books"]
        assert {b["book"]: b["staged_prices"] for b in books} == {"base": 1, "yen": 0, "kwd": 0}


async def test_every_refused_change_gets_its_own_reason(tmp_path):
    async with catalog_server(tmp_path) as client:
        await seeded(client)
        found, _ = await refused(
            client, "base", change(sku="NOPE"), change(price="9.50"), change(price="-1"),
            change(start="2026-12-01T00:00:00+00:00"),  # fine: another instant than [1]
            change(price="9.60", start="2026-12-01T00:00:00+01:00"))  # clashes with [1]
        assert found == [(0, "changes[0].sku"), (2, "changes[2].price"),
                         (4, "changes[4].effective_from")]


async def test_clashes_within_a_set_and_what_does_not_clash(tmp_path):
    async with catalog_server(tmp_path) as client:
        await seeded(client)
        found, body = await refused(client, "base", change(sku="C", price="4", start=DEC_1,
                                                           end=DEC_8),
                                    change(sku="A", price="8", start=DEC_4, end=DEC_12),
                                    change(sku="A", price="7", start=DEC_1, end=DEC_8))
        assert found == [(0, "changes[0].effective_from"), (2, "changes[2].effective_from")]
        assert "changes[1]" in body["refused"][1]["error"]
        # A temporary price over a list price, back to back temporary prices, and a later list
        # price are all fine: at every instant one of them applies.
        await client.prices("base", change(price="8.00", start=DEC_1, end=DEC_8),
                            change(price="7.50", start=DEC_8, end=DEC_12),
                            change(price="9.50", start=DEC_4))


async def test_a_cut_beyond_the_limit_passes_with_force_and_the_limit_is_configurable(tmp_path):
    from hub.config import CatalogConfig

    async with catalog_server(tmp_path) as client:
        await seeded(client)
        await client.prices("base", change(price="1.00"))  # exactly 90 % off: allowed
        nov_20 = "2026-11-20T00:00:00Z"  # 10.00 is in force then
        await refused(client, "base", change(price="0.99", start=nov_20))
        await client.prices("base", change(price="0.99", start=nov_20), force=True)
        # A cut is measured against the price in force at the change's start, staged included.
        await client.prices("base", change(price="0.10", start=DEC_12))
    async with catalog_server(tmp_path / "strict", config=CatalogConfig(
            max_price_drop_percent=20)) as client:
        await seeded(client)
        found, body = await refused(client, "base", change(price="7.99"))
        assert found == [(0, "changes[0].price")] and "20.1 % off" in body["error"]


async def test_prices_are_kept_in_the_currencys_minor_units(tmp_path):
    async with catalog_server(tmp_path) as client:
        await seeded(client)
        await client.prices("base", change(price="12.500"))
        await client.prices("yen", change(price=1200))  # a JSON number, read exactly
        await client.book("yen", 5, currency="JPY", stores=["S001"])
        await client.publish()
        assert await client.price("S001", "A", "2026-12-02T00:00:00Z") == ("12.50", "base")


@pytest.mark.parametrize("body, field", [
    ({"changes": []}, "changes"),
    ({"changes": [{"sku": "A", "effective_from": DEC_1}]}, "changes[0].price"),
    ({"changes": [{"sku": "A", "price": "12,00", "effective_from": DEC_1}]}, "changes[0].price"),
    ({"changes": [{"sku": "A", "price": 1e20, "effective_from": DEC_1}]}, "changes[0].price"),
    ({"changes": [{"sku": "A", "price": "1", "effective_from": "soon"}]},
     "changes[0].effective_from"),
    ({"changes": [change()], "colour": "red"}, "colour"),
    ({"changes": [change()] * 10_001}, "changes"),
    ([change()], "$"),
])
async def test_a_malformed_change_set_names_the_field(tmp_path, body, field):
    async with catalog_server(tmp_path) as client:
        await seeded(client)
        status, answer = await client.post("/v1/price-books/base/prices", body)
        assert (status, answer["field"]) == (422, field), answer


async def test_items_are_checked_whole(tmp_path):
    async with catalog_server(tmp_path) as client:
        await client.ok("PUT", "/v1/items", [{"sku": "A", "name": "A", "barcode": "400", "active": True}])
        for body, field in [
            ([{"sku": "X", "name": "X", "active": True}, {"sku": "X", "name": "Y", "active": True}],
             "[1].sku"),
            ([{"sku": "B", "name": "B", "barcode": "400", "active": True}], "[0].barcode"),
            ([{"sku": "B", "name": "B", "barcode": "9", "active": True},
              {"sku": "C", "name": "C", "barcode": "9", "active": True}], "[1].barcode"),
            ([{"sku": "B", "active": True}], "[0].name"),
            ([{"sku": "B", "name": "B"}], "[0].active"),
            ([{"sku": "B", "name": "B", "active": True, "colour": "red"}], "[0].colour"),
            ([{"sku": "", "name": "B", "active": True}], "[0].sku"),
            ({"sku": "B"}, "$"),
            ([{"sku": f"S{n}", "name": "n", "active": True} for n in range(10_001)], "$"),
        ]:
            status, answer = await client.put("/v1/items", body)
            assert (status, answer["field"]) == (422, field), answer
        assert (await client.ok("GET", "/v1/catalog"))["items"] == 1
        # A barcode may move between two items of the same call.
        await client.ok("PUT", "/v1/items", [
            {"sku": "A", "name": "A", "barcode": "401", "active": True},
            {"sku": "B", "name": "B", "barcode": "400", "active": True}])
        assert (await client.ok("GET", "/v1/items/B"))["barcode"] == "400"


async def test_books_groups_and_publications_are_checked(tmp_path):
    async with catalog_server(tmp_path) as client:
        await seeded(client)
        for path, body, status, field in [
            ("/v1/price-books/x", {"currency": "XYZ", "priority": 1}, 422, "currency"),
            ("/v1/price-books/x", {"currency": "EUR", "priority": 10}, 422, "priority"),
            ("/v1/price-books/x", {"currency": "EUR", "priority": 1, "groups": ["nope"]}, 422,
             "groups[0]"),
            ("/v1/price-books/base", {"currency": "USD", "priority": 10}, 422, "currency"),
            ("/v1/price-books/x", {"currency": "EUR", "priority": 1, "stores": ["S/1"]}, 422,
             "stores[0]"),
            ("/v1/price-books/a%20b", {"currency": "EUR", "priority": 1}, 422, "book"),
            ("/v1/store-groups/north", {"stores": "S001"}, 422, "stores"),
            ("/v1/store-groups/no%20rth", {"stores": []}, 422, "group"),
        ]:
            got, answer = await client.put(path, body)
            assert (got, answer["field"]) == (status, field), (path, answer)
        for body, status, field in [
            ({}, 422, "stores"),
            ({"stores": ["S001", "S999"]}, 422, "stores[1]"),
            ({"groups": ["nope"]}, 422, "groups[0]"),
            ({"rollback_to": 99}, 422, "rollback_to"),
            ({"rollback_to": 1}, 409, "rollback_to"),  # the promo for C is staged
            ({"stores": "some"}, 422, "stores"),
        ]:
            got, answer = await client.post("/v1/publications", body)
            assert (got, answer["field"]) == (status, field), (body, answer)
        got, answer = await client.post("/v1/price-books/nope/prices", {"changes": [change()]})
        assert (got, answer["field"]) == (404, "book")
        for path in ("/v1/publications/7", "/v1/publications/7/cancel"):
            got, answer = await client.call("GET" if "cancel" not in path else "POST", path)
            assert (got, answer["field"]) == (404, "id")
        got, answer = await client.get("/v1/stores/S001/prices/A", at="yesterday")
        assert (got, answer["field"]) == (422, "at")


async def test_every_write_needs_the_admin_token_and_reads_do_not(tmp_path):
    async with catalog_server(tmp_path) as client, aiohttp.ClientSession() as anonymous:
        for method, path in [("PUT", "/v1/items"), ("PUT", "/v1/store-groups/g"),
                             ("PUT", "/v1/price-books/b"), ("POST", "/v1/price-books/b/prices"),
                             ("DELETE", "/v1/price-books/b/prices/staged"),
                             ("POST", "/v1/publications"), ("POST", "/v1/publications/1/cancel")]:
            async with anonymous.request(method, client.url + path, json={}) as r:
                assert r.status == 401 and (await r.json())["field"] == "Authorization"
        for path in ("/v1/items", "/v1/price-books", "/v1/store-groups", "/v1/publications",
                     "/v1/catalog"):
            async with anonymous.get(client.url + path) as r:
                assert r.status == 200, path
    async with catalog_server(tmp_path / "no-token", token=None) as client:
        status, answer = await client.put("/v1/items", [])
        assert status == 403 and answer["field"] == "Authorization"
