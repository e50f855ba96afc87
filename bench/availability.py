"""Availability benchmarks, each on a real hub process over real HTTP (docs/benchmarks.md):

- `reads`: `GET /v1/availability/{sku}` at a fixed rate (default 2,000/s) while the hub drains
  a store's backlog (default 100,000 sales); the reads' p50/p99 (and the same reads on the idle
  hub just before), and the drain's time with the reads against the same drain without them
  (same run, alternating), as a slowdown ratio.
- `reservations`: `--clients` (default 200) concurrent clients reserving one unit each, one
  request after another, for `--seconds`: reservations held per second, p50/p99, and a check
  that the warehouse's figure went down by exactly what was held.
- `feed`: a till sells at `--rate` per second, each sale a SKU of its own; a connector polls the
  change feed every 10 ms. The lag from the till's 201 and from the hub's apply (its
  `events.applied_at`) to the sale's SKU showing in the feed, p50/p99.
Usage: python -m bench.availability --part reads|reservations|feed [options]
"""

import argparse
import asyncio
import datetime as dt
import itertools
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import save
from bench.capture import pct
from bench.drain import fill
from tests.integration.procs import AgentProc, HubProc

CHANNEL = """
[locations.DC1]
kind = "warehouse"
[channels.web]
locations = [{stores}"DC1"]
stale_after_s = 3600
"""


IDLE_S = 3.0


def hub_for(root: Path, store: str) -> HubProc:
    return HubProc(root, [store], extra=CHANNEL.format(stores=f'"{store}", '))


async def applied(http: aiohttp.ClientSession, hub: HubProc, events: int) -> None:
    """Wait until the hub has applied `events` events (polling, as bench.drain does)."""
    while True:
        stores = (await hub.get(http, "/v1/stores"))["stores"]
        if stores and stores[0]["events"] >= events:
            return
        await asyncio.sleep(0.05)


async def drain_once(tmp: Path, outbox: Path, events: int, rate: float) -> dict[str, Any]:
    """Drain a copy of `outbox` into a new hub; with `rate`, read availability meanwhile."""
    hub = hub_for(tmp / "hub", "D1")
    agent = AgentProc(tmp / "D1", "D1", hub, ack_timeout_s=10)
    (agent.root / "data").mkdir(parents=True)
    shutil.copy(outbox, agent.outbox)
    latencies: list[float] = []
    idle: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        try:
            hub.start()
            await hub.ready(http)
            if rate:  # the same reads on the idle hub first: this machine's floor
                stop = asyncio.Event()
                reading = asyncio.create_task(read_at(http, hub, rate, stop, idle))
                await asyncio.sleep(IDLE_S)
                stop.set()
                await reading
            stop = asyncio.Event()
            reading = asyncio.create_task(read_at(http, hub, rate, stop, latencies)) if rate else None
            t0 = time.perf_counter()
            agent.start()
            await applied(http, hub, events)
            seconds = time.perf_counter() - t0
            stop.set()
            if reading:
                await reading
        finally:
            agent.stop()
            hub.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"drain_s": seconds, "latencies": latencies, "idle": idle}


async def read_at(http: aiohttp.ClientSession, hub: HubProc, rate: float, stop: asyncio.Event,
                  latencies: list[float]) -> None:
    """Open loop: request n is due at start + n / rate, whatever the answers before it."""
    start = time.perf_counter()
    slots = itertools.count()

    async def worker() -> None:
        while not stop.is_set():
            due = start + next(slots) / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            t = time.perf_counter()
            async with http.get(f"{hub.url}/v1/availability/SKU-{random.randrange(500)}",
                                params={"channel": "web"}) as r:
                assert r.status == 200
                await r.read()
            latencies.append((time.perf_counter() - t) * 1000)

    await asyncio.gather(*(worker() for _ in range(64)))


async def reads(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-availability-"))
    outbox = tmp / "outbox.sqlite"
    await fill(outbox, "D1", args.events)
    rounds: list[dict[str, Any]] = []
    for n in range(args.rounds):  # alternating, so the machine's drift hits both alike
        quiet = await drain_once(tmp / f"quiet-{n}", outbox, args.events, 0)
        loaded = await drain_once(tmp / f"loaded-{n}", outbox, args.events, args.rate)
        ms, idle = loaded["latencies"], loaded["idle"]
        rounds.append({"idle_p50_ms": round(pct(idle, 0.5), 2),
                       "idle_p99_ms": round(pct(idle, 0.99), 2),"drain_s": round(quiet["drain_s"], 2),
                       "drain_with_reads_s": round(loaded["drain_s"], 2),
                       "slowdown": round(loaded["drain_s"] / quiet["drain_s"], 3),
                       "reads_per_s": round(len(ms) / loaded["drain_s"]),
                       "p50_ms": round(pct(ms, 0.5), 2), "p99_ms": round(pct(ms, 0.99), 2)})
    shutil.rmtree(tmp, ignore_errors=True)
    mid = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    return {"events": args.events, "rate": args.rate, "rounds": rounds, **mid,
            "targets": {"p99_ms": 5, "slowdown": 1.2}}


async def reservations(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-reservations-"))
    hub = hub_for(tmp / "hub", "S001")
    skus = [f"SKU-{n}" for n in range(1000)]
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        try:
            hub.start()
            await hub.ready(http)
            async with http.post(f"{hub.url}/v1/locations/DC1/adjustments", headers=hub.admin,
                                 json={"adjustment_id": "RCV-1", "reason": "receipt",
                                       "occurred_at": "2026-11-23T08:00:00Z",
                                       "lines": [{"sku": s, "qty_delta": 1_000_000}
                                                 for s in skus]}) as r:
                assert r.status == 201
            ids = itertools.count()
            deadline = time.perf_counter() + args.seconds

            async def client() -> None:
                while time.perf_counter() < deadline:
                    t = time.perf_counter()
                    async with http.post(f"{hub.url}/v1/reservations", headers=hub.admin, json={
                            "reservation_id": f"B-{next(ids)}", "channel": "web",
                            "lines": [{"sku": random.choice(skus), "qty": 1}]}) as r:
                        assert r.status == 201, await r.text()
                        await r.read()
                    latencies.append((time.perf_counter() - t) * 1000)

            t0 = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(args.clients)))
            seconds = time.perf_counter() - t0
            async with http.post(f"{hub.url}/v1/availability/query",
                                 json={"channel": "web", "skus": skus}) as r:
                left = sum(x["available_to_sell"] for x in (await r.json())["availability"])
        finally:
            hub.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"clients": args.clients, "seconds": round(seconds, 1), "held": len(latencies),
            "per_s": round(len(latencies) / seconds), "p50_ms": round(pct(latencies, 0.5), 1),
            "p99_ms": round(pct(latencies, 0.99), 1),
            "figure_exact": left == len(skus) * 1_000_000 - len(latencies)}


