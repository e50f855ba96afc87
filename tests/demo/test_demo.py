"""The demo's own logic, without starting anything: goods receipts, and a Ctrl-C as the day closes."""

import asyncio

import pytest

from demo.runner import Demo, Stockroom
from runtime.clock import FrozenClock
from tests.conftest import wait_for


def test_the_stockroom_fills_every_shelf_first_then_brings_back_what_was_sold():
    room = Stockroom(rate=20, clock=FrozenClock("2026-11-23T07:30:00+00:00"))
    first = room.receipt()
    assert first is not None and first["reason"] == "receipt"
    assert first["occurred_at"] == "2026-11-23T07:30:00+00:00"
    assert len(first["lines"]) == 50 and {line["qty_delta"] for line in first["lines"]} == {200}
    assert room.receipt() is None  # nothing sold since
    room.took({"lines": [{"sku": "SKU-1001", "qty": 3}, {"sku": "SKU-1002", "qty": 1}]}, 1)
    room.took({"lines": [{"sku": "SKU-1001", "qty": 1, "restock": True}]}, -1)
    room.took({"lines": [{"sku": "SKU-1002", "qty": 1, "restock": False}]}, -1)
    second = room.receipt()
    assert second is not None and second["adjustment_id"] != first["adjustment_id"]
    assert second["lines"] == [{"sku": "SKU-1001", "qty_delta": 2}, {"sku": "SKU-1002", "qty_delta": 1}]


async def test_a_second_ctrl_c_just_as_the_day_closes_is_not_lost(tmp_path):
    demo = Demo(str(tmp_path / "demo-data"), stores=1, rate=1, duration=0, api_port=0, erp=False)
    waiting = asyncio.create_task(demo._closed_within(30))

    async def till_waits() -> bool:
        return bool(demo.closing._waiters)  # type: ignore[attr-defined]

    await wait_for(till_waits, 5, "the wait on closing")
    demo.closing.set()  # the first Ctrl-C
    waiting.cancel()  # the second, before the waiting task has run again
    with pytest.raises(asyncio.CancelledError):
        await waiting
