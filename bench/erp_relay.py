"""ERP relay benchmark: postings per second through the governed relay, against a baseline.

`--erp fake`: the fault-free fake ERP (a real HTTP server); baseline = the same POSTs sent
directly with aiohttp at the same concurrency, so the ratio is what governance, the SQLite state
machine and attempt records cost. `--erp limit`: the fake ERP answers 10 % of calls 429 (no
Retry-After) and the relay has a configured limit; achieved posting rate versus that limit.
`--erp tryton`: a real Tryton; baseline = the connector called directly, one posting after
another, so the ratio shows what the relay adds on a slow ERP. Every run also counts the ERP
calls 10,000 sales make per transaction and as daily summaries (the real posting code).
Usage: python -m bench.erp_relay [--erp fake|limit|tryton] [--postings N] [--in-flight K]
"""

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import shutil
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec

from bench import save
from hub.postings import payloads
from hub.postings import store as postings
from hub.config import ErpConfig, HubConfig, PostingsConfig
from hub.erp.http_json import HttpJsonConnector
from hub.postings.relay import Relay
from hub.storage import Database
from tests.erp_server import FakeErp
from tests.hub.helpers import sale_envelope

ROOT = Path(__file__).resolve().parents[1]


async def relay_rate(tmp: Path, connector, url: str, count: int, in_flight: int,
                     store: str, start: int, limit: float = 100000) -> float:
    writer = Database(tmp / f"hub-{start}.sqlite")
    await writer.start()
    reader = writer.reads
    envs = [sale_envelope(i, store=store, txn=f"{i:08d}", sku=f"SKU-{1 + i % 4}")
            for i in range(start, start + count)]
    await writer.run(functools.partial(postings.on_applied, envs=envs, policy=PostingsConfig(),
                                       now=dt.datetime.now(dt.UTC)))
    config = HubConfig(data_dir=str(tmp), erp=ErpConfig(
        connector="http-json", url=url, rate_limit_per_s=limit, max_in_flight=in_flight,
        timeout_s=60, retry_initial_s=0.05, retry_max_s=0.2))
    relay = Relay(config, writer, connector, poll_s=0.01)
    t0 = time.perf_counter()
    task = asyncio.create_task(relay.run())
    try:
        while (await postings.counts(reader))["posted"] < count:
            counts = await postings.counts(reader)
            if counts["dead"] or counts["exception"]:
                raise RuntimeError(f"postings failed: {counts}")
            await asyncio.sleep(0.02)
        seconds = time.perf_counter() - t0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await reader.close()
        await writer.close()
    return count / seconds


def bodies(count: int, start: int, store: str) -> list[payloads.Payload]:
    return [payloads.for_transaction(f"direct-{store}-{i}", sale_envelope(
        i, store=store, txn=f"{i:08d}", sku=f"SKU-{1 + i % 4}")) for i in range(start, start + count)]


async def fake(args: argparse.Namespace, tmp: Path) -> dict:
    erp = await FakeErp().start()
    try:
        rate = await relay_rate(tmp, HttpJsonConnector(erp.url, None, 60), erp.url, args.postings,
                                args.in_flight, "S001", 1)
        sem = asyncio.Semaphore(args.in_flight)
        async with aiohttp.ClientSession() as http:
            async def send(p: payloads.Payload) -> None:
                async with sem, http.post(f"{erp.url}/postings", data=payloads.encode(p),
                                          headers={"Idempotency-Key": p.posting_id,
                                                   "Content-Type": "application/json"}) as r:
                    assert r.status == 201
            work = bodies(args.postings, 1, "S002")
            t0 = time.perf_counter()
            await asyncio.gather(*(send(p) for p in work))
            baseline = args.postings / (time.perf_counter() - t0)
        assert set(erp.commits.values()) == {1}
    finally:
        await erp.stop()
    return {"relay_per_s": round(rate, 1), "baseline_per_s": round(baseline, 1),
            "baseline": f"direct aiohttp POSTs, {args.in_flight} at once"}


async def limited(args: argparse.Namespace, tmp: Path) -> dict:
    erp = await FakeErp().start()
    erp.random_429, erp.retry_after = 0.10, ""
    try:
        rate = await relay_rate(tmp, HttpJsonConnector(erp.url, None, 60), erp.url, args.postings,
                                args.in_flight, "S001", 1, limit=args.limit)
        assert set(erp.commits.values()) == {1}
        answered_429 = len(erp.answered(429)) / len(erp.requests)
    finally:
        await erp.stop()
    return {"relay_per_s": round(rate, 1), "baseline_per_s": args.limit,
            "baseline": f"the configured limit ({args.limit:g}/s)",
            "share_429": round(answered_429, 3),
            "note": "a 429 is a call: at most 0.9 of the limit can be postings"}


