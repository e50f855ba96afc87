"""The per-store event log: every event exactly once, applied in seq order with its effects.

`Sequencer.apply` runs inside a hub worker's writer thread (one transaction per group of
batches). It first takes the store's lock (`tx.events.lock_store`): on PostgreSQL several
workers may receive one store's batches, and only the one holding the lock applies them; the
others get StoreBusy before they have read or written anything, and try again shortly. It drops
what it already has (by (store, stream, seq), then by event_id), holds events that arrive after a
gap in the database (`held_events`, so whichever worker fills the gap applies them) and asks for
a replay from the first missing seq, and applies contiguous events together with their
inventory, day-total, click-and-collect, price-deviation and ERP-posting effects in the same
transaction. The ack it returns is published only after that transaction has committed.
"""

import datetime as dt
import logging
import time
from collections import Counter

import msgspec

from hub.config import IngestConfig, PostingsConfig
from hub.errors import StoreBusy
from hub.ingest import admission, quarantine
from hub.ledger import click_collect, days, fleet, inventory, price_deviations
from hub.postings import store as postings
from hub.postings.store import PostingState
from hub.storage import Transaction
from hub.storage.eventlog import HeldEvent, NewEvent, StreamMark
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
    admitting or refusing new streams. Touched only by its worker's writer thread; what it keeps
    in memory (when it last asked a stream for a replay) is only a rate limit."""

    def __init__(self, max_held_events: int = 20000, replay_min_interval_s: float = 2.0,
                 policy: PostingsConfig | None = None, clock: Clock = SYSTEM,
                 limits: IngestConfig | None = None,
                 posting_state: PostingState = PostingState.PENDING,
                 replay_grace_s: float = 0.0) -> None:
        self.policy = policy or PostingsConfig()
        self.posting_state = posting_state  # `kept` when the hub has no ERP connector
        self.clock = clock
        self.max_held_events = max_held_events
        limits = limits or IngestConfig()
        self.room = admission.HeldRoom(max_held_events, limits.max_held_events_per_store,
                                       limits.max_held_events_total)
        self.max_new_streams = limits.max_new_streams_per_day
        self.replay_min_interval_s = replay_min_interval_s
        self._replay_asked: dict[tuple[str, str], float] = {}
        # A replay is asked for once a gap (at the same applied seq) has stood replay_grace_s:
        # with several workers, the batch before it is usually being applied by another.
        self.replay_grace_s = replay_grace_s
        self._gaps: dict[tuple[str, str], tuple[int, float]] = {}

    def apply(self, tx: Transaction, batch: Batch, topic: str) -> Outcome:
        """Apply `batch` (of one stream; its events in any order, repeats allowed). Raises
        StoreBusy, having written nothing, while another transaction holds the store's lock."""
        if not tx.events.lock_store(batch.store_id):
            raise StoreBusy(batch.store_id)
        clock = self.clock.now()
        now = stamp(clock)
        key = (batch.store_id, batch.stream)
        mark = tx.events.mark(*key)
        if mark is None:
            refused = admission.new_stream_refusal(tx, batch.store_id, batch.stream, clock,
                                                   self.max_new_streams)
            if refused:
                log.warning("%s", refused)
                quarantine.add(tx, topic, batch.store_id, refused, codec.encode(batch), now)
                return Outcome(batch.store_id, batch.stream, 0, quarantined=1)
            tx.events.open_stream(*key, now)
            log.info("store %s: new stream %s", *key)
            mark = StreamMark(0, 0)
        applied = mark.applied_seq
        out = Outcome(batch.store_id, batch.stream, applied)
        already = [env for env in batch.events if env.seq <= applied]
        if already:
            out.diverged_from = _diverged(tx, key, already)
        # What the stream holds already: read only when it holds something.
        stored = set(tx.events.held_seqs(*key)) if mark.held else set()
        fresh: dict[int, Envelope] = {}
        for env in batch.events:
            if env.seq <= applied or env.seq in fresh or env.seq in stored:
                out.duplicates += 1
            else:
                fresh[env.seq] = env
        through = applied
        while through + 1 in fresh or through + 1 in stored:
            through += 1
        ready = self._ready(tx, key, fresh, stored, applied, through)
        held = self._hold(tx, key, fresh, stored, through, mark, now)
        if ready:
            self._apply_events(tx, ready, topic, clock, out)
            tx.events.advance(*key, applied_seq=through, events=out.applied, held=held, now=now)
        elif held != mark.held:
            tx.events.set_held(*key, held)
        fleet.seen(tx, batch.store_id, batch.stream, now)
        out.applied_seq = through
        out.held = held
        if held:
            out.replay_from = self._replay_from(key, through)
        else:
            self._gaps.pop(key, None)
        return out

    def _replay_from(self, key: tuple[str, str], through: int) -> int | None:
        """Where to ask the store to send again from, if the gap after `through` has stood
        `replay_grace_s` and the stream was not asked within `replay_min_interval_s`."""
        now = time.monotonic()
        gap_at, since = self._gaps.get(key, (None, now))
        if gap_at != through:
            since = now
            self._gaps[key] = (through, now)
        if now - since < self.replay_grace_s:
            return None
        if now - self._replay_asked.get(key, 0.0) < self.replay_min_interval_s:
            return None
        self._replay_asked[key] = now
        return through + 1

    @staticmethod
    def _ready(tx: Transaction, key: tuple[str, str], fresh: dict[int, Envelope],
               stored: set[int], applied: int, through: int) -> list[Envelope]:
        """The events at seqs `applied` + 1 .. `through`, from the batch or from those held."""
        seqs = range(applied + 1, through + 1)
        kept = (tx.events.held_envelopes(*key, through)
                if any(seq in stored for seq in seqs) else {})
        return [fresh[seq] if seq in fresh else codec.decode_envelope(kept[seq]) for seq in seqs]

    def _hold(self, tx: Transaction, key: tuple[str, str], fresh: dict[int, Envelope],
              stored: set[int], through: int, mark: StreamMark, now: str) -> int:
        """Forget the held events now applied (up to `through`), hold those of the batch past
        the gap as far as the room admits; how many the stream holds now."""
        released = sum(1 for seq in stored if seq <= through)
        if released:
            tx.events.release_held(*key, through)
        kept = self.room.take(sorted(seq for seq in fresh if seq > through), through,
                              len(stored) - released,
                              lambda: _held_elsewhere(tx, key[0], mark.held))
        if kept:
            tx.events.hold([HeldEvent(*key, seq, fresh[seq].event_id,
                                      codec.encode_envelope(fresh[seq]), now) for seq in kept])
        return len(stored) - released + len(kept)

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


def _held_elsewhere(tx: Transaction, store_id: str, stream_held: int) -> tuple[int, int]:
    """How many events the store's other streams hold, and all other streams together."""
    store, total = tx.events.held_counts(store_id)
    return store - stream_held, total - stream_held
