"""Click and collect and oversell on a real database (SQLite and PostgreSQL: `storage`) over real
HTTP, with store sales applied by the hub's own Sequencer: a sale naming a reservation collects it
(on hand and reserved move once, also when the batch comes again), a sale against a reservation that
is not held is applied all the same and kept with its outcome, and a store that sold what was held
marks the newest reservations there `short` until stock covers them again."""

import functools

import msgspec

from hub.ingest.eventlog import Sequencer
from hub.ledger import inventory
from protocol.messages import AdjustmentLine, Batch, Envelope, InventoryAdjustment, Sale
from runtime.clock import stamp
from tests.hub.availability_server import Served, served
from tests.hub.helpers import sale_envelope


class Till:
    """Sales and adjustments of one store, applied as the hub applies a store's batches."""

    def __init__(self, hub: Served, store: str = "S001") -> None:
        self.hub = hub
        self.store = store
        self.seq = 0
        self.sequencer = Sequencer(clock=hub.clock)

    async def send(self, envs: list[Envelope]) -> None:
        await self.hub.db.run(functools.partial(
            self.sequencer.apply, batch=Batch(self.store, "st-1", envs),
            topic=f"retail/v1/stores/{self.store}/events"))

    def sale(self, txn: str, sku: str, qty: int, reservation_id: str | None = None) -> Envelope:
        self.seq += 1
        env = sale_envelope(self.seq, store=self.store, txn=txn, sku=sku, qty=qty)
        assert isinstance(env.event, Sale)
        return msgspec.structs.replace(env, event=msgspec.structs.replace(
            env.event, reservation_id=reservation_id))

    def receipt(self, adjustment_id: str, sku: str, qty: int) -> Envelope:
        self.seq += 1
        env = sale_envelope(self.seq, store=self.store)
        return msgspec.structs.replace(env, event_id=f"adj-{adjustment_id}", event=(
            InventoryAdjustment(adjustment_id, "receipt", [AdjustmentLine(sku, qty)])))


def reserve(rid: str, qty: int, **more: object) -> dict[str, object]:
    return {"reservation_id": rid, "channel": "web", "location": "S001",
            "lines": [{"sku": "SKU-1", "qty": qty}], **more}


async def at_s001(hub: Served) -> tuple[int, int, int]:
    """(on hand, reserved, available to sell) of SKU-1 at S001."""
    status, body = await hub.call("GET", "/v1/availability/SKU-1", channel="web")
    assert status == 200
    s001 = body["locations"][0]
    return s001["on_hand"], s001["reserved"], s001["available_to_sell"]


async def test_a_sale_naming_a_reservation_collects_it_once(tmp_path, storage):
    async with served(tmp_path, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 5})
        await hub.seen("S001")
        status, _ = await hub.call("POST", "/v1/reservations", reserve("WEB-1", 2))
        assert status == 201
        assert await at_s001(hub) == (5, 2, 3)
        till = Till(hub)
        collect = till.sale("000001", "SKU-1", 2, reservation_id="WEB-1")
        await till.send([collect])
        assert await at_s001(hub) == (3, 0, 3)  # on hand and reserved went down together
        await till.send([collect])  # the batch again (a resend): nothing moves twice
        assert await at_s001(hub) == (3, 0, 3)
        status, body = await hub.call("GET", "/v1/reservations/WEB-1")
        assert status == 200 and body["state"] == "collected" and body["short"] == []
        assert body["ended_at"] == stamp(hub.clock.now())
        assert body["sales"] == [{"event_id": collect.event_id, "store_id": "S001",
                                  "outcome": "collected", "applied_at": stamp(hub.clock.now())}]
        # Collected: neither released nor fulfilled afterwards.
        for action in ("release", "fulfil"):
            status, body = await hub.call("POST", f"/v1/reservations/WEB-1/{action}")
            assert status == 409 and body["state"] == "collected", body
        # The inventory endpoint reports reserved as the reservations hold it.
        await hub.call("POST", "/v1/reservations", reserve("WEB-2", 1))
        found = await inventory.lookup(hub.db.reads, "SKU-1", stamp(hub.clock.now()))
        assert found is not None
        assert (found["on_hand"], found["reserved"], found["available_to_sell"]) == (3, 1, 2)