def calls_per_10k(tmp: Path) -> dict[str, int]:
    """ERP calls for 10,000 sales of 10 stores in one day: per transaction vs daily summaries."""
    from hub.ingest.eventlog import Sequencer
    from tests.hub.helpers import apply, batch, database
    from tests.hub.test_postings import day_close

    out = {}
    for policy in ("per_transaction", "daily_summary"):
        conn = database(tmp / f"calls-{policy}.sqlite")
        seq = Sequencer(policy=PostingsConfig(sales=policy))  # type: ignore[arg-type]
        for s in range(10):
            store = f"S{s:03d}"
            envs = [sale_envelope(i, store=store, stream=f"st-{s}", txn=f"{i:08d}")
                    for i in range(1, 1001)]
            apply(conn, seq, batch(envs))
            close = day_close(1001)
            apply(conn, seq, batch([msgspec.structs.replace(close, store_id=store, stream=f"st-{s}",
                                                            event_id=f"close-{store}")]))
        out[policy] = conn.execute("SELECT COUNT(*) FROM postings").fetchone()[0]
        conn.close()
    return out


async def tryton(args: argparse.Namespace, tmp: Path) -> dict:
    from hub.erp.tryton import TrytonConnector
    from tryton_retail_sync import database
    from tryton_retail_sync.server import TrytonServer

    template = Path(args.template) if args.template else database.build(
        tmp / "template", ["S001", "S002"], ["SKU-1", "SKU-2", "SKU-3", "SKU-4"])
    server = TrytonServer(template, tmp / "tryton")
    server.start()
    try:
        def connector() -> TrytonConnector:
            return TrytonConnector(server.url, server.db, "hub",
                                   server.hub_password_file.read_text().strip(), 60)
        rate = await relay_rate(tmp, connector(), server.url, args.postings, args.in_flight, "S001", 1)
        direct = connector()
        await direct.start()
        await direct.catalog()
        work = bodies(args.postings, 1, "S002")
        t0 = time.perf_counter()
        for p in work:
            result = await direct.post(p)
            assert result.outcome == "posted", result
        baseline = args.postings / (time.perf_counter() - t0)
        await direct.close()
    finally:
        server.stop()
    return {"relay_per_s": round(rate, 2), "baseline_per_s": round(baseline, 2),
            "baseline": "the Tryton connector called directly, one posting after another"}


async def main(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-erp-"))
    try:
        runner = {"fake": fake, "limit": limited, "tryton": tryton}[args.erp]
        result = await runner(args, tmp)
        result["erp_calls_per_10k_sales"] = calls_per_10k(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.update(erp=args.erp, postings=args.postings, in_flight=args.in_flight,
                  ratio=round(result["relay_per_s"] / result["baseline_per_s"], 3))
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--erp", choices=["fake", "limit", "tryton"], default="fake")
    p.add_argument("--limit", type=float, default=50.0, help="--erp limit: the relay's limit/s")
    p.add_argument("--postings", type=int, default=None)
    p.add_argument("--in-flight", type=int, default=8)
    p.add_argument("--template", help="a built Tryton database folder to reuse")
    a = p.parse_args()
    a.postings = a.postings or {"fake": 2000, "limit": 500, "tryton": 30}[a.erp]
    r = asyncio.run(main(a))
    save(f"erp-relay-{r['erp']}", r)
    calls = r["erp_calls_per_10k_sales"]
    extra = ""
    if r["erp"] == "limit":
        extra = (f"; {r['share_429']:.0%} answered 429; target >= 0.95 of the limit: "
                 f"{'MET' if r['ratio'] >= 0.95 else 'NOT MET'} ({r['note']})")
    print(f"erp relay ({r['erp']}, {r['in_flight']} in flight): {r['postings']} postings at "
          f"{r['relay_per_s']}/s; baseline ({r['baseline']}): {r['baseline_per_s']}/s -> "
          f"ratio {r['ratio']}{extra}; ERP calls per 10,000 sales: {calls['per_transaction']} "
          f"per transaction, {calls['daily_summary']} as daily summaries")
