"""Reservations over real HTTP on a real database (SQLite and PostgreSQL: `storage`): all or
nothing, idempotent retries, 409 on a changed body, allocation rules, release, fulfil in one
transaction, expiry that counts at once; and 200 concurrent requests from several clients for the
last 10 units."""

import asyncio
import functools

import aiohttp

from hub.availability import reservations
from hub.config import ChannelConfig
from tests.hub.availability_server import ADMIN, config, served


def order(rid: str, *lines: tuple[str, int], **more):
    return {"reservation_id": rid, "channel": "web",
            "lines": [{"sku": s, "qty": q} for s, q in lines], **more}


async def test_a_reservation_holds_every_line_or_none_and_a_retry_gets_the_same_answer(tmp_path,
                                                                                       storage):
    async with served(tmp_path, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 3, ("S002", "SKU-1"): 5, ("S001", "SKU-2"): 1})
        await hub.seen("S001", "S002")
        status, body = await hub.call("POST", "/v1/reservations",
                                      order("R-1", ("SKU-1", 6), ("SKU-2", 2)))
        assert (status, body) == (409, {
            "error": "insufficient", "field": "lines",
            "lines": [{"sku": "SKU-2", "requested": 2, "available": 1}]})
        assert await hub.ats("SKU-1") == 8  # nothing held

        status, first = await hub.call("POST", "/v1/reservations",
                                       order("R-1", ("SKU-1", 6), ("SKU-2", 1)))
        assert status == 201
        assert first == {
            "reservation_id": "R-1", "state": "held",
            # most_available: the bigger store first, then the next.
            "allocations": [{"sku": "SKU-1", "location": "S002", "qty": 5},
                            {"sku": "SKU-1", "location": "S001", "qty": 1},
                            {"sku": "SKU-2", "location": "S001", "qty": 1}],
            "expires_at": "2026-11-23T09:10:00.000000+00:00"}
        assert await hub.ats("SKU-1") == 2 and await hub.ats("SKU-2") == 0
        # The same meaning (lines in another order, the default expiry given): 200, same answer.
        again = order("R-1", ("SKU-2", 1), ("SKU-1", 6), expires_in_s=600)
        assert await hub.call("POST", "/v1/reservations", again) == (200, first)
        assert await hub.ats("SKU-1") == 2
        for changed in (order("R-1", ("SKU-1", 5), ("SKU-2", 1)),
                        order("R-1", ("SKU-1", 6), ("SKU-2", 1), expires_in_s=60),
                        order("R-1", ("SKU-1", 6), ("SKU-2", 1), location="S002")):
            status, body = await hub.call("POST", "/v1/reservations", changed)
            assert status == 409 and body["field"] == "reservation_id", body

        status, body = await hub.call("GET", "/v1/reservations/R-1")
        assert status == 200 and body == dict(first, channel="web", ended_at=None,
                                              created_at="2026-11-23T09:00:00.000000+00:00",
                                              short=[], sales=[])
        status, body = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
        assert [x["reserved"] for x in body["locations"]] == [1, 5, 0]


async def test_in_order_allocation_and_a_named_location(tmp_path, storage):
    cfg = config(tmp_path, web=ChannelConfig(["S001", "S002", "DC1"], allocation="in_order",
                                             buffer=1))
    async with served(tmp_path, cfg, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 2, ("S002", "SKU-1"): 5})
        await hub.seen("S001", "S002")
        status, body = await hub.call("POST", "/v1/reservations", order("R-1", ("SKU-1", 3)))
        assert status == 201 and body["allocations"] == [
            {"sku": "SKU-1", "location": "S001", "qty": 2},
            {"sku": "SKU-1", "location": "S002", "qty": 1}]
        # S002 has 4 left but the channel keeps a buffer of 1: 3 can be had there.
        status, body = await hub.call("POST", "/v1/reservations",
                                      order("R-2", ("SKU-1", 4), location="S002"))
        assert status == 409 and body["lines"][0]["available"] == 3
        status, body = await hub.call("POST", "/v1/reservations",
                                      order("R-2", ("SKU-1", 3), location="S002"))
        assert status == 201 and await hub.ats("SKU-1") == 0
        status, body = await hub.call("POST", "/v1/reservations",
                                      order("R-3", ("SKU-1", 1), location="DC9"))
        assert status == 422 and body["field"] == "location"
        for bad, field in ((order("R-4", ("SKU-1", 0)), "lines[0].qty"),
                           (order("R-4", ("SKU-1", 1), ("SKU-1", 1)), "lines[1].sku"),
                           (order("R-4"), "lines"),
                           (order("R 4", ("SKU-1", 1)), "reservation_id"),
                           (order("R-4", ("SKU-1", 1), expires_in_s=0), "expires_in_s"),
                           (order("R-4", ("SKU-1", 1), channel="shop"), "channel"),
                           ({"channel": "web", "lines": [{"sku": "A", "qty": 1}]},
                            "reservation_id")):
            status, body = await hub.call("POST", "/v1/reservations", bad)
            assert (status, body["field"]) == (422, field), body


