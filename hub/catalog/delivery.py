"""Catalog versions on their way to the stores: each online store is sent the newest version
meant for it (its newest open publication target) as a delta from the version it has, or a
snapshot, in chunks; the store's acks move its target on (hub.catalog.publishing).

When a store is sent something:
- a publication made it a target (`wake`, and a poll every POLL_S for publications made by a
  command line), or its ack asked for the version again ("resend");
- it came online, or its retained state was heard for the first time since the hub started;
- the version was handed over `[catalog] ack_timeout_s` ago and the store has not applied it,
  or the store fell silent in the middle of it that long ago (a failed version is tried again
  only when the store comes back online).

Flow control: chunks go to a store only `WINDOW` parts ahead of what it says it holds (its
"receiving" acks), so neither the broker nor the store's agent queue a 50 MB version; at most
`PARALLEL` stores are sent to at once; a store that goes offline is left until it is back (it
keeps the parts it has, and the hub goes on from there). Content is read and encoded in a thread
(hub.catalog.content) and kept while stores still need it: stores with the same books at the
same versions get the same bytes, built once.

While the hub database cannot be reached (PostgreSQL restarting), nothing is sent: one WARNING,
one INFO when it is back, and the next poll goes on from what the database then says.
"""

import asyncio
import datetime as dt
import functools
import logging
import time
from collections import Counter, OrderedDict
from typing import Any, Protocol

from hub.catalog import content, publishing
from hub.config import CatalogConfig
from hub.errors import DatabaseUnreachable
from hub.storage import Database
from hub.storage.store_catalogs import OpenTarget
from hub.storage.version_content import ContentReader
from protocol import chunking, codec
from protocol.chunking import WINDOW
from protocol.messages import CatalogAck, StoreState
from runtime.clock import Clock

log = logging.getLogger(__name__)

POLL_S = 1.0
PARALLEL = 16
PROGRESS_TIMEOUT_S = 30.0      # no word from a store sent to for this long: try again later
CACHE_BYTES = 160 * 1024 * 1024


class Outlet(Protocol):
    """Where chunks go out: hub.ingest.outbound.Outbound."""

    @property
    def connected(self) -> bool: ...

    async def catalog(self, store_id: str, payload: bytes) -> bool: ...


class Copy:
    """One version's content for one plan, as encoded chunk messages."""

    def __init__(self, key: tuple[Any, ...], version: int, digest: str, chunks: list[bytes],
                 counts: dict[str, int]) -> None:
        self.key, self.version, self.digest = key, version, digest
        self.chunks, self.counts = chunks, counts
        self.size = sum(len(c) for c in chunks)


