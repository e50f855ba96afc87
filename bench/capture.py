"""Capture benchmark: durable sales/s through the real capture API vs a no-op aiohttp handler.

Both servers are separate processes on this machine; the same load generator drives each in
turn, rounds alternating, and the medians are compared. Then p50/p99 latency at a fixed rate.
Usage: python -m bench.capture [--seconds 8] [--clients 64] [--rounds 3] [--rate 500]
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import save
from runtime.net import free_port

ROOT = Path(__file__).resolve().parents[1]


def body(n: int) -> bytes:
    return (b'{"register_id":"R%d","pos_txn_id":"%d","occurred_at":"2026-11-23T10:15:00+01:00",'
            b'"currency":"EUR","lines":[{"sku":"SKU-1001","qty":2,"unit_price":"12.00",'
            b'"discount":"0.00","tax":"4.00"}],"tenders":[{"method":"cash","amount":"24.00"}]}'
            % (n % 8, n))


async def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.post(url, data=body(0), headers={"Content-Type": "application/json"}):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def saturate(url: str, seconds: float, clients: int, start: int) -> float:
    """Requests per second answered 2xx with `clients` concurrent tills posting back to back."""
    done = 0
    stop = time.monotonic() + seconds
    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=conn) as http:
        async def till(k: int) -> None:
            nonlocal done
            n = start + k * 10_000_000
            while time.monotonic() < stop:
                async with http.post(url, data=body(n), headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                    if r.status // 100 == 2:
                        done += 1
                n += 1
        t0 = time.monotonic()
        await asyncio.gather(*(till(k) for k in range(clients)))
        return done / (time.monotonic() - t0)


async def fixed_rate(url: str, rate: float, seconds: float, start: int) -> list[float]:
    """Latencies (ms) of requests sent at a steady `rate`."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as http:
        async def one(n: int) -> None:
            t = time.perf_counter()
            async with http.post(url, data=body(n), headers={"Content-Type": "application/json"}) as r:
                await r.read()
                assert r.status // 100 == 2, r.status
            latencies.append((time.perf_counter() - t) * 1000)
        tasks = []
        t0 = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(start + i)))
        await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def main(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    agent_port, noop_port = free_port(), free_port()
    (tmp / "agent.toml").write_text(
        f'store_id = "B1"\ndata_dir = "."\n[api]\nlisten = "127.0.0.1:{agent_port}"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n')  # no broker: capture alone
    agent = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config",
                              str(tmp / "agent.toml")], cwd=ROOT, stderr=subprocess.DEVNULL)
    noop = subprocess.Popen([sys.executable, "-m", "bench.noop_server", str(noop_port)], cwd=ROOT)
    agent_url = f"http://127.0.0.1:{agent_port}/v1/sales"
    noop_url = f"http://127.0.0.1:{noop_port}/v1/sales"
    try:
        await wait_up(agent_url)
        await wait_up(noop_url)
        rates: dict[str, list[float]] = {"agent": [], "noop": []}
        n = 1
        for _ in range(args.rounds):
            for name, url in (("noop", noop_url), ("agent", agent_url)):
                rates[name].append(await saturate(url, args.seconds, args.clients, n))
                n += 100_000_000
        lat = await fixed_rate(agent_url, args.rate, args.seconds, n)
        sync = subprocess.run(["sqlite3", str(tmp / "outbox.sqlite"), "PRAGMA synchronous"],
                              capture_output=True, text=True).stdout.strip() or "n/a"
    finally:
        agent.terminate()
        noop.terminate()
        agent.wait()
        noop.wait()
    agent_rate, noop_rate = statistics.median(rates["agent"]), statistics.median(rates["noop"])
    result = {
        "clients": args.clients, "seconds": args.seconds, "rounds": args.rounds,
        "agent_sales_per_s": round(agent_rate), "noop_requests_per_s": round(noop_rate),
        "ratio": round(agent_rate / noop_rate, 3), "ratio_target": 0.7,
        "fixed_rate_per_s": args.rate,
        "p50_ms": round(pct(lat, 0.5), 2), "p99_ms": round(pct(lat, 0.99), 2), "p99_target_ms": 10,
        "rounds_agent": [round(x) for x in rates["agent"]],
        "rounds_noop": [round(x) for x in rates["noop"]],
        "outbox_synchronous": sync,
    }
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=500)
    r = asyncio.run(main(p.parse_args()))
    save("capture", r)
    print(f"capture: agent {r['agent_sales_per_s']} sales/s vs no-op {r['noop_requests_per_s']} req/s"
          f" -> ratio {r['ratio']} (target >= 0.7: {'MET' if r['ratio'] >= 0.7 else 'NOT MET'})")
    print(f"at {r['fixed_rate_per_s']:g}/s: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms"
          f" (target <= 10 ms: {'MET' if r['p99_ms'] <= 10 else 'NOT MET'})")
    print(f"rounds agent {r['rounds_agent']} noop {r['rounds_noop']}")
