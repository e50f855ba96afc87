"""Memory benchmark: edge-agent RSS idle and with 1,000,000 events waiting in its outbox.

The agent is a real `edge-agent` process, offline (no broker), its status page fetched once so
the numbers include serving it. (The hub's RSS with 1,000 stores connected comes from
`bench.fleet`.) Usage: python -m bench.memory [--events 1000000]
"""

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import save

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def agent_rss(root: Path, events: int) -> float:
    from bench.status_page import fill
    from runtime.net import free_port
    from tests.edge_agent.conftest import agent_config
    from tests.integration.procs import Proc

    config = agent_config(root)
    port = free_port()
    conf = root / "agent.toml"
    conf.write_text(conf.read_text().replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"'))
    if events:
        await fill(Path(config.outbox_path), events, one_day=False)
    agent = Proc([sys.executable, "-m", "edge_agent", "run", "--config", str(conf)], root / "agent.log")
    agent.start()
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/v1/status") as r:
                        if r.status == 200:
                            await r.read()
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"agent did not start: {agent.tail()}")
                await asyncio.sleep(0.2)
            for _ in range(3):  # let it settle: a few status refreshes, like a page left open
                async with http.get(f"http://127.0.0.1:{port}/") as r:
                    await r.read()
        assert agent.proc is not None
        return rss_mb(agent.proc.pid)
    finally:
        agent.stop()


async def main(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        idle = await agent_rss(tmp / "idle", 0)
        loaded = await agent_rss(tmp / "loaded", args.events)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"agent_idle_rss_mb": idle, "agent_rss_mb_with_events": loaded, "events": args.events,
            "target_mb": 50}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=1_000_000)
    r = asyncio.run(main(p.parse_args()))
    save("memory", r)
    worst = max(r["agent_idle_rss_mb"], r["agent_rss_mb_with_events"])
    print(f"memory: agent RSS idle {r['agent_idle_rss_mb']} MB, with {r['events']} events waiting "
          f"{r['agent_rss_mb_with_events']} MB (target <= 50 MB: "
          f"{'MET' if worst <= 50 else 'NOT MET'})")
