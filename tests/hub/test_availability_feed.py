"""The change feed over real HTTP on a real database: a connector that pages through it, saves
its cursor and resumes later ends with the hub's figure for every SKU; stores going stale and
reservations expiring reach it through the sweep; a cursor from the future is refused."""

from typing import Any

from tests.hub.availability_server import Served, served


async def drain(hub: Served, after: int, seen: dict[str, int], limit: int = 2) -> int:
    """Read the feed from `after` to its end into `seen`; the cursor to resume from."""
    while True:
        status, page = await hub.call("GET", "/v1/availability/changes", channel="web",
                                      after=str(after), limit=str(limit))
        assert status == 200, page
        cursors = [c["cursor"] for c in page["changes"]]
        assert cursors == sorted(cursors) and all(c > after for c in cursors)
        for change in page["changes"]:
            seen[change["sku"]] = change["available_to_sell"]
        if page["next_cursor"] == after:
            return after
        after = page["next_cursor"]


async def figures(hub: Served, skus: list[str]) -> dict[str, int]:
    status, body = await hub.call("POST", "/v1/availability/query",
                                  {"channel": "web", "skus": skus}, token=None)
    assert status == 200
    return {x["sku"]: x["available_to_sell"] for x in body["availability"]}


def receipt(aid: str, **lines: int) -> dict[str, Any]:
    return {"adjustment_id": aid, "reason": "receipt", "occurred_at": "2026-11-23T08:00:00Z",
            "lines": [{"sku": s, "qty_delta": q} for s, q in lines.items()]}


async def test_a_connector_resuming_from_its_cursor_ends_with_the_hubs_figures(tmp_path):
    skus = [f"SKU-{n}" for n in range(1, 8)]
    async with served(tmp_path) as hub:
        await hub.stock({("S001", s): 3 for s in skus})
        await hub.seen("S001", "S002")
        await hub.call("POST", "/v1/locations/DC1/adjustments",
                       receipt("RCV-1", **{s: n for n, s in enumerate(skus, 1)}))
        seen: dict[str, int] = {}
        cursor = await drain(hub, 0, seen)
        assert seen == await figures(hub, skus)
        # The connector stops; meanwhile the hub changes many things.
        await hub.call("POST", "/v1/reservations", {
            "reservation_id": "R-1", "channel": "web",
            "lines": [{"sku": "SKU-1", "qty": 2}, {"sku": "SKU-2", "qty": 1}]})
        await hub.call("POST", "/v1/reservations", {
            "reservation_id": "R-2", "channel": "web", "expires_in_s": 30,
            "lines": [{"sku": "SKU-3", "qty": 4}]})
        await hub.call("POST", "/v1/reservations/R-1/fulfil")
        await hub.call("PUT", "/v1/safety-stock", [{"sku": "SKU-4", "qty": 1},
                                                   {"location": "DC1", "qty": 2}])
        await hub.call("POST", "/v1/locations/DC1/adjustments", receipt("RCV-2", **{"SKU-5": -3}))
        cursor = await drain(hub, cursor, seen)
        assert seen == await figures(hub, skus)
        # Expiry and staleness change figures without a request: the sweep tells the feed.
        hub.clock.advance(seconds=301)
        await hub.seen("S002")
        await hub.service.sweep()
        cursor = await drain(hub, cursor, seen)
        assert seen == await figures(hub, skus)
        assert seen["SKU-3"] == 1  # S001 is stale: only DC1's 3 - 2 safety stock
        await hub.seen("S001")
        await hub.service.sweep()
        cursor = await drain(hub, cursor, seen)
        assert seen == await figures(hub, skus)
        # Nothing new: the same cursor again, and an empty page.
        assert await drain(hub, cursor, seen) == cursor


async def test_a_page_is_each_sku_once_at_its_latest_change(tmp_path):
    async with served(tmp_path) as hub:
        for n in range(5):
            await hub.call("POST", "/v1/locations/DC1/adjustments",
                           receipt(f"RCV-{n}", **{"SKU-A": 1, f"SKU-{n}": 1}))
        status, page = await hub.call("GET", "/v1/availability/changes", channel="web")
        assert status == 200
        assert [c["sku"] for c in page["changes"]] == ["SKU-0", "SKU-1", "SKU-2", "SKU-3",
                                                       "SKU-4", "SKU-A"]
        assert page["changes"][-1] == {"cursor": page["next_cursor"], "sku": "SKU-A",
                                       "available_to_sell": 5}
        status, body = await hub.call("GET", "/v1/availability/changes", channel="web",
                                      after=str(page["next_cursor"] + 1))
        assert status == 410 and body["field"] == "after"
        assert body["last_cursor"] == page["next_cursor"]
