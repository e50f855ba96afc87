"""Till lookups while tills capture: `GET /v1/items/{sku}` at 500/s on a store whose catalog holds
300,000 items, beside sales captured at 500/s, against the same sales captured alone.

A real edge-agent process (offline: the store's own catalog answers); its catalog file is made
before it starts by applying a real version (edge_agent.catalog). Rounds alternate "capture
alone" and "capture + lookups" and the medians of their p50/p99 are compared (target: lookups
p99 <= 5 ms, capture p99 unchanged). Sales are of catalog SKUs at their price, so every capture
also runs the price check.
Usage: python -m bench.till_lookup [--items 300000] [--rate 500] [--seconds 8] [--rounds 2]
"""

import argparse
import asyncio
import datetime as dt
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import aiohttp

from bench import save
from bench.capture import pct
from edge_agent.catalog import Catalog
from protocol import chunking
from protocol.catalog_stream import ContentWriter
from protocol.messages import CatalogBook, CatalogItem, CatalogPrice
from runtime.net import free_port

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


async def make_catalog(path: Path, items: int) -> None:
    writer = ContentWriter("snapshot", 1)
    writer.add("books", [CatalogBook("base", "EUR", 10)])
    for i in range(0, items, 5000):
        top = min(items, i + 5000)
        writer.add("items", [CatalogItem(f"SKU-{n:07d}", "An item name of about thirty ch.",
                                         f"4{n:012d}") for n in range(i, top)])
        writer.add("prices", [CatalogPrice(n + 1, "base", f"SKU-{n:07d}",
                                           Decimal(f"{n % 100}.50"), T0) for n in range(i, top)])
    catalog = Catalog(path)
    await catalog.open()
    staged = None
    for chunk in chunking.parts(writer.payload(), 1, 256 * 1024):
        staged = await catalog.stage(chunk)
    assert staged is not None
    await catalog.apply(staged.version, staged.digest)
    await catalog.close()


def sale(n: int, items: int) -> bytes:
    sku = random.randrange(items)
    return (b'{"register_id":"R%d","pos_txn_id":"%d","occurred_at":"%s","currency":"EUR",'
            b'"lines":[{"sku":"SKU-%07d","qty":1,"unit_price":"%d.50"}],'
            b'"tenders":[{"method":"cash","amount":"%d.50"}]}'
            % (n % 8, n, dt.datetime.now(dt.UTC).isoformat().encode(), sku, sku % 100, sku % 100))


async def steady(rate: float, seconds: float, call) -> list[float]:  # type: ignore[no-untyped-def]
    """Latencies (ms) of `call(n)` started at a steady `rate`."""
    latencies: list[float] = []

    async def one(n: int) -> None:
        t = time.perf_counter()
        await call(n)
        latencies.append((time.perf_counter() - t) * 1000)

    tasks = []
    t0 = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return latencies


async def main(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-till-lookup-"))
    started = time.perf_counter()
    await make_catalog(tmp / "catalog.sqlite", args.items)
    setup_s = time.perf_counter() - started
    port = free_port()
    (tmp / "agent.toml").write_text(
        f'store_id = "B1"\ndata_dir = "."\n[api]\nlisten = "127.0.0.1:{port}"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n')  # no broker: the store's own catalog
    agent = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config",
                              str(tmp / "agent.toml")], cwd=ROOT, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    counter = iter(range(1, 10**9))
    found: dict[str, list[float]] = {"alone_p50": [], "alone_p99": [], "with_p50": [],
                                     "with_p99": [], "lookup_p50": [], "lookup_p99": []}
    try:
        async with aiohttp.ClientSession() as http:
            async def capture(_n: int) -> None:
                async with http.post(url + "/v1/sales", data=sale(next(counter), args.items),
                                     headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                    assert r.status // 100 == 2, r.status

            async def lookup(_n: int) -> None:
                async with http.get(f"{url}/v1/items/SKU-{random.randrange(args.items):07d}") as r:
                    await r.read()
                    assert r.status == 200, r.status

            deadline = time.monotonic() + 30
            while True:
                try:
                    await capture(0)
                    break
                except (aiohttp.ClientError, AssertionError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            await steady(args.rate, 1, lookup)  # warm the page cache a little, like a store
            for _ in range(args.rounds):
                alone = await steady(args.rate, args.seconds, capture)
                both, looked = await asyncio.gather(steady(args.rate, args.seconds, capture),
                                                    steady(args.rate, args.seconds, lookup))
                for key, values in (("alone", alone), ("with", both), ("lookup", looked)):
                    found[f"{key}_p50"].append(pct(values, 0.5))
                    found[f"{key}_p99"].append(pct(values, 0.99))
    finally:
        agent.terminate()
        agent.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    median = {k: round(statistics.median(v), 2) for k, v in found.items()}
    return {"items": args.items, "rate_per_s": args.rate, "seconds": args.seconds,
            "rounds": args.rounds, "setup_s": round(setup_s, 1),
            "lookup_p50_ms": median["lookup_p50"], "lookup_p99_ms": median["lookup_p99"],
            "capture_alone_p50_ms": median["alone_p50"], "capture_alone_p99_ms": median["alone_p99"],
            "capture_with_lookups_p50_ms": median["with_p50"],
            "capture_with_lookups_p99_ms": median["with_p99"],
            "rounds_ms": {k: [round(x, 2) for x in v] for k, v in found.items()},
            "lookup_p99_target_ms": 5}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=300_000)
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--rounds", type=int, default=2)
    r = asyncio.run(main(p.parse_args()))
    save("till-lookup", r)
    print(f"till lookups at {r['rate_per_s']:g}/s over {r['items']:,} items while tills capture at "
          f"the same rate: p50 {r['lookup_p50_ms']} ms, p99 {r['lookup_p99_ms']} ms (target <= 5 ms:"
          f" {'MET' if r['lookup_p99_ms'] <= 5 else 'NOT MET'}); capture p99 alone "
          f"{r['capture_alone_p99_ms']} ms, with lookups {r['capture_with_lookups_p99_ms']} ms")
