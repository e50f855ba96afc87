"""The postings outbox towards the ERP: tables postings, posting_sources, posting_attempts and
summary_days (the store-days whose sales and returns wait for a daily summary), and the read of
the events table a summary is made from.

`PostingsWrites` runs inside the writer's transaction; `PostingsReads` on the read-only
connection (the API, the CLI, the dashboard, the relay's poll, the reconciliation). States are
written here as plain text: 'pending', 'kept', 'posting', 'posted', 'exception', 'dead'
(hub.postings.store.PostingState, a StrEnum, compares equal to them). Instants are text written
by runtime.clock.stamp, so ordering and comparing them as text orders them in time.

A relay's claim (`claim`) puts a posting in 'posting' with `claimed_by` (the worker id) and
`claimed_until` (when the lease ends); `claimed_until` is set exactly while the claim is live and
cleared when the posting leaves 'posting', `claimed_by` stays (who sent it last). A posting in
'posting' whose lease has ended (or that has none: one left mid-send before leases existed) is
due again, for any relay. On PostgreSQL the claim locks the rows it picks with
`FOR UPDATE SKIP LOCKED` (hub.storage.postgres.repositories.PgPostingsWrites), so relays of
several workers claiming at once each take other postings; on SQLite one writer claims at a time.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from hub.storage.rows import (
    Connection,
    Reader,
    Row,
    all_rows,
    chunks,
    fetch_all,
    fetch_one,
    marks,
    one_row,
)
from runtime.clock import stamp

# An ERP's answer is kept for the operator, not archived: its first 4,000 characters.
MAX_ANSWER = 4000

# A posting in 'posting' whose claim's lease has ended, or that has no lease (left mid-send by a
# hub from before leases): due again. Its one parameter is now.
_LEASE_ENDED = "state = 'posting' AND (claimed_until IS NULL OR claimed_until <= ?)"
# The postings a relay may claim at `now` (first parameter), at most `limit` (second): those whose
# lease ended, then those pending and due, each by priority, time due and id.
_ORDER = " ORDER BY priority, next_attempt_at, posting_id LIMIT ?"
_SELECT_LEASE_ENDED = f"SELECT posting_id FROM postings WHERE {_LEASE_ENDED}{_ORDER}"
_SELECT_PENDING = ("SELECT posting_id FROM postings WHERE state = 'pending'"
                   f" AND next_attempt_at <= ?{_ORDER}")
# A posting's new state with its reason, the ERP's reference and answer (kept when None), time
# due and time changed; 'posted' records when. Parameters: state, reason, erp_ref, answer, due,
# now, state, now.
_NEW_STATE = ("state = ?, reason = ?, erp_ref = COALESCE(?, erp_ref),"
              " erp_answer = COALESCE(?, erp_answer), next_attempt_at = ?, updated_at = ?,"
              " posted_at = CASE WHEN ? = 'posted' THEN ? ELSE posted_at END")


class NewPosting(NamedTuple):
    """A posting to store (its state and times are given to `PostingsWrites.add`)."""

    posting_id: str
    kind: str
    store_id: str
    business_day: dt.date
    currency: str | None  # None for a stock adjustment
    priority: int        # lower is sent first
    payload: str         # the posting as the relay sends it (JSON text)
    event_id: str | None  # the one event of a per-transaction posting; None for a summary


class PostingSource(NamedTuple):
    """One event a daily summary was made from (`posting_sources`)."""

    event_id: str
    posting_id: str
    register_id: str | None
    pos_txn_id: str | None


class PostingsWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- made by applied events ---

    def add(self, made: Sequence[NewPosting], state: str, now: dt.datetime) -> None:
        """Store new postings in `state`, due at once. A posting already stored under the same
        id stays as it is (the id is derived from the sources: a redelivery makes nothing).
        One statement for the lot: a batch of 500 sales is one executemany, not 500."""
        at = stamp(now)
        self._conn.executemany(
            "INSERT INTO postings (posting_id, kind, store_id, business_day, currency,"
            " state, priority, payload, next_attempt_at, created_at, updated_at, event_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(p.posting_id, p.kind, p.store_id, p.business_day.isoformat(), p.currency, state,
              p.priority, p.payload, at, at, at, p.event_id) for p in made])

    def link_sources(self, sources: Iterable[PostingSource]) -> None:
        """Name the events a summary was made from; an event already linked keeps its posting."""
        self._conn.executemany(
            "INSERT INTO posting_sources (event_id, posting_id, register_id, pos_txn_id)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", list(sources))

    # --- daily summaries ---

    def await_summary(self, store_id: str, day: dt.date, count: int) -> None:
        """`count` more events of the store-day wait for its daily summary."""
        self._conn.execute(
            "INSERT INTO summary_days (store_id, business_day, pending) VALUES (?, ?, ?)"
            " ON CONFLICT (store_id, business_day) DO UPDATE"
            " SET pending = summary_days.pending + excluded.pending",
            (store_id, day.isoformat(), count))

    def unsummarised(self, store_id: str, day: dt.date, kinds: Sequence[str]) -> list[bytes]:
        """The bodies of the store-day's events of these kinds that no summary lists as a
        source yet, in stream order."""
        rows = all_rows(
            self._conn,
            "SELECT e.body FROM events e LEFT JOIN posting_sources s USING (event_id)"
            f" WHERE e.store_id = ? AND e.business_day = ? AND e.kind IN ({marks(kinds)})"
            " AND s.event_id IS NULL ORDER BY e.stream, e.seq",
            (store_id, day.isoformat(), *kinds))
        return [row["body"] for row in rows]

    def summary_parts(self, store_id: str, day: dt.date) -> int:
        """How many parts of the store-day's summary were released so far (0 if none)."""
        row = one_row(self._conn,
                      "SELECT parts FROM summary_days WHERE store_id = ? AND business_day = ?",
                      (store_id, day.isoformat()))
        return int(row["parts"]) if row else 0

    def summary_released(self, store_id: str, day: dt.date, parts: int, now: dt.datetime) -> None:
        """Nothing of the store-day waits any more; it was first released at `now` (a later part
        keeps the first time) and has `parts` parts."""
        self._conn.execute(
            "INSERT INTO summary_days (store_id, business_day, pending, released_at, parts)"
            " VALUES (?, ?, 0, ?, ?) ON CONFLICT (store_id, business_day) DO UPDATE SET"
            " pending = 0, released_at = COALESCE(summary_days.released_at, excluded.released_at),"
            " parts = excluded.parts",
            (store_id, day.isoformat(), stamp(now), parts))

    def summaries_due(self, last_day: dt.date) -> list[tuple[str, dt.date]]:
        """(store, day) of the summaries to release: events wait and the day is `last_day` or
        earlier, or was released already (late events of a released day)."""
        rows = all_rows(
            self._conn,
            "SELECT store_id, business_day FROM summary_days WHERE pending > 0"
            " AND (released_at IS NOT NULL OR business_day <= ?)", (last_day.isoformat(),))
        return [(row["store_id"], dt.date.fromisoformat(row["business_day"])) for row in rows]

    # --- the relay's transitions ---

    # Appended to the claim's selects: PostgreSQL's PgPostingsWrites locks the rows it picks and
    # passes over those another transaction holds; SQLite has one writer and nothing to add.
    CLAIM_LOCK = ""

    # Ends every claim still open; PgPostingsWrites adds `AND claimed_by = ?`.
    RELEASE = ("UPDATE postings SET state = 'pending', claimed_until = NULL, next_attempt_at = ?,"
               " updated_at = ? WHERE state = 'posting'")

    def release_claims(self, worker: str | None, now: dt.datetime) -> int:
        """At the start of `worker`'s relay: the postings it left mid-send are pending again,
        due at `now`; how many. On SQLite one hub owns the database (its data_dir lock), so every
        claim still open is from before this start, whichever worker id made it (the default
        id, host name and pid, changes at each start): all go back. On PostgreSQL, which several
        workers share, only `worker`'s go back (PgPostingsWrites); the others' wait for their
        lease to end."""
        return self._conn.execute(self.RELEASE, (stamp(now), stamp(now))).rowcount

    def release_kept(self, now: dt.datetime) -> int:
        """Kept postings become pending, due at `now`; how many."""
        return self._conn.execute(
            "UPDATE postings SET state = 'pending', next_attempt_at = ?, updated_at = ?"
            " WHERE state = 'kept'", (stamp(now), stamp(now))).rowcount

    def keep_waiting(self, now: dt.datetime) -> int:
        """Pending postings, and those left mid-send (their lease ended), become kept; how many.
        A posting another worker's relay is sending right now is left to it."""
        return self._conn.execute(
            "UPDATE postings SET state = 'kept', claimed_until = NULL, updated_at = ?"
            f" WHERE state = 'pending' OR ({_LEASE_ENDED})", (stamp(now), stamp(now))).rowcount

    def claim(self, now: dt.datetime, limit: int, worker: str, until: dt.datetime) -> list[Row]:
        """Claim up to `limit` postings due by `now` for `worker` until `until`: those whose
        lease ended first, then pending ones by priority and time due. Each moves to 'posting'
        and counts an attempt (its number identifies this claim); the rows (posting_id, kind,
        attempts, payload) of those claimed, in that order."""
        at = stamp(now)
        picked = [row["posting_id"] for row in all_rows(
            self._conn, f"{_SELECT_LEASE_ENDED}{self.CLAIM_LOCK}", (at, limit))]
        if len(picked) < limit:
            picked += [row["posting_id"] for row in all_rows(
                self._conn, f"{_SELECT_PENDING}{self.CLAIM_LOCK}", (at, limit - len(picked)))]
        claimed = []
        for pid in picked:
            row = one_row(
                self._conn,
                "UPDATE postings SET state = 'posting', attempts = attempts + 1, claimed_by = ?,"
                " claimed_until = ?, updated_at = ? WHERE posting_id = ?"
                " RETURNING posting_id, kind, attempts, payload", (worker, stamp(until), at, pid))
            if row is not None:
                claimed.append(row)
        return claimed

    def settle(self, pid: str, worker: str, attempt: int, state: str, now: dt.datetime, *,
               due: dt.datetime, reason: str | None = None, erp_ref: str | None = None,
               answer: str | None = None) -> bool:
        """End `worker`'s claim of attempt `attempt` as `set_state` would: True; or change
        nothing and False when that claim is no longer the posting's (its lease ended and
        another claim took it, or the posting left 'posting')."""
        at = stamp(now)
        return self._conn.execute(
            f"UPDATE postings SET {_NEW_STATE}, claimed_until = NULL WHERE posting_id = ?"
            " AND state = 'posting' AND claimed_by = ? AND attempts = ?",
            (state, reason, erp_ref, answer, stamp(due), at, state, at, pid, worker,
             attempt)).rowcount == 1

    def set_state(self, pid: str, state: str, now: dt.datetime, *, due: dt.datetime,
                  reason: str | None = None, erp_ref: str | None = None,
                  answer: str | None = None) -> None:
        """Put a posting in `state` with its reason, next due at `due`. The ERP's reference and
        answer are kept when none is given; 'posted' records when."""
        at = stamp(now)
        self._conn.execute(
            f"UPDATE postings SET {_NEW_STATE} WHERE posting_id = ?",
            (state, reason, erp_ref, answer, stamp(due), at, state, at, pid))

    def record_attempt(self, pid: str, attempt: int, started: dt.datetime, digest: str,
                       status: int | None, outcome: str, answer: str | None,
                       latency_ms: int) -> None:
        """One call to the ERP (a repeated attempt number replaces the earlier record)."""
        self._conn.execute(
            "INSERT INTO posting_attempts (posting_id, attempt, started_at, request_digest,"
            " status, outcome, answer, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (posting_id, attempt) DO UPDATE SET started_at = excluded.started_at,"
            " request_digest = excluded.request_digest, status = excluded.status,"
            " outcome = excluded.outcome, answer = excluded.answer,"
            " latency_ms = excluded.latency_ms",
            (pid, attempt, stamp(started), digest, status, outcome,
             answer[:MAX_ANSWER] if answer else answer, latency_ms))

    # --- operators' corrections ---

    def state_and_payload(self, pid: str) -> Row | None:
        """The posting's (state, payload), None if there is no such posting."""
        return one_row(self._conn, "SELECT state, payload FROM postings WHERE posting_id = ?",
                       (pid,))

    def replace_payload(self, pid: str, payload: str, currency: str | None) -> None:
        self._conn.execute("UPDATE postings SET payload = ?, currency = ? WHERE posting_id = ?",
                           (payload, currency, pid))


