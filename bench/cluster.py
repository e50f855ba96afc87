"""Several hub workers (issue 16 phase B): what one more worker buys, and what losing one costs.

Drain: `--events` sales wait in the outboxes of `--stores` real edge agents (filled once, copied
for every run, as in bench.drain); the agents start at once and the time until the hub has
applied them all is taken, on three hubs behind the same broker (a private Mosquitto, for
fairness): SQLite (one `retail-hub run`), PostgreSQL with 1 worker and with 2 workers
(`[cluster] shared_group`: the events topic shared between them). PostgreSQL is a private
server of this run, fsync on. Besides events/s, the CPU seconds each process spent per 1,000
events (utime + stime from /proc/<pid>/stat): every worker, the PostgreSQL server (the
postmaster, its live backends, and those that ended), Mosquitto, and the agents that send. The
busiest of them, and the sum against the machine's cores, name the limit.

Failover: `--failover-stores` (8) real edge agents (their default 10 s ack timeout), each with a
till, sell `--failover-rate` (200) sales/s in all to 2 workers; after `--before` s one worker is
SIGKILLed (and stays down). From the hub's own timestamps (captured_at at the store, applied_at
in the database, one clock): how long after the kill the sales captured in the 2 s up to it
(some on their way to the killed worker) were all applied, the longest apply delay of a sale captured from 2 s before the kill to `--window`
s after it, and the p50/p99 capture -> applied of sales captured in the `--window` s after the
kill against the `--window` s before it.

Usage: python -m bench.cluster [--events 100000] [--stores 4] [--rounds 3] [--part drain|failover]
[--hubs sqlite,postgresql-1,postgresql-2] [--keep]
"""

import argparse
import asyncio
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import aiohttp
import psycopg

from bench import save
from bench.capture import pct
from bench.drain import fill
from tests.integration.cluster import Cluster, sell_paced
from tests.integration.procs import AgentProc, HubProc, Proc
from tests.integration.tills import Till
from tests.postgres import PgServer, binaries

TICK = os.sysconf("SC_CLK_TCK")
HUBS = ("sqlite", "postgresql-1", "postgresql-2")


