"""Ingest: receive store batches and states over MQTT and apply them; outbound.py acks what is durable.
Store states and catalog acks are handed on to a listener as well (catalog delivery).

Messages are decoded and checked on the event loop; bad ones are quarantined. Good batches go to
the single writer (group commit across stores). Only after a batch's transaction has committed
is its outcome handed to `Outbound`, which publishes the cumulative ack ("applied through seq N
of stream S") to the store.
A probe the hub sends itself shows that its session still hears (runtime.hearing): when nothing
reaches it for `ingest.deaf_after_s`, the session is torn down and made again. The session itself
(reconnects, connection state, online/offline and the last will) is runtime.mqtt_session's.
"""

import asyncio
import datetime as dt
import functools
import itertools
import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from typing import Any, Protocol

import aiomqtt

from hub.config import HubConfig
from hub.errors import DatabaseUnreachable, StoreBusy, WriteConflict
from hub.ingest import quarantine
from hub.ingest.eventlog import Outcome, Sequencer
from hub.ingest.outbound import Outbound
from hub.ingest.peers import Peers
from hub.ledger import fleet
from hub.postings import store as postings
from hub.storage import Database, Lane, Transaction
from protocol import codec
from protocol.errors import PayloadError, ProtocolError, TopicError
from protocol.messages import Batch, CatalogAck, StoreState
from protocol.topics import Topics
from runtime.clock import SYSTEM, Clock, stamp
from runtime.config import broker_address
from runtime.hearing import Hearing
from runtime.mqtt_session import Login, MqttSession

log = logging.getLogger(__name__)
# A batch whose store another hub worker is applying (StoreBusy), or whose transaction lost a
# deadlock to another worker's (WriteConflict), is tried again after a pause that grows from
# BUSY_PAUSE_S (drawn at random, so two workers do not retry in step) by BUSY_BACKOFF up to
# BUSY_PAUSE_MAX_S, for BUSY_GIVE_UP_S at most: another worker's transaction holds a store for
# one group commit, well under that. Then it is dropped unacked and the store sends it again
# after its ack timeout (10 s by default), which is what the retries spare it.
BUSY_PAUSE_S = (0.02, 0.05)
BUSY_BACKOFF = 1.5
BUSY_PAUSE_MAX_S = 0.5
BUSY_GIVE_UP_S = 5.0
STATE_TRIES = 8  # a store's state (advisory: the next one replaces it) gives up sooner


def replay_grace(config: HubConfig) -> float:
    """`ingest.replay_grace_s`, or its default: at once alone, 1 s beside other workers."""
    grace = config.ingest.replay_grace_s
    if grace is not None:
        return grace
    return 1.0 if config.cluster.shared_group else 0.0


def check_batch(batch: Batch, topic_store: str) -> None:
    """Refuse a batch that claims another store, mixes streams, or is out of order."""
    if batch.store_id != topic_store:
        raise PayloadError(f"batch store_id {batch.store_id!r} differs from topic's {topic_store!r}")
    previous = 0
    for env in batch.events:
        if env.store_id != topic_store:
            raise PayloadError(f"event store_id {env.store_id!r} differs from topic's {topic_store!r}")
        if env.stream != batch.stream:
            raise PayloadError(f"event stream {env.stream!r} differs from batch's {batch.stream!r}")
        if env.seq <= previous:
            raise PayloadError(f"seq {env.seq} is not after {previous}")
        previous = env.seq


class StoreListener(Protocol):
    """Who else hears what the stores say: catalog delivery (hub.catalog.delivery). Called on
    the event loop; it must not block."""

    def on_store_state(self, state: StoreState) -> None: ...

    def on_catalog_ack(self, ack: CatalogAck) -> None: ...


