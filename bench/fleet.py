"""Fleet benchmark: one hub, many simulated stores over real MQTT connections (Mosquitto).

`bench.storesim` workers (several processes, hundreds of connections each) sell at a combined
rate; the hub's own timestamps give capture → applied latency (same machine, same clock). Also
reports the hub's and Mosquitto's memory with every store connected.
Usage: python -m bench.fleet [--stores 1000] [--rate 2000] [--seconds 30] [--workers 4]
"""

import argparse
import asyncio
import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import save
from bench.capture import pct
from bench.memory import rss_mb
from hub.broker.credentials import new_password
from tests.integration.procs import HubProc

ROOT = Path(__file__).resolve().parents[1]


def latencies(db: Path, since: str | None = None) -> list[float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute("SELECT captured_at, applied_at FROM events"
                        + (" WHERE captured_at >= ?" if since else ""),
                        (since,) if since else ()).fetchall()
    conn.close()
    return [(dt.datetime.fromisoformat(a) - dt.datetime.fromisoformat(c)).total_seconds() * 1000
            for c, a in rows]


def start_workers(stores: list[str], workers: int, broker: str, password_file: Path,
                  per_store_rate: float, seconds: float) -> list[subprocess.Popen[str]]:
    procs = []
    for w in range(workers):
        mine = stores[w::workers]
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "bench.storesim", "--broker", broker, "--stores", ",".join(mine),
             "--password-file", str(password_file), "--rate", str(per_store_rate),
             "--seconds", str(seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT))
    return procs


def go(procs: list[subprocess.Popen[str]]) -> int:
    connected = sum(json.loads(p.stdout.readline())["connected"] for p in procs)  # type: ignore[union-attr]
    for p in procs:
        p.stdin.write("\n")  # type: ignore[union-attr]
        p.stdin.flush()  # type: ignore[union-attr]
    return connected


def finish(procs: list[subprocess.Popen[str]]) -> dict[str, int]:
    totals = {"sold": 0, "acked": 0}
    for p in procs:
        out = json.loads(p.stdout.readline())  # type: ignore[union-attr]
        for k in totals:
            totals[k] += out[k]
        p.wait(30)
    return totals


async def main(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    stores = [f"F{n:04d}" for n in range(1, args.stores + 1)]
    password = new_password()
    (tmp / "store-password").write_text(password)
    t = time.perf_counter()
    hub = HubProc(tmp / "hub", stores, mosquitto_root=tmp / "mosquitto", store_password=password)
    setup_s = time.perf_counter() - t
    assert hub.mosquitto is not None
    result: dict = {"stores": args.stores, "offered_per_s": args.rate, "seconds": args.seconds}
    try:
        hub.mosquitto.start()
        hub.start()
        async with aiohttp.ClientSession() as http:
            await hub.ready(http)
        workers = start_workers(stores, args.workers, hub.mosquitto.url, tmp / "store-password",
                                args.rate / args.stores, args.seconds)
        connected = await asyncio.to_thread(go, workers)
        result["connected"] = connected
        t0 = time.perf_counter()
        await asyncio.sleep(args.seconds / 2)
        assert hub.proc is not None and hub.mosquitto.proc is not None
        result["hub_rss_mb"] = rss_mb(hub.proc.pid)
        result["mosquitto_rss_mb"] = rss_mb(hub.mosquitto.proc.pid)
        totals = await asyncio.to_thread(finish, workers)
        done_s = time.perf_counter() - t0
        result.update(totals)
    finally:
        hub.stop()
        hub.mosquitto.stop()
    lat = latencies(hub.db)
    result.update(
        applied=len(lat), sold_per_s=round(result["sold"] / args.seconds),
        # Until the last sale was acknowledged: throughput the hub sustained end to end.
        applied_per_s=round(len(lat) / done_s), p50_ms=round(pct(lat, 0.5), 1),
        p99_ms=round(pct(lat, 0.99), 1), setup_s=round(setup_s, 1))
    shutil.rmtree(tmp, ignore_errors=True)
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--stores", type=int, default=1000)
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--workers", type=int, default=4)
    r = asyncio.run(main(p.parse_args()))
    save("fleet", r)
    # Met: 2,000 sales/s offered, every one applied, and the hub kept up (p99 under a second).
    met = r["sold_per_s"] >= 2000 and r["applied"] == r["sold"] and r["p99_ms"] < 1000
    print(f"fleet: {r['connected']}/{r['stores']} stores connected; sold {r['sold']} "
          f"({r['sold_per_s']}/s), hub applied {r['applied']} (end to end {r['applied_per_s']}/s); "
          f"capture->applied p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms; "
          f"target >= 2000 sales/s all applied: {'MET' if met else 'NOT MET'}; "
          f"hub RSS {r['hub_rss_mb']} MB, mosquitto RSS {r['mosquitto_rss_mb']} MB")