def cpu_s(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) `pid` has spent; with `children`, also its children that
    ended and were waited for (fields 14-17 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def pg_cpu_s(server: PgServer) -> float:
    """The whole PostgreSQL server: the postmaster, its children that ended, and the live ones."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    total = cpu_s(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rpartition(")")[2].split()[1]) == postmaster:
                total += cpu_s(int(entry.name))
        except (OSError, ValueError):
            continue  # ended meanwhile: the postmaster's children figure has it
    return total


class Meter:
    """CPU seconds of named processes (and the PostgreSQL server) between start and stop."""

    def __init__(self, procs: dict[str, Proc], server: PgServer | None) -> None:
        self.procs = procs
        self.server = server
        self.at: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        out = {name: cpu_s(p.proc.pid) for name, p in self.procs.items()
               if p.proc is not None and p.running}
        if self.server is not None:
            out["postgresql"] = pg_cpu_s(self.server)
        return out

    def start(self) -> None:
        self.at = self._read()

    def stop(self) -> dict[str, float]:
        now = self._read()
        return {name: now[name] - self.at[name] for name in self.at if name in now}


async def drain_once(hub_kind: str, template: Path, stores: list[str], events: int,
                     server: PgServer | None, keep: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    database = None
    try:
        if hub_kind == "sqlite":
            hub: Any = HubProc(tmp / "hub", stores, mosquitto_root=tmp / "mosquitto")
            workers: list[Proc] = [hub]
            broker = hub.mosquitto
        else:
            assert server is not None
            database = server.create_database()
            hub = Cluster(tmp, stores, server.url(database), workers=int(hub_kind[-1]))
            workers = list(hub.workers)
            broker = hub.mosquitto
        agents = [AgentProc(tmp / s, s, hub, ack_timeout_s=10) for s in stores]
        for agent in agents:
            (agent.root / "data").mkdir(parents=True, exist_ok=True)
            shutil.copy(template / f"{agent.store_id}.sqlite", agent.outbox)
        everyone = [broker, *workers, *agents]
        try:
            broker.start()
            for w in workers:
                w.start()
            async with aiohttp.ClientSession() as http:
                for w in workers:
                    await w.ready(http)  # type: ignore[attr-defined]
                names = {"mosquitto": broker, **{f"worker-{n}": w for n, w in
                                                  enumerate(workers, 1)}}
                meter = Meter(names, None if hub_kind == "sqlite" else server)
                meter.start()
                t0 = time.perf_counter()
                for agent in agents:
                    agent.start()
                while True:
                    body = await hub.get(http, "/v1/stores")
                    if sum(s["events"] for s in body["stores"]) >= events:
                        break
                    await asyncio.sleep(0.25)
                seconds = time.perf_counter() - t0
                cpu = meter.stop()
                cpu["agents"] = sum(cpu_s(a.proc.pid) for a in agents if a.proc)
        finally:
            for p in reversed(everyone):
                p.stop()
    finally:
        if database and server:
            server.drop_database(database)
        if keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    per_k = {name: round(s * 1000 / events, 3) for name, s in cpu.items()}
    return {"hub": hub_kind, "seconds": round(seconds, 2), "events_per_s": round(events / seconds),
            "cpu_s_per_1k": per_k, "cores_busy": round(sum(cpu.values()) / seconds, 2)}


async def drain(args: argparse.Namespace, server: PgServer | None) -> dict[str, Any]:
    stores = [f"D{n}" for n in range(1, args.stores + 1)]
    template = Path(tempfile.mkdtemp(prefix="bench-cluster-outboxes-"))
    try:
        per_store = args.events // len(stores)
        await asyncio.gather(*(fill(template / f"{s}.sqlite", s, per_store) for s in stores))
        events = per_store * len(stores)
        kinds = [k for k in args.hubs.split(",") if k == "sqlite" or server is not None]
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
        for _ in range(args.rounds):  # alternated, so each hub meets the same machine
            for kind in kinds:
                runs[kind].append(await drain_once(kind, template, stores, events, server,
                                                   args.keep))
                r = runs[kind][-1]
                print(f"  {kind}: {r['events_per_s']} events/s, cpu s/1k {r['cpu_s_per_1k']}",
                      flush=True)
    finally:
        shutil.rmtree(template, ignore_errors=True)
    out: dict[str, Any] = {"events": events, "stores": len(stores), "rounds": args.rounds}
    for kind, rs in runs.items():
        mid = sorted(rs, key=lambda r: r["events_per_s"])[len(rs) // 2]
        out[kind] = {**mid, "events_per_s_all": [r["events_per_s"] for r in rs],
                     "events_per_s_median": round(median(r["events_per_s"] for r in rs))}
    return out


def _at(stamp: Any) -> dt.datetime:
    return stamp if isinstance(stamp, dt.datetime) else dt.datetime.fromisoformat(stamp)


async def failover(args: argparse.Namespace, server: PgServer) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-failover-"))
    stores = [f"F{n:02d}" for n in range(1, args.failover_stores + 1)]
    database = server.create_database()
    url = server.url(database)
    cluster = Cluster(tmp, stores, url, workers=2)
    # The agents' own ack timeout (10 s by default), not the tests' short one.
    agents = [AgentProc(tmp / s, s, cluster, ack_timeout_s=10.0) for s in stores]  # type: ignore[arg-type]
    started: list[Proc] = []
    try:
        for p in (cluster.mosquitto, *cluster.workers, *agents):
            p.start()
            started.append(p)
        async with aiohttp.ClientSession() as http:
            await cluster.ready(http)
            for agent in agents:
                await agent.ready(http)
            tills = [Till(a.url) for a in agents]
            stop = asyncio.Event()
            per_store = args.failover_rate / len(stores)
            selling = [asyncio.create_task(sell_paced(t, http, stop, per_store)) for t in tills]
            await asyncio.sleep(args.before)
            kill = dt.datetime.now(dt.UTC)
            cluster.workers[0].kill()
            await asyncio.sleep(args.window + 2)
            stop.set()
            await asyncio.gather(*selling)
            sold = sum(len(t.accepted) for t in tills)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                body = await cluster.get(http, "/v1/stores")
                if sum(s["events"] for s in body["stores"]) >= sold:
                    break
                await asyncio.sleep(0.25)
        with psycopg.connect(url) as pg:
            rows = pg.execute("SELECT captured_at, applied_at FROM events").fetchall()
    finally:
        for p in reversed(started):
            p.stop()
        server.drop_database(database)
        if args.keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    delays = [(_at(c), (_at(a) - _at(c)).total_seconds()) for c, a in rows]
    window = dt.timedelta(seconds=args.window)
    two = dt.timedelta(seconds=2)
    before = [d for c, d in delays if kill - window <= c < kill]
    during = [d for c, d in delays if kill <= c < kill + window]
    in_flight = [(c, d) for c, d in delays if kill - two <= c <= kill]
    return {
        "stores": len(stores), "rate_per_s": args.failover_rate, "sold": sold,
        "applied": len(rows),
        # When the sales captured in the 2 s up to the kill (some on their way to the killed
        # worker) were all applied, counted from the kill.
        "all_applied_after_kill_s": round(max(
            (c + dt.timedelta(seconds=d) - kill).total_seconds() for c, d in in_flight), 2),
        "max_delay_s": round(max(d for c, d in delays if kill - two <= c < kill + window), 2),
        "before_p50_ms": round(pct(before, 0.5) * 1000, 1),
        "before_p99_ms": round(pct(before, 0.99) * 1000, 1),
        "failover_p50_ms": round(pct(during, 0.5) * 1000, 1),
        "failover_p99_ms": round(pct(during, 0.99) * 1000, 1),
    }


def table(r: dict[str, Any]) -> str:
    lines = []
    if "drain" in r:
        d = r["drain"]
        lines.append(f"drain of {d['events']:,} events from {d['stores']} agents, median of "
                     f"{d['rounds']} (CPU s per 1,000 events):")
        head = ("hub", "events/s", "runs", "workers", "postgresql", "mosquitto", "agents",
                "cores busy")
        rows = [head]
        for kind in HUBS:
            if kind not in d:
                continue
            x = d[kind]
            cpu = x["cpu_s_per_1k"]
            workers = " + ".join(f"{v:.3f}" for k, v in sorted(cpu.items())
                                 if k.startswith("worker-"))
            rows.append((kind, f"{x['events_per_s_median']:,}",
                         "/".join(str(v) for v in x["events_per_s_all"]), workers,
                         f"{cpu.get('postgresql', 0):.3f}" if "postgresql" in cpu else "-",
                         f"{cpu.get('mosquitto', 0):.3f}", f"{cpu.get('agents', 0):.3f}",
                         f"{x['cores_busy']} of {os.cpu_count()}"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if "failover" in r:
        f = r["failover"]
        lines.append(
            f"failover: {f['stores']} stores at {f['rate_per_s']:g} sales/s to 2 workers, one "
            f"SIGKILLed: sales captured in the 2 s up to the kill all applied "
            f"{f['all_applied_after_kill_s']} s after it; longest apply delay {f['max_delay_s']} s; capture -> applied p50/p99 "
            f"{f['before_p50_ms']}/{f['before_p99_ms']} ms before, {f['failover_p50_ms']}/"
            f"{f['failover_p99_ms']} ms after the kill; {f['applied']} of {f['sold']} applied")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"date": dt.date.today().isoformat()}
    server = PgServer(fsync=True) if binaries() else None
    try:
        if server:
            server.start()
            server.make_template()
        if args.part in ("all", "drain"):
            result["drain"] = await drain(args, server)
        if args.part in ("all", "failover") and server:
            result["failover"] = await failover(args, server)
    finally:
        if server:
            server.remove()
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["all", "drain", "failover"], default="all")
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--stores", type=int, default=4)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--hubs", default=",".join(HUBS), help="which of " + ",".join(HUBS))
    p.add_argument("--failover-stores", type=int, default=8)
    p.add_argument("--failover-rate", type=float, default=200)
    p.add_argument("--before", type=float, default=10)
    p.add_argument("--window", type=float, default=20)
    p.add_argument("--keep", action="store_true", help="keep the logs and data (printed)")
    r = asyncio.run(main(p.parse_args()))
    save("cluster", r)
    print(table(r))
