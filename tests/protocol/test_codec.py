"""Wire format round trips and the schema-evolution rules of docs/protocol.md."""

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from protocol import codec, identity
from protocol.errors import PayloadError
from protocol.messages import (
    Ack, Batch, DayClose, Envelope, InventoryAdjustment, Replay, Return, ReturnLine, Sale,
    SaleLine, StoreState, Tender,
)
from tests.protocol.older import OlderBatch, OlderEnvelope, OlderSale

NOW = dt.datetime(2026, 11, 23, 9, 15, tzinfo=dt.UTC)


def envelope(seq: int, event=None) -> Envelope:
    event = event or Sale("R1", f"{seq:06d}", "EUR", True,
                          [SaleLine("SKU-1", 2, Decimal("12.00"), Decimal(0), Decimal("4.00"))],
                          [Tender("cash", Decimal("24.00"))])
    return Envelope("S001", "stream-a", seq, f"id-{seq}", NOW, NOW.date(), NOW, event)


def test_every_event_kind_round_trips_exactly():
    events = [
        envelope(1).event,
        Return("R1", "9", "EUR", True, [ReturnLine("SKU-1", 1, Decimal("0.10"), restock=False)],
               [Tender("cash", Decimal("-0.10"))]),
        InventoryAdjustment("A1", "count", []),
        DayClose(None, 3, 1, Decimal("100.005"), Decimal("0.01"), {"cash": Decimal("1e-2")}),
    ]
    batch = Batch("S001", "stream-a", [envelope(i + 1, e) for i, e in enumerate(events)])
    again = codec.decode_batch(codec.encode(batch))
    assert again == batch
    assert [e.kind for e in again.events] == ["sale", "return", "inventory_adjustment", "day_close"]
    assert again.events[3].event.net_total == Decimal("100.005")  # exact, not a float


def test_acks_replays_and_states_round_trip():
    assert codec.decode_ack(codec.encode(Ack("s", 42))) == Ack("s", 42)
    assert codec.decode_control(codec.encode(Replay("s", 7))) == Replay("s", 7)
    state = StoreState("S001", True, NOW, "s", "0.1.0", 3)
    assert codec.decode_state(codec.encode_state(state)) == state


class NewerLine(msgspec.Struct, frozen=True):
    sku: str
    qty: int
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    loyalty_points: int = 0  # a field a newer agent adds, with a default


class NewerSale(msgspec.Struct, frozen=True, tag="sale", tag_field="kind"):
    register_id: str
    pos_txn_id: str
    currency: str
    prices_include_tax: bool
    lines: list[NewerLine]
    tenders: list[Tender]
    customer_id: str | None = None


class NewerEnvelope(msgspec.Struct, frozen=True):
    store_id: str
    stream: str
    seq: int
    event_id: str
    occurred_at: dt.datetime
    business_day: dt.date
    captured_at: dt.datetime
    event: NewerSale
    v: int = 1
    till_firmware: str = "9.9"


class NewerBatch(msgspec.Struct, frozen=True):
    store_id: str
    stream: str
    events: list[NewerEnvelope]
    v: int = 1


def test_an_older_hub_decodes_a_newer_agents_batch_with_added_optional_fields():
    newer = NewerBatch("S001", "s", [NewerEnvelope(
        "S001", "s", 1, "e", NOW, NOW.date(), NOW,
        NewerSale("R1", "1", "EUR", True, [NewerLine("SKU-1", 1, Decimal("1.00"), loyalty_points=5)],
                  [Tender("card", Decimal("1.00"))], customer_id="C-7"))])
    old = codec.decode_batch(msgspec.msgpack.encode(newer))
    assert old.events[0].event.lines[0].unit_price == Decimal("1.00")
    assert old.events[0].event.pos_txn_id == "1"


def test_a_newer_hub_decodes_an_older_agents_batch_using_defaults():
    batch = codec.encode(Batch("S001", "s", [envelope(1)]))
    newer = msgspec.msgpack.decode(batch, type=NewerBatch)
    assert newer.events[0].till_firmware == "9.9"
    assert newer.events[0].event.customer_id is None


def _collected(reservation_id: str | None) -> Sale:
    sale = envelope(1).event
    assert isinstance(sale, Sale)
    return msgspec.structs.replace(sale, reservation_id=reservation_id)


def test_a_hub_from_before_click_and_collect_reads_a_sale_that_names_a_reservation():
    new = codec.encode(Batch("S001", "s", [msgspec.structs.replace(
        envelope(1), event=_collected("WEB-100234"))]))
    old = msgspec.msgpack.decode(new, type=OlderBatch)
    assert old.events[0].event.pos_txn_id == "000001"
    assert old.events[0].event.lines == envelope(1).event.lines  # type: ignore[union-attr]


def test_a_sale_from_an_agent_before_click_and_collect_reads_with_no_reservation():
    sale = envelope(1).event
    assert isinstance(sale, Sale)
    old = OlderBatch("S001", "s", [OlderEnvelope(
        "S001", "s", 1, "e", NOW, NOW.date(), NOW, OlderSale(
            sale.register_id, sale.pos_txn_id, sale.currency, sale.prices_include_tax,
            sale.lines, sale.tenders))])
    new = codec.decode_batch(msgspec.msgpack.encode(old))
    assert new.events[0].event == sale and sale.reservation_id is None
    # Without a reservation the bytes are the older agent's own: the field is left out.
    assert codec.encode(sale) == msgspec.msgpack.encode(old.events[0].event)
    again = codec.decode_event(codec.encode(_collected("WEB-1")))
    assert isinstance(again, Sale) and again.reservation_id == "WEB-1"


@pytest.mark.parametrize("payload", [b"", b"\xc1", b"garbage", msgspec.msgpack.encode({"x": 1}),
                                     msgspec.msgpack.encode({"store_id": "S1", "stream": "s",
                                                             "events": [{"kind": "teleport"}]})])
def test_garbage_is_a_payload_error(payload):
    with pytest.raises(PayloadError):
        codec.decode_batch(payload)


def test_event_ids_are_deterministic_and_distinct():
    a = identity.transaction_event_id("S1", "R1", "000123")
    assert a == identity.transaction_event_id("S1", "R1", "000123")
    assert a != identity.transaction_event_id("S2", "R1", "000123")
    assert a != identity.transaction_event_id("S1", "R11", "00123")
    assert identity.new_stream_id() != identity.new_stream_id()
