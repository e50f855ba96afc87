"""Available to sell over real HTTP on a real database (SQLite and PostgreSQL: `storage`): the
formulas, safety stock, staleness, location adjustments, and every bad input answered 422 naming its
field."""

from hub.config import ChannelConfig, HubConfig, LocationConfig
from tests.hub.availability_server import WEB, config, served


async def test_a_channel_sums_its_locations_less_reserved_safety_stock_and_buffer(tmp_path,
                                                                                  storage):
    async with served(tmp_path, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 10, ("S002", "SKU-1"): 5})
        await hub.seen("S001", "S002")
        status, _ = await hub.call("POST", "/v1/locations/DC1/adjustments", {
            "adjustment_id": "RCV-1", "reason": "receipt", "occurred_at": "2026-11-23T08:00:00Z",
            "lines": [{"sku": "SKU-1", "qty_delta": 7}]})
        assert status == 201
        status, body = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
        assert status == 200
        assert body["available_to_sell"] == 22 and body["channel"] == "web"
        assert body["as_of"] == "2026-11-23T09:00:00.000000+00:00"
        assert [(x["location"], x["on_hand"], x["available_to_sell"], x["stale"])
                for x in body["locations"]] == [("S001", 10, 10, False), ("S002", 5, 5, False),
                                                ("DC1", 7, 7, False)]
        assert set(body["locations"][0]) == {"location", "on_hand", "reserved", "safety_stock",
                                             "available_to_sell", "as_of", "stale"}

        # The most specific rule wins: SKU at location, then SKU, then location.
        status, rules = await hub.call("PUT", "/v1/safety-stock", [
            {"sku": "SKU-1", "qty": 2}, {"location": "DC1", "qty": 3},
            {"sku": "SKU-1", "location": "S002", "qty": 1}])
        assert status == 200 and len(rules["rules"]) == 3
        status, body = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
        assert [x["safety_stock"] for x in body["locations"]] == [2, 1, 2]
        assert body["available_to_sell"] == 8 + 4 + 5
        # A location rule holds back every other SKU there; never below 0 per location.
        await hub.call("POST", "/v1/locations/DC1/adjustments", {
            "adjustment_id": "RCV-2", "reason": "receipt", "occurred_at": "2026-11-23T08:00:00Z",
            "lines": [{"sku": "SKU-2", "qty_delta": 2}]})
        assert await hub.ats("SKU-2") == 0
        status, _ = await hub.call("PUT", "/v1/safety-stock", [{"location": "DC1", "qty": None}])
        assert status == 200 and await hub.ats("SKU-2") == 2

        # A SKU nobody stocks is simply not available.
        status, body = await hub.call("GET", "/v1/availability/NEVER", channel="web")
        assert status == 200 and body["available_to_sell"] == 0


async def test_the_buffer_is_held_back_per_sku_and_the_figure_never_goes_below_zero(tmp_path,
                                                                                    storage):
    cfg = config(tmp_path, web=ChannelConfig(["S001"], buffer=4))
    async with served(tmp_path, cfg, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 10, ("S001", "SKU-2"): 3})
        await hub.seen("S001")
        assert await hub.ats("SKU-1") == 6
        assert await hub.ats("SKU-2") == 0
        await hub.stock({("S001", "SKU-2"): -10})  # sold offline beyond what the hub knew
        status, body = await hub.call("GET", "/v1/availability/SKU-2", channel="web")
        assert body["locations"][0]["on_hand"] == -7
        assert body["locations"][0]["available_to_sell"] == 0 and body["available_to_sell"] == 0


async def test_a_store_not_heard_from_drops_out_and_comes_back_when_it_reconnects(tmp_path,
                                                                                  storage):
    async with served(tmp_path, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 10, ("S002", "SKU-1"): 5})
        await hub.call("POST", "/v1/locations/DC1/adjustments", {
            "adjustment_id": "RCV-1", "reason": "receipt", "occurred_at": "2026-11-23T08:00:00Z",
            "lines": [{"sku": "SKU-1", "qty_delta": 1}]})
        # Never heard from: stale. A warehouse is fed through the hub: never stale.
        status, body = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
        assert [x["stale"] for x in body["locations"]] == [True, True, False]
        assert body["available_to_sell"] == 1
        await hub.seen("S001", "S002")
        assert await hub.ats("SKU-1") == 16
        hub.clock.advance(seconds=300)
        assert await hub.ats("SKU-1") == 16  # exactly stale_after_s: still fresh
        await hub.seen("S002")
        hub.clock.advance(seconds=1)
        status, body = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
        assert [x["stale"] for x in body["locations"]] == [True, False, False]
        assert body["locations"][0]["available_to_sell"] == 10  # its own figure, not counted
        assert body["available_to_sell"] == 6
        # Nothing can be reserved from a stale store, even when named.
        status, body = await hub.call("POST", "/v1/reservations", {
            "reservation_id": "R-1", "channel": "web", "location": "S001",
            "lines": [{"sku": "SKU-1", "qty": 1}]})
        assert status == 409 and body["lines"] == [
            {"sku": "SKU-1", "requested": 1, "available": 0}]
        await hub.seen("S001")
        assert await hub.ats("SKU-1") == 16


