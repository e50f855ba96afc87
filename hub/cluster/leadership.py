"""This worker's part in the cluster's lead. The work that must run once per cluster (the scheduled
jobs, the ERP relay, catalog delivery to the stores, the availability webhooks' push) runs on the
worker that leads, for as long as it leads; every worker serves ingest, the API and the
dashboard.

`Leader.run(duties)` asks the storage port's lead (hub.storage.leadership) every
`[cluster] leader_check_s`: a worker that does not lead tries to take it, the leader checks that
it still has it. When this worker becomes the leader it starts `duties()` as a task (one INFO
line); when it stops leading it cancels that task at once (one INFO line), and starts it anew if
it leads again. It stops leading when its check fails (on PostgreSQL: the lock's connection was
lost, and with it the lock), when the database cannot be asked, or when a check has not answered
within CHECK_TIMEOUT_S. A duty that fails ends `run` with its error, as it ends a hub of one;
but duties that fail only because the hub database cannot be reached give the lead up, to take
it again once the database is back (their first writes, just as the lead was taken after an
outage, can meet a writer still waiting to reconnect).

How fast the lead moves: a leader that stops or is killed ends its session, and the server
releases the lock at once; another worker takes it at its next try, within `leader_check_s`. A
leader that lives but lost its connection learns it at its next check, so for up to one
`leader_check_s` the old and the new leader may both run their duties; each is safe to run
twice (the relay's claims re-check a posting's state, the jobs are idempotent).
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hub.errors import DatabaseUnreachable
from hub.storage import Database

log = logging.getLogger(__name__)

# A check that has not answered after this long counts as lost (the server may still hold the
# lock for us: then nobody leads until the check answers or the server drops the session).
CHECK_TIMEOUT_S = 5.0
WHAT = "the cluster's scheduled jobs, relay and catalog delivery"


class Leader:
    """Whether this worker leads (`leading`), and its duties run while it does."""

    def __init__(self, db: Database, worker_id: str, check_s: float,
                 on_change: Callable[[], None] | None = None) -> None:
        self._lead = db.leadership()
        self.worker_id = worker_id
        self.check_s = check_s
        self.on_change = on_change
        self.leading = False
        self.terms = 0  # how many times this worker has become the leader
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="hub-leadership")
        self._asking: asyncio.Future[bool] | None = None
        self._unreachable = False

    async def run(self, duties: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Lead whenever this worker can, until cancelled (then the lead is given up)."""
        term: asyncio.Task[None] | None = None
        try:
            while True:
                held = await self._ask()
                if held and term is None:
                    term = asyncio.create_task(duties(), name="leader-duties")
                    self._changed(True)
                elif not held and term is not None:
                    self._changed(False)
                    await _end(term)
                    term = None
                if term is not None and not term.done():
                    await asyncio.wait({term}, timeout=self.check_s)  # or until a duty fails
                else:
                    await asyncio.sleep(self.check_s)
                if term is not None and term.done() and not term.cancelled():
                    failed = term.exception()
                    if failed is not None:
                        term = None
                        self._changed(False)
                        if not _database_away(failed):
                            raise failed
                        log.warning("the leader's duties stopped, the hub database is away "
                                    "(%s): the lead is given up and taken again once it is "
                                    "back", _first(failed))
                        await self._release()
        finally:
            if term is not None:
                self._changed(False)
                await _end(term)
            await self._release()
            self._executor.shutdown(wait=False)

    def _changed(self, leading: bool) -> None:
        self.leading = leading
        if leading:
            self.terms += 1
            log.info("leading %s (worker %s)", WHAT, self.worker_id)
        else:
            log.info("no longer leading %s (worker %s)", WHAT, self.worker_id)
        if self.on_change is not None:
            self.on_change()

    async def _ask(self) -> bool:
        """Take or check the lead, in the lead's own thread; False when it cannot be had."""
        if self._asking is None:
            loop = asyncio.get_running_loop()
            self._asking = loop.run_in_executor(self._executor, self._lead.hold)
        done, _ = await asyncio.wait({self._asking}, timeout=CHECK_TIMEOUT_S)
        if not done:  # the same question is awaited again at the next check
            self._unreachable_now(f"no answer within {CHECK_TIMEOUT_S:g} s")
            return False
        asking, self._asking = self._asking, None
        try:
            held = asking.result()
        except DatabaseUnreachable as exc:
            self._unreachable_now(str(exc))
            return False
        if self._unreachable:
            log.info("the cluster's lead can be asked for again")
            self._unreachable = False
        return held

    def _unreachable_now(self, why: str) -> None:
        if not self._unreachable:
            log.warning("cannot ask for the cluster's lead: %s", why)
        self._unreachable = True

    async def _release(self) -> None:
        """Give the lead up (a check still running finishes first); do not wait long for it."""
        loop = asyncio.get_running_loop()
        released = loop.run_in_executor(self._executor, self._lead.release)
        await asyncio.wait({released}, timeout=CHECK_TIMEOUT_S)


async def _end(term: "asyncio.Task[None]") -> None:
    """Cancel the duties and wait until they have stopped (a failure on the way is logged)."""
    term.cancel()
    await asyncio.wait({term})
    if not term.cancelled() and term.exception() is not None:
        log.error("the leader's duties failed as they stopped: %s", term.exception())


def _database_away(error: BaseException) -> bool:
    """Whether the duties failed only because the hub database could not be reached (their
    first writes, say, just as the lead was taken after an outage)."""
    if isinstance(error, BaseExceptionGroup):
        return all(_database_away(e) for e in error.exceptions)
    return isinstance(error, DatabaseUnreachable)


def _first(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