# What a listing shows of each posting (`one` adds the payload, the ERP's answer and the claim).
_COLUMNS = ("posting_id, kind, store_id, business_day, currency, state, reason, erp_ref,"
            " attempts, next_attempt_at, created_at, updated_at, posted_at")


def _filters(**columns: str | None) -> tuple[list[str], list[Any]]:
    """`column = ?` for each column given a value, and the values."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in columns.items():
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    return where, args


def _where(where: list[str]) -> str:
    return " WHERE " + " AND ".join(where) if where else ""


class PostingsReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def due(self, now: dt.datetime, limit: int) -> list[str]:
        """The postings a relay may claim at `now`, the first `limit` in the order
        `PostingsWrites.claim` takes them (those whose lease ended, then pending ones due)."""
        ended = [row["posting_id"] for row in await fetch_all(
            self._conn, _SELECT_LEASE_ENDED, (stamp(now), limit))]
        if len(ended) >= limit:
            return ended
        rows = await fetch_all(self._conn, _SELECT_PENDING, (stamp(now), limit - len(ended)))
        return ended + [row["posting_id"] for row in rows]

    async def newest(self, *, state: str | None = None, store_id: str | None = None,
                     business_day: str | None = None, before: tuple[str, str] | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
        """Up to `limit` postings that match, newest first (by created_at, then posting_id):
        only those strictly after `before` = (created_at, posting_id) in that order, if given."""
        where, args = _filters(state=state, store_id=store_id, business_day=business_day)
        if before is not None:
            created_at, pid = before
            where.append("(created_at < ? OR (created_at = ? AND posting_id < ?))")
            args += [created_at, created_at, pid]
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM postings{_where(where)}"
            " ORDER BY created_at DESC, posting_id DESC LIMIT ?", (*args, limit))
        return [dict(row) for row in rows]

    async def count_by_state(self, *, store_id: str | None = None,
                             business_day: str | None = None) -> dict[str, int]:
        """How many postings are in each state that has any, of a store and/or day if given."""
        where, args = _filters(store_id=store_id, business_day=business_day)
        rows = await fetch_all(
            self._conn,
            f"SELECT state, COUNT(*) AS n FROM postings{_where(where)} GROUP BY state", args)
        return {row["state"]: int(row["n"]) for row in rows}

    async def one(self, pid: str) -> dict[str, Any] | None:
        """A posting's listing columns, its payload (text), the ERP's last answer, and its
        claim: the worker that claimed it last, and while it is being sent, until when."""
        row = await fetch_one(
            self._conn, f"SELECT {_COLUMNS}, payload, erp_answer, claimed_by, claimed_until"
            " FROM postings WHERE posting_id = ?", (pid,))
        return dict(row) if row is not None else None

    async def attempts(self, pid: str) -> list[dict[str, Any]]:
        """Every call made to the ERP for a posting, in order."""
        rows = await fetch_all(
            self._conn,
            "SELECT attempt, started_at, request_digest, status, outcome, answer, latency_ms"
            " FROM posting_attempts WHERE posting_id = ? ORDER BY attempt", (pid,))
        return [dict(row) for row in rows]

    async def made_from(self, pid: str) -> tuple[str, list[str]] | None:
        """A posting's store and the events it was made from (its one event, or a summary's
        sources); None if there is no such posting."""
        row = await fetch_one(self._conn,
                              "SELECT store_id, event_id FROM postings WHERE posting_id = ?", (pid,))
        if row is None:
            return None
        if row["event_id"] is not None:
            return row["store_id"], [row["event_id"]]
        rows = await fetch_all(self._conn,
                               "SELECT event_id FROM posting_sources WHERE posting_id = ?", (pid,))
        return row["store_id"], [r["event_id"] for r in rows]

    async def summaries_of(self, event_ids: Sequence[str]) -> set[str]:
        """The daily summary postings these events went into."""
        found: set[str] = set()
        for chunk in chunks(event_ids):
            found |= {row["posting_id"] for row in await fetch_all(
                self._conn, "SELECT posting_id FROM posting_sources"
                f" WHERE event_id IN ({marks(chunk)})", chunk)}
        return found

    async def matching(self, ids: Sequence[str], store_id: str,
                       limit: int = 50) -> list[dict[str, Any]]:
        """The postings with these ids, and a store's latest `limit` postings by business day,
        for an operator's search."""
        columns = ("posting_id, kind, store_id, business_day, currency, state, reason, erp_ref,"
                   " updated_at")
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunks(ids):
            found.update((row["posting_id"], dict(row)) for row in await fetch_all(
                self._conn, f"SELECT {columns} FROM postings WHERE posting_id IN ({marks(chunk)})",
                chunk))
        found.update((row["posting_id"], dict(row)) for row in await fetch_all(
            self._conn, f"SELECT {columns} FROM postings WHERE store_id = ?"
            " ORDER BY business_day DESC LIMIT ?", (store_id, limit)))
        return list(found.values())

    async def payloads(self, ids: Sequence[str]) -> dict[str, str]:
        """The current payload (text) of each of these postings that exists."""
        found: dict[str, str] = {}
        for part in chunks(ids):
            rows = await fetch_all(
                self._conn,
                f"SELECT posting_id, payload FROM postings WHERE posting_id IN ({marks(part)})",
                part)
            found.update((row["posting_id"], row["payload"]) for row in rows)
        return found

    async def posted_since(self, recent: dt.datetime, today: dt.datetime) -> tuple[int, int]:
        """How many postings the ERP accepted since `recent`, and since `today` (the earlier)."""
        row = await fetch_one(
            self._conn,
            "SELECT COUNT(*) FILTER (WHERE posted_at >= ?) AS recent, COUNT(*) AS today"
            " FROM postings"
            " WHERE state = 'posted' AND posted_at >= ?", (stamp(recent), stamp(today)))
        return (int(row["recent"]), int(row["today"])) if row is not None else (0, 0)

    async def for_the_erp_books(self, store_id: str, day: dt.date) -> list[Row]:
        """The store-day's postings the ERP's books should show, every state (stock adjustments
        aside), oldest first: rows of posting_id, kind, state, reason, payload (text)."""
        return await fetch_all(
            self._conn,
            "SELECT posting_id, kind, state, reason, payload FROM postings"
            " WHERE store_id = ? AND business_day = ? AND kind != 'inventory_adjustment'"
            " ORDER BY created_at", (store_id, day.isoformat()))
