"""The hub workers sharing one database, each with its row in the workers table
(hub.storage.workers): this worker writes its own every `[cluster] heartbeat_s` through the
writer, and at once when it starts or stops leading; a worker that stops cleanly removes its
row. A row not written for `[cluster] gone_after_s` is a worker gone (killed, its machine lost,
cut off from the database): shown greyed, never as the leader, and dropped after a day.

The leader's heartbeat clears the leading mark of every other row: the leader holds the lock
(hub.cluster.leadership), so any other mark is a past leader's that could not clear its own.
"""

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from hub.config import HubConfig
from hub.errors import DatabaseUnreachable
from hub.storage import Database, Transaction
from hub.storage.workers import Worker
from runtime.clock import Clock, stamp

log = logging.getLogger(__name__)

PRUNE_AFTER = dt.timedelta(days=1)


class Workers:
    """This worker's heartbeat (`run`), and every worker as the dashboard, `GET /v1/workers` and
    /metrics show them (`listing`). `batches` and `leading` read this worker's figures now."""

    def __init__(self, config: HubConfig, db: Database, clock: Clock, *,
                 batches: Callable[[], int], leading: Callable[[], bool]) -> None:
        self.worker_id = config.worker_id
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.heartbeat_s = config.cluster.heartbeat_s
        self.gone_after_s = config.cluster.gone_after_s
        self.db = db
        self.clock = clock
        self.batches = batches
        self.leading = leading
        self.started_at = stamp(clock.now())
        self._wake = asyncio.Event()
        self._db_down = False

    def wake(self) -> None:
        """Write the row now (this worker started or stopped leading)."""
        self._wake.set()

    async def run(self) -> None:
        """Write this worker's row every heartbeat_s (or when woken), until cancelled."""
        while True:
            self._wake.clear()
            await self.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.heartbeat_s)

    async def beat(self) -> None:
        now = self.clock.now()
        me = Worker(self.worker_id, self.host, self.pid, self.started_at, stamp(now),
                    self.batches(), self.leading())
        try:
            await self.db.run(functools.partial(_beat, worker=me,
                                                prune_before=stamp(now - PRUNE_AFTER)))
        except DatabaseUnreachable as exc:
            if not self._db_down:
                log.warning("worker %s: its heartbeat waits for the hub database: %s",
                            self.worker_id, exc)
            self._db_down = True
            return
        if self._db_down:
            log.info("worker %s: heartbeat written again", self.worker_id)
        self._db_down = False

    async def goodbye(self) -> None:
        """This worker stops: its row goes (a stop is not a worker gone)."""
        await self.db.run(functools.partial(_forget, worker_id=self.worker_id))

    async def listing(self) -> list[dict[str, Any]]:
        """Every worker known, the longest running first: its row, how long ago it was heard
        (`heartbeat_age_s`), whether it is `gone`, whether it `leads` and whether it is `this`
        worker (which says whether it leads itself, the others by their rows)."""
        now = self.clock.now()
        found = []
        for w in await self.db.reads.workers.listing():
            age = (now - dt.datetime.fromisoformat(w.heartbeat_at)).total_seconds()
            this = w.worker_id == self.worker_id
            gone = age > self.gone_after_s and not this
            found.append({**w._asdict(), "heartbeat_age_s": round(max(0.0, age), 1),
                          "gone": gone, "this": this,
                          "leading": self.leading() if this else w.leading and not gone})
        return found


def _beat(tx: Transaction, *, worker: Worker, prune_before: str) -> None:
    tx.workers.beat(worker)
    if worker.leading:
        tx.workers.not_leading_but(worker.worker_id)
    tx.workers.prune(prune_before)


def _forget(tx: Transaction, *, worker_id: str) -> None:
    tx.workers.forget(worker_id)
