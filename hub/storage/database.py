"""The hub's storage port: one object owns the database, its writer thread and its reads.

Every other hub module reaches the database only through this port (tests/test_layering.py
checks that nothing outside `hub/storage/` imports a driver or writes SQL):

- `Database.submit(job)` / `run(job)`: `job(tx)` runs in the single writer thread
  (runtime.group_commit) inside a group-commit transaction shared with other jobs, each in its
  own savepoint; the future resolves only after COMMIT, which is durable (fsync'd). "Commit,
  then ack" rests on that: Ingest hands an outcome to Outbound only when its future has resolved.
- `Database.reads`: async repositories over read-only connections (they never block the writer,
  and see only committed transactions).
- `transact(path, job)` and `reading(path)`: the same two for a command line, without a thread.

Two backends implement the port: `Database` here is SQLite (`hub.sqlite` in data_dir, WAL);
`hub.storage.postgres.database.PostgresDatabase` is PostgreSQL. `hub.storage.factory` picks one
from the config (`[storage] backend`), for the hub and for the command lines. Both run the same
repositories (hub.storage.rows says how); hub.storage.postgres.repositories holds the few methods
PostgreSQL does its own way.

A `Transaction` and `Reads` hold one repository per aggregate, each with intention-revealing
methods: `events` (streams, events, duplicates), `quarantine`, `inventory`, `days`, `fleet`,
`postings` (postings, sources, attempts, summary days), `audit`, `reconciliations`,
`availability` (stock as the availability service reads it, safety stock, location adjustments,
the change feed), `reservations`,
`catalog` (items, store groups, price books, staged price changes), `publications` (catalog
versions and their content, publications and their target stores), `store_catalogs` (the version
each store has, what is still to reach it, its sales' price deviations), `workers` (the hub
workers sharing the database, each one's heartbeat). A version's content,
too big for the event loop, is read in a thread on a connection of its own (`read_content`,
hub.storage.version_content). `Database.leadership()` is the cluster's lead for this worker
(hub.storage.leadership: always its on SQLite; an advisory lock on PostgreSQL).

Single-writer assumptions: a SQLite hub has one writer thread, and a command line beside it waits
for the file's write lock (BEGIN IMMEDIATE). On PostgreSQL, which several hub workers share, each
worker has two writers (`Lane`): the serial lane's transactions take one advisory lock first
(hub.storage.postgres.writer), so they are one at a time across the cluster as on SQLite; the
ingest lane's don't. What one writer gave for free is met as follows (docs/architecture.md and
docs/scale-out.md say the same):

1. Applying a stream reads `streams.applied_seq`, applies what follows and advances it in one
   transaction; admitting a new stream counts the store's streams, then inserts. Met by a lock
   per store (per store, not per stream: dedupe by event_id spans a store's streams):
   `Sequencer.apply` first calls `tx.events.lock_store`, always granted on SQLite (one writer),
   `pg_try_advisory_xact_lock` on PostgreSQL (hub.storage.postgres.repositories), held until
   COMMIT. A try lock, because one group-commit transaction locks its jobs' stores in any order
   and two workers waiting on each other would deadlock: a job refused raises StoreBusy before
   it has read or written anything, and ingest tries the batch again shortly.
2. Events held past a gap live in the database (`held_events`, each stream's count in
   `streams.held`, read with `applied_seq` so that a batch when nothing is held costs no more
   queries), under the same store lock: whichever worker fills the gap applies them, and the
   limits on what may be held are counted there. A worker's memory keeps only when it last asked
   a stream for a replay (a rate limit) and the batches it has queued itself, which it applies
   through the same lock.
3. Day totals are read, added as Decimal and written back on SQLite (`DaysWrites.add_totals`);
   PostgreSQL adds them atomically (`UPDATE ... SET x = x + ...` on exact NUMERIC columns,
   `PgDaysWrites`). Inventory is an atomic increment on both, in (sku, location) order.
4. Postings: holds with several relays. A claim (`PostingsWrites.claim`) picks the due postings
   in the writer and marks each with the worker id and a lease (`claimed_by`, `claimed_until`,
   `erp.claim_lease_s`); on PostgreSQL its selects take `FOR UPDATE SKIP LOCKED`, so two workers'
   claims never take the same posting even without the writer lock. A posting whose lease ended
   (its worker died mid-send) is due again for any relay and sent again under its idempotency
   key; an answer is written only under the claim it was sent under (`PostingsWrites.settle`).
   The relay runs only on the worker that leads (hub.cluster.leadership): at its start it takes
   back every open claim (`release_claims`), a former leader's. Assumed: hosts' clocks agree to
   well within the lease.
5. Every ordering by time compares instants as text written by `runtime.clock.stamp`.
6. Available to sell: a reservation is checked against what is available and held in one
   serial-lane job, so no two reservations can both take the last unit. Against ingest's lane,
   PostgreSQL locks what a write decides on (`FOR UPDATE`: the inventory rows a reservation
   checks, the on-hand row a recheck of short reservations reads, the reservation a collect or
   release finds; hub.storage.postgres.repositories), and a sale's increment locks the same
   inventory rows. The change feed's cursors must commit in order, or a consumer could skip one
   committed late: PostgreSQL appends them just before COMMIT under one advisory lock
   (PgConnection.flush_deferred); SQLite's one writer commits in order by itself.
"""