async def test_a_reservation_not_held_never_blocks_the_sale_and_says_why(tmp_path, storage):
    async with served(tmp_path, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 10})
        await hub.seen("S001")
        for rid in ("GONE", "LATE", "TWICE"):
            await hub.call("POST", "/v1/reservations", reserve(rid, 1, expires_in_s=60))
        await hub.call("POST", "/v1/reservations/GONE/release")
        till = Till(hub)
        await till.send([till.sale("000001", "SKU-1", 1, reservation_id="TWICE")])
        hub.clock.advance(seconds=61)  # LATE lapses; the sweep has not run
        await till.send([till.sale("000002", "SKU-1", 1, reservation_id="GONE"),
                         till.sale("000003", "SKU-1", 1, reservation_id="LATE"),
                         till.sale("000004", "SKU-1", 1, reservation_id="TWICE"),
                         till.sale("000005", "SKU-1", 2, reservation_id="NEVER-MADE")])
        assert await at_s001(hub) == (4, 0, 4)  # every unit sold left on hand, once
        outcomes = {}
        for rid in ("GONE", "LATE", "TWICE"):
            status, body = await hub.call("GET", f"/v1/reservations/{rid}")
            outcomes[rid] = (body["state"], [s["outcome"] for s in body["sales"]])
        assert outcomes == {"GONE": ("released", ["released"]),
                            "LATE": ("expired", ["expired"]),
                            "TWICE": ("collected", ["collected", "already_collected"])}
        assert await hub.db.reads.reservations.sales_by_outcome() == {
            "already_collected": 1, "collected": 1, "expired": 1, "released": 1, "unknown": 1}


async def test_a_store_selling_what_is_held_marks_the_newest_reservations_short(tmp_path, storage):
    async with served(tmp_path, storage=storage) as hub:
        await hub.stock({("S001", "SKU-1"): 5})
        await hub.seen("S001")
        await hub.call("POST", "/v1/reservations", reserve("OLD", 3))
        hub.clock.advance(seconds=1)
        await hub.call("POST", "/v1/reservations", reserve("NEW", 2))
        assert await at_s001(hub) == (5, 5, 0)
        till = Till(hub)
        await till.send([till.sale("000001", "SKU-1", 2)])  # sold offline, no reservation
        assert await at_s001(hub) == (3, 5, 0)  # never below 0; still held
        states = {}
        for rid in ("OLD", "NEW"):
            status, body = await hub.call("GET", f"/v1/reservations/{rid}")
            states[rid] = (body["state"], body["short"])
        assert states == {"OLD": ("held", []),
                          "NEW": ("short", [{"sku": "SKU-1", "location": "S001", "qty": 2}])}
        now = stamp(hub.clock.now())
        assert await hub.db.reads.reservations.holding(now) == (2, 1)
        assert [x.reservation_id for x in await hub.db.reads.reservations.short_lines(now)] == [
            "NEW"]
        # Stock arrives: covered again.
        await till.send([till.receipt("RCV-1", "SKU-1", 1)])
        status, body = await hub.call("GET", "/v1/reservations/NEW")
        assert body["state"] == "short" and body["short"][0]["qty"] == 1
        await till.send([till.receipt("RCV-2", "SKU-1", 1)])
        status, body = await hub.call("GET", "/v1/reservations/NEW")
        assert body["state"] == "held" and body["short"] == []
        # The older one ending frees what the newer one lacked.
        await till.send([till.sale("000002", "SKU-1", 3)])
        assert (await hub.call("GET", "/v1/reservations/NEW"))[1]["state"] == "short"
        await hub.call("POST", "/v1/reservations/OLD/release")
        assert (await hub.call("GET", "/v1/reservations/NEW"))[1]["state"] == "held"
        assert await at_s001(hub) == (2, 2, 0)
