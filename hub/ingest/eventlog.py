"""The per-store event log: every event exactly once, applied in seq order with its effects.

`Sequencer.apply` runs inside the hub's single writer thread (one transaction per group of
batches). It drops what it already has (by (store, stream, seq), then by event_id), holds events
that arrive after a gap and asks for a replay from the first missing seq, and applies contiguous
events together with their inventory, day-total, click-and-collect, price-deviation and
ERP-posting effects in the same transaction. The ack it returns is published only after that
transaction has committed.
"""

import datetime as dt
import logging
import time
from collections import Counter

import msgspec

from hub.config import IngestConfig, PostingsConfig
from hub.ingest import admission, quarantine
from hub.ledger import click_collect, days, fleet, inventory, price_deviations
from hub.postings import store as postings
from hub.postings.store import PostingState
from hub.storage import Transaction
from hub.storage.eventlog import NewEvent
from protocol import codec
from protocol.messages import Batch, DayClose, Envelope, Return, Sale
from runtime.clock import SYSTEM, Clock, stamp

log = logging.getLogger(__name__)


class Outcome(msgspec.Struct):
    store_id: str
    stream: str
    applied_seq: int
    applied: int = 0
    duplicates: int = 0
    held: int = 0
    quarantined: int = 0
    replay_from: int | None = None
    postings: int = 0
    # The first seq at which the store sent another event than the log holds (its outbox went
    # back in time): the store must move to a new stream.
    diverged_from: int | None = None


