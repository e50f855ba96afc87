"""`retail-hub demo` (what `make demo` runs): stores sell, the day closes, Tryton gets postings."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from demo import cluster
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
        self.hub = self.tryton = 0
        self.stores: dict[str, int] = {}

    @classmethod
    async def start(cls, data_dir: Path, *options: str) -> "Terminal":
        proc = await asyncio.create_subprocess_exec(
            *DEMO, *options, "--data-dir", str(data_dir), "--api-port", str(free_port()),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
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

    async def selling(self, captured: str) -> None:
        """Wait for the ports the demo prints at start, then for `captured` events."""
        self.hub = int((await self.until(r"dashboard http://127\.0\.0\.1:(\d+)/", 300))[1])
        for store in ("S001", "S002"):
            found = await self.until(rf"store {store} +http://127\.0\.0\.1:(\d+)/", 5)
            self.stores[store] = int(found[1])
        self.tryton = int((await self.until(r"Tryton at http://127\.0\.0\.1:(\d+)", 5))[1])
        await self.until(rf"stores online 2/2  captured {captured}", 60)

    def ctrl_c(self) -> None:
        """What a terminal does on Ctrl-C: SIGINT to every process in the foreground group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    async def finish(self, timeout: float) -> str:
        """Wait for the demo to end within `timeout`: exit 0, no traceback; returns its output."""
        out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        self.lines.append(out.decode())
        assert self.proc.returncode == 0, self.output[-4000:]
        assert "Traceback" not in self.output, self.output[-4000:]
        return self.output

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def children_gone(self) -> bool:
        """No store agent or Tryton answers on its port any more."""
        def refused(port: int) -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) != 0

        return all(refused(port) for port in [*self.stores.values(), self.tryton])

    def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


@pytest.mark.timeout(400)
async def test_ctrl_c_to_the_whole_group_closes_the_day(demo_data):
    demo = await Terminal.start(demo_data)
    try:
        await demo.selling(r"[1-9]\d{2,}")
        async with aiohttp.ClientSession() as http:
            for n in range(50):  # each store received stock before its tills sold any
                url = f"http://127.0.0.1:{demo.hub}/v1/inventory/SKU-{1000 + n}"
                async with http.get(url) as r:
                    assert r.status == 200, f"SKU-{1000 + n}: {r.status}"
                    body = await r.json()
                assert [s["store_id"] for s in body["stores"]] == ["S001", "S002"]
                assert all(s["on_hand"] > 0 for s in body["stores"]), body
        demo.ctrl_c()
        out = await demo.finish(240)
    finally:
        demo.stop()
    assert "all delivered" in out and "0 exceptions, 0 dead" in out, out[-4000:]
    assert "2 matched, 0 mismatched" in out, out[-4000:]
    for line in re.findall(r"captured (\d+)  applied (\d+)", out):
        assert int(line[1]) <= int(line[0]), out
    assert demo.children_gone(), "a child outlived the demo"
    for store in demo.stores:
        assert "Traceback" not in (demo_data / store / "agent.log").read_text()


@pytest.mark.timeout(400)
async def test_a_second_ctrl_c_stops_at_once(demo_data):
    demo = await Terminal.start(demo_data)
    try:
        await demo.selling("[1-9]")
        demo.ctrl_c()
        await demo.until(r"closing the business day", 10)
        demo.ctrl_c()
        out = await demo.finish(30)
    finally:
        demo.stop()
    assert "demo: stopping" in out and "reconciliation of" not in out, out[-6000:]
    assert demo.children_gone(), "a child outlived the demo"


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


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def processes_naming(*paths: Path) -> list[str]:
    """The command lines of running processes that name one of `paths` (a postgres -D, a
    mosquitto -c, a worker's or an agent's --config)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue  # ended meanwhile
            if any(str(p) in cmdline for p in paths):
                found.append(cmdline)
    return found


@pytest.mark.skipif(cluster.missing() is not None, reason=str(cluster.missing()))
@pytest.mark.timeout(400)
async def test_postgresql_two_workers_share_the_stores_and_everything_stops_with_the_demo(
        demo_data):
    demo = await Terminal.start(demo_data, "--postgresql")
    try:
        pg = await demo.until(r"PostgreSQL \S+ at postgresql://\S+@127\.0\.0\.1:(\d+)/\S+ "
                              r"\(.*; files in (\S+)\)", 300)
        mqtt = await demo.until(r"Mosquitto at mqtt://127\.0\.0\.1:(\d+) ", 5)
        workers = [int((await demo.until(rf"worker {w} dashboard http://127\.0\.0\.1:(\d+)/", 5))[1])
                   for w in ("w1", "w2")]
        for store in ("S001", "S002"):
            found = await demo.until(rf"store {store} +http://127\.0\.0\.1:(\d+)/", 5)
            demo.stores[store] = int(found[1])
        demo.tryton = int((await demo.until(r"Tryton at http://127\.0\.0\.1:(\d+)", 5))[1])
        # The broker hands each batch to one worker of the shared subscription: both apply some.
        await demo.until(r"stores online 2/2  captured \d+  applied \d+ \(w1 [1-9]\d*, w2 [1-9]", 60)
        async with aiohttp.ClientSession() as http:
            for port in workers:  # each worker answers for the whole fleet, from the one database
                async with http.get(f"http://127.0.0.1:{port}/v1/stores") as r:
                    assert sorted(s["store_id"] for s in (await r.json())["stores"]) == ["S001", "S002"]
        demo.ctrl_c()
        out = await demo.finish(120)
    finally:
        demo.stop()
    assert "all delivered" in out, out[-4000:]
    shares = re.search(r"events each applied: w1 (\d+), w2 (\d+)", out)
    assert shares and int(shares[1]) > 0 and int(shares[2]) > 0, out[-4000:]
    if "GET /v1/workers" in out:  # a hub with the workers table says it too, and who leads
        took = re.search(r"batches each took in: w1 (\d+), w2 (\d+), (w1|w2) leading", out)
        assert took and int(took[1]) > 0 and int(took[2]) > 0, out[-4000:]
    posted = re.search(r"ERP postings: (\d+) posted in Tryton, 0 exceptions, 0 dead", out)
    assert posted and int(posted[1]) >= 2, out[-4000:]  # a daily summary per store at least
    assert "2 matched, 0 mismatched" in out, out[-4000:]
    pg_files = Path(pg[2])
    assert demo.children_gone(), "a store agent or Tryton outlived the demo"
    assert all(refused(port) for port in [int(pg[1]), int(mqtt[1]), *workers]), out[-2000:]
    assert processes_naming(demo_data, pg_files) == []
    assert not (pg_files / "data" / "postmaster.pid").exists()
    for worker in ("w1", "w2"):
        log = (demo_data / "hub" / worker / "hub.log").read_text()
        assert "Traceback" not in log and "hub stopped" in log, log[-3000:]