async def test_a_store_need_not_be_declared_and_one_never_heard_from_counts_nothing(tmp_path,
                                                                                    storage):
    cfg = HubConfig(data_dir=str(tmp_path), locations={"DC1": LocationConfig("warehouse")},
                    channels={"web": ChannelConfig(["S001", "S007", "DC1"])})
    async with served(tmp_path, cfg, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 4})
        await hub.seen("S001")
        status, body = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
        assert status == 200 and body["available_to_sell"] == 4
        # S007 is a store (undeclared): never heard from, so stale, with no instant to show.
        assert [(x["location"], x["stale"], x["as_of"] is None) for x in body["locations"]] == [
            ("S001", False, False), ("S007", True, True), ("DC1", False, False)]
        status, body = await hub.call("POST", "/v1/locations/S007/adjustments", {
            "adjustment_id": "A-1", "reason": "receipt", "occurred_at": "2026-11-23T08:00:00Z",
            "lines": [{"sku": "SKU-1", "qty_delta": 1}]})
        assert status == 422 and body["field"] == "location"
        status, body = await hub.call("PUT", "/v1/safety-stock", [{"location": "S007", "qty": 1}])
        assert status == 200
        status, body = await hub.call("PUT", "/v1/safety-stock", [{"location": "S9", "qty": 1}])
        assert status == 422 and body["field"] == "[0].location"


async def test_a_location_adjustment_is_applied_once_like_a_stores(tmp_path, storage):
    adjustment = {"adjustment_id": "ADJ-77", "reason": "receipt",
                  "occurred_at": "2026-11-23T08:00:00+01:00",
                  "lines": [{"sku": "SKU-1", "qty_delta": 24}, {"sku": "SKU-1", "qty_delta": -4}]}
    async with served(tmp_path, storage=storage) as hub:
        status, first = await hub.call("POST", "/v1/locations/DC1/adjustments", adjustment)
        assert status == 201
        assert first == {"location": "DC1", "adjustment_id": "ADJ-77", "status": "applied",
                         "applied_at": "2026-11-23T09:00:00.000000+00:00"}
        hub.clock.advance(seconds=5)
        # The same meaning written otherwise (another offset, the derived business day): 200.
        same = dict(adjustment, occurred_at="2026-11-23T07:00:00Z", business_day="2026-11-23")
        assert await hub.call("POST", "/v1/locations/DC1/adjustments", same) == (200, first)
        assert await hub.ats("SKU-1") == 20
        changed = dict(adjustment, lines=[{"sku": "SKU-1", "qty_delta": 25}])
        status, body = await hub.call("POST", "/v1/locations/DC1/adjustments", changed)
        assert status == 409 and body["field"] == "adjustment_id"
        assert await hub.ats("SKU-1") == 20

        status, body = await hub.call("POST", "/v1/locations/DC9/adjustments", adjustment)
        assert status == 404 and body["field"] == "location"
        status, body = await hub.call("POST", "/v1/locations/S001/adjustments", adjustment)
        assert status == 422 and body["field"] == "location"
        for bad, field in (({"lines": [{"sku": "SKU-1", "qty_delta": 1_000_001}]},
                            "lines[0].qty_delta"),
                           ({"lines": []}, "lines"),
                           ({"reason": "found"}, "reason"),
                           ({"adjustment_id": "A/1"}, "adjustment_id"),
                           ({"occurred_at": "2026-11-23T08:00:00"}, "occurred_at"),
                           ({"occurred_at": "1999-12-31T08:00:00Z"}, "occurred_at"),
                           ({"lines": [{"sku": "", "qty_delta": 1}]}, "lines[0].sku"),
                           ({"extra": 1}, "extra")):
            status, body = await hub.call("POST", "/v1/locations/DC1/adjustments",
                                          dict(adjustment, **bad))
            assert (status, body["field"]) == (422, field), (bad, body)