async def test_release_gives_the_units_back_and_fulfil_takes_them_off_the_shelf(tmp_path, storage):
    async with served(tmp_path, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 4, ("S002", "SKU-1"): 4})
        await hub.seen("S001", "S002")
        await hub.call("POST", "/v1/reservations", order("R-1", ("SKU-1", 3)))
        await hub.call("POST", "/v1/reservations", order("R-2", ("SKU-1", 2)))
        assert await hub.ats("SKU-1") == 3
        status, body = await hub.call("POST", "/v1/reservations/R-1/release")
        assert status == 200 and body["state"] == "released" and await hub.ats("SKU-1") == 6
        assert (await hub.call("POST", "/v1/reservations/R-1/release"))[1]["state"] == "released"
        status, body = await hub.call("POST", "/v1/reservations/R-1/fulfil")
        assert status == 409 and body["state"] == "released"

        status, body = await hub.call("POST", "/v1/reservations/R-2/fulfil")
        assert status == 200 and body["state"] == "fulfilled"
        # On hand went down where it was held (S002, the most available when R-2 came; R-1
        # took S001's first on a tie); reserved went down; the figure did not move.
        status, view = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
        assert [(x["on_hand"], x["reserved"]) for x in view["locations"]] == [(4, 0), (2, 0),
                                                                              (0, 0)]
        assert view["available_to_sell"] == 6
        assert await hub.call("POST", "/v1/reservations/R-2/fulfil") == (200, body)
        status, other = await hub.call("POST", "/v1/reservations/R-2/fulfil", {"location": "S002"})
        assert status == 409 and other["field"] == "location"
        status, other = await hub.call("POST", "/v1/reservations/R-2/release")
        assert status == 409 and other["state"] == "fulfilled"

        # Fulfilled from another location of the channel than the one it was held at.
        await hub.call("POST", "/v1/reservations", order("R-3", ("SKU-1", 1), location="S001"))
        status, body = await hub.call("POST", "/v1/reservations/R-3/fulfil", {"location": "S002"})
        assert status == 200 and body["allocations"] == [
            {"sku": "SKU-1", "location": "S002", "qty": 1}]
        status, view = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
        assert [(x["on_hand"], x["reserved"]) for x in view["locations"]] == [(4, 0), (1, 0),
                                                                              (0, 0)]
        status, body = await hub.call("POST", "/v1/reservations/R-9/release")
        assert status == 404 and body["field"] == "reservation_id"
        status, body = await hub.call("GET", "/v1/reservations/R-9")
        assert status == 404 and body["field"] == "reservation_id"


async def test_an_expired_reservation_stops_counting_at_once_then_the_sweep_ends_it(tmp_path,
                                                                                    storage):
    async with served(tmp_path, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 5})
        await hub.seen("S001", "S002")
        status, body = await hub.call("POST", "/v1/reservations",
                                      order("R-1", ("SKU-1", 5), expires_in_s=60))
        assert status == 201 and body["expires_at"] == "2026-11-23T09:01:00.000000+00:00"
        hub.clock.advance(seconds=59)
        await hub.seen("S001")
        assert await hub.ats("SKU-1") == 0
        hub.clock.advance(seconds=1)
        assert await hub.ats("SKU-1") == 5  # no sweep has run: it counts no more at its expiry
        status, body = await hub.call("GET", "/v1/reservations/R-1")
        assert body["state"] == "expired" and body["ended_at"] == body["expires_at"]
        status, body = await hub.call("POST", "/v1/reservations/R-1/fulfil")
        assert status == 409 and body["state"] == "expired"
        # Another checkout may take the units now; the old one cannot come back.
        assert (await hub.call("POST", "/v1/reservations", order("R-2", ("SKU-1", 5))))[0] == 201
        await hub.service.sweep()
        found = await hub.db.run(lambda tx: tx.reservations.find("R-1"))
        assert found is not None and found[0].state == "expired"
        assert await hub.db.run(functools.partial(reservations.expire,
                                                  now=hub.clock.now())) == 0
        assert await hub.ats("SKU-1") == 0
        assert (await hub.call("POST", "/v1/reservations/R-1/release"))[1]["state"] == "expired"


async def test_200_concurrent_requests_for_the_last_10_units_hold_exactly_10(tmp_path, storage):
    async with served(tmp_path, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 4, ("S002", "SKU-1"): 3})
        await hub.call("POST", "/v1/locations/DC1/adjustments", {
            "adjustment_id": "RCV-1", "reason": "receipt", "occurred_at": "2026-11-23T08:00:00Z",
            "lines": [{"sku": "SKU-1", "qty_delta": 3}]})
        await hub.seen("S001", "S002")
        assert await hub.ats("SKU-1") == 10
        headers = {"Authorization": f"Bearer {ADMIN}"}
        # Several hub clients at once, each with its own connection pool.
        clients = [aiohttp.ClientSession(headers=headers) for _ in range(8)]

        async def checkout(n: int) -> tuple[int, dict]:
            http = clients[n % len(clients)]
            async with http.post(hub.url + "/v1/reservations",
                                 json=order(f"C-{n}", ("SKU-1", 1))) as r:
                return r.status, await r.json()

        try:
            answers = await asyncio.gather(*(checkout(n) for n in range(200)))
        finally:
            for http in clients:
                await http.close()
        statuses = [s for s, _ in answers]
        assert statuses.count(201) == 10 and statuses.count(409) == 190
        assert all(b["error"] == "insufficient" for s, b in answers if s == 409)
        held = [a for s, b in answers if s == 201 for a in b["allocations"]]
        assert sum(a["qty"] for a in held) == 10
        status, view = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
        assert view["available_to_sell"] == 0
        assert [(x["reserved"], x["available_to_sell"]) for x in view["locations"]] == [
            (4, 0), (3, 0), (3, 0)]
