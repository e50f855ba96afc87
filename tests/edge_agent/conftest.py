import asyncio
import contextlib
from pathlib import Path

import aiohttp
import pytest

from edge_agent.app import Agent
from edge_agent.config import load_config
from runtime.clock import Clock, OffsetClock
from runtime.net import free_port

# The instant every in-process test agent's clock reads at start (noon in Berlin); it ticks on.
STARTS_AT = "2026-11-23T11:00:00+00:00"


def agent_config(root: Path, extra: str = "", api_extra: str = ""):
    """An agent on a free port whose broker is unreachable (a closed port): the store is offline.
    `extra` is appended to the file; `api_extra` goes into its [api] table."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "agent.toml").write_text(
        f'store_id = "S001"\ndata_dir = "data"\ntimezone = "Europe/Berlin"\n'
        f'[api]\nlisten = "127.0.0.1:0"\n{api_extra}[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n{extra}'
    )
    return load_config(root / "agent.toml")


@pytest.fixture
async def running_agent(tmp_path):
    """Factory: start an in-process agent; yields (agent, base_url). Its clock starts at
    STARTS_AT whatever the day (pass `clock` for another)."""
    tasks = []

    async def start(root: Path | None = None, extra: str = "", clock: Clock | None = None,
                    api_extra: str = ""):
        agent = Agent(agent_config(root or tmp_path, extra, api_extra),
                      clock or OffsetClock.starting_at(STARTS_AT))
        task = asyncio.create_task(agent.run())
        tasks.append(task)
        started = asyncio.create_task(agent.started.wait())
        done, _ = await asyncio.wait({task, started}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        assert started in done, "agent did not start"
        return agent, f"http://127.0.0.1:{agent.bound_port}"

    yield start
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB filesystem (tmpfs), or a skip where this machine does not allow mounting."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)
