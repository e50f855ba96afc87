"""What the outbox check at start costs, and what a rebuild costs when it finds damage.

Fills an outbox with N events nobody has acknowledged (the worst case: every body is decoded),
times `integrity.inspect` (quick_check + decode), then damages one row and times the rebuild.
Baseline: opening the same outbox without the check (`Outbox.open` minus the check).
Usage: python -m bench.outbox_check [--events 1000000]
"""

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench import save
from bench.status_page import fill
from edge_agent import integrity
from edge_agent.outbox import Outbox, setup
from runtime.clock import SYSTEM

ROOT = Path(__file__).resolve().parents[1]


async def main(args: argparse.Namespace) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-outbox-check-"))
    path = root / "outbox.sqlite"
    try:
        await fill(path, args.events, one_day=False)
        checks = []
        for _ in range(3):
            t = time.perf_counter()
            assert integrity.inspect(path) == []
            checks.append(time.perf_counter() - t)
        opens = []
        for _ in range(3):
            box = Outbox(path, "S001")
            t = time.perf_counter()
            await box.open()
            opens.append(time.perf_counter() - t)
            assert box.check is not None and box.check.problems == []
            await box.close()
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE events SET body = x'00' WHERE seq = ?", (args.events // 2,))
        t = time.perf_counter()
        report = integrity.check_and_repair(path, setup("S001", None, SYSTEM), SYSTEM.now())
        rebuild = time.perf_counter() - t
        size_mb = path.stat().st_size / 1e6
    finally:
        shutil.rmtree(root, ignore_errors=True)
    check = statistics.median(checks)
    start = statistics.median(opens)
    return {"events": args.events, "outbox_mb": round(size_mb), "check_s": round(check, 2),
            "open_with_check_s": round(start, 2),
            "check_share_of_open": round(check / start, 2) if start else None,
            "rebuild_s": round(rebuild, 2), "rebuild_kept": report.kept,
            "rebuild_quarantined": report.quarantined}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=1_000_000)
    r = asyncio.run(main(p.parse_args()))
    save("outbox-check", r)
    print(f"outbox check: {r['events']} events waiting ({r['outbox_mb']} MB): check {r['check_s']} s "
          f"of {r['open_with_check_s']} s to open; rebuild after one damaged row {r['rebuild_s']} s "
          f"({r['rebuild_kept']} kept, {r['rebuild_quarantined']} quarantined)")
