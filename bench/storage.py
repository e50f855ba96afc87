"""The hub's ingest hot path on each storage backend, in one process and one run: batches of 100
sales from 4 stores applied through the storage port (Sequencer.apply in Database.run: events,
inventory, day totals, postings, one group-commit transaction per round of batches). SQLite in a
temporary file; PostgreSQL on a private server of this run (fsync on, like a real one).
Usage: python -m bench.storage [--events 20000] [--rounds 3]
"""

import argparse
import asyncio
import functools
import tempfile
import time
from pathlib import Path

from bench import save
from hub.ingest.eventlog import Sequencer
from hub.storage import Database
from hub.storage.postgres.connection import Target
from hub.storage.postgres.database import PostgresDatabase
from tests.hub.helpers import batch, sale_envelope
from tests.postgres import PgServer, binaries

STORES = [f"S{n:03d}" for n in range(4)]


async def rate(db: Database, events: int) -> float:
    """Events applied per second."""
    await db.start()
    try:
        sequencer = Sequencer()
        t = time.perf_counter()
        for start in range(1, events // len(STORES) + 1, 100):
            await asyncio.gather(*(db.submit(functools.partial(sequencer.apply, batch=batch(
                [sale_envelope(n, store=s, stream="st", txn=f"{s}-{n}", sku=f"SKU-{n % 50}")
                 for n in range(start, start + 100)]), topic="t"), isolate=False)
                for s in STORES))
        return events / (time.perf_counter() - t)
    finally:
        await db.close()


async def main(args: argparse.Namespace) -> dict[str, object]:
    result: dict[str, object] = {"events": args.events, "rounds": args.rounds}
    sqlite_rates: list[float] = []
    pg_rates: list[float] = []
    server = PgServer(fsync=True) if binaries() else None
    try:
        if server:
            server.start()
        for _ in range(args.rounds):  # alternated, so both meet the same machine
            with tempfile.TemporaryDirectory() as folder:
                sqlite_rates.append(await rate(Database(Path(folder) / "hub.sqlite"), args.events))
            if server:
                name = server.create_database(migrated=False)
                pg_rates.append(await rate(PostgresDatabase(Target(server.url(name))), args.events))
                server.drop_database(name)
    finally:
        if server:
            server.remove()
    sqlite = sorted(sqlite_rates)[len(sqlite_rates) // 2]
    result["sqlite_events_per_s"] = round(sqlite)
    if pg_rates:
        pg = sorted(pg_rates)[len(pg_rates) // 2]
        result["postgresql_events_per_s"] = round(pg)
        result["postgresql_to_sqlite"] = round(pg / sqlite, 2)
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    r = asyncio.run(main(p.parse_args()))
    save("storage", r)
    print(f"storage hot path, {r['events']} events: SQLite {r['sqlite_events_per_s']}/s; "
          f"PostgreSQL {r.get('postgresql_events_per_s', 'not installed')}/s"
          f" (ratio {r.get('postgresql_to_sqlite', '-')}); median of {r['rounds']} rounds")