class Sequencer:
    """Applies batches to the event log exactly once and in seq order (see the module docstring),
    holding events past a gap within their limits, deciding when to ask for a replay, and
    admitting or refusing new streams. Touched only by the writer thread."""

    def __init__(self, max_held_events: int = 20000, replay_min_interval_s: float = 2.0,
                 policy: PostingsConfig | None = None, clock: Clock = SYSTEM,
                 limits: IngestConfig | None = None,
                 posting_state: PostingState = PostingState.PENDING) -> None:
        self.policy = policy or PostingsConfig()
        self.posting_state = posting_state  # `kept` when the hub has no ERP connector
        self.clock = clock
        self.max_held_events = max_held_events
        limits = limits or IngestConfig()
        self.room = admission.HeldRoom(max_held_events, limits.max_held_events_per_store,
                                       limits.max_held_events_total)
        self.max_new_streams = limits.max_new_streams_per_day
        self.replay_min_interval_s = replay_min_interval_s
        self._held: dict[tuple[str, str], dict[int, Envelope]] = {}
        self._replay_asked: dict[tuple[str, str], float] = {}

    def apply(self, tx: Transaction, batch: Batch, topic: str) -> Outcome:
        clock = self.clock.now()
        now = stamp(clock)
        key = (batch.store_id, batch.stream)
        applied_seq = tx.events.applied_seq(*key)
        if applied_seq is None:
            refused = admission.new_stream_refusal(tx, batch.store_id, batch.stream, clock,
                                                   self.max_new_streams)
            if refused:
                log.warning("%s", refused)
                quarantine.add(tx, topic, batch.store_id, refused, codec.encode(batch), now)
                return Outcome(batch.store_id, batch.stream, 0, quarantined=1)
            tx.events.open_stream(*key, now)
            log.info("store %s: new stream %s", *key)
        applied = applied_seq or 0
        out = Outcome(batch.store_id, batch.stream, applied)
        held = self._held.setdefault(key, {})
        already = [env for env in batch.events if env.seq <= applied]
        if already:
            out.diverged_from = _diverged(tx, key, already)
        store_held = sum(len(h) for (store, _), h in self._held.items() if store == key[0])
        total_held = sum(len(h) for h in self._held.values())
        for env in batch.events:
            if env.seq <= applied or env.seq in held:
                out.duplicates += 1
            elif self.room.admits(env.seq, applied, len(held), store_held, total_held):
                held[env.seq] = env
                store_held += 1
                total_held += 1
        ready: list[Envelope] = []
        while applied + 1 in held:
            applied += 1
            ready.append(held.pop(applied))
        if ready:
            self._apply_events(tx, ready, topic, clock, out)
            tx.events.advance(*key, applied_seq=applied, events=out.applied, now=now)
        fleet.seen(tx, batch.store_id, batch.stream, now)
        out.applied_seq = applied
        out.held = len(held)
        if held:
            last = self._replay_asked.get(key, 0.0)
            if time.monotonic() - last >= self.replay_min_interval_s:
                self._replay_asked[key] = time.monotonic()
                out.replay_from = applied + 1
        else:
            self._held.pop(key, None)
        return out

    def _apply_events(self, tx: Transaction, ready: list[Envelope], topic: str,
                      clock: dt.datetime, out: Outcome) -> None:
        now = stamp(clock)
        applied: list[Envelope] = []
        stock: Counter[tuple[str, str]] = Counter()
        totals: dict[days.DayKey, days.DayDelta] = {}
        seen = tx.events.known_event_ids([env.event_id for env in ready])
        rows: list[NewEvent] = []
        for env in ready:
            if env.event_id in seen:
                tx.events.record_duplicate(env.store_id, env.stream, env.seq, env.event_id, now)
                out.duplicates += 1
                continue
            refused = admission.refusal(env)
            if refused:
                quarantine.add(tx, topic, env.store_id, refused, codec.encode_envelope(env), now)
                out.quarantined += 1
                continue
            try:
                changes = inventory.deltas(env)
                days.add_event(totals, env)
            except (ArithmeticError, ValueError) as exc:
                # A poison event must not block its stream: keep it for an operator instead.
                quarantine.add(tx, topic, env.store_id, f"seq {env.seq}: cannot apply: {exc}",
                               codec.encode(env.event), now)
                out.quarantined += 1
                continue
            seen.add(env.event_id)
            applied.append(env)
            event = env.event
            txn = event if isinstance(event, Sale | Return) else None
            rows.append(NewEvent(
                env.store_id, env.stream, env.seq, env.event_id, env.kind,
                env.business_day.isoformat(),
                txn.register_id if txn else getattr(event, "register_id", None),
                txn.pos_txn_id if txn else None,
                env.occurred_at.isoformat(), env.captured_at.isoformat(), now,
                codec.encode_envelope(env),
            ))
            if isinstance(event, DayClose):
                days.record_close(tx, env, now)
            for sku, delta in changes.items():
                stock[(env.store_id, sku)] += delta
            out.applied += 1
        tx.events.append(rows)
        # Click and collect before on hand moves: the reservation a sale collects stops
        # counting first, so it is never taken for one the sale left short.
        for env in applied:
            if isinstance(env.event, Sale) and env.event.reservation_id is not None:
                click_collect.collect(tx, store_id=env.store_id, event_id=env.event_id,
                                      reservation_id=env.event.reservation_id, now=now)
        inventory.apply(tx, stock, now)
        days.apply(tx, totals)
        price_deviations.count(tx, applied)
        out.postings = postings.on_applied(tx, applied, self.policy, clock, self.posting_state)


def _diverged(tx: Transaction, key: tuple[str, str], envs: list[Envelope]) -> int | None:
    """The first of `envs` (all at seqs the log has) whose event differs from the log's."""
    stored = tx.events.event_ids_at(*key, [env.seq for env in envs])
    # A seq the log does not hold was quarantined as poison (or counted as a duplicate by
    # event_id): nothing to compare it with.
    differ = [env.seq for env in envs if env.seq in stored and stored[env.seq] != env.event_id]
    if differ:
        log.error("store %s stream %s: seq %d carries another event than the log holds; "
                  "the store's outbox went back in time: asking it to move to a new stream",
                  key[0], key[1], differ[0])
    return min(differ) if differ else None
