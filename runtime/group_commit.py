"""Group commit in one writer thread, whatever the database: many callers share one transaction.

Callers hand in a function of the connection; the thread takes every job waiting in its queue,
runs each inside its own savepoint of one transaction, commits once, and only then resolves the
callers' futures. A job that raises is rolled back alone; a commit that fails fails them all.

A backend says how to talk to its database by overriding the hooks (`_connect`, `_begin`,
`_commit`, ...): runtime.sqlite_writer for SQLite, hub.storage.postgres.writer for PostgreSQL.
"""

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from runtime.errors import PlumbingError

log = logging.getLogger(__name__)
T = TypeVar("T")
C = TypeVar("C")
Job = tuple[Callable[[Any], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop, bool]
_STOP = object()


class WriterClosed(PlumbingError, RuntimeError):
    """The writer was closed before it could run the job."""


class _GroupLost(Exception):
    """The database rolled the whole transaction back (disk full, I/O error) inside one job."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class GroupCommitWriter(Generic[C]):
    """The single writer of one database. `setup` runs first, in the thread (migrations)."""

    # The driver's errors: a BEGIN, savepoint or COMMIT failing with one fails the whole group.
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, setup: Callable[[C], None], *, max_group: int = 1024,
                 name: str = "writer") -> None:
        self._setup = setup
        self._max_group = max_group
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._group_failures: tuple[type[BaseException], ...] = (*self.errors, _GroupLost)
        self.commits = 0
        self.jobs_committed = 0

    # -- what a backend provides -----------------------------------------------------------

    def _connect(self) -> C:
        raise NotImplementedError

    def _close(self, conn: C) -> None:
        raise NotImplementedError

    def _prepare(self, conn: C) -> None:
        """Before each group: make the connection usable (a backend that can lose it reconnects
        here, raising one of `errors` when it cannot)."""

    def _begin(self, conn: C) -> None:
        raise NotImplementedError

    def _savepoint(self, conn: C) -> None:
        raise NotImplementedError

    def _rollback_to_savepoint(self, conn: C) -> None:
        raise NotImplementedError

    def _release_savepoint(self, conn: C) -> None:
        raise NotImplementedError

    def _commit(self, conn: C) -> None:
        raise NotImplementedError

    def _rollback(self, conn: C) -> None:
        """Give up the group's transaction if one is open (after a failure)."""
        raise NotImplementedError

    def _survives(self, conn: C, isolated: bool) -> bool:
        """After a job raised: whether the group's transaction can go on (with the job's own
        writes undone when `isolated`)."""
        raise NotImplementedError

    def _job_failure(self, error: BaseException) -> BaseException:
        """What the caller of one failed job is given for its `error` (a backend may translate
        the driver's error for a lost lock race into an error of its own)."""
        return error

    def _failure(self, error: BaseException) -> BaseException:
        """What the callers of a failed group are given for the driver's `error` (a backend may
        translate it into an error of its own)."""
        return error

    # -- the callers' side -----------------------------------------------------------------

    async def start(self) -> None:
        """Open the database and run `setup`; raises what setup raised."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._main, args=(loop, ready), name=self._name, daemon=True
        )
        self._thread.start()
        await ready

    def submit(self, fn: Callable[[C], T], *, isolate: bool = True) -> "asyncio.Future[T]":
        """Queue `fn`; the future resolves after the transaction holding it has committed.

        With `isolate` the job runs inside its own savepoint, so a job that raises after writing
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

    async def run(self, fn: Callable[[C], T], *, isolate: bool = True) -> T:
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
        opened: list[C] = []
        try:
            opened.append(self._connect())
            self._setup(opened[0])
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of start()
            self._closed = True
            for unused in opened:
                self._close(unused)
            loop.call_soon_threadsafe(_resolve, ready, None, exc)
            return
        conn = opened[0]
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
                    try:
                        self._rollback(conn)
                    except self.errors:
                        log.exception("%s: rollback failed", self._name)
                    _deliver_all(jobs, [(None, exc)] * len(jobs))
        finally:
            self._close(conn)
            # Anything queued after _STOP would otherwise wait forever.
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not _STOP:
                    _deliver(job, None, WriterClosed(f"{self._name} is closed"))

    def _run_group(self, conn: C, jobs: list[Job]) -> None:
        try:
            self._prepare(conn)
            self._begin(conn)
        except self.errors as exc:
            _deliver_all(jobs, [(None, self._failure(exc))] * len(jobs))
            return
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            for fn, _fut, _loop, isolate in jobs:
                if isolate:
                    self._savepoint(conn)
                try:
                    result = fn(conn)
                except Exception as exc:  # the job's own failure, handed back to its caller
                    if not self._survives(conn, isolate):
                        raise _GroupLost(exc) from exc
                    if isolate:
                        self._rollback_to_savepoint(conn)
                    outcomes.append((None, self._job_failure(exc)))
                else:
                    if isolate:
                        self._release_savepoint(conn)
                    outcomes.append((result, None))
            self._commit(conn)
        except self._group_failures as failure:
            cause = failure.cause if isinstance(failure, _GroupLost) else failure
            log.warning("%s: transaction of %d jobs failed: %s", self._name, len(jobs), cause)
            try:
                self._rollback(conn)
            except self.errors:
                log.exception("%s: rollback failed", self._name)
            _deliver_all(jobs, [(None, self._failure(cause))] * len(jobs))
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
