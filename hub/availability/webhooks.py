"""The change feed pushed to a channel's `webhook_url` (docs/availability.md#push): the hub
reads the feed as a polling connector would, from the cursor the receiver last acknowledged,
and POSTs each page; a 2xx moves the cursor on (kept in the database, so a restart resumes
there). Anything else is retried with exponential backoff and jitter, and after
`BREAKER_FAILURES` failures in a row a circuit breaker stops calling for `BREAKER_OPEN_S`, then
probes with one page. Delivery is at least once: a page may come again (after a timeout whose
answer was lost, a restart between the 2xx and the saved cursor), and applying a figure twice
is harmless, since each is the SKU's figure now. While the hub database cannot be reached
(PostgreSQL restarting) a push waits, with one WARNING, and goes on from its cursor.
"""

import asyncio
import functools
import logging
from collections import Counter
from typing import Any

import aiohttp

from hub.availability.service import Availability
from hub.errors import AvailabilityError, DatabaseUnreachable
from hub.storage import Transaction
from runtime.backoff import Backoff
from runtime.circuit import CircuitBreaker, CircuitState
from runtime.clock import stamp

log = logging.getLogger(__name__)

PAGE = 500
POLL_S = 0.5  # how often an idle push looks for new changes: the push's lag beyond the feed's
TIMEOUT_S = 10.0
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 60.0
BREAKER_FAILURES = 5
BREAKER_OPEN_S = 30.0


class Webhooks:
    """One push per channel with a `webhook_url`; `run()` drives them all until cancelled."""

    def __init__(self, service: Availability, *, poll_s: float = POLL_S,
                 retry_initial_s: float = RETRY_INITIAL_S, retry_max_s: float = RETRY_MAX_S,
                 breaker_failures: int = BREAKER_FAILURES,
                 breaker_open_s: float = BREAKER_OPEN_S) -> None:
        self.service = service
        self.poll_s = poll_s
        self.channels = [name for name, ch in service.config.channels.items() if ch.webhook_url]
        self.backoff = {name: Backoff(retry_initial_s, retry_max_s) for name in self.channels}
        self.breakers = {name: CircuitBreaker(breaker_failures, breaker_open_s)
                         for name in self.channels}
        self.counters: dict[str, Counter[str]] = {name: Counter() for name in self.channels}
        self.cursors: dict[str, int] = {}
        self._db_down: set[str] = set()  # channels whose push waits for the database

    async def run(self) -> None:
        """Push until cancelled (on a cluster's worker: while it leads), each channel from its
        cursor in the database (another worker may have pushed since this one last did)."""
        if not self.channels:
            return
        self.cursors.clear()
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http, asyncio.TaskGroup() as tasks:
            for name in self.channels:
                tasks.create_task(self._push(http, name), name=f"webhook-{name}")

    async def _push(self, http: aiohttp.ClientSession, channel: str) -> None:
        url = self.service.config.channels[channel].webhook_url
        token = self.service.config.webhook_token(channel)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        breaker, backoff = self.breakers[channel], self.backoff[channel]
        while channel not in self.cursors:
            try:
                self.cursors[channel] = await self.service.db.reads.availability.webhook_cursor(
                    channel)
            except DatabaseUnreachable as exc:
                await self._paused(channel, exc)
        state = breaker.state
        while True:
            if breaker.allowance() == 0:
                await asyncio.sleep(max(0.05, breaker.seconds_until_probe()))
                continue
            try:
                page = await self._page(channel)
            except DatabaseUnreachable as exc:
                await self._paused(channel, exc)
                continue
            if channel in self._db_down:
                self._db_down.discard(channel)
                log.info("channel %s: the push goes on, the hub database is reachable again",
                         channel)
            if not page["changes"]:  # nothing of this channel's: skip past it, post nothing
                self.cursors[channel] = page["next_cursor"]
                await asyncio.sleep(self.poll_s)
                continue
            breaker.started()
            if await self._post(http, url, headers, channel, page):
                breaker.success()
                backoff.reset()
                try:
                    await self._acknowledged(channel, page["next_cursor"])
                except DatabaseUnreachable as exc:  # saved with a later page (at least once)
                    await self._paused(channel, exc)
            else:
                breaker.failure()
                await asyncio.sleep(backoff.next_delay())
            if breaker.state != state:
                level = logging.INFO if breaker.state == CircuitState.CLOSED else logging.WARNING
                log.log(level, "channel %s: the push's circuit is %s", channel, breaker.state)
                state = breaker.state

    async def _page(self, channel: str) -> dict[str, Any]:
        try:
            return await self.service.changes(channel, self.cursors[channel], PAGE)
        except AvailabilityError as exc:  # 410: the database went back (a restored backup)
            log.warning("channel %s: the push's cursor %d is ahead of the feed (%s); pushing "
                        "again from 0", channel, self.cursors[channel], exc)
            self.cursors[channel] = 0
            return await self.service.changes(channel, 0, PAGE)

    async def _post(self, http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                    channel: str, page: dict[str, Any]) -> bool:
        try:
            async with http.post(url, json=page, headers=headers) as r:
                await r.read()
                ok = 200 <= r.status < 300
                if not ok:
                    log.debug("channel %s: push answered %d", channel, r.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("channel %s: push failed: %s", channel, exc)
            ok = False
        self.counters[channel]["pushed" if ok else "failed"] += 1
        return ok

    async def _paused(self, channel: str, error: DatabaseUnreachable) -> None:
        if channel not in self._db_down:
            log.warning("channel %s: the push waits for the hub database: %s", channel, error)
            self._db_down.add(channel)
        await asyncio.sleep(self.poll_s)

    async def _acknowledged(self, channel: str, cursor: int) -> None:
        self.cursors[channel] = cursor
        await self.service.db.run(functools.partial(
            _save, channel=channel, cursor=cursor, now=stamp(self.service.clock.now())))

    def behind(self, channel: str, last_cursor: int) -> int:
        """Feed cursors not yet pushed (some may be other channels': an upper bound)."""
        return max(0, last_cursor - self.cursors.get(channel, 0))


def _save(tx: Transaction, *, channel: str, cursor: int, now: str) -> None:
    tx.availability.set_webhook_cursor(channel, cursor, now)