import asyncio
import contextlib
import enum
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from hub.storage.audit import AuditReads, AuditWrites
from hub.storage.availability import AvailabilityReads, AvailabilityWrites
from hub.storage.catalog import CatalogReads, CatalogWrites
from hub.storage.days import DaysReads, DaysWrites
from hub.storage.eventlog import EventLogReads, EventLogWrites
from hub.storage.fleet import FleetReads, FleetWrites
from hub.storage.inventory import InventoryReads, InventoryWrites
from hub.storage.leadership import Leadership
from hub.storage.postings import PostingsReads, PostingsWrites
from hub.storage.publications import PublicationsReads, PublicationsWrites
from hub.storage.quarantine import QuarantineReads, QuarantineWrites
from hub.storage.reconciliations import ReconciliationsReads, ReconciliationsWrites
from hub.storage.reservations import ReservationsReads, ReservationsWrites
from hub.storage.rows import Connection, Reader
from hub.storage.schema import migrate
from hub.storage.store_catalogs import StoreCatalogsReads, StoreCatalogsWrites
from hub.storage.version_content import ContentReader, content_reader
from hub.storage.workers import WorkersReads, WorkersWrites
from runtime.group_commit import GroupCommitWriter
from runtime.sqlite_writer import SQLiteWriter, connect, open_reader

T = TypeVar("T")


class Lane(enum.Enum):
    """Which writer runs a job. On SQLite both are the one writer thread. On PostgreSQL each
    lane is a writer of its own (hub.storage.postgres.writer): SERIAL transactions take the
    database's one writer lock, so every single-writer assumption below holds for them across
    hub workers; INGEST transactions (applying stores' batches, hub.ingest) don't, and take
    their own finer locks instead."""

    SERIAL = "serial"
    INGEST = "ingest"


