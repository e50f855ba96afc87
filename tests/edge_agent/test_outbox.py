import asyncio
import datetime as dt

import pytest

from edge_agent.errors import Conflict, OutboxError
from edge_agent.outbox import Outbox
from tests.edge_agent.helpers import NOW, sale


async def test_concurrent_captures_get_gapless_seqs_and_survive_reopen(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite", "S001")
    await box.open()
    results = await asyncio.gather(*(box.capture(sale(n), NOW) for n in range(500)))
    assert sorted(r.seq for r in results) == list(range(1, 501))
    assert all(r.created for r in results)
    stream = box.stream
    await box.close()
    again = Outbox(tmp_path / "outbox.sqlite", "S001")
    await again.open()
    assert again.stream == stream
    assert (await again.stats()).backlog == 500
    assert (await again.capture(sale(7), NOW)).created is False
    with pytest.raises(Conflict):
        await again.capture(sale(7, qty=2), NOW)
    assert (await again.capture(sale(1000), NOW)).seq == 501
    await again.close()


async def test_acks_and_pruning_keep_unacked_events(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite", "S001")
    await box.open()
    for n in range(10):
        await box.capture(sale(n), NOW)
    assert await box.mark_acked(6) == 6
    assert await box.mark_acked(3) == 6  # acks never move backwards
    stats = await box.stats()
    assert (stats.last_seq, stats.acked_through, stats.backlog) == (10, 6, 4)
    assert (await box.transaction("R1", "0")).state == "delivered"
    assert (await box.transaction("R1", "9")).state == "captured"
    assert await box.prune(NOW + dt.timedelta(hours=1)) == 6
    assert [r.seq for r in await box.next_batch(0, 100, 1 << 20)] == [7, 8, 9, 10]
    # Seqs are never reused after pruning.
    assert (await box.capture(sale(99), NOW)).seq == 11
    await box.close()


async def test_an_outbox_of_another_store_is_refused(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite", "S001")
    await box.open()
    await box.close()
    with pytest.raises(OutboxError, match="belongs to store 'S001'"):
        await Outbox(tmp_path / "outbox.sqlite", "S002").open()


async def test_batches_respect_the_byte_bound(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite", "S001")
    await box.open()
    for n in range(50):
        await box.capture(sale(n), NOW)
    rows = await box.next_batch(0, 1000, 2000)
    assert 1 <= len(rows) < 50 and rows[0].seq == 1
    await box.close()


async def test_restream_renumbers_from_one_and_keeps_order_and_idempotency(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite", "S001")
    await box.open()
    for n in range(10):
        await box.capture(sale(n), NOW)
    await box.mark_acked(10)
    assert await box.prune(NOW + dt.timedelta(hours=1)) == 10
    for n in range(10, 15):
        await box.capture(sale(n), NOW)  # seqs 11-15, the first 10 pruned
    old = box.stream
    new = await box.restream()
    assert new != old and box.stream == new and box.acked_through == 0
    rows = await box.next_batch(0, 100, 1 << 20)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert [r.event_id for r in rows] == [sale(n).event_id for n in range(10, 15)]
    assert (await box.capture(sale(12), NOW)).seq == 3  # a till's retry: same answer
    assert (await box.capture(sale(99), NOW)).seq == 6
    await box.close()
    again = Outbox(tmp_path / "outbox.sqlite", "S001")
    await again.open()
    assert again.stream == new and (await again.stats()).last_seq == 6
    await again.close()
