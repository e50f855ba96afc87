"""Status page speed with a big outbox: GET / and /v1/status with N events waiting (default 1M).

The outbox is filled with real captured rows (one captured, then copied in SQL for speed), the
agent runs offline (no broker), and the page is fetched repeatedly; median and p99 are printed.
Usage: python -m bench.status_page [--events 1000000]
"""

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import save
from bench.drain import sale
from edge_agent.app import Agent
from edge_agent.outbox import Outbox
from edge_agent.requests import SaleIn, decode, prepare
from runtime.sqlite_writer import connect
from tests.edge_agent.conftest import agent_config

ROOT = Path(__file__).resolve().parents[1]


async def fill(path: Path, events: int, one_day: bool) -> None:
    """`one_day`: every event on today's business day (worst case); else spread over 100 days."""
    box = Outbox(path, "S001")
    await box.open()
    now = dt.datetime.now(dt.UTC)
    await box.capture(prepare(decode(sale(0), SaleIn), "S001", None, now), now)
    await box.close()
    conn = connect(path)
    conn.execute("BEGIN")
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO events (natural_key, event_id, kind, digest, occurred_at, business_day,"
        " captured_at, body, register_id, gross, gross_e4)"
        " SELECT 'txn/R' || (i % 4) || '/' || (i + 1), 'e' || i, kind, digest, occurred_at,"
        " CASE WHEN ? THEN business_day ELSE date(business_day, '-' || (i % 100) || ' days') END,"
        " captured_at, body, 'R' || (i % 4), gross, gross_e4"
        " FROM n, (SELECT * FROM events WHERE seq = 1)",
        (events - 1, one_day))
    conn.execute("COMMIT")
    conn.close()


async def main(args: argparse.Namespace) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-status-"))
    config = agent_config(root)
    await fill(Path(config.outbox_path), args.events, args.one_day)
    agent = Agent(config)
    task = asyncio.create_task(agent.run())
    await agent.started.wait()
    url = f"http://127.0.0.1:{agent.bound_port}"
    out: dict = {"events": args.events, "spread": "one day" if args.one_day else "100 days"}
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/v1/status", "/healthz"):
            times = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                async with http.get(url + path) as r:
                    await r.read()
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            out[path] = {"p50_ms": round(statistics.median(times), 1),
                         "max_ms": round(times[-1], 1)}
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--one-day", action="store_true", help="all events on today (worst case)")
    r = asyncio.run(main(p.parse_args()))
    save("status-page", r)
    print(f"status page with {r['events']} events waiting ({r['spread']}): " + "; ".join(
        f"{k} p50 {v['p50_ms']} ms, max {v['max_ms']} ms" for k, v in r.items()
        if isinstance(v, dict)))
