"""Partition benchmark: real agents and tills keep selling while the broker (Mosquitto) is
SIGKILLed for a while, several times. Reported per partition: sales captured while it was down,
the time from the broker's restart until every sale captured before the restart was applied at
the hub (drain), and at the end that every sale with a 2xx is in the hub exactly once, with no
till ever refused. Usage: python -m bench.partition [--stores 3] [--outages 10,30,60]
"""

import argparse
import asyncio
import datetime as dt
import shutil
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path

import aiohttp

from bench import save
from tests.integration.procs import AgentProc, HubProc
from tests.integration.tills import Till, expected_transactions, hub_transactions

ROOT = Path(__file__).resolve().parents[1]


async def main(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-partition-"))
    stores = [f"P{n:03d}" for n in range(1, args.stores + 1)]
    hub = HubProc(tmp / "hub", stores, mosquitto_root=tmp / "mosquitto")
    assert hub.mosquitto is not None
    broker = hub.mosquitto
    agents = [AgentProc(tmp / s, s, hub) for s in stores]
    windows: list[tuple[dt.datetime, dt.datetime]] = []
    procs = [broker, hub, *agents]
    try:
        broker.start()
        hub.start()
        async with aiohttp.ClientSession() as http:
            await hub.ready(http)
            for a in agents:
                a.start()
                await a.ready(http)
            tills = [Till(a.url) for a in agents]
            stop = asyncio.Event()
            selling = [asyncio.create_task(t.sell_until(http, stop, pause=args.pause)) for t in tills]
            await asyncio.sleep(args.between)
            for outage in args.outages:
                down = dt.datetime.now(dt.UTC)
                broker.kill()
                await asyncio.sleep(outage)
                broker.start()
                windows.append((down, dt.datetime.now(dt.UTC)))
                await asyncio.sleep(args.between)
            stop.set()
            await asyncio.gather(*selling)
            expected = {s: expected_transactions(t) for s, t in zip(stores, tills, strict=True)}

            async def settled() -> bool:
                return all(len(hub_transactions(hub.db, s)) >= len(expected[s]) for s in stores)

            for _ in range(600):
                if await settled():
                    break
                await asyncio.sleep(0.1)
            refused = sum(t.statuses[c] for t in tills for c in t.statuses if c not in (200, 201))
    finally:
        for p in reversed(procs):
            p.stop()
    exactly_once = True
    for s in stores:
        got = hub_transactions(hub.db, s)
        if sorted(got) != expected[s] or any(n > 1 for n in Counter(got).values()):
            exactly_once = False
    conn = sqlite3.connect(f"file:{hub.db}?mode=ro", uri=True)
    rows = conn.execute("SELECT captured_at, applied_at FROM events").fetchall()
    conn.close()
    shutil.rmtree(tmp, ignore_errors=True)
    at = dt.datetime.fromisoformat
    events = [(at(c), at(a)) for c, a in rows]
    partitions = []
    for (down, up), outage in zip(windows, args.outages, strict=True):
        during = sum(1 for c, _ in events if down <= c < up)
        waiting = [a for c, a in events if c < up and a > up]
        partitions.append({"outage_s": outage, "sold_while_down": during,
                           "waiting_at_reconnect": len(waiting),
                           "drain_s": round((max(waiting) - up).total_seconds(), 2)
                           if waiting else 0.0})
    sold = sum(len(v) for v in expected.values())
    return {"stores": args.stores, "sold": sold, "applied": len(rows),
            "exactly_once": exactly_once, "till_errors": refused, "partitions": partitions}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--stores", type=int, default=3)
    p.add_argument("--outages", type=lambda t: [float(x) for x in t.split(",")],
                   default=[10.0, 30.0, 60.0])
    p.add_argument("--between", type=float, default=10.0, help="seconds of normal selling")
    p.add_argument("--pause", type=float, default=0.01, help="each till's pause between sales")
    r = asyncio.run(main(p.parse_args()))
    save("partition", r)
    for part in r["partitions"]:
        print(f"partition: broker down {part['outage_s']:.0f} s, {part['sold_while_down']} sales "
              f"captured meanwhile, {part['waiting_at_reconnect']} waiting at reconnect, "
              f"drained in {part['drain_s']} s")
    print(f"partition: {r['sold']} sales with a 2xx, {r['applied']} applied, exactly once: "
          f"{r['exactly_once']}, till errors: {r['till_errors']}")