class Ingest:
    def __init__(self, config: HubConfig, db: Database, broker_url: str,
                 clock: Clock = SYSTEM) -> None:
        self.config = config
        self.clock = clock
        self.db = db
        self.topics = Topics(config.topic_prefix)
        address = broker_address(broker_url, path=config.source, key="broker.url")
        tls = config.broker_client_tls() if address.tls else None
        self.sequencer = Sequencer(config.ingest.max_held_events,
                                   config.ingest.replay_min_interval_s, config.postings,
                                   clock, limits=config.ingest,
                                   posting_state=postings.waiting_state(config.erp.connector),
                                   replay_grace_s=replay_grace(config))
        self._slots = asyncio.Semaphore(config.ingest.max_pending_batches)
        self._queued: dict[tuple[str, str], list[tuple[Batch, str]]] = {}
        self._queue_lock = threading.Lock()
        # Per stream busy at another worker: since when, and the next pause.
        self._busy_tries: dict[tuple[str, str], tuple[float, float]] = {}
        group = config.cluster.shared_group
        worker = config.worker_id if group else None
        self.outbound = Outbound(self.topics, clock, worker)
        login = Login(address.host, address.port, username=config.broker.username,
                      password=config.hub_password,
                      # Workers of one hub: a client id each, or the broker would let the
                      # newest take the others' session over.
                      identifier=(f"{config.broker.client_id}-{worker}" if worker
                                  else config.broker.client_id),
                      # Short, so the broker announces a crashed hub (the will) within ~15 s.
                      keepalive_s=10, tls=tls, will=self.outbound.will(),
                      clean_session=worker is not None)
        self.hearing = Hearing(clock, "hub")
        events = self.topics.every_store("events")
        # Several workers share the events (each batch to one of them); every worker hears the
        # stores' states and catalog acks, which only update what the database says.
        topics: tuple[str, ...] = (
            self.topics.shared(group, events) if group else events,
            self.topics.every_store("state"), self.topics.every_store("catalog-ack"),
            self.topics.hub_probe())
        # The other workers' states: one that goes away leaves batches for us to ask again.
        self.peers = Peers(self.topics, worker, self.outbound, clock) if worker else None
        if self.peers is not None:
            topics += (self.peers.topic,)
        # One client to a broker usually next door: retry soon, so a backlog starts draining
        # within ~2 s of the broker coming back (bench.partition).
        self.session = MqttSession(self, login, topics, hearing=self.hearing, clock=clock,
                                   retry_initial_s=0.2, retry_max_s=2.0)
        self.counters: Counter[str] = Counter()
        self.gaps_by_store: Counter[str] = Counter()
        self._probe_token = b""
        self._listener: StoreListener | None = None

    def listen(self, listener: "StoreListener") -> None:
        """Hand each store state and catalog ack to `listener` as well (catalog delivery)."""
        self._listener = listener

    @property
    def connected(self) -> bool:
        return self.session.connected

    @property
    def disconnected_at(self) -> dt.datetime | None:
        """When the last session ended; None while not yet connected since start."""
        return self.session.disconnected_at

    async def run(self) -> None:
        await self.session.run()

    # The session's side (runtime.mqtt_session.Side).

    async def on_connected(self, client: aiomqtt.Client) -> None:
        self.outbound.attach(client)

    async def announce(self, client: aiomqtt.Client, *, online: bool) -> None:
        await self.outbound.announce(client, online=online)

    def session_tasks(self, client: aiomqtt.Client) -> dict[str, Coroutine[Any, Any, None]]:
        return {"ingest-acks": self.outbound.send_acks(client),
                "ingest-probe": self._probe(client)}

    async def on_message(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        data = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
        topic = message.topic.value
        if self.peers is not None and self.peers.owns(topic):
            try:
                await self.peers.on_state(self.db.reads, topic, data, retained=message.retain)
            except DatabaseUnreachable as exc:  # the stores resend after their ack timeout
                log.warning("could not ask the stores to send again: %s", exc)
            return
        await self.handle(topic, data)

    def on_disconnected(self) -> None:
        self.outbound.attach(None)

    async def _probe(self, client: aiomqtt.Client) -> None:
        """Send ourselves a probe now and then; raise Deaf when nothing has reached us for
        `deaf_after_s` (not while a message is being handled: a busy writer is not deafness)."""
        cfg = self.config.ingest
        nonce = uuid.uuid4().hex
        for n in itertools.count(1):
            self._probe_token = f"{nonce}:{n}".encode()
            await self.outbound.probe(client, self._probe_token)
            await asyncio.sleep(cfg.probe_interval_s)
            silent = self.session.quiet_s()
            if silent > cfg.deaf_after_s:
                raise self.hearing.went_deaf(
                    f"nothing reached the hub for {silent:.0f} s, not even its own probe "
                    f"(ingest.deaf_after_s = {cfg.deaf_after_s:g})")

    async def handle(self, topic: str, payload: bytes) -> None:
        """Decode and route one message; anything unusable is quarantined, never raised."""
        if topic == self.topics.hub_probe():
            if payload == self._probe_token:
                self.hearing.heard()
            return
        if self.outbound.own(topic):
            self.counters["own_ignored"] += 1
            log.debug("ignored a message of the hub's own on %s", topic)
            return
        try:
            store_id, channel = self.topics.parse(topic)
        except TopicError as exc:
            await self._quarantine(topic, None, str(exc), payload)
            return
        try:
            if channel == "events":
                batch = codec.decode_batch(payload)
                check_batch(batch, store_id)
                await self._submit(batch, topic)
            elif channel == "state":
                state = codec.decode_state(payload)
                if state.store_id != store_id:
                    raise PayloadError(f"state store_id {state.store_id!r} differs from topic")
                self._record_state(state, stamp(self.clock.now()))
                if self._listener is not None:
                    self._listener.on_store_state(state)
            elif channel == "catalog-ack":
                ack = codec.decode_catalog_ack(payload)
                if ack.store_id != store_id:
                    raise PayloadError(f"catalog ack store_id {ack.store_id!r} differs from topic")
                if self._listener is not None:
                    self._listener.on_catalog_ack(ack)
        except ProtocolError as exc:
            await self._quarantine(topic, store_id, str(exc), payload)

    async def _quarantine(self, topic: str, store_id: str | None, reason: str, payload: bytes) -> None:
        self.counters["quarantined"] += 1
        log.warning("quarantined a message on %s: %s", topic, reason)
        now = stamp(self.clock.now())
        try:
            await self.db.run(
                lambda tx: quarantine.add(tx, topic, store_id, reason, payload, now)
            )
        except DatabaseUnreachable as exc:  # the refusal stands; only its record is missing
            log.warning("could not keep the refused message in quarantine: %s", exc)

    async def _submit(self, batch: Batch, topic: str) -> None:
        """Queue a batch for the writer. Batches of one stream that queue up while the writer is
        busy (a flood of small messages after an outage) are applied together, as one."""
        if not batch.events:
            return
        await self._slots.acquire()
        self.counters["batches"] += 1
        key = (batch.store_id, batch.stream)
        with self._queue_lock:
            queued = self._queued.setdefault(key, [])
            queued.append((batch, topic))
            first = len(queued) == 1
        if first:
            self._start(key)

    def _start(self, key: tuple[str, str]) -> None:
        taken: list[tuple[Batch, str]] = []  # the batches the job took, once it has run
        future = self.db.submit(functools.partial(self._apply_queued, key=key, taken=taken),
                                lane=Lane.INGEST)
        future.add_done_callback(functools.partial(self._applied, key=key, taken=taken))

    def _apply_queued(self, tx: Transaction, key: tuple[str, str],
                      taken: list[tuple[Batch, str]]) -> tuple[Outcome, int]:
        """In the writer thread: every batch queued for `key` so far, applied as one."""
        with self._queue_lock:
            queued = self._queued.pop(key, [])
        taken.extend(queued)
        if len(queued) == 1:
            batch, topic = queued[0]
        else:
            batch = Batch(key[0], key[1], [e for b, _ in queued for e in b.events])
            topic = queued[0][1]
        return self.sequencer.apply(tx, batch, topic), len(queued)

    def _applied(self, future: "asyncio.Future[tuple[Outcome, int]]", key: tuple[str, str],
                 taken: list[tuple[Batch, str]]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, WriteConflict) and taken:  # StoreBusy too
            self._busy(key, taken)
            return
        if error is not None:
            # Not acked: the agent resends after its ack timeout, and the hub tries again. A job
            # whose transaction could not even begin (the database unreachable) never took its
            # batches: drop them too, or the stream's later batches would wait behind them.
            batches = len(taken)
            if not batches:
                with self._queue_lock:
                    batches = len(self._queued.pop(key, []))
            for _ in range(batches):
                self._slots.release()
            self._busy_tries.pop(key, None)
            log.error("applying a batch failed: %s", error)
            self.counters["apply_failures"] += 1
            return
        out, batches = future.result()
        self._busy_tries.pop(key, None)
        for _ in range(batches):
            self._slots.release()
        self.counters["events_applied"] += out.applied
        self.counters["duplicates"] += out.duplicates
        self.counters["quarantined"] += out.quarantined
        if out.replay_from is not None:
            self.counters["gaps"] += 1
            self.gaps_by_store[out.store_id] += 1
        if out.diverged_from is not None:
            self.counters["diverged"] += 1
        self.outbound.owe_ack(out)  # the transaction has committed: only now is it acked

    def _record_state(self, state: StoreState, now: str, tries: int = 0) -> None:
        """Record a store's state (the ingest lane, under the store's lock); tried again shortly
        while another worker holds the store. Advisory: the next state replaces it."""
        done = self.db.submit(functools.partial(_state_under_lock, state=state, now=now),
                              lane=Lane.INGEST)
        done.add_done_callback(functools.partial(self._state_recorded, state=state, now=now,
                                                 tries=tries))

    def _state_recorded(self, future: "asyncio.Future[None]", state: StoreState, now: str,
                        tries: int) -> None:
        if future.cancelled() or future.exception() is None:
            return
        error = future.exception()
        if isinstance(error, WriteConflict) and tries < STATE_TRIES:
            asyncio.get_running_loop().call_later(
                random.uniform(*BUSY_PAUSE_S) * BUSY_BACKOFF ** tries,
                self._record_state, state, now, tries + 1)
            return
        log.warning("recording a store state failed: %s", error)

    def _busy(self, key: tuple[str, str], taken: list[tuple[Batch, str]]) -> None:
        """Another hub worker is applying this store (it holds the store's lock): try these
        batches again after a short pause, a few times; then drop them unacked (the store sends
        them again after its ack timeout). Expected with several workers: no traceback."""
        self.counters["store_busy"] += 1
        now = time.monotonic()
        since, pause = self._busy_tries.get(key, (now, random.uniform(*BUSY_PAUSE_S)))
        if now - since > BUSY_GIVE_UP_S:
            self._busy_tries.pop(key, None)
            for _ in taken:
                self._slots.release()
            self.counters["store_busy_dropped"] += 1
            log.info("store %s stream %s: busy at another hub worker for %.1f s; %d batches "
                     "left for the store to send again", key[0], key[1], now - since, len(taken))
            return
        self._busy_tries[key] = (since, min(BUSY_PAUSE_MAX_S, pause * BUSY_BACKOFF))
        asyncio.get_running_loop().call_later(pause, self._retry, key, taken)

    def _retry(self, key: tuple[str, str], taken: list[tuple[Batch, str]]) -> None:
        """Queue these batches again, before any that came since (they keep their slots)."""
        with self._queue_lock:
            queued = self._queued.setdefault(key, [])
            first = not queued
            queued[:0] = taken
        if first:
            self._start(key)


def _state_under_lock(tx: Transaction, state: StoreState, now: str) -> None:
    """Record a store's state under the store's lock, as its batches are applied: the store's row
    is then written by one transaction at a time across hub workers, so a worker recording
    states and another applying batches never deadlock on the rows of two stores."""
    if not tx.events.lock_store(state.store_id):
        raise StoreBusy(state.store_id)
    fleet.record_state(tx, state=state, now=now)
