"""Publications over real HTTP on a real database (SQLite and PostgreSQL: `storage`): a new
immutable version per publication, its target stores and their states, counts, cancel, rollback,
auto_publish, keep_versions."""

import datetime as dt
import functools

from hub.catalog import publishing
from hub.config import CatalogConfig
from protocol.messages import CatalogAck
from tests.hub.catalog_server import catalog_server
from tests.hub.helpers import NOW


async def base(client, price="10.00"):
    await client.items("A", "B")
    await client.book("base", 10, stores="all")
    await client.prices("base", {"sku": "A", "price": price,
                                 "effective_from": "2026-11-01T00:00:00Z"})


def states(view):
    return {s["store_id"]: s["state"] for s in view["stores"]}


async def report(client, job, **args):
    await client.db.run(functools.partial(job, **args, now=client.clock.now()))


async def test_a_publication_makes_a_version_and_targets_every_store(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await base(client)
        view = await client.publish(stores="all", note="first prices")
        assert (view["id"], view["version"], view["note"]) == (1, 1, "first prices")
        assert states(view) == {"S001": "pending", "S002": "pending", "S003": "pending"}
        assert view["counts"] == {"pending": 3, "delivered": 0, "applied": 0, "failed": 0,
                                  "cancelled": 0, "superseded": 0, "total": 3}
        assert view["targets"] == {"stores": "all", "groups": []}
        catalog = await client.ok("GET", "/v1/catalog")
        assert (catalog["version"], catalog["published_items"], catalog["published_prices"],
                catalog["staged_prices"]) == (1, 2, 1, 0)
        await client.ok("PUT", "/v1/store-groups/south", {"stores": ["S003"]})
        view = await client.publish(stores=["S001"], groups=["south"])
        assert (view["version"], states(view)) == (2, {"S001": "pending", "S003": "pending"})
        listing = await client.ok("GET", "/v1/publications")
        assert [p["id"] for p in listing["publications"]] == [2, 1]
        # S001 and S003 were still to apply version 1: version 2 carries it for them.
        assert states(await client.ok("GET", "/v1/publications/1")) == {
            "S001": "superseded", "S002": "pending", "S003": "superseded"}


async def test_each_store_moves_through_its_states_and_the_counts_follow(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await base(client)
        await client.publish()
        await report(client, publishing.delivered, store_id="S001", version=1)
        await report(client, publishing.delivered, store_id="S002", version=1)
        applied_at = NOW + dt.timedelta(seconds=3)
        await report(client, publishing.applied, store_id="S001", version=1, at=applied_at)
        await report(client, publishing.failed, store_id="S002", version=1,
                     reason="disk full")
        view = await client.ok("GET", "/v1/publications/1")
        by_store = {s["store_id"]: s for s in view["stores"]}
        assert by_store["S001"]["state"] == "applied"
        assert by_store["S001"]["applied_at"] == applied_at.isoformat(timespec="microseconds")
        assert (by_store["S002"]["state"], by_store["S002"]["reason"]) == ("failed", "disk full")
        assert view["progress"] == "applied by 1 of 3 stores"
        # A failed store may still apply it; a resend request puts a delivered one back.
        await report(client, publishing.on_ack, ack=CatalogAck("S002", 1, "applied", applied_at))
        await report(client, publishing.delivered, store_id="S003", version=1)
        await report(client, publishing.on_ack, ack=CatalogAck("S003", 1, "resend"))
        await report(client, publishing.on_ack, ack=CatalogAck("S003", 1, "teleported"))
        view = await client.ok("GET", "/v1/publications/1")
        assert states(view) == {"S001": "applied", "S002": "applied", "S003": "pending"}


async def test_cancel_stops_the_stores_that_have_not_applied_it(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await base(client)
        await client.publish()
        await report(client, publishing.applied, store_id="S001", version=1, at=NOW)
        view = await client.ok("POST", "/v1/publications/1/cancel")
        assert states(view) == {"S001": "applied", "S002": "cancelled", "S003": "cancelled"}
        assert view["cancelled_at"] is not None
        assert states(await client.ok("POST", "/v1/publications/1/cancel")) == states(view)
        # A store that applies a cancelled version anyway (it was on its way) stays cancelled.
        await report(client, publishing.applied, store_id="S002", version=1, at=NOW)
        assert states(await client.ok("GET", "/v1/publications/1"))["S002"] == "cancelled"
        await client.publish(stores=["S001"])
        await report(client, publishing.applied, store_id="S001", version=2, at=NOW)
        status, body = await client.post("/v1/publications/2/cancel")
        assert (status, body["field"]) == (409, "id")


async def test_rollback_publishes_the_earlier_content_as_a_new_version(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await base(client)
        await client.publish()
        v1 = await client.ok("GET", "/v1/stores/S001/catalog")
        await client.ok("PUT", "/v1/items", [
            {"sku": "A", "name": "Renamed", "active": True},
            {"sku": "C", "name": "New", "barcode": "4001", "active": True}])
        await client.book("promo", 20, stores=["S001"])
        await client.prices("base", {"sku": "A", "price": "12.00",
                                     "effective_from": "2026-11-20T00:00:00Z"})
        await client.prices("promo", {"sku": "C", "price": "1.00",
                                      "effective_from": "2026-11-20T00:00:00Z"})
        await client.publish()
        assert await client.price("S001", "A") == ("12.00", "base")
        await client.prices("base", {"sku": "B", "price": "2.00",
                                     "effective_from": "2026-11-20T00:00:00Z"})
        status, body = await client.post("/v1/publications", {"rollback_to": 1})
        assert (status, body["field"]) == (409, "rollback_to")  # a change is staged
        assert (await client.ok("DELETE", "/v1/price-books/base/prices/staged"))["withdrawn"] == 1
        view = await client.publish(rollback_to=1, note="undo the 12.00")
        assert (view["version"], view["rollback_to"], view["counts"]["total"]) == (3, 1, 3)
        assert await client.price("S001", "A") == ("10.00", "base")
        v3 = await client.ok("GET", "/v1/stores/S001/catalog")
        assert {**v3, "version": 1} == v1
        # The master data is back as it was: C (made since) is inactive, A has its name again,
        # promo applies to no store.
        assert (await client.ok("GET", "/v1/items/C"))["active"] is False
        assert (await client.ok("GET", "/v1/items/A"))["name"] == "Item A"
        books = {b["book"]: b for b in (await client.ok("GET", "/v1/price-books"))["books"]}
        assert books["promo"]["stores"] == []
        # The next change builds on the rolled-back catalog.
        await client.prices("base", {"sku": "A", "price": "10.50",
                                     "effective_from": "2026-11-21T00:00:00Z"})
        await client.publish()
        assert await client.price("S001", "A") == ("10.50", "base")


async def test_versions_beyond_keep_versions_are_pruned(tmp_path, storage):
    async with catalog_server(tmp_path, config=CatalogConfig(keep_versions=2),
                              storage=storage) as client:
        await base(client)
        for n in range(4):
            await client.prices("base", {"sku": "B", "price": f"{n + 1}.00",
                                         "effective_from": f"2026-11-1{n}T00:00:00Z"})
            await client.publish()
        status, body = await client.post("/v1/publications", {"rollback_to": 2})
        assert (status, body["field"]) == (422, "rollback_to") and "no longer kept" in body["error"]
        status, body = await client.get("/v1/stores/S001/catalog", since="2")
        assert body["kind"] == "snapshot"  # version 2's content is gone: a snapshot
        status, body = await client.get("/v1/stores/S001/catalog", since="3")
        assert (body["kind"], body["base_version"]) == ("delta", 3)
        await client.publish(rollback_to=3)


async def test_prices_that_ended_a_day_ago_are_left_out_of_new_versions(tmp_path, storage):
    async with catalog_server(tmp_path, storage=storage) as client:
        await base(client)
        await client.prices("base",
                            {"sku": "B", "price": "2.00", "effective_from": "2026-11-01T00:00:00Z",
                             "effective_to": "2026-11-10T00:00:00Z"},
                            {"sku": "A", "price": "11.00", "effective_from": "2026-11-22T12:00:00Z"})
        await client.publish()
        prices = (await client.ok("GET", "/v1/stores/S001/catalog"))["prices"]
        # B's promotion ended 13 days ago; A's 10.00 stopped applying 21 hours ago (kept a day).
        assert sorted((p["sku"], p["price"]) for p in prices) == [("A", "10.00"), ("A", "11.00")]
        client.clock.advance(days=1)
        await client.publish()
        prices = (await client.ok("GET", "/v1/stores/S001/catalog"))["prices"]
        assert [(p["sku"], p["price"]) for p in prices] == [("A", "11.00")]


async def test_auto_publish_publishes_every_accepted_change_to_every_store(tmp_path, storage):
    async with catalog_server(tmp_path, config=CatalogConfig(auto_publish=True),
                              storage=storage) as client:
        assert (await client.ok("PUT", "/v1/items", [{"sku": "A", "name": "A", "active": True}])
                )["publication"] == 1
        await client.book("base", 10, stores="all")
        staged = await client.prices("base", {"sku": "A", "price": "1.00",
                                              "effective_from": "2026-11-01T00:00:00Z"})
        assert staged["publication"] == 3
        assert await client.price("S002", "A") == ("1.00", "base")
        listing = (await client.ok("GET", "/v1/publications"))["publications"]
        assert [p["note"] for p in listing] == ["auto_publish: price changes of base",
                                                "auto_publish: price book base",
                                                "auto_publish: items"]
        assert (await client.ok("GET", "/v1/catalog"))["staged_prices"] == 0
