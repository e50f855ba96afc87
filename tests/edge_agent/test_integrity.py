"""The outbox's check at start: damaged rows, files and WALs are found, the good events kept (in a
new stream, in order), the bad set aside and reported; the agent never refuses to start."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from edge_agent import integrity
from edge_agent.outbox import Outbox
from tests.edge_agent.helpers import NOW, sale

KEYS = [f"S001/sale/R1/{n}" for n in range(300)]


async def filled(path: Path, n: int = 300, acked: int = 0) -> str:
    box = Outbox(path, "S001")
    await box.open()
    for i in range(n):
        await box.capture(sale(i), NOW)
    if acked:
        await box.mark_acked(acked)
    stream = box.stream
    await box.close()
    return stream


async def reopen(path: Path) -> Outbox:
    box = Outbox(path, "S001")
    await box.open()
    return box


async def natural_keys(box: Outbox) -> list[str]:
    async with box.reader.execute("SELECT natural_key FROM events ORDER BY seq") as cur:
        return [r[0] for r in await cur.fetchall()]


def quarantine_of(path: Path) -> list[Path]:
    return sorted((path.parent / "quarantine").glob("outbox-*"))


async def test_a_healthy_outbox_is_left_alone(tmp_path):
    path = tmp_path / "outbox.sqlite"
    stream = await filled(path)
    box = await reopen(path)
    assert box.check is not None and box.check.problems == []
    assert box.stream == stream and await box.damage() is None
    assert not (tmp_path / "quarantine").exists()
    await box.close()


async def test_garbage_rows_are_quarantined_and_the_rest_resent_in_a_new_stream(tmp_path):
    path = tmp_path / "outbox.sqlite"
    old_stream = await filled(path, acked=100)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET body = randomblob(64) WHERE seq IN (150, 151, 260)")
    box = await reopen(path)
    assert box.check is not None and len(box.check.problems) == 3
    assert "row seq 150" in box.check.problems[0]
    damage = await box.damage()
    assert damage is not None and (damage.kept, damage.quarantined) == (297, 3)
    # A new stream, starting at 1, with every good event in the original order.
    assert box.stream != old_stream and box.acked_through == 0
    kept = await natural_keys(box)
    assert kept == [k for i, k in enumerate(sale(n).natural_key for n in range(300))
                    if i + 1 not in (150, 151, 260)]
    assert (await box.stats()).last_seq == 297
    async with box.reader.execute("SELECT old_stream, old_seq FROM quarantined_rows") as cur:
        assert await cur.fetchall() == [(old_stream, 150), (old_stream, 151), (old_stream, 260)]
    # The till's retries still get the same answer, and new sales carry on the sequence.
    assert (await box.capture(sale(5), NOW)).created is False
    assert (await box.capture(sale(1000), NOW)).seq == 298
    [moved] = quarantine_of(path)
    assert (moved / "outbox.sqlite").exists()
    await box.close()
    # The next start finds nothing more to repair and keeps the stream.
    again = await reopen(path)
    assert again.check is not None and again.check.problems == [] and again.stream == box.stream
    await again.close()


async def test_a_truncated_file_keeps_what_can_be_read(tmp_path):
    path = tmp_path / "outbox.sqlite"
    await filled(path, n=3000)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size * 2 // 3)
    box = await reopen(path)
    assert box.check is not None and box.check.problems
    damage = await box.damage()
    assert damage is not None and 0 < damage.kept < 3000
    kept = await natural_keys(box)
    everything = [sale(n).natural_key for n in range(3000)]
    assert kept == [k for k in everything if k in set(kept)], "kept events are out of order"
    assert (await box.capture(sale(5000), NOW)).created
    await box.close()


async def test_a_file_of_garbage_starts_a_fresh_outbox_and_is_kept_aside(tmp_path):
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(os.urandom(8192))
    box = await reopen(path)
    assert box.check is not None and "unreadable" in box.check.problems[0]
    assert (await box.capture(sale(1), NOW)).seq == 1
    [moved] = quarantine_of(path)
    assert len((moved / "outbox.sqlite").read_bytes()) == 8192
    await box.close()


async def test_a_garbage_wal_is_reported_and_preserved(tmp_path):
    """SQLite would drop a WAL with a bad header silently; the check says so and keeps a copy."""
    path = tmp_path / "outbox.sqlite"
    await filled(path, n=50)  # closed: checkpointed into the main file
    box = await reopen(path)
    for n in range(50, 80):
        await box.capture(sale(n), NOW)
    # A crash now: copy the files as they are on disk (30 events only in the WAL).
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in ("outbox.sqlite", "outbox.sqlite-wal"):
        shutil.copy2(tmp_path / name, crashed / name)
    await box.close()
    wal = crashed / "outbox.sqlite-wal"
    assert wal.stat().st_size > 0
    with wal.open("r+b") as f:
        f.write(b"\x00garbage-garbage-garbage-garbag\x00")
    assert integrity.wal_problem(wal)
    again = await reopen(crashed / "outbox.sqlite")
    assert again.check is not None and "WAL" in again.check.problems[0]
    damage = await again.damage()
    assert damage is not None and damage.kept == 50
    [moved] = quarantine_of(crashed / "outbox.sqlite")
    assert (moved / "outbox.sqlite-wal").read_bytes()[:8] == b"\x00garbage"
    await again.close()


async def test_an_interrupted_repair_is_finished_or_redone(tmp_path):
    path = tmp_path / "outbox.sqlite"
    await filled(path, n=20)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET body = x'00' WHERE seq = 3")
    # A half-written rebuild beside a still-damaged outbox: redone from the original.
    (tmp_path / "outbox.sqlite.rebuild").write_bytes(b"half")
    box = await reopen(path)
    damage = await box.damage()
    assert damage is not None and (damage.kept, damage.quarantined) == (19, 1)
    assert not (tmp_path / "outbox.sqlite.rebuild").exists()
    await box.close()


def test_outbox_check_command_exit_codes(tmp_path):
    import asyncio

    root = tmp_path
    path = root / "data" / "outbox.sqlite"
    path.parent.mkdir()
    asyncio.run(filled(path, n=5))
    (root / "agent.toml").write_text('store_id = "S001"\ndata_dir = "data"\n')

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edge_agent", "outbox", "--config",
                               str(root / "agent.toml"), "check"],
                              capture_output=True, text=True, check=False)

    assert check().returncode == 0
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET body = x'01' WHERE seq = 2")
    done = check()
    assert done.returncode == 1 and "row seq 2" in done.stdout


def test_edge_agent_status_mentions_the_last_repair(tmp_path):
    import asyncio

    path = tmp_path / "data" / "outbox.sqlite"
    path.parent.mkdir()
    asyncio.run(filled(path, n=5))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET body = x'01' WHERE seq = 2")

    async def start_once() -> None:  # the agent's start: it repairs
        box = await reopen(path)
        await box.close()

    asyncio.run(start_once())
    (tmp_path / "agent.toml").write_text('store_id = "S001"\ndata_dir = "data"\n')
    done = subprocess.run([sys.executable, "-m", "edge_agent", "status", "--config",
                           str(tmp_path / "agent.toml")], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "4 events kept, 1 damaged set aside" in done.stdout
