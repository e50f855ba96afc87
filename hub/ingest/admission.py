"""What the hub lets in from a store: each event must keep the shared rules (protocol.rules, the
capture API's own), and a store may not make the hub hold unbounded data by inventing streams
or sending far-ahead events. What is refused is quarantined with its reason, never applied;
far-ahead events beyond the room are dropped (the store sends them again after the gap)."""

import datetime as dt
from collections.abc import Callable

from hub.storage import Transaction
from protocol import rules
from protocol.errors import InvalidEvent
from protocol.messages import MAX_BATCH_EVENTS, Envelope
from runtime.clock import stamp

NEW_STREAM_WINDOW = dt.timedelta(hours=24)


def refusal(env: Envelope) -> str | None:
    """Why the hub must not apply this event (what the capture API would have refused), or None."""
    try:
        rules.check_envelope(env)
    except InvalidEvent as exc:
        return f"seq {env.seq}: refused by the event rules: {exc}"
    return None


def new_stream_refusal(tx: Transaction, store_id: str, stream: str, now: dt.datetime,
                       limit: int) -> str | None:
    """A store gets a new stream when its outbox is created, rebuilt or moved (restream): a few
    a day. Beyond `limit` new streams in 24 h, another one is refused until the window moves on."""
    started = tx.events.streams_started_since(store_id, stamp(now - NEW_STREAM_WINDOW))
    if started < limit:
        return None
    return (f"store {store_id} started {started} streams in 24 h (ingest.max_new_streams_per_day"
            f" = {limit}); new stream {stream!r} refused")


class HeldRoom:
    """How many out-of-order events one stream may still hold: within its own, its store's and
    the hub's limits (counted in the database: held events live there). Events in the next
    MAX_BATCH_EVENTS seqs after the applied one are always held, so a stream can always make
    progress whatever the others hold."""

    def __init__(self, per_stream: int, per_store: int, total: int) -> None:
        self.per_stream, self.per_store, self.total = per_stream, per_store, total

    def admits(self, seq: int, applied: int, stream_held: int, store_held: int,
               total_held: int) -> bool:
        if seq <= applied + MAX_BATCH_EVENTS:
            return True
        return (stream_held < self.per_stream and store_held < self.per_store
                and total_held < self.total)

    def take(self, seqs: list[int], applied: int, stream_held: int,
             elsewhere: Callable[[], tuple[int, int]]) -> list[int]:
        """Which of `seqs` (rising, each past a gap after `applied`) a stream holding
        `stream_held` events may hold as well. `elsewhere()` says how many the store's other
        streams hold and how many all other streams: asked only for a seq beyond the next
        MAX_BATCH_EVENTS, so a stream's ordinary gap costs no count."""
        taken: list[int] = []
        others: tuple[int, int] | None = None
        for seq in seqs:
            held = stream_held + len(taken)
            if seq > applied + MAX_BATCH_EVENTS and others is None:
                others = elsewhere()
            store, total = others or (0, 0)
            if not self.admits(seq, applied, held, store + held, total + held):
                break  # the seqs rise and the counts only grow: none after fits either
            taken.append(seq)
        return taken
