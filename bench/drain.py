"""Drain benchmark: an agent with a large backlog connects; time until the hub has applied all.

Baselines in the same run: (a) inserting the same rows into SQLite in batches of 100 with
synchronous=FULL (the floor a durable store-and-forward can hope for); (b) the per-sale HTTP sync
POS products commonly use: one POST per sale, one fsync'd write each (bench/http_sync_server).
Usage: python -m bench.drain [--events 100000] [--broker embedded|mosquitto]
"""

import argparse
import asyncio
import datetime as dt
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import save
from edge_agent.outbox import Outbox
from edge_agent.requests import SaleIn, decode, prepare
from runtime.sqlite_writer import connect
from tests.integration.procs import AgentProc, HubProc

ROOT = Path(__file__).resolve().parents[1]


def sale(n: int) -> bytes:
    return (b'{"register_id":"R%d","pos_txn_id":"%d","occurred_at":"2026-11-23T10:15:00+01:00",'
            b'"currency":"EUR","lines":[{"sku":"SKU-%d","qty":2,"unit_price":"12.00","tax":"4.00"}],'
            b'"tenders":[{"method":"cash","amount":"24.00"}]}' % (n % 8, n, n % 500))


async def fill(path: Path, store: str, events: int) -> None:
    box = Outbox(path, store)
    await box.open()
    now = dt.datetime.now(dt.UTC)
    for start in range(0, events, 1000):
        await asyncio.gather(*(box.capture(prepare(decode(sale(n), SaleIn), store, None, now), now)
                               for n in range(start, min(events, start + 1000))))
    await box.close()


def raw_sqlite_rate(tmp: Path, events: int) -> float:
    conn = connect(tmp / "raw.sqlite")
    conn.execute("CREATE TABLE e (seq INTEGER PRIMARY KEY, body BLOB)")
    body = sale(1) * 2
    t = time.perf_counter()
    for start in range(0, events, 100):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO e VALUES (?, ?)", [(n, body) for n in range(start, start + 100)])
        conn.execute("COMMIT")
    rate = events / (time.perf_counter() - t)
    conn.close()
    return rate


async def http_sync_rate(tmp: Path, sales: int) -> float:
    import subprocess
    import sys

    from runtime.net import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.http_sync_server", str(port),
                               str(tmp / "http-sync.sqlite")], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/sales"
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.post(url, data=sale(0)):
                        break
                except aiohttp.ClientError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
            t = time.perf_counter()
            for n in range(1, sales + 1):  # one after another, as a till syncing each sale
                async with http.post(url, data=sale(n), headers={"Content-Type": "application/json"}) as r:
                    assert r.status == 201
            return sales / (time.perf_counter() - t)
    finally:
        server.terminate()
        server.wait(10)


async def main(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    mosq = tmp / "mosquitto" if args.broker == "mosquitto" else None
    hub = HubProc(tmp / "hub", ["D1"], mosquitto_root=mosq)
    agent = AgentProc(tmp / "D1", "D1", hub, ack_timeout_s=10)
    (agent.root / "data").mkdir(parents=True)
    await fill(agent.outbox, "D1", args.events)
    baseline = raw_sqlite_rate(tmp, args.events)
    http_baseline = await http_sync_rate(tmp, 3000)
    async with aiohttp.ClientSession() as http:
        try:
            if hub.mosquitto:
                hub.mosquitto.start()
            hub.start()
            await hub.ready(http)
            t0 = time.perf_counter()
            agent.start()
            while True:
                stores = (await hub.get(http, "/v1/stores"))["stores"]
                if stores and stores[0]["events"] >= args.events:
                    break
                await asyncio.sleep(0.05)
            seconds = time.perf_counter() - t0
        finally:
            agent.stop()
            hub.stop()
            if hub.mosquitto:
                hub.mosquitto.stop()
    check = sqlite3.connect(hub.db).execute("SELECT count(*) FROM events").fetchone()[0]
    shutil.rmtree(tmp, ignore_errors=True)
    rate = args.events / seconds
    return {"broker": args.broker, "events": args.events, "seconds": round(seconds, 2),
            "events_per_s": round(rate), "raw_sqlite_batch100_per_s": round(baseline),
            "ratio_to_raw": round(rate / baseline, 3), "ratio_target": 0.5,
            "http_per_sale_sync_per_s": round(http_baseline),
            "times_http_sync": round(rate / http_baseline, 1), "times_http_target": 20,
            "hub_events": check}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--broker", choices=["embedded", "mosquitto"], default="embedded")
    r = asyncio.run(main(p.parse_args()))
    save(f"drain-{r['broker']}", r)
    print(f"drain ({r['broker']}): {r['events']} events in {r['seconds']} s = {r['events_per_s']}/s;"
          f" raw SQLite batches of 100: {r['raw_sqlite_batch100_per_s']}/s -> ratio"
          f" {r['ratio_to_raw']} (target >= 0.5: {'MET' if r['ratio_to_raw'] >= 0.5 else 'NOT MET'});"
          f" hub holds {r['hub_events']}; per-sale HTTP sync {r['http_per_sale_sync_per_s']}/s -> "
          f"{r['times_http_sync']}x (target >= 20x: "
          f"{'MET' if r['times_http_sync'] >= 20 else 'NOT MET'})")
