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

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_STOP = object()


class WriterClosed(RuntimeError):
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

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> "asyncio.Future[T]":
        """Queue `fn`; the future resolves after the transaction holding it has committed."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if self._closed:
            fut.set_exception(WriterClosed(f"{self._name} is closed"))
            return fut
        self._queue.put((fn, fut, loop))
        return fut

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.submit(fn)

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
                self._run_group(conn, jobs)
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
            for job in jobs:
                _deliver(job, None, exc)
            return
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            for fn, _fut, _loop in jobs:
                conn.execute("SAVEPOINT job")
                try:
                    result = fn(conn)
                except Exception as exc:
                    if not conn.in_transaction:
                        raise _GroupLost(exc) from exc
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((None, exc))
                else:
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
            for job in jobs:
                _deliver(job, None, cause)
            return
        self.commits += 1
        self.jobs_committed += len(jobs)
        for job, (result, error) in zip(jobs, outcomes, strict=True):
            _deliver(job, result, error)


def _deliver(job: Job, result: Any, error: BaseException | None) -> None:
    _fn, fut, loop = job
    try:
        loop.call_soon_threadsafe(_resolve, fut, result, error)
    except RuntimeError:  # the loop has closed; nobody is waiting any more
        pass


def _resolve(fut: "asyncio.Future[Any]", result: Any, error: BaseException | None) -> None:
    if fut.cancelled():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
