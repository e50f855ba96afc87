"""The ERP relay: sends due postings to the ERP under governance, one connector, many postings.

Per posting: the rules and the mapping first (a failure is an `exception`, nothing is sent), then a
token from the rate limiter, then the connector. The answer decides: posted; retry later with
exponential backoff and jitter (or exactly after the ERP's Retry-After, which also pauses every
other posting); dead with the ERP's reason. A circuit breaker stops calls after
`breaker_failures` failures in a row and probes with one posting after `breaker_open_s`. Nothing
is sent inside a maintenance window. Every attempt is recorded with its request digest.

Claims: the relay claims due postings as this worker (`[cluster] worker_id`) for
`erp.claim_lease_s`; due are pending postings and those whose claim's lease ended (a relay died
mid-send), so postings left by a dead worker are sent again by whichever relay comes next, under
the same idempotency key. In the hub it runs only on the worker that leads the cluster
(`leads`), and at its start takes back every unfinished claim at once (they are a former
leader's, or this hub's before a restart); a relay that does not lead (`leads=False`) takes back
only its own worker id's (on SQLite, one hub per database, every unfinished claim). An answer is recorded only under the claim it was sent under (hub.postings.store
says why).
"""

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from hub.config import HubConfig
from hub.erp.base import Catalog, Connector, Result
from hub.errors import DatabaseUnreachable, ErpUnavailable, Rejected
from hub.postings import governance, payloads
from hub.postings import store as postings
from hub.postings.store import PostingState
from hub.storage import Database, Transaction
from runtime.circuit import CircuitBreaker, CircuitState
from runtime.clock import SYSTEM, Clock
from runtime.ratelimit import TokenBucket
from runtime.secrets import scrub
from runtime.windows import Schedule

log = logging.getLogger(__name__)
_CACHE_S = 60.0
# How often the relay tries again while the hub database cannot be reached (PostgreSQL down).
_DB_RETRY_S = 1.0


