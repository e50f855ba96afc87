"""One SQLite writer thread with group commit: many callers share one fsync'd transaction.

Callers hand in a function of the connection; the thread takes every job waiting in its queue,
runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction, commits once
(WAL + synchronous=FULL, so the commit is fsync'd), and only then resolves the callers'
futures. A job that raises is rolled back alone; a commit that fails (disk full) fails them all.
"""

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from runtime.errors import PlumbingError

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop, bool]
_STOP = object()


class WriterClosed(PlumbingError, RuntimeError):
    """The writer was closed before it could run the job."""


class _GroupLost(Exception):
    """SQLite rolled the whole transaction back (disk full, I/O error) inside one job."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def connect(path: Path | str) -> sqlite3.Connection:
    """A writable connection configured for durability: WAL, synchronous=FULL, explicit txns."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


async def open_reader(path: Path | str) -> aiosqlite.Connection:
    """A read-only connection for status pages and APIs; it never blocks the writer (WAL)."""
    conn = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True)
    await conn.execute("PRAGMA query_only=ON")
    await conn.execute("PRAGMA busy_timeout=5000")
    return conn


class SQLiteWriter:
    """The single writer of one database. `setup` runs first, in the thread (migrations)."""

    def __init__(
        self,
        path: Path | str,
        setup: Callable[[sqlite3.Connection], None],
        *,
        max_group: int = 1024,
        name: str = "sqlite-writer",
    ) -> None:
        self.path = Path(path)
        self._setup = setup
        self._max_group = max_group
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.commits = 0
        self.jobs_committed = 0

    async def start(self) -> None:
        """Open the database and run `setup`; raises what setup raised."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._main, args=(loop, ready), name=self._name, daemon=True
        )
        self._thread.start()
        await ready

    def submit(self, fn: Callable[[sqlite3.Connection], T], *,
               isolate: bool = True) -> "asyncio.Future[T]":
        """Queue `fn`; the future resolves after the transaction holding it has committed.

        With `isolate` the job runs inside its own SAVEPOINT, so a job that raises after writing
        undoes only its own writes. A job that can only raise before it writes may pass
        isolate=False and save two statements on the hot path.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if self._closed:
            fut.set_exception(WriterClosed(f"{self._name} is closed"))
            return fut
        self._queue.put((fn, fut, loop, isolate))
        return fut

    async def run(self, fn: Callable[[sqlite3.Connection], T], *,
                  isolate: bool = True) -> T:
        return await self.submit(fn, isolate=isolate)

    @property
    def started(self) -> bool:
        return self._thread is not None

    async def close(self) -> None:
        """Finish every queued job, then close the connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # -- the writer thread -------------------------------------------------------------------

    def _main(self, loop: asyncio.AbstractEventLoop, ready: "asyncio.Future[None]") -> None:
        try:
            conn = connect(self.path)
            self._setup(conn)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of start()
            self._closed = True
            loop.call_soon_threadsafe(_resolve, ready, None, exc)
            return
        loop.call_soon_threadsafe(_resolve, ready, None, None)
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is _STOP:
                    break
                jobs: list[Job] = [first]
                while len(jobs) < self._max_group:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stopping = True
                        break
                    jobs.append(nxt)
                try:
                    self._run_group(conn, jobs)
                except BaseException as exc:  # a bug here must fail the callers, not hang them
                    log.exception("%s: unexpected failure; failing %d jobs", self._name, len(jobs))
                    if conn.in_transaction:
                        conn.rollback()
                    _deliver_all(jobs, [(None, exc)] * len(jobs))
        finally:
            conn.close()
            # Anything queued after _STOP would otherwise wait forever.
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not _STOP:
                    _deliver(job, None, WriterClosed(f"{self._name} is closed"))

    def _run_group(self, conn: sqlite3.Connection, jobs: list[Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            _deliver_all(jobs, [(None, exc)] * len(jobs))
            return
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            for fn, _fut, _loop, isolate in jobs:
                if isolate:
                    conn.execute("SAVEPOINT job")
                try:
                    result = fn(conn)
                except Exception as exc:  # the job's own failure, handed back to its caller
                    if not conn.in_transaction:
                        raise _GroupLost(exc) from exc
                    if isolate:
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                    outcomes.append((None, exc))
                else:
                    if isolate:
                        conn.execute("RELEASE job")
                    outcomes.append((result, None))
            conn.execute("COMMIT")
        except (sqlite3.Error, _GroupLost) as failure:
            cause = failure.cause if isinstance(failure, _GroupLost) else failure
            log.warning("%s: transaction of %d jobs failed: %s", self._name, len(jobs), cause)
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("%s: rollback failed", self._name)
            _deliver_all(jobs, [(None, cause)] * len(jobs))
            return
        self.commits += 1
        self.jobs_committed += len(jobs)
        _deliver_all(jobs, outcomes)


def _deliver(job: Job, result: Any, error: BaseException | None) -> None:
    _deliver_all([job], [(result, error)])


def _deliver_all(jobs: list[Job], outcomes: list[tuple[Any, BaseException | None]]) -> None:
    """Resolve a whole group's futures with one wake-up of each waiting loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, BaseException | None]]] = {}
    for (_fn, fut, loop, _savepoint), (result, error) in zip(jobs, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((fut, result, error))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve_many, items)
        except RuntimeError:  # the loop has closed; nobody is waiting any more
            pass


def _resolve_many(items: list[tuple[Any, Any, BaseException | None]]) -> None:
    for fut, result, error in items:
        _resolve(fut, result, error)


def _resolve(fut: "asyncio.Future[Any]", result: Any, error: BaseException | None) -> None:
    if fut.cancelled():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
