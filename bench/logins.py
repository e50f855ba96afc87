"""Login storm at the embedded broker: N stores connect at once (after a hub restart, or when
the hub's presence comes back), then all of them again (reconnects).
Reported: seconds until every store is connected, and the p50/p99 of one store's wait.
Usage: python -m bench.logins [--stores 200]
"""

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import aiohttp
import aiomqtt

from bench import save
from bench.capture import pct
from tests.integration.procs import HubProc

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "one-password-for-every-bench-store"


async def storm(hub: HubProc, stores: list[str]) -> dict:
    async def one(store: str) -> tuple[aiomqtt.Client, float]:
        t = time.perf_counter()
        client = aiomqtt.Client("127.0.0.1", hub.broker_port, username=store, password=PASSWORD,
                                identifier=store, timeout=300)
        await client.__aenter__()
        return client, time.perf_counter() - t

    t = time.perf_counter()
    done = await asyncio.gather(*(one(s) for s in stores))
    total = time.perf_counter() - t
    for client, _ in done:
        await client.__aexit__(None, None, None)
    waits = [w for _, w in done]
    return {"all_connected_s": round(total, 2), "p50_s": round(pct(waits, 0.5), 2),
            "p99_s": round(pct(waits, 0.99), 2)}


async def main(args: argparse.Namespace) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-logins-"))
    stores = [f"L{n:04d}" for n in range(args.stores)]
    hub = HubProc(root / "hub", stores, store_password=PASSWORD)
    try:
        hub.start()
        async with aiohttp.ClientSession() as http:
            await hub.ready(http)
            first = await storm(hub, stores)
            again = await storm(hub, stores)
    finally:
        hub.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {"stores": args.stores, "first": first, "again": again}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--stores", type=int, default=200)
    r = asyncio.run(main(p.parse_args()))
    save("logins", r)
    print(f"logins: {r['stores']} stores at once: all in {r['first']['all_connected_s']} s "
          f"(p99 {r['first']['p99_s']} s); again {r['again']['all_connected_s']} s")