class Relay:
    """The one sender of postings to the ERP: claims due postings, checks and maps them, sends
    them through the connector under the rate limit, circuit breaker and maintenance windows,
    records each attempt and outcome, and tells the store through `on_settled`."""

    def __init__(self, config: HubConfig, db: Database, connector: Connector,
                 poll_s: float = 0.5,
                 on_settled: Callable[[str, str, str | None], Awaitable[None]] | None = None,
                 clock: Clock = SYSTEM, leads: bool = False) -> None:
        self.config = config
        # Runs only while this worker leads the cluster (hub.cluster.leadership), so it is the
        # one relay: at its start every open claim is a former leader's, taken back at once.
        self.leads = leads
        self.clock = clock
        self.erp = config.erp
        self.worker = config.worker_id
        self.lease = dt.timedelta(seconds=config.erp.claim_lease_s)
        self.db = db
        self.connector = connector
        self.poll_s = poll_s
        self.on_settled = on_settled  # (posting_id, state, erp_ref) once posted, dead or exception
        self.bucket = TokenBucket(self.erp.rate_limit_per_s)
        self.breaker = CircuitBreaker(self.erp.breaker_failures, self.erp.breaker_open_s)
        self.schedule = Schedule(self.erp.maintenance_windows, self.erp.timezone)
        self.counters: Counter[str] = Counter()
        self.latency_sum = 0.0
        self.latency_count = 0
        self.in_flight: set[asyncio.Task[None]] = set()
        self._hold_until = 0.0
        self._wake = asyncio.Event()
        self._catalog: tuple[float, Catalog] | None = None
        self._closed: dict[dt.date, tuple[float, bool]] = {}
        self._paused_by: str | None = None
        self._next_change: dt.datetime | None = None
        self._db_down = False

    def wake(self) -> None:
        """New postings may be due (called after ingest commits, and by operators' actions)."""
        self._wake.set()

    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        window = self.schedule.closed_now(now)
        change = self._window_change(now)
        return {
            "connector": self.connector.name,
            "circuit": self.breaker.state,
            "in_flight": len(self.in_flight),
            "maintenance_window": window.text if window else None,
            # While inside a window: when posting resumes; otherwise when the next window starts.
            "window_changes_at": change.isoformat() if change else None,
            "paused_for_s": round(max(0.0, self._hold_until - time.monotonic()), 1),
            "counters": dict(self.counters),
        }

    def _window_change(self, now: dt.datetime) -> dt.datetime | None:
        """When posting next stops or resumes; the minute-by-minute search runs only once that
        moment has passed (status is read by every /healthz and dashboard refresh)."""
        if not self.schedule.windows:
            return None
        if self._next_change is None or self._next_change <= now:
            self._next_change = self.schedule.next_change(now)
        return self._next_change

    async def run(self) -> None:
        await self.connector.start()
        try:
            resumed = await self.db.run(functools.partial(
                postings.release_claims, worker=None if self.leads else self.worker,
                now=self.clock.now()))
            if resumed:
                log.info("ERP relay: %d postings were mid-send when %s stopped; sending again "
                         "under the same idempotency keys", resumed,
                         "the last relay" if self.leads else f"worker {self.worker}")
            released = await self.db.run(functools.partial(postings.release_kept,
                                                                now=self.clock.now()))
            if released:
                log.info("ERP relay: %d postings kept while there was no connector are now "
                         "pending", released)
            log.info("ERP relay started (%s, %.1f/s, %d in flight, worker %s, lease %g s)",
                     self.connector.name, self.erp.rate_limit_per_s, self.erp.max_in_flight,
                     self.worker, self.erp.claim_lease_s)
            await self._loop()
        finally:
            for task in self.in_flight:
                task.cancel()
            await asyncio.gather(*self.in_flight, return_exceptions=True)
            await self.connector.close()

    async def _loop(self) -> None:
        while True:
            blocked = self._blocked_for()
            if blocked:
                await self._sleep(blocked)
                continue
            free = self.erp.max_in_flight - len(self.in_flight)
            allowance = self.breaker.allowance()
            if allowance is not None:
                free = min(free, allowance)
            if free <= 0:
                await self._sleep(self.poll_s)
                continue
            now = self.clock.now()
            try:
                # The read says whether anything is due without a write; the claim then picks
                # in the writer (another worker's relay may have claimed some meanwhile).
                due = await postings.due(self.db.reads, now, free)
                claimed = await self.db.run(functools.partial(
                    postings.claim, now=now, limit=free, worker=self.worker,
                    until=now + self.lease)) if due else []
            except DatabaseUnreachable as exc:
                self._database_down(exc)
                await self._sleep(_DB_RETRY_S)
                continue
            self._database_down(None)
            if not claimed:
                await self._sleep(self.poll_s)
                continue
            for posting in claimed:
                self.breaker.started()
                task = asyncio.create_task(self._deliver(posting), name=f"post-{posting.posting_id}")
                self.in_flight.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: "asyncio.Task[None]") -> None:
        self.in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ERP relay: delivery task failed", exc_info=task.exception())
        self._wake.set()

    def _blocked_for(self) -> float:
        """Seconds to wait before sending anything (maintenance window, Retry-After, open circuit)."""
        window = self.schedule.closed_now(self.clock.now())
        reason, wait = None, 0.0
        if window is not None:
            reason, wait = f"maintenance window {window.text}", 30.0
        elif self._hold_until > time.monotonic():
            reason, wait = "ERP asked to retry later", self._hold_until - time.monotonic()
        elif self.breaker.state == CircuitState.OPEN:
            reason, wait = "circuit open", self.breaker.seconds_until_probe()
        if reason != self._paused_by:
            if reason:
                log.warning("ERP relay paused: %s", reason)
            else:
                log.info("ERP relay resumed")
            self._paused_by = reason
        return min(wait, 30.0) if reason else 0.0

    async def _sleep(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
        # arrives as the wake-up does, and the relay would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.01)):
                await self._wake.wait()
        self._wake.clear()

    async def _deliver(self, claimed: postings.Claimed) -> None:
        payload = payloads.decode(claimed.payload)
        try:
            governance.check(payload, rounding=self.config.postings.rounding,
                             closed_through=self.config.postings.closed_through,
                             erp_closed=await self._day_closed(payload.business_day))
            mapped = governance.to_erp(payload, self.erp.mapping, await self._erp_catalog())
        except Rejected as exc:
            self.breaker.neutral()
            self.counters["exception"] += 1
            log.warning("posting %s (%s %s %s) held as an exception: %s", claimed.posting_id,
                        payload.kind, payload.store_id, payload.business_day, exc)
            if await self._write(claimed.posting_id, functools.partial(
                    postings.settle, claimed=claimed, worker=self.worker,
                    state=PostingState.EXCEPTION, now=self.clock.now(), reason=str(exc))):
                await self._tell(claimed.posting_id, PostingState.EXCEPTION, None)
            return
        except ErpUnavailable as exc:
            await self._settle(claimed, "", self.clock.now(), 0.0, Result(
                "retry", reason=f"cannot check the posting against the ERP: {exc}", failure=True))
            return
        await self.bucket.acquire()
        body = payloads.encode(mapped)
        digest = hashlib.sha256(body.encode()).hexdigest()
        started, t0 = self.clock.now(), time.perf_counter()
        try:
            result = await self.connector.post(mapped)
        except Exception as exc:
            log.exception("ERP connector %s failed on %s", self.connector.name, claimed.posting_id)
            result = Result("retry", reason=f"connector error: {exc.__class__.__name__}: {exc}",
                            failure=True)
        await self._settle(claimed, digest, started, time.perf_counter() - t0, result)

    async def _settle(self, claimed: postings.Claimed, digest: str, started: dt.datetime,
                      latency: float, result: Result) -> None:
        now = self.clock.now()
        # An ERP may echo what it was sent (a token) in its answer: never store or show that.
        result = msgspec.structs.replace(
            result, reason=scrub(result.reason) if result.reason else result.reason,
            answer=scrub(result.answer) if result.answer else result.answer)
        self.counters[result.outcome] += 1
        if digest:
            self.latency_sum += latency
            self.latency_count += 1
        if result.outcome == "retry":
            if result.failure:
                self.breaker.failure()
            else:
                self.breaker.neutral()
            if result.retry_after is not None:
                wait = result.retry_after
                self._hold_until = max(self._hold_until, time.monotonic() + wait)
            else:
                ceiling = min(self.erp.retry_max_s, self.erp.retry_initial_s * 2 ** (claimed.attempts - 1))
                wait = random.uniform(ceiling / 2, ceiling)
            log.info("posting %s: %s; retry in %.1f s", claimed.posting_id, result.reason, wait)
            state = PostingState.PENDING
            change = functools.partial(postings.settle, claimed=claimed, worker=self.worker,
                                       state=state, now=now, reason=result.reason,
                                       next_attempt=now + dt.timedelta(seconds=wait))
        else:
            self.breaker.success()
            state = PostingState.POSTED if result.outcome == "posted" else PostingState.DEAD
            if state == PostingState.DEAD:
                log.warning("posting %s is dead: %s", claimed.posting_id, result.reason)
            change = functools.partial(postings.settle, claimed=claimed, worker=self.worker,
                                       state=state, now=now, reason=result.reason,
                                       erp_ref=result.erp_ref, answer=result.answer)

        def write(conn: Transaction) -> bool:
            # The call happened whoever holds the claim now: its attempt is recorded either way.
            postings.record_attempt(conn, claimed.posting_id, claimed.attempts, started, digest,
                                    result.status, result.outcome, result.answer or result.reason,
                                    round(latency * 1000))
            return change(conn)

        if await self._write(claimed.posting_id, write) and state != PostingState.PENDING:
            await self._tell(claimed.posting_id, state, result.erp_ref)

    async def _write(self, pid: str, job: Callable[[Transaction], bool]) -> bool:
        """Write a posting's outcome under its claim; while the database cannot be reached,
        keep it and try again (the ERP has answered: its answer must not be lost). False when
        the claim was lost meanwhile and nothing but the attempt was written."""
        while True:
            try:
                settled = await self.db.run(job)
            except DatabaseUnreachable as exc:
                self._database_down(exc)
                await asyncio.sleep(_DB_RETRY_S)
            else:
                self._database_down(None)
                break
        if not settled:
            self.counters["claim_lost"] += 1
            log.warning("posting %s: worker %s's claim ended (erp.claim_lease_s = %g) before "
                        "the outcome could be written; left to the posting's next claim",
                        pid, self.worker, self.erp.claim_lease_s)
        return settled

    def _database_down(self, error: DatabaseUnreachable | None) -> None:
        """One WARNING when the hub database cannot be reached, one INFO when it can again."""
        if error is not None and not self._db_down:
            log.warning("ERP relay paused: %s", error)
        elif error is None and self._db_down:
            log.info("ERP relay: the hub database is reachable again")
        self._db_down = error is not None

    async def _tell(self, pid: str, state: str, erp_ref: str | None) -> None:
        if self.on_settled is not None:
            try:
                await self.on_settled(pid, state, erp_ref)
            except Exception:  # the store's receipt is a courtesy; the posting stands
                log.exception("telling the store about posting %s failed", pid)

    async def _erp_catalog(self) -> Catalog:
        if self._catalog is None or time.monotonic() - self._catalog[0] > _CACHE_S:
            self._catalog = (time.monotonic(), await self.connector.catalog())
        return self._catalog[1]

    async def _day_closed(self, day: dt.date) -> bool:
        cached = self._closed.get(day)
        if cached is None or time.monotonic() - cached[0] > _CACHE_S:
            cached = (time.monotonic(), await self.connector.day_closed(day))
            self._closed[day] = cached
        return cached[1]
