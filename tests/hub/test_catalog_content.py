"""What a store is sent: a snapshot (items, the books that apply to it with their priorities, every
price row of those books) or the delta between two versions; a delta applied to the earlier snapshot
gives the later one, for every store and every pair of kept versions; on SQLite and PostgreSQL
(`storage`)."""

import itertools
from typing import Any

import msgspec

from hub.catalog import content
from protocol import chunking, codec
from protocol.messages import CatalogContent
from tests.hub.catalog_server import catalog_server


def applied(snapshot: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """`delta` applied to `snapshot`, as a store's agent applies it."""
    assert delta["kind"] == "delta" and delta["base_version"] == snapshot["version"]
    books = {b["book"]: b for b in snapshot["books"]}
    items = {i["sku"]: i for i in snapshot["items"]}
    prices = {p["id"]: p for p in snapshot["prices"]}
    for rows, key, removed, found in ((books, "book", "books_removed", "books"),
                                      (items, "sku", "items_removed", "items"),
                                      (prices, "id", "prices_removed", "prices")):
        for gone in delta[removed]:
            del rows[gone]
        rows.update({row[key]: row for row in delta[found]})
    return {"kind": "snapshot", "version": delta["version"],
            "books": sorted(books.values(), key=lambda b: (-b["priority"], b["book"])),
            "items": sorted(items.values(), key=lambda i: i["sku"]),
            "prices": sorted(prices.values(), key=lambda p: p["id"])}


def change(sku, price, start="2026-11-01T00:00:00Z", end=None):
    return {"sku": sku, "price": price, "effective_from": start,
            **({"effective_to": end} if end else {})}


async def history(client) -> None:
    """Seven versions that change every kind of row, for the stores differently."""
    await client.items("A", "B", "C")
    await client.ok("PUT", "/v1/store-groups/north", {"stores": ["S001", "S002"]})
    await client.book("base", 10, stores="all")
    await client.book("north", 20, groups=["north"])
    await client.prices("base", change("A", "10.00"), change("B", "3.00"), change("C", "4.00"))
    await client.prices("north", change("A", "9.50"))
    await client.publish()  # 1
    await client.ok("PUT", "/v1/items", [{"sku": "A", "name": "Apple", "barcode": "4001",
                                          "active": True},
                                         {"sku": "D", "name": "Date", "active": True}])
    await client.prices("base", change("D", "1.00"), change("A", "8.00", "2026-12-01T00:00:00Z",
                                                            "2026-12-08T00:00:00Z"))
    await client.publish()  # 2
    await client.items("B", active=False)
    await client.book("north", 5, groups=["north"])  # below base now
    await client.book("s3", 30, stores=["S003"])
    await client.prices("s3", change("C", "3.50"))
    await client.publish()  # 3
    await client.ok("PUT", "/v1/store-groups/north", {"stores": ["S001"]})  # S002 leaves
    await client.items("B")  # back
    await client.prices("base", change("B", "3.20", "2026-11-20T00:00:00Z"))
    await client.publish(stores=["S001"])  # 4 (only S001 now; the content is everyone's)
    await client.publish(rollback_to=2)  # 5
    await client.prices("base", change("C", "4.40", "2026-11-22T00:00:00Z"))
    await client.publish()  # 6
    client.clock.advance(days=2)  # C's 4.00 and B's 3.00 stopped applying over a day ago
    await client.publish()  # 7


async def test_a_delta_applied_to_the_earlier_snapshot_gives_the_later_one(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await history(client)
        for store in ("S001", "S002", "S003", "S999"):
            snaps = {v: await client.ok("GET", f"/v1/stores/{store}/catalog?version={v}")
                     for v in range(1, 8)}
            for a, b in itertools.combinations(range(1, 8), 2):
                status, delta = await client.get(f"/v1/stores/{store}/catalog",
                                                 since=str(a), version=str(b))
                assert status == 200
                later = {k: v for k, v in snaps[b].items() if k != "counts"}
                assert applied(snaps[a], delta) == later, (store, a, b)


async def test_a_snapshot_holds_the_active_items_and_every_row_of_the_stores_books(tmp_path,
                                                                                   storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await history(client)
        snap = await client.ok("GET", "/v1/stores/S003/catalog?version=3")
        assert snap["kind"] == "snapshot"
        assert [b["book"] for b in snap["books"]] == ["s3", "base"]
        assert [i["sku"] for i in snap["items"]] == ["A", "C", "D"]  # B is inactive in 3
        assert {(p["book"], p["sku"]) for p in snap["prices"]} == {
            ("base", "A"), ("base", "B"), ("base", "C"), ("base", "D"), ("s3", "C")}
        assert snap["counts"] == {"books": 2, "items": 3, "prices": 6}
        one = await client.ok("GET", "/v1/stores/S001/catalog?version=1")
        assert [(b["book"], b["priority"]) for b in one["books"]] == [("north", 20), ("base", 10)]


async def test_a_delta_names_only_what_changed_for_that_store(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await history(client)
        status, d = await client.get("/v1/stores/S002/catalog", since="3", version="4")
        assert d["books"] == [] and d["books_removed"] == ["north"]  # S002 left the group
        assert [i["sku"] for i in d["items"]] == ["B"] and d["items_removed"] == []
        assert {p["sku"] for p in d["prices"]} == {"B"}
        status, d = await client.get("/v1/stores/S003/catalog", since="3", version="3")
        assert d["counts"] == {"books": 0, "books_removed": 0, "items": 0, "items_removed": 0,
                               "prices": 0, "prices_removed": 0}
        status, d = await client.get("/v1/stores/S003/catalog", since="9")
        assert d["kind"] == "snapshot" and d["version"] == 7  # a version from the future
        status, d = await client.get("/v1/stores/S003/catalog", version="8")
        assert (status, d["field"]) == (404, "version")


async def test_what_a_store_is_sent_goes_through_the_wire_whole(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await history(client)
        found = await content.for_store(client.db, "S001", 2)
        assert found is not None
        payload = codec.encode_catalog(found)
        chunks = chunking.split(payload, found.version, 1024)
        again: CatalogContent = codec.decode_catalog_content(
            chunking.join(codec.decode_catalog_chunk(codec.encode_catalog(c)) for c in chunks))
        assert again == found
        as_json = msgspec.to_builtins(found)
        assert as_json["kind"] == "delta" and as_json["base_version"] == 2
