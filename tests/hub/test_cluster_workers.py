"""The workers table on either backend (hub.cluster.workers over hub.storage.workers): each
worker's heartbeat row, a worker gone after `gone_after_s`, the leader's mark cleared from the
others' rows, rows pruned after a day, a clean stop taking its row away, and /v1/workers,
the dashboard's section and the metrics as they show it."""

import datetime as dt

from hub.cluster.workers import Workers
from hub.config import ClusterConfig, HubConfig
from hub.web import workers_board
from hub.web.workers_board import WorkersBoard
from runtime.clock import FrozenClock
from tests.hub.helpers import hub_database


def config(tmp_path, worker_id: str) -> HubConfig:
    return HubConfig(data_dir=str(tmp_path), cluster=ClusterConfig(
        worker_id=worker_id, heartbeat_s=2.0, gone_after_s=15.0))


async def test_heartbeats_gone_workers_the_leaders_mark_and_pruning(tmp_path, storage):
    db = hub_database(tmp_path, storage)
    await db.start()
    try:
        clock = FrozenClock("2026-11-24T09:00:00+00:00")
        state = {"a": [0, True], "b": [0, False]}  # batches taken in, leading
        a, b = (Workers(config(tmp_path, w), db, clock, batches=lambda w=w: state[w][0],
                        leading=lambda w=w: state[w][1]) for w in ("a", "b"))
        await a.beat()
        clock.advance(seconds=1)
        await b.beat()
        rows = await b.listing()
        assert [(r["worker_id"], r["leading"], r["gone"], r["this"]) for r in rows] == [
            ("a", True, False, False), ("b", False, False, True)]
        assert rows[0]["started_at"] == "2026-11-24T09:00:00.000000+00:00"
        assert rows[1]["heartbeat_age_s"] == 0.0 and rows[0]["heartbeat_age_s"] == 1.0

        # a is killed: its row stands still, and reads as gone (never as the leader) after 15 s
        state["b"] = [7, True]  # b took the lead: its heartbeat clears a's mark too
        clock.advance(seconds=14.5)
        await b.beat()
        rows = {r["worker_id"]: r for r in await b.listing()}
        assert (rows["a"]["gone"], rows["a"]["leading"]) == (True, False)
        assert (rows["b"]["gone"], rows["b"]["leading"], rows["b"]["batches_applied"]) == (
            False, True, 7)
        assert [w.leading for w in await db.reads.workers.listing()] == [False, True]

        board = WorkersBoard(b)
        data = await board.gather()
        assert (data["worker_id"], data["leading"], data["gone_after_s"]) == ("b", True, 15.0)
        html = workers_board.render(data, clock.now())
        assert "<tr class='gone'><td>a</td>" in html and "(gone)" in html
        assert "<td>b <small>(this page's)</small></td>" in html and "<b>leads</b>" in html
        names = {f.name: f.samples for f in await board.families()}
        assert [s.value for s in names["hub_workers"]] == [1.0]
        assert [(s.labels, s.value) for s in names["hub_leader"]] == [({"worker": "b"}, 1.0)]

        # a row not written for a day goes; a clean stop takes its own row away
        clock.advance(days=1)
        await b.beat()
        assert [r["worker_id"] for r in await b.listing()] == ["b"]
        await b.goodbye()
        assert await b.listing() == []
    finally:
        await db.close()


async def test_this_worker_is_never_gone_to_itself(tmp_path, storage):
    """Its own row may stand still while the database is away; it still runs."""
    db = hub_database(tmp_path, storage)
    await db.start()
    try:
        clock = FrozenClock(dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC))
        me = Workers(config(tmp_path, "me"), db, clock, batches=lambda: 3, leading=lambda: True)
        await me.beat()
        clock.advance(minutes=5)
        [row] = await me.listing()
        assert (row["gone"], row["leading"], row["heartbeat_age_s"]) == (False, True, 300.0)
    finally:
        await db.close()
