"""The storage port on PostgreSQL: the same `Database` as SQLite's, and `transact`/`reading` for
a command line (hub.storage.database says what each does; hub.storage.factory picks a backend).

The writers are two psycopg connections, each in a thread of its own (PgWriter: group commit),
one per Lane: the serial lane takes the database's writer lock per transaction, the ingest lane
does not (hub.storage.postgres.writer says why that is safe); the reads are a pool of
`[storage] pool_size` read-only connections. `start()`
migrates the database first (hub.storage.postgres.schema), as the SQLite hub does its file.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import psycopg

from hub.errors import WriteConflict
from hub.storage.database import Database, Lane, Reads, Transaction
from hub.storage.leadership import Leadership
from hub.storage.postgres.connection import (
    PgConnection,
    PgReader,
    Target,
    connection_lost,
    unreachable,
)
from hub.storage.postgres.leadership import PgLeadership
from hub.storage.postgres.repositories import PgReads, PgTransaction, content_reader
from hub.storage.postgres.schema import TableVersion, migrate
from hub.storage.postgres.writer import BEGIN, BEGIN_INGEST, PgWriter
from hub.storage.version_content import ContentReader

T = TypeVar("T")
SERIAL_TRIES = 3


class PostgresDatabase(Database):
    """The hub database on PostgreSQL: `start()` migrates it and opens the reads; `close()`
    finishes every queued job first."""

    def __init__(self, target: Target, *, name: str = "hub-writer") -> None:
        self.target = target
        self._tx: Transaction | None = None
        self._writer = PgWriter(target, self._setup, name=name)
        self._ingest_tx: Transaction | None = None
        self._ingest_writer = PgWriter(target, self._setup_ingest, name=f"{name}-ingest",
                                       begin=BEGIN_INGEST)
        self._reads: Reads | None = None
        self._pool: PgReader | None = None

    def describe(self) -> str:
        return self.target.describe()

    def _setup(self, conn: PgConnection) -> None:
        migrate(conn)
        self._tx = PgTransaction(conn)

    def _setup_ingest(self, conn: PgConnection) -> None:
        self._ingest_tx = PgTransaction(conn)

    def submit(self, job: Callable[[Transaction], T], *, isolate: bool = True,
               lane: Lane = Lane.SERIAL) -> "asyncio.Future[T]":
        """As Database.submit. A serial-lane job that loses a deadlock to ingest's lane or
        another worker (WriteConflict: its savepoint rolled back, nothing written) is run again,
        up to SERIAL_TRIES times, before its caller sees the WriteConflict. Ingest's own jobs
        are tried again by ingest (hub.ingest.receiver)."""
        if lane is Lane.INGEST:
            return self._ingest_writer.submit(lambda _conn: job(self._ingest_transaction()),
                                              isolate=isolate)
        if not isolate:
            return super().submit(job, isolate=False)
        outer: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def attempt(tries: int) -> None:
            inner = Database.submit(self, job)

            def done(fut: "asyncio.Future[T]") -> None:
                if outer.done():
                    return
                if fut.cancelled():
                    outer.cancel()
                elif isinstance(fut.exception(), WriteConflict) and tries < SERIAL_TRIES:
                    attempt(tries + 1)
                elif fut.exception() is not None:
                    outer.set_exception(fut.exception())  # type: ignore[arg-type]
                else:
                    outer.set_result(fut.result())

            inner.add_done_callback(done)

        attempt(1)
        return outer

    def _ingest_transaction(self) -> Transaction:
        assert self._ingest_tx is not None, "the ingest writer has not run its setup"
        return self._ingest_tx

    @property
    def commits(self) -> int:
        return self._writer.commits + self._ingest_writer.commits

    async def start(self) -> None:
        """Migrate (raises SchemaTooNew for a database of a newer hub, DatabaseUnreachable when
        the server cannot be reached) and open the reads."""
        try:
            await self._writer.start()  # migrates first
            await self._ingest_writer.start()
            self._pool = PgReader(self.target)
            await self._pool.open()
        except psycopg.OperationalError as exc:
            await self.close()
            raise unreachable(self.target, exc) from exc
        self._reads = PgReads(self._pool)

    async def read_content(self, job: Callable[[ContentReader], T]) -> T:
        """`job(reader)` in a thread, on a connection of its own in one read-only snapshot
        (DatabaseUnreachable when the server cannot be reached)."""

        def run() -> T:
            try:
                with content_reader(open_connection(self.target)) as reader:
                    return job(reader)
            except psycopg.OperationalError as exc:
                if connection_lost(exc):
                    raise unreachable(self.target, exc) from exc
                raise

        return await asyncio.to_thread(run)

    def leadership(self) -> Leadership:
        """The cluster's lead: an advisory lock on a connection of its own
        (hub.storage.postgres.leadership)."""
        return PgLeadership(self.target)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = self._reads = None
        await self._ingest_writer.close()
        await self._writer.close()


def open_connection(target: Target) -> PgConnection:
    """A writer connection of its own (command lines); DatabaseUnreachable if it cannot."""
    conn = PgConnection(target)
    try:
        conn.ensure()
    except psycopg.OperationalError as exc:
        raise unreachable(target, exc) from exc
    return conn


def version(target: Target) -> int:
    """The database's schema version (0: nothing there yet); DatabaseUnreachable if it cannot
    be asked."""
    conn = open_connection(target)
    try:
        return TableVersion(conn).version()
    finally:
        conn.close()


def migrate_now(target: Target) -> tuple[int, int]:
    """`retail-hub migrate`: (version before, version after)."""
    conn = open_connection(target)
    try:
        return migrate(conn)
    finally:
        conn.close()


def transact(target: Target, job: Callable[[Transaction], T]) -> T:
    """Run `job(tx)` in one transaction of its own, for a command line beside a running hub
    (it waits for the hub's writer lock). The job's exception rolls it back."""
    conn = open_connection(target)
    try:
        conn.command(BEGIN)
        try:
            result = job(PgTransaction(conn))
        except BaseException:
            conn.command("ROLLBACK")
            raise
        conn.flush_deferred()
        conn.command("COMMIT")
        return result
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def reading(target: Target) -> AsyncIterator[Reads]:
    """The read repositories of the database, for a command line (one connection)."""
    reader = PgReader(target, size=1)
    try:
        await reader.open()
    except psycopg.OperationalError as exc:
        await reader.close()
        raise unreachable(target, exc) from exc
    try:
        yield PgReads(reader)
    finally:
        await reader.close()

