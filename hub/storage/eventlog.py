"""The event log's tables: streams, events, duplicate_events, held_events.

- `streams`: one row per (store, stream): the seq applied through (`applied_seq`), how many
  events it applied and how many it holds past a gap (`held`), when it was first seen and last
  applied to.
- `events`: every applied event once, keyed by (store, stream, seq) and unique by event_id,
  with the columns the dashboard searches by and the envelope as sent (`body`).
- `duplicate_events`: events that reached a new seq with an event_id the log already held.
- `held_events`: events that arrived past a gap, waiting for the seqs before them (the
  envelope as sent); whichever hub worker fills the gap applies and deletes them.

Applying a stream reads its mark (`applied_seq`, `held`), appends what follows, moves its held
events and advances the mark in one transaction, after `lock_store` has granted the store's
lock (hub.storage.database, single-writer assumptions 1 and 2). On SQLite the file has one
writer, so the lock is always granted; PostgreSQL's (hub.storage.postgres.repositories) is an
advisory lock per store.
"""

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from hub.storage.rows import Connection, Reader, all_rows, chunks, fetch_all, marks, one_row


class NewEvent(NamedTuple):
    """One row of `events`, in column order (timestamps as runtime.clock.stamp or isoformat)."""

    store_id: str
    stream: str
    seq: int
    event_id: str
    kind: str
    business_day: str
    register_id: str | None
    pos_txn_id: str | None
    occurred_at: str
    captured_at: str
    applied_at: str
    body: bytes


class StreamMark(NamedTuple):
    """How far a stream is applied, and how many events it holds past a gap."""

    applied_seq: int
    held: int


class HeldEvent(NamedTuple):
    """One row of `held_events`, in column order (`envelope` as protocol.codec encodes it)."""

    store_id: str
    stream: str
    seq: int
    event_id: str
    envelope: bytes
    held_at: str


class EventLogWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lock_store(self, store_id: str) -> bool:
        """Whether this transaction may apply the store's streams now. SQLite's file has one
        writer at a time, so always; PostgreSQL overrides it with a try lock."""
        return True

    def mark(self, store_id: str, stream: str) -> StreamMark | None:
        """How far this stream is applied and how many events it holds; None for a stream the
        log has never seen."""
        row = one_row(self._conn,
                      "SELECT applied_seq, held FROM streams WHERE store_id = ? AND stream = ?",
                      (store_id, stream))
        return None if row is None else StreamMark(int(row["applied_seq"]), int(row["held"]))

    def streams_started_since(self, store_id: str, since: str) -> int:
        """How many of the store's streams were first seen after `since`."""
        row = one_row(self._conn,
                      "SELECT COUNT(*) AS started FROM streams WHERE store_id = ? AND first_seen > ?",
                      (store_id, since))
        assert row is not None  # COUNT(*) always answers
        return int(row["started"])

    def open_stream(self, store_id: str, stream: str, now: str) -> None:
        """A new stream, applied through seq 0."""
        self._conn.execute("INSERT INTO streams (store_id, stream, first_seen) VALUES (?, ?, ?)",
                           (store_id, stream, now))

    def advance(self, store_id: str, stream: str, *, applied_seq: int, events: int,
                held: int, now: str) -> None:
        """The stream is now applied through `applied_seq`, with `events` more events applied
        (fewer than the seqs it moved by when some were duplicates or quarantined), and holds
        `held` events past a gap."""
        self._conn.execute(
            "UPDATE streams SET applied_seq = ?, events_applied = events_applied + ?, held = ?,"
            " last_applied_at = ? WHERE store_id = ? AND stream = ?",
            (applied_seq, events, held, now, store_id, stream),
        )

    def held_seqs(self, store_id: str, stream: str) -> list[int]:
        """The seqs this stream holds past a gap, in order."""
        return [int(row["seq"]) for row in all_rows(
            self._conn, "SELECT seq FROM held_events WHERE store_id = ? AND stream = ?"
            " ORDER BY seq", (store_id, stream))]

    def held_envelopes(self, store_id: str, stream: str, through: int) -> dict[int, bytes]:
        """{seq: envelope} of the events this stream holds at seqs up to `through`."""
        return {int(row["seq"]): bytes(row["envelope"]) for row in all_rows(
            self._conn, "SELECT seq, envelope FROM held_events WHERE store_id = ? AND stream = ?"
            " AND seq <= ?", (store_id, stream, through))}

    def held_counts(self, store_id: str) -> tuple[int, int]:
        """How many events the store's streams hold, and every store's together."""
        row = one_row(self._conn,
                      "SELECT COALESCE(SUM(held) FILTER (WHERE store_id = ?), 0) AS store,"
                      " COALESCE(SUM(held), 0) AS total FROM streams WHERE held > 0",
                      (store_id,))
        assert row is not None  # an aggregate always answers
        return int(row["store"]), int(row["total"])

    def hold(self, events: Sequence[HeldEvent]) -> None:
        """Keep these events until the seqs before them arrive (the caller counts them in
        `streams.held`, with `advance` or `set_held`)."""
        self._conn.executemany(
            "INSERT INTO held_events (store_id, stream, seq, event_id, envelope, held_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", events)

    def release_held(self, store_id: str, stream: str, through: int) -> None:
        """Forget the events this stream held at seqs up to `through` (applied now)."""
        self._conn.execute(
            "DELETE FROM held_events WHERE store_id = ? AND stream = ? AND seq <= ?",
            (store_id, stream, through))

    def set_held(self, store_id: str, stream: str, held: int) -> None:
        """The stream holds `held` events past a gap (its applied seq unchanged)."""
        self._conn.execute("UPDATE streams SET held = ? WHERE store_id = ? AND stream = ?",
                           (held, store_id, stream))

    def append(self, events: Sequence[NewEvent]) -> None:
        """Add these events to the log, all in one statement."""
        self._conn.executemany(
            "INSERT INTO events (store_id, stream, seq, event_id, kind, business_day,"
            " register_id, pos_txn_id, occurred_at, captured_at, applied_at, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )

    def known_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of `event_ids` the log already holds (one query per 500 ids)."""
        known: set[str] = set()
        for chunk in chunks(event_ids):
            known.update(row["event_id"] for row in all_rows(
                self._conn, f"SELECT event_id FROM events WHERE event_id IN ({marks(chunk)})",
                chunk))
        return known

    def event_ids_at(self, store_id: str, stream: str, seqs: Sequence[int]) -> dict[int, str]:
        """{seq: event_id} for those of `seqs` the stream's log holds (one query per 500 seqs)."""
        held: dict[int, str] = {}
        for chunk in chunks(seqs):
            held.update((row["seq"], row["event_id"]) for row in all_rows(
                self._conn,
                "SELECT seq, event_id FROM events WHERE store_id = ? AND stream = ?"
                f" AND seq IN ({marks(chunk)})",
                (store_id, stream, *chunk)))
        return held

    def record_duplicate(self, store_id: str, stream: str, seq: int, event_id: str,
                         now: str) -> None:
        """An event the log holds arrived again at this seq (kept once per seq)."""
        self._conn.execute(
            "INSERT INTO duplicate_events (store_id, stream, seq, event_id, received_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (store_id, stream, seq, event_id, now),
        )


class EventLogReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def current_marks(self, seen_since: str) -> list[tuple[str, str, int]]:
        """(store, its current stream, that stream's applied seq) of every store heard from
        since `seen_since` (0 for a stream the hub has not opened yet)."""
        rows = await fetch_all(
            self._conn,
            "SELECT s.store_id, s.stream, COALESCE(t.applied_seq, 0) AS applied_seq"
            " FROM stores s LEFT JOIN streams t"
            "  ON t.store_id = s.store_id AND t.stream = s.stream"
            " WHERE s.stream IS NOT NULL AND s.last_seen >= ? ORDER BY s.store_id",
            (seen_since,))
        return [(r["store_id"], r["stream"], int(r["applied_seq"])) for r in rows]

    async def find(self, event_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The applied events with these ids, by the columns an operator searches and reads."""
        ids = list(event_ids)
        found: list[dict[str, Any]] = []
        for chunk in chunks(ids):
            found += [dict(row) for row in await fetch_all(
                self._conn,
                "SELECT store_id, register_id, pos_txn_id, event_id, kind, business_day,"
                f" applied_at FROM events WHERE event_id IN ({marks(chunk)})", chunk)]
        return found
