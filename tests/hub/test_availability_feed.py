"""The change feed over real HTTP on a real database (SQLite and PostgreSQL: `storage`): a connector
that pages through it, saves its cursor and resumes later ends with the hub's figure for every SKU;
stores going stale and reservations expiring reach it through the sweep; a cursor from the future is
refused; the retention drops superseded rows and no reader, at whatever cursor, misses a SKU for
it."""

from typing import Any

import msgspec

from hub.config import AvailabilityConfig
from tests.hub.availability_server import Served, config, served
from tests.hub.helpers import database


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


async def test_a_connector_resuming_from_its_cursor_ends_with_the_hubs_figures(tmp_path, storage):
    skus = [f"SKU-{n}" for n in range(1, 8)]
    async with served(tmp_path, storage=storage) as hub:
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


async def test_a_page_is_each_sku_once_at_its_latest_change(tmp_path, storage):
    async with served(tmp_path, storage=storage) as hub:
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


async def test_the_retention_drops_superseded_rows_and_no_cursor_misses_a_change(tmp_path,
                                                                                  storage):
    cfg = msgspec.structs.replace(config(tmp_path), availability=AvailabilityConfig(
        feed_keep_days=1))
    skus = [f"SKU-{n}" for n in range(6)]
    async with served(tmp_path, cfg, storage=storage) as hub:
        await hub.seen("S001", "S002")
        # Day 1: every SKU arrives, then SKU-0..2 change twenty times more.
        await hub.call("POST", "/v1/locations/DC1/adjustments",
                       receipt("RCV-0", **{s: 5 for s in skus}))
        for n in range(20):
            await hub.call("POST", "/v1/locations/DC1/adjustments",
                           receipt(f"RCV-{n + 1}", **{s: 1 for s in skus[:3]}))
        # A consumer that read one page and stopped.
        _, page = await hub.call("GET", "/v1/availability/changes", channel="web", limit="1")
        middle = page["next_cursor"]
        stopped = {c["sku"]: c["available_to_sell"] for c in page["changes"]}
        hub.clock.advance(days=1, seconds=1)
        # Day 2: SKU-0 changes once more; a consumer that read everything stops here.
        await hub.call("POST", "/v1/locations/DC1/adjustments", receipt("RCV-99", **{"SKU-0": 1}))
        read_all: dict[str, int] = {}
        latest = await drain(hub, 0, read_all)
        db = database(storage or tmp_path / "hub.sqlite")
        before = db.execute("SELECT COUNT(*) FROM availability_changes").fetchone()[0]
        await hub.service.sweep()
        kept = db.execute("SELECT COUNT(*) FROM availability_changes").fetchone()[0]
        # Day 1 keeps one row per SKU and location (SKU-0's is day 2's), day 2 its one row.
        assert (before, kept) == (6 + 20 * 3 + 1, 6)
        await hub.service.sweep()  # nothing more to drop
        assert db.execute("SELECT COUNT(*) FROM availability_changes").fetchone()[0] == kept
        db.close()
        for cursor, known in ((0, {}), (middle, stopped), (latest, read_all)):
            seen = dict(known)
            assert await drain(hub, cursor, seen) == latest
            assert seen == await figures(hub, skus), cursor
        # Figures move on after the compaction: the feed still follows.
        await hub.call("POST", "/v1/locations/DC1/adjustments", receipt("RCV-100", **{"SKU-5": 2}))
        assert await drain(hub, latest, read_all) > latest
        assert read_all == await figures(hub, skus)