async def feed(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    hub = hub_for(tmp / "hub", "F1")
    agent = AgentProc(tmp / "F1", "F1", hub)
    captured: dict[str, tuple[float, str]] = {}  # sku -> (wall time of the 201, event id)
    seen: dict[str, float] = {}
    sales = int(args.rate * args.seconds)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        try:
            hub.start()
            await hub.ready(http)
            agent.start()
            await agent.ready(http)
            stop = asyncio.Event()

            async def connector() -> None:
                after = 0
                while not stop.is_set():
                    async with http.get(f"{hub.url}/v1/availability/changes", params={
                            "channel": "web", "after": str(after), "limit": "1000"}) as r:
                        page = await r.json()
                    now = time.time()
                    for c in page["changes"]:
                        seen.setdefault(c["sku"], now)
                    after = page["next_cursor"]
                    await asyncio.sleep(0.01)

            async def till() -> None:
                start = time.perf_counter()
                for n in range(sales):
                    await asyncio.sleep(max(0.0, start + n / args.rate - time.perf_counter()))
                    sku = f"LAG-{n}"
                    async with http.post(f"{agent.url}/v1/sales", json={
                            "register_id": "R1", "pos_txn_id": f"{n:06d}",
                            "occurred_at": "2026-11-23T10:15:00+01:00", "currency": "EUR",
                            "lines": [{"sku": sku, "qty": 1, "unit_price": "1.00"}],
                            "tenders": [{"method": "cash", "amount": "1.00"}]}) as r:
                        assert r.status == 201
                        captured[sku] = (time.time(), (await r.json())["event_id"])

            reading = asyncio.create_task(connector())
            await till()
            deadline = time.monotonic() + 60
            while len(seen.keys() & captured.keys()) < sales and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await reading
        finally:
            agent.stop()
            hub.stop()
    conn = sqlite3.connect(f"file:{hub.db}?mode=ro", uri=True)
    applied_at = {e: dt.datetime.fromisoformat(a).timestamp() for e, a in conn.execute(
        "SELECT event_id, applied_at FROM events WHERE kind = 'sale'")}
    conn.close()
    shutil.rmtree(tmp, ignore_errors=True)
    from_capture = [(seen[s] - t) * 1000 for s, (t, _) in captured.items() if s in seen]
    from_apply = [(seen[s] - applied_at[e]) * 1000 for s, (_, e) in captured.items()
                  if s in seen and e in applied_at]
    return {"rate": args.rate, "sales": sales, "visible": len(from_capture),
            "from_capture_p50_ms": round(pct(from_capture, 0.5), 1),
            "from_capture_p99_ms": round(pct(from_capture, 0.99), 1),
            "from_apply_p50_ms": round(pct(from_apply, 0.5), 1),
            "from_apply_p99_ms": round(pct(from_apply, 0.99), 1),
            "targets": {"from_apply_p99_ms": 1000}}


PARTS = {"reads": reads, "reservations": reservations, "feed": feed}

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=sorted(PARTS), required=True)
    p.add_argument("--events", type=int, default=100_000, help="reads: the backlog drained")
    p.add_argument("--rounds", type=int, default=3, help="reads: drains of each kind")
    p.add_argument("--rate", type=float, default=None,
                   help="reads: reads/s (2000); feed: sales/s (100)")
    p.add_argument("--clients", type=int, default=200, help="reservations: concurrent clients")
    p.add_argument("--seconds", type=float, default=20, help="reservations, feed: how long")
    a = p.parse_args()
    a.rate = a.rate or (2000.0 if a.part == "reads" else 100.0)
    result = asyncio.run(PARTS[a.part](a))
    save(f"availability-{a.part}", result)
    print(f"availability {a.part}: " + ", ".join(
        f"{k} {v}" for k, v in result.items() if k not in ("rounds", "latencies")))