async def test_bad_reads_and_rules_are_refused_naming_the_field(tmp_path, storage):
    async with served(tmp_path, storage=storage) as hub:
        cases = [
            ("GET", "/v1/availability/SKU-1", None, {}, "channel"),
            ("GET", "/v1/availability/SKU-1", None, {"channel": "shop"}, "channel"),
            ("POST", "/v1/availability/query", {"channel": "web", "skus": []}, {}, "skus"),
            ("POST", "/v1/availability/query",
             {"channel": "web", "skus": [f"S{i}" for i in range(1001)]}, {}, "skus"),
            ("POST", "/v1/availability/query", {"channel": "web", "skus": ["A", "A"]}, {},
             "skus[1]"),
            ("POST", "/v1/availability/query", {"channel": "shop", "skus": ["A"]}, {}, "channel"),
            ("GET", "/v1/availability/changes", None, {"channel": "web", "after": "-1"}, "after"),
            ("GET", "/v1/availability/changes", None, {"channel": "web", "limit": "0"}, "limit"),
            ("GET", "/v1/availability/changes", None, {"channel": "web", "limit": "1001"},
             "limit"),
            ("PUT", "/v1/safety-stock", [{"qty": 1}], {}, "[0]"),
            ("PUT", "/v1/safety-stock", [{"sku": "A", "qty": -1}], {}, "[0].qty"),
            ("PUT", "/v1/safety-stock", [{"sku": "A"}], {}, "[0].qty"),
            ("PUT", "/v1/safety-stock", [{"location": "DC9", "qty": 1}], {}, "[0].location"),
            ("PUT", "/v1/safety-stock", [{"sku": "A", "qty": 1}, {"sku": "A", "qty": 2}], {},
             "[1]"),
            ("PUT", "/v1/safety-stock", {"sku": "A", "qty": 1}, {}, "$"),
        ]
        for method, path, body, params, field in cases:
            status, answer = await hub.call(method, path, body, **params)
            assert (status, answer.get("field")) == (422, field), (method, path, body, answer)

        status, body = await hub.call("POST", "/v1/availability/query",
                                      {"channel": "web", "skus": ["B", "A"]})
        assert status == 200 and [x["sku"] for x in body["availability"]] == ["B", "A"]


async def test_writes_need_the_admin_token_or_the_channels_own(tmp_path, storage):
    cfg = config(tmp_path, web=ChannelConfig(["DC1"]), shop=ChannelConfig(["DC1"]))
    async with served(tmp_path, cfg, tokens={"web": WEB, "shop": "shop-token-0123456789"},
                      storage=storage) as hub:
        await hub.call("POST", "/v1/locations/DC1/adjustments", {
            "adjustment_id": "RCV-1", "reason": "receipt", "occurred_at": "2026-11-23T08:00:00Z",
            "lines": [{"sku": "SKU-1", "qty_delta": 5}]})
        order = {"reservation_id": "W-1", "channel": "web", "lines": [{"sku": "SKU-1", "qty": 1}]}
        status, body = await hub.call("POST", "/v1/reservations", order, token=None)
        assert status == 401 and body["field"] == "Authorization"
        status, body = await hub.call("POST", "/v1/reservations", order, token="wrong")
        assert status == 401
        status, body = await hub.call("POST", "/v1/reservations", order,
                                      token="shop-token-0123456789")
        assert status == 403 and body["field"] == "channel"
        assert (await hub.call("POST", "/v1/reservations", order, token=WEB))[0] == 201
        status, body = await hub.call("POST", "/v1/reservations/W-1/release",
                                      token="shop-token-0123456789")
        assert status == 403 and body["field"] == "Authorization"
        status, body = await hub.call("PUT", "/v1/safety-stock", [{"sku": "SKU-1", "qty": 1}],
                                      token=WEB)
        assert status == 403 and body["field"] == "Authorization"
        status, body = await hub.call("POST", "/v1/locations/DC1/adjustments", {}, token=WEB)
        assert status == 403
        # Reads are open.
        assert (await hub.call("GET", "/v1/reservations/W-1", token=None))[0] == 200
        assert (await hub.call("POST", "/v1/reservations/W-1/release", token=WEB))[0] == 200
