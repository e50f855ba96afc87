"""Backups as docs/backup.md describes them: SQLite's online backup of a running hub and agent,
and a hub restored from an older backup getting the events it lost back from the stores."""

import sqlite3
from pathlib import Path

import pytest

from tests.integration.helpers import assert_delivered, hub_and_agents
from tests.integration.tills import Till

pytestmark = pytest.mark.integration


def online_backup(source: Path, target: Path) -> None:
    """What `sqlite3 SOURCE ".backup TARGET"` does, through Python's sqlite3 backup API."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def check(path: Path) -> tuple[str, int]:
    conn = sqlite3.connect(path)
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        return ok, conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()


async def test_online_backups_of_a_running_hub_and_agent_are_whole(tmp_path: Path, http, procs):
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"])
    till = Till(agent.url)
    await till.sell_many(http, 30)
    await assert_delivered(http, hub, "S001", till)
    online_backup(agent.outbox, tmp_path / "outbox-backup.sqlite")
    online_backup(hub.db, tmp_path / "hub-backup.sqlite")
    assert check(tmp_path / "outbox-backup.sqlite") == ("ok", 30)
    assert check(tmp_path / "hub-backup.sqlite") == ("ok", 30)
    await till.sell_many(http, 5)  # both keep running after the backup
    await assert_delivered(http, hub, "S001", till)


async def test_a_hub_restored_from_an_older_backup_gets_the_rest_from_the_stores(
        tmp_path: Path, http, procs):
    """The stores still hold what the hub acknowledged after the backup (for
    `outbox.retention_hours`): the restored hub sees a gap and asks for a replay, which the
    agent sends even below what it had been acknowledged (before: it never did, and the store's
    new sales waited behind the gap for ever)."""
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"])
    till = Till(agent.url)
    await till.sell_many(http, 20)
    await assert_delivered(http, hub, "S001", till)
    backup = tmp_path / "hub-backup.sqlite"
    online_backup(hub.db, backup)
    await till.sell_many(http, 20)  # acknowledged by the hub, then lost with its database
    await assert_delivered(http, hub, "S001", till)
    assert hub.stop() == 0
    for leftover in hub.db.parent.glob("hub.sqlite*"):
        leftover.unlink()
    backup.rename(hub.db)
    hub.start()
    await hub.ready(http)
    await till.sell_many(http, 5)
    await assert_delivered(http, hub, "S001", till)
