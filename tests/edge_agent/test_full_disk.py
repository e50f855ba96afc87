"""A full disk while the hub acknowledges: the agent keeps running, answers 507, keeps
forwarding, and records the ack once space returns (a real tmpfs, a real hub process)."""

import asyncio
import sqlite3
import subprocess
from pathlib import Path

from edge_agent.app import Agent
from edge_agent.config import load_config
from hub.broker.credentials import write_secret
from runtime.clock import OffsetClock
from tests.conftest import wait_for
from tests.edge_agent.conftest import STARTS_AT
from tests.edge_agent.helpers import post, with_
from tests.integration.procs import HubProc


def fill(folder) -> None:
    """Take the last free bytes too (a log file growing beside the outbox)."""
    with open(folder / "filler", "ab", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"x" * size)
            except OSError:
                continue


def acked_on_disk(agent: Agent) -> int:
    conn = sqlite3.connect(f"file:{agent.config.outbox_path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT acked_through FROM outbox_state").fetchone()[0])
    finally:
        conn.close()


async def test_an_ack_that_cannot_be_recorded_on_a_full_disk_is_no_crash(small_disk, http, tmp_path):
    hub = HubProc(tmp_path / "hub", ["S001"])
    write_secret(small_disk / "mqtt-password", hub.passwords["S001"])
    (small_disk / "agent.toml").write_text(
        f'store_id = "S001"\ndata_dir = "data"\n[api]\nlisten = "127.0.0.1:0"\n'
        f'[mqtt]\nurl = "{hub.broker_url}"\nusername = "S001"\npassword_file = "mqtt-password"\n'
        "[forwarder]\nack_timeout_s = 2\nreconnect_max_s = 0.5\n[health]\nmin_free_mb = 0\n")
    agent = Agent(load_config(small_disk / "agent.toml"), OffsetClock.starting_at(STARTS_AT))
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.started.wait(), 10)
        url = f"http://127.0.0.1:{agent.bound_port}"
        accepted = 3  # while the hub is away; then something else fills the disk to the last byte
        for n in range(accepted):
            assert (await post(http, url, with_("pos_txn_id", f"{n:06d}")))[0] == 201
        fill(small_disk)
        assert (await post(http, url, with_("pos_txn_id", "full")))[0] == 507
        hub.start()
        await hub.ready(http)

        async def all_acked() -> bool:
            if task.done():
                raise AssertionError(f"the agent stopped: {task.exception()!r}")
            return agent.outbox.acked_through == accepted

        await wait_for(all_acked, 30, "the hub's ack of every sale")
        assert acked_on_disk(agent) < accepted  # there was no room to write it down
        status, answer = await post(http, url, with_("pos_txn_id", "still-full"))
        assert status == 507, answer  # a till hears "disk full", never "connection refused"
        async with http.get(url + "/healthz") as r:
            assert r.status == 503 and "disk full" in (await r.json())["reason"]

        subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
        status, answer = await post(http, url, with_("pos_txn_id", "after"))
        assert status == 201 and answer["seq"] == accepted + 1, answer

        async def recorded() -> bool:
            await all_acked()
            return acked_on_disk(agent) == accepted + 1

        await wait_for(recorded, 30, "the ack written down once space returned")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        hub.stop()


async def test_an_agent_started_on_a_full_disk_serves_507_and_resumes_when_space_returns(
        running_agent, http, small_disk):
    """After a clean stop the disk filled up (a log beside the outbox); the agent restarts on
    it. SQLite cannot create its `-shm` file: that is no damage, and no reason not to start."""
    extra = "[health]\nmin_free_mb = 0\n"
    agent, url = await running_agent(root=small_disk, extra=extra)
    accepted = 3
    for n in range(accepted):
        assert (await post(http, url, with_("pos_txn_id", f"{n:06d}")))[0] == 201
    outbox = agent.config.outbox_path
    stopped = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "Agent.run"]
    for task in stopped:
        task.cancel()
    await asyncio.gather(*stopped, return_exceptions=True)
    assert not Path(f"{outbox}-shm").exists()  # a clean stop removes it
    untouched = outbox.read_bytes()
    fill(small_disk)

    agent, url = await running_agent(root=small_disk, extra=extra)
    status, answer = await post(http, url, with_("pos_txn_id", "full"))
    assert status == 507, answer
    assert "disk" in answer["error"]
    async with http.get(url + "/healthz") as r:
        assert r.status == 503 and "disk full" in (await r.json())["reason"]
    async with http.get(url + "/") as r:
        assert r.status == 200
    async with http.get(url + "/v1/status") as r:
        assert r.status == 200
    assert outbox.read_bytes() == untouched  # neither rebuilt nor set aside
    assert not (small_disk / "data" / "quarantine").exists()

    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)

    async def captures() -> bool:
        status, answer = await post(http, url, with_("pos_txn_id", "after"))
        assert status in (201, 507), answer
        return status == 201 and answer["seq"] == accepted + 1

    await wait_for(captures, 15, "a capture with the next seq once space returned")
    async with http.get(url + "/healthz") as r:
        assert r.status == 200, await r.json()
    assert agent.outbox.stream and (await agent.outbox.stats()).last_seq == accepted + 1