class Delivery:
    """Sends catalog versions to the stores (see the module docstring). `run()` for as long as
    the hub serves; `on_store_state` and `on_catalog_ack` from ingest (hub.ingest.receiver)."""

    def __init__(self, db: Database, config: CatalogConfig, outlet: Outlet, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.outlet = outlet
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self.progress_timeout_s = PROGRESS_TIMEOUT_S
        self._wake = asyncio.Event()
        self._online: dict[str, bool] = {}
        self._said: dict[str, int] = {}  # store -> the catalog version its state last named
        self._fresh: set[str] = set()
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._copy_sent: dict[str, tuple[int, str]] = {}  # store -> (version, digest) last sent
        self._held: dict[str, int] = {}  # store -> parts of that copy it says it holds
        self._quiet: dict[str, dt.datetime] = {}  # store -> when a silent store is tried again
        self._heard: dict[str, asyncio.Event] = {}
        self._copies: OrderedDict[tuple[Any, ...], Copy] = OrderedDict()
        self._building: dict[tuple[Any, ...], asyncio.Future[Copy | None]] = {}
        self._db_down = False

    def wake(self) -> None:
        """Something may be due now (a publication was made)."""
        self._wake.set()

    @property
    def sending(self) -> list[str]:
        """The stores being sent to just now."""
        return sorted(self._sending)

    async def drain(self) -> None:
        """Wait until nothing is being sent (tests, a clean stop)."""
        while self._sending:
            await asyncio.gather(*self._sending.values(), return_exceptions=True)

    # --- what the stores say (hub.ingest.receiver.StoreListener) ---

    def on_store_state(self, state: StoreState) -> None:
        store = state.store_id
        before = self._online.get(store)
        self._online[store] = state.online
        if state.online and not before:
            self._fresh.add(store)
        # A store repeats its state every few seconds: only what it says anew is written down.
        if state.catalog_version is not None and (
                self._said.get(store) != state.catalog_version or not before):
            self._said[store] = state.catalog_version
            now = self.clock.now()
            done = self.db.submit(functools.partial(publishing.reported, state=state, now=now))
            done.add_done_callback(self._after_job)
        elif state.online and not before:
            self.wake()
        if not state.online:
            self._nudge(store)

    def on_catalog_ack(self, ack: CatalogAck) -> None:
        if ack.state == "receiving":
            sent = self._copy_sent.get(ack.store_id)
            if sent is not None and sent[0] == ack.version:
                self._held[ack.store_id] = ack.part or 0
            self._nudge(ack.store_id)
            return
        self._copy_sent.pop(ack.store_id, None)
        if ack.state == "resend":
            self.counters["resends_asked"] += 1
            self._fresh.add(ack.store_id)
            log.info("store %s asks for catalog version %d again (%s)", ack.store_id,
                     ack.version, ack.reason or "no reason given")
        elif ack.state == "failed":
            log.warning("store %s cannot apply catalog version %d: %s", ack.store_id,
                        ack.version, ack.reason)
        done = self.db.submit(functools.partial(publishing.on_ack, ack=ack, now=self.clock.now()))
        done.add_done_callback(self._after_job)
        self._nudge(ack.store_id)

    def _after_job(self, future: "asyncio.Future[Any]") -> None:
        if not future.cancelled() and future.exception() is not None:
            log.warning("recording what a store said of its catalog failed: %s",
                        future.exception())
        self.wake()

    def _nudge(self, store_id: str) -> None:
        heard = self._heard.get(store_id)
        if heard is not None:
            heard.set()

    # --- sending ---

    async def run(self) -> None:
        """Send until cancelled (on a cluster's worker: while it leads); then every send in
        progress stops too (a store keeps the parts it has, and is sent the rest later)."""
        try:
            await self._run()
        finally:
            for task in list(self._sending.values()):
                task.cancel()
            await asyncio.gather(*self._sending.values(), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            except TimeoutError:
                pass
            self._wake.clear()
            if not self.outlet.connected:
                continue
            try:
                await self.dispatch()
            except DatabaseUnreachable as exc:
                if not self._db_down:
                    log.warning("catalog delivery paused: %s", exc)
                self._db_down = True
                continue
            if self._db_down:
                log.info("catalog delivery: the hub database is reachable again")
            self._db_down = False

    async def dispatch(self) -> None:
        """Start sending to every store something is due for (up to PARALLEL at once)."""
        now = self.clock.now()
        targets = await self.db.reads.store_catalogs.open_targets()
        wanted = {t.version for t in targets}
        for key in [k for k, c in self._copies.items() if c.version not in wanted]:
            del self._copies[key]
        fresh, self._fresh = self._fresh, set()
        for target in targets:
            store = target.store_id
            if store in self._sending:
                if store in fresh:
                    self._fresh.add(store)  # asked again while being sent: once it is done
                continue
            if self._online.get(store) is False:
                continue
            if not self._due(target, now, store in fresh):
                continue
            if len(self._sending) >= PARALLEL:
                self._fresh.add(store)  # next round, whatever its timers say
                continue
            task = asyncio.create_task(self._send(target), name=f"catalog-{store}")
            self._sending[store] = task

    def _due(self, t: OpenTarget, now: dt.datetime, fresh: bool) -> bool:
        if fresh and t.applied_version != t.version:
            return True
        if now < self._quiet.get(t.store_id, now):
            return False
        if t.state == "pending":
            return True
        age = (now - dt.datetime.fromisoformat(t.updated_at)).total_seconds()
        return t.state == "delivered" and age >= self.config.ack_timeout_s

    async def _send(self, target: OpenTarget) -> None:
        store, version = target.store_id, target.version
        try:
            copy = await self._copy(target)
            if copy is None:
                await self.db.run(functools.partial(
                    publishing.failed, store_id=store, version=version, now=self.clock.now(),
                    reason=f"version {version} is no longer kept ([catalog] keep_versions): "
                           "publish again to this store"))
                return
            if await self._stream(store, copy):
                await self.db.run(functools.partial(publishing.sent, store_id=store,
                                                    version=version, now=self.clock.now()))
                self.counters["versions_sent"] += 1
                log.info("catalog version %d sent to store %s (%s, %d chunks)", version, store,
                         "snapshot" if copy.key[0] is None else f"delta from {copy.key[0]}",
                         len(copy.chunks))
        except Exception:
            log.exception("sending catalog version %d to store %s failed", version, store)
        finally:
            del self._sending[store]
            self._heard.pop(store, None)
            self.wake()

    async def _stream(self, store: str, copy: Copy) -> bool:
        """Hand the copy's chunks to the broker, WINDOW ahead of what the store holds; False
        when the store or the session went away first (it is tried again later)."""
        heard = self._heard.setdefault(store, asyncio.Event())
        parts = len(copy.chunks)
        if self._copy_sent.get(store) != (copy.version, copy.digest):
            self._copy_sent[store] = (copy.version, copy.digest)
            self._held[store] = 0
        next_part = min(self._held.get(store, 0), parts)  # it keeps what it has of this copy
        while next_part < parts:
            if self._online.get(store) is False:
                return False
            if next_part - self._held.get(store, 0) >= WINDOW:
                heard.clear()
                try:
                    await asyncio.wait_for(heard.wait(), self.progress_timeout_s)
                except TimeoutError:
                    log.warning("store %s said nothing of catalog version %d for %.0f s; "
                                "trying again in %.0f s", store, copy.version,
                                self.progress_timeout_s, self.config.ack_timeout_s)
                    self._quiet[store] = self.clock.now() + dt.timedelta(
                        seconds=self.config.ack_timeout_s)
                    return False
                continue
            if not await self.outlet.catalog(store, copy.chunks[next_part]):
                return False
            self._quiet.pop(store, None)
            next_part += 1
            self.counters["chunks_sent"] += 1
            self.counters["bytes_sent"] += len(copy.chunks[next_part - 1])
        return True

    async def _copy(self, target: OpenTarget) -> Copy | None:
        """The chunks to bring the store from its applied version to the target's: kept, or
        read and encoded in a thread (once for every store that needs the same)."""
        reads = self.db.reads.publications
        head = await reads.version(target.version)
        if head is None or head.pruned:
            return None
        since = (await reads.version(target.applied_version)
                 if target.applied_version is not None else None)
        key = content.plan(target.store_id, head, since).key
        found = self._copies.get(key)
        if found is not None:
            self._copies.move_to_end(key)
            return found
        building = self._building.get(key)
        if building is None:
            building = asyncio.ensure_future(self.db.read_content(functools.partial(
                self._build, store_id=target.store_id, version=target.version,
                since=target.applied_version)))
            self._building[key] = building
            building.add_done_callback(lambda _f: self._building.pop(key, None))
        copy = await asyncio.shield(building)
        if copy is not None:
            self._keep(copy)
        return copy

    def _build(self, reader: ContentReader, store_id: str, version: int,
               since: int | None) -> Copy | None:
        """In a thread: plan again inside one read transaction (a base pruned meanwhile makes
        it a snapshot), encode, split, encode each chunk."""
        started = time.perf_counter()
        plan = content.plan_in(reader, store_id, since, version)
        if plan is None:
            return None
        payload, counts = content.encode(reader, plan)
        chunks = [codec.encode_catalog(c) for c in chunking.parts(payload, version,
                                                                   self.config.chunk_bytes)]
        self.counters["build_ms"] += round((time.perf_counter() - started) * 1000)
        self.counters["copies_built"] += 1
        return Copy(plan.key, version, chunking.digest(payload), chunks, counts)

    def _keep(self, copy: Copy) -> None:
        self._copies[copy.key] = copy
        self._copies.move_to_end(copy.key)
        total = sum(c.size for c in self._copies.values())
        while total > CACHE_BYTES and len(self._copies) > 1:
            _key, old = self._copies.popitem(last=False)
            total -= old.size
