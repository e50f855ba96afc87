"""`retail-hub demo` (what `make demo` runs): stores sell, the day closes, Tryton gets the postings."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest

from runtime.net import free_port
from tests.conftest import wait_for
from tests.integration.procs import REPO

DEMO = [sys.executable, "-m", "hub", "demo", "--stores", "2", "--rate", "10"]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    """One --data-dir for the module's demos, so they share the Tryton template beside it."""
    return tmp_path_factory.mktemp("demo") / "demo-data"


@pytest.mark.timeout(400)
def test_the_demo_delivers_posts_and_reconciles(demo_data):
    done = subprocess.run(
        [*DEMO, "--duration", "4", "--data-dir", str(demo_data), "--api-port", str(free_port())],
        capture_output=True, text=True, timeout=380)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "ERP: Tryton at http://127.0.0.1:" in out
    assert "all delivered" in out
    assert "0 exceptions, 0 dead" in out
    assert "reconciliation of" in out and "2 matched, 0 mismatched" in out


class Terminal:
    """The demo as a terminal runs it: the leader of its own process group, output read by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, *args: str) -> "Terminal":
        proc = await asyncio.create_subprocess_exec(
            *DEMO, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=REPO, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return cls(proc)

    async def until(self, pattern: str, timeout: float) -> re.Match[str]:
        """Read lines until one matches `pattern`; fail (showing the output) at the deadline."""
        async def next_line() -> re.Match[str] | None:
            assert self.proc.stdout is not None
            line = (await self.proc.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"the demo ended before {pattern!r}:\n{self.output}")
            self.lines.append(line)
            return re.search(pattern, line)

        return await wait_for(next_line, timeout, f"{pattern!r} in:\n{self.output}", interval=0)

    def ctrl_c(self) -> None:
        """What a terminal does on Ctrl-C: SIGINT to every process in the foreground group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    async def finish(self, timeout: float) -> int:
        out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        self.lines.append(out.decode())
        return self.proc.returncode  # type: ignore[return-value]

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def started(demo: Terminal) -> tuple[int, dict[str, int], int]:
    """The hub's, each store's and Tryton's port, from the lines the demo prints at start."""
    hub = int((await demo.until(r"dashboard http://127\.0\.0\.1:(\d+)/", 300))[1])
    stores = {}
    for store in ("S001", "S002"):
        stores[store] = int((await demo.until(rf"store {store} +http://127\.0\.0\.1:(\d+)/", 5))[1])
    tryton = int((await demo.until(r"Tryton at http://127\.0\.0\.1:(\d+)", 5))[1])
    return hub, stores, tryton


@pytest.mark.timeout(400)
async def test_ctrl_c_to_the_whole_group_closes_the_day(demo_data):
    demo = await Terminal.start("--data-dir", str(demo_data), "--api-port", str(free_port()))
    try:
        hub, stores, tryton = await started(demo)
        await demo.until(r"stores online 2/2  captured [1-9]\d{2,}", 60)
        async with aiohttp.ClientSession() as http:
            for n in range(50):  # each store received stock before its tills sold any
                async with http.get(f"http://127.0.0.1:{hub}/v1/inventory/SKU-{1000 + n}") as r:
                    assert r.status == 200, f"SKU-{1000 + n}: {r.status}"
                    body = await r.json()
                assert [s["store_id"] for s in body["stores"]] == ["S001", "S002"]
                assert all(s["on_hand"] > 0 for s in body["stores"]), body
        demo.ctrl_c()
        code = await demo.finish(240)
    finally:
        demo.stop()
    out = demo.output
    assert code == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    assert "all delivered" in out and "0 exceptions, 0 dead" in out, out[-4000:]
    assert "2 matched, 0 mismatched" in out, out[-4000:]
    for line in re.findall(r"captured (\d+)  applied (\d+)", out):
        assert int(line[1]) <= int(line[0]), out
    assert all(refused(p) for p in [*stores.values(), tryton]), "a child outlived the demo"
    for store in stores:
        assert "Traceback" not in (demo_data / store / "agent.log").read_text()


@pytest.mark.timeout(400)
async def test_a_second_ctrl_c_stops_at_once(demo_data):
    demo = await Terminal.start("--data-dir", str(demo_data), "--api-port", str(free_port()))
    try:
        _, stores, tryton = await started(demo)
        await demo.until(r"stores online 2/2  captured [1-9]", 60)
        demo.ctrl_c()
        await demo.until(r"closing the business day", 10)
        demo.ctrl_c()
        code = await demo.finish(30)
    finally:
        demo.stop()
    assert code == 0, demo.output[-4000:]
    assert "Traceback" not in demo.output, demo.output[-4000:]
    assert "reconciliation of" not in demo.output
    assert all(refused(p) for p in [*stores.values(), tryton]), "a child outlived the demo"


def test_a_data_dir_the_demo_did_not_make_is_not_deleted(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"\xff\xd8")
    done = subprocess.run([*DEMO, "--duration", "1", "--data-dir", str(mine)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"retail-hub demo: {mine} is not empty and was not made by the demo" in done.stderr
    assert "Traceback" not in done.stderr
    assert (mine / "holiday.jpg").read_bytes() == b"\xff\xd8"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]  # no ERP template beside it