class Transaction:
    """One job's view of the writer's open transaction. Only the writer thread touches it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.events = EventLogWrites(conn)
        self.quarantine = QuarantineWrites(conn)
        self.inventory = InventoryWrites(conn)
        self.days = DaysWrites(conn)
        self.fleet = FleetWrites(conn)
        self.postings = PostingsWrites(conn)
        self.audit = AuditWrites(conn)
        self.reconciliations = ReconciliationsWrites(conn)
        self.availability = AvailabilityWrites(conn)
        self.reservations = ReservationsWrites(conn)
        self.catalog = CatalogWrites(conn)
        self.publications = PublicationsWrites(conn)
        self.store_catalogs = StoreCatalogsWrites(conn)
        self.workers = WorkersWrites(conn)


class Reads:
    """The read repositories, over the read-only connection(s) the API and dashboard share."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn
        self.events = EventLogReads(conn)
        self.quarantine = QuarantineReads(conn)
        self.inventory = InventoryReads(conn)
        self.days = DaysReads(conn)
        self.fleet = FleetReads(conn)
        self.postings = PostingsReads(conn)
        self.audit = AuditReads(conn)
        self.reconciliations = ReconciliationsReads(conn)
        self.availability = AvailabilityReads(conn)
        self.reservations = ReservationsReads(conn)
        self.catalog = CatalogReads(conn)
        self.publications = PublicationsReads(conn)
        self.store_catalogs = StoreCatalogsReads(conn)
        self.workers = WorkersReads(conn)


class Database:
    """The hub database (here on SQLite): `start()` migrates it and opens the reads; `close()`
    finishes every queued job first."""

    def __init__(self, path: Path | str, *, name: str = "hub-writer") -> None:
        self.path = Path(path)
        self._tx: Transaction | None = None
        self._writer: GroupCommitWriter[Any] = SQLiteWriter(self.path, self._setup, name=name)
        self._reads: Reads | None = None
        self._reader: aiosqlite.Connection | None = None

    def describe(self) -> str:
        """Where the database is, for a message."""
        return str(self.path)

    def _setup(self, conn: Any) -> None:
        migrate(conn)
        self._tx = Transaction(conn)

    async def start(self) -> None:
        """Migrate (raises SchemaTooNew for a file from a newer hub) and open the reads."""
        await self._writer.start()
        self._reader = await open_reader(self.path)
        self._reader.row_factory = sqlite3.Row  # hub.storage.rows reads rows by name
        self._reads = Reads(self._reader)

    def submit(self, job: Callable[[Transaction], T], *, isolate: bool = True,
               lane: Lane = Lane.SERIAL) -> "asyncio.Future[T]":
        """Queue `job(tx)`; the future resolves after its transaction has committed (fsync'd).
        `isolate=False` only for a job that can raise only before it writes (saves a savepoint).
        `lane`: see Lane (one writer on SQLite)."""
        return self._writer.submit(lambda _conn: job(self._transaction()), isolate=isolate)

    async def run(self, job: Callable[[Transaction], T], *, isolate: bool = True) -> T:
        return await self.submit(job, isolate=isolate)

    def _transaction(self) -> Transaction:
        assert self._tx is not None, "the writer has not run its setup"
        return self._tx

    async def read_content(self, job: Callable[[ContentReader], T]) -> T:
        """`job(reader)` in a thread, on a read-only connection of its own inside one read
        transaction: for reads too big for the event loop (a catalog version's content)."""

        def run() -> T:
            with content_reader(self.path) as reader:
                return job(reader)

        return await asyncio.to_thread(run)

    def leadership(self) -> Leadership:
        """The cluster's lead for this worker (hub.storage.leadership): on SQLite always its."""
        return Leadership()

    @property
    def reads(self) -> Reads:
        assert self._reads is not None, "hub database is not open"
        return self._reads

    @property
    def commits(self) -> int:
        return self._writer.commits

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = self._reads = None
        await self._writer.close()


def transact(path: Path | str, job: Callable[[Transaction], T]) -> T:
    """Run `job(tx)` in one transaction of its own, for a command line beside a running hub
    (the busy timeout waits out the hub's writer). The job's exception rolls it back."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = job(Transaction(conn))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def reading(path: Path | str) -> AsyncIterator[Reads]:
    """The read repositories of a database file, for a command line."""
    conn = await open_reader(path)
    conn.row_factory = sqlite3.Row
    try:
        yield Reads(conn)
    finally:
        await conn.close()
