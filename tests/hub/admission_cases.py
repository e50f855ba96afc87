"""Events the capture API would refuse, as a store could still publish them on its own topic."""

import datetime as dt
from decimal import Decimal

import msgspec

from protocol.messages import AdjustmentLine, Envelope, InventoryAdjustment, SaleLine
from tests.hub.helpers import NOW, sale_envelope


def with_line(env, **changes):
    line = msgspec.structs.replace(env.event.lines[0], **changes)
    return msgspec.structs.replace(env, event=msgspec.structs.replace(env.event, lines=[line]))


BAD = {
    "NaN price": lambda e: with_line(e, unit_price=Decimal("NaN")),
    "Infinity price": lambda e: with_line(e, unit_price=Decimal("Infinity")),
    "1e300 price": lambda e: with_line(e, unit_price=Decimal("1e300")),
    "18 decimals": lambda e: with_line(e, unit_price=Decimal("1.000000000000000001")),
    "negative qty": lambda e: with_line(e, qty=-1000),
    "exponent": lambda e: with_line(e, tax=Decimal("1E+2")),
    "naive occurred_at": lambda e: msgspec.structs.replace(e, occurred_at=NOW.replace(tzinfo=None)),
    "year 9999": lambda e: msgspec.structs.replace(
        e, occurred_at=dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)),
    "total over 10^12": lambda e: msgspec.structs.replace(e, event=msgspec.structs.replace(
        e.event, lines=[SaleLine("A", 1, Decimal(999999999999))] * 2)),
    "reservation_id": lambda e: msgspec.structs.replace(e, event=msgspec.structs.replace(
        e.event, reservation_id="WEB\n1")),
    "qty_delta": lambda e: msgspec.structs.replace(e, event=InventoryAdjustment(
        "ADJ-1", "receipt", [AdjustmentLine("SKU-1", 1_000_001)])),
}




def bad_events(start_seq: int) -> list[Envelope]:
    """One of each, at consecutive seqs from `start_seq`."""
    return [BAD[name](sale_envelope(start_seq + i)) for i, name in enumerate(sorted(BAD))]
