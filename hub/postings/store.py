"""ERP postings: the hub's transactional outbox towards the ERP, with its attempts and audit trail.

A posting is created in the same transaction that applies its source events, so none is lost and
none is made twice. A posting of one transaction names its event in `postings.event_id`; a daily
summary's events are listed in `posting_sources`. Its `posting_id` is derived from its sources and is also the idempotency key
every ERP call carries. States: pending → posting → posted | exception | dead; `exception` and
`dead` go back to pending only by an operator's retry or resubmit, which the audit trail records.
Without an ERP connector a posting is `kept` instead of pending: stored, not waiting for anything;
when a connector is configured, the relay makes kept postings pending at its start.
"""

import base64
import datetime as dt
import json
import uuid
import zoneinfo
from collections import defaultdict
from enum import StrEnum
from typing import Any

import msgspec

from hub.config import MappingConfig, PostingsConfig
from hub.erp.base import Catalog
from hub.errors import PostingError, Rejected
from hub.postings import governance, payloads
from hub.storage import Reads, Transaction
from protocol import codec
from protocol.messages import DayClose, Envelope, InventoryAdjustment, Return, Sale
from runtime import validation
from runtime.clock import stamp


class PostingState(StrEnum):
    """Where a posting is in its life (the `postings.state` column; see the module docstring)."""

    PENDING = "pending"      # waiting for the relay to send it
    KEPT = "kept"            # stored without an ERP connector; pending once one is configured
    POSTING = "posting"      # claimed by the relay, being sent
    POSTED = "posted"        # the ERP holds it
    EXCEPTION = "exception"  # failed governance; waits for an operator
    DEAD = "dead"            # the ERP refused it, or retries ran out; waits for an operator


# The states as plain text, in the order the API, CLI and counts list them.
STATES = tuple(state.value for state in PostingState)
# Finance-critical kinds go first; stock corrections can wait for a quiet moment.
PRIORITY = {"daily_summary": 0, "sale": 0, "return": 0, "inventory_adjustment": 1}
_NAMESPACE = uuid.UUID("5b0e3c0e-7c1a-4c55-9d2a-0d6f1c1e9a11")


MAX_ACTOR = 200


def actor_name(text: str) -> str:
    """Who retries or resubmits, for the audit trail: trimmed, 1 to MAX_ACTOR characters (a
    name of only spaces would leave the trail saying nobody); ValueError otherwise."""
    name = text.strip()
    if not name or len(name) > MAX_ACTOR:
        raise ValueError(f"actor must be a name of 1 to {MAX_ACTOR} characters (not only spaces)")
    return name


def posting_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def waiting_state(connector: str) -> PostingState:
    """The state of a posting not yet sent: `pending` for a relay to send, `kept` without one."""
    return PostingState.KEPT if connector == "none" else PostingState.PENDING


def summary_kinds(policy: PostingsConfig) -> set[str]:
    return ({"sale"} if policy.sales == "daily_summary" else set()) | (
        {"return"} if policy.returns == "daily_summary" else set())


def on_applied(conn: Transaction, envs: list[Envelope], policy: PostingsConfig,
               now: dt.datetime, state: PostingState = PostingState.PENDING) -> int:
    """Create the postings that newly applied events call for; runs in the applying transaction."""
    summarised: dict[tuple[str, str], int] = defaultdict(int)
    closes: list[tuple[str, dt.date]] = []
    made: list[tuple[payloads.Payload, str | None]] = []  # (posting, its one event if one)
    kinds = summary_kinds(policy)
    for env in envs:
        event = env.event
        if isinstance(event, DayClose):
            if event.register_id is None:
                closes.append((env.store_id, env.business_day))
        elif env.kind in kinds:
            summarised[(env.store_id, env.business_day.isoformat())] += 1
        elif isinstance(event, Sale | Return):
            pid = posting_id(env.kind, env.event_id)
            made.append((payloads.for_transaction(pid, env), env.event_id))
        elif isinstance(event, InventoryAdjustment) and policy.inventory_adjustments != "none":
            pid = posting_id(env.kind, env.event_id)
            made.append((payloads.for_adjustment(pid, env), env.event_id))
    # One executemany: a batch of 500 sales is one statement, not 500.
    _insert_many(conn, made, now, state)
    created = len(made)
    for (store, day_text), count in summarised.items():
        conn.execute(
            "INSERT INTO summary_days (store_id, business_day, pending) VALUES (?, ?, ?)"
            " ON CONFLICT (store_id, business_day) DO UPDATE SET pending = pending + excluded.pending",
            (store, day_text, count))
    if summary_kinds(policy):
        for store, day in closes:
            created += release_summary(conn, store, day, policy, now, state)
    return created


def release_summary(conn: Transaction, store_id: str, day: dt.date,
                    policy: PostingsConfig, now: dt.datetime,
                    state: PostingState = PostingState.PENDING) -> int:
    """Post one store-day's not yet summarised sales (and returns): one posting per currency.

    Events that arrive after a day was released go into a later part of the same day.
    """
    kinds = sorted(summary_kinds(policy))
    marks = ",".join("?" * len(kinds))
    rows = conn.execute(
        "SELECT e.event_id, e.body FROM events e LEFT JOIN posting_sources s USING (event_id)"
        f" WHERE e.store_id = ? AND e.business_day = ? AND e.kind IN ({marks})"
        " AND s.event_id IS NULL ORDER BY e.stream, e.seq",
        (store_id, day.isoformat(), *kinds)).fetchall()
    found = conn.execute("SELECT parts FROM summary_days WHERE store_id = ? AND business_day = ?",
                         (store_id, day.isoformat())).fetchone()
    part = found[0] if found else 0
    by_currency: dict[str, list[Envelope]] = defaultdict(list)
    for _, body in rows:
        env = codec.decode_envelope(body)
        assert isinstance(env.event, Sale | Return)
        by_currency[env.event.currency].append(env)
    if by_currency:
        part += 1
    for currency, envs in sorted(by_currency.items()):
        pid = posting_id("daily_summary", store_id, day.isoformat(), currency, str(part))
        _insert_many(conn, [(payloads.daily_summary(pid, store_id, day, currency, envs), None)],
                     now, state)
        _link_many(conn, [(pid, env) for env in envs])
    conn.execute(
        "INSERT INTO summary_days (store_id, business_day, pending, released_at, parts)"
        " VALUES (?, ?, 0, ?, ?) ON CONFLICT (store_id, business_day) DO UPDATE SET"
        " pending = 0, released_at = COALESCE(released_at, excluded.released_at), parts = excluded.parts",
        (store_id, day.isoformat(), stamp(now), part))
    return len(by_currency)


def sweep(conn: Transaction, policy: PostingsConfig, now: dt.datetime,
          state: PostingState = PostingState.PENDING) -> int:
    """Release the summaries whose cutoff has passed, and late events of released days."""
    if not summary_kinds(policy):
        return 0
    hour, minute = (int(x) for x in policy.summary_cutoff.split(":"))
    local = now.astimezone(zoneinfo.ZoneInfo(policy.timezone))
    # The cutoff of business day D is at summary_cutoff on D + 1 (local time).
    passed = local.hour * 60 + local.minute >= hour * 60 + minute
    last_due = local.date() - dt.timedelta(days=1 if passed else 2)
    due = conn.execute(
        "SELECT store_id, business_day FROM summary_days WHERE pending > 0"
        " AND (released_at IS NOT NULL OR business_day <= ?)", (last_due.isoformat(),)).fetchall()
    return sum(release_summary(conn, store, dt.date.fromisoformat(day), policy, now, state)
               for store, day in due)


def _insert_many(conn: Transaction, made: list[tuple[payloads.Payload, str | None]],
                 now: dt.datetime, state: PostingState) -> None:
    assert state in (PostingState.PENDING, PostingState.KEPT)
    at = stamp(now)
    conn.executemany(
        "INSERT OR IGNORE INTO postings (posting_id, kind, store_id, business_day, currency, state,"
        " priority, payload, next_attempt_at, created_at, updated_at, event_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(p.posting_id, p.kind, p.store_id, p.business_day.isoformat(), p.currency, state,
          PRIORITY.get(p.kind, 1), payloads.encode(p), at, at, at, event_id)
         for p, event_id in made])


def _link_many(conn: Transaction, sources: list[tuple[str, Envelope]]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO posting_sources (event_id, posting_id, register_id, pos_txn_id)"
        " VALUES (?, ?, ?, ?)",
        [(env.event_id, pid, getattr(env.event, "register_id", None),
          getattr(env.event, "pos_txn_id", None)) for pid, env in sources])


# --- the relay's transitions (run in the hub's writer) ---

class Claimed(msgspec.Struct, frozen=True):
    posting_id: str
    kind: str
    attempts: int
    payload: str


def reset_in_flight(conn: Transaction) -> int:
    """After a crash, postings caught mid-send go back to pending (their key makes that safe)."""
    return conn.execute("UPDATE postings SET state = 'pending' WHERE state = 'posting'").rowcount


def release_kept(conn: Transaction, now: dt.datetime) -> int:
    """A connector is configured now: postings kept without one become pending, due at once."""
    return conn.execute("UPDATE postings SET state = 'pending', next_attempt_at = ?, updated_at = ?"
                        " WHERE state = 'kept'", (stamp(now), stamp(now))).rowcount


def keep_waiting(conn: Transaction, now: dt.datetime) -> int:
    """No connector (any more): postings waiting for one are kept, not pending forever."""
    return conn.execute("UPDATE postings SET state = 'kept', updated_at = ?"
                        " WHERE state IN ('pending', 'posting')", (stamp(now),)).rowcount


def claim(conn: Transaction, ids: list[str], now: dt.datetime) -> list[Claimed]:
    out = []
    for pid in ids:
        row = conn.execute(
            "UPDATE postings SET state = 'posting', attempts = attempts + 1, updated_at = ?"
            " WHERE posting_id = ? AND state = 'pending' RETURNING kind, attempts, payload",
            (stamp(now), pid)).fetchone()
        if row:
            out.append(Claimed(pid, *row))
    return out


def finish(conn: Transaction, pid: str, state: PostingState, now: dt.datetime, *,
           reason: str | None = None, erp_ref: str | None = None, answer: str | None = None,
           next_attempt: dt.datetime | None = None) -> None:
    assert state in STATES
    at = stamp(now)
    conn.execute(
        "UPDATE postings SET state = ?, reason = ?, erp_ref = COALESCE(?, erp_ref),"
        " erp_answer = COALESCE(?, erp_answer), next_attempt_at = ?, updated_at = ?,"
        " posted_at = CASE WHEN ? = 'posted' THEN ? ELSE posted_at END WHERE posting_id = ?",
        (state, reason, erp_ref, answer, stamp(next_attempt or now), at, state, at, pid))


def record_attempt(conn: Transaction, pid: str, attempt: int, started: dt.datetime,
                   digest: str, status: int | None, outcome: str, answer: str | None,
                   latency_ms: int) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO posting_attempts (posting_id, attempt, started_at, request_digest,"
        " status, outcome, answer, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (pid, attempt, stamp(started), digest, status, outcome,
         answer[:4000] if answer else answer, latency_ms))


# --- operators' actions (CLI and API), each kept in the audit trail ---

def retry(conn: Transaction, pid: str, actor: str, now: dt.datetime,
          to: PostingState = PostingState.PENDING) -> dict[str, Any]:
    """Send a dead or exception posting again, unchanged (`to` is `kept` without a connector)."""
    row = _operable(conn, pid)
    finish(conn, pid, to, now)
    _audit(conn, pid, actor, "retry", now, {"state": row[0]}, {"state": to})
    return {"posting_id": pid, "state": to}


def resubmit(conn: Transaction, pid: str, actor: str, now: dt.datetime,
             edited: str | None = None, policy: PostingsConfig | None = None,
             mapping: MappingConfig | None = None, to: PostingState = PostingState.PENDING) -> dict[str, Any]:
    """Send again after a correction: a new payload, or none when the mapping was fixed.

    An edited payload must pass what governance checks before sending (balance, open day, and
    the config's mapping tables; the ERP's own records are checked when it is sent): otherwise
    PostingError 422 naming the field, e.g. `payload.tenders`, and nothing changes.
    """
    state, before = _operable(conn, pid)
    after = before
    if edited is not None:
        payload = _checked(edited, pid, json.loads(before)["kind"], policy or PostingsConfig(),
                           mapping or MappingConfig())
        after = payloads.encode(payload)
        conn.execute("UPDATE postings SET payload = ?, currency = ? WHERE posting_id = ?",
                     (after, payload.currency, pid))
    finish(conn, pid, to, now)
    _audit(conn, pid, actor, "resubmit", now,
           {"state": state, "payload": json.loads(before)},
           {"state": to, "payload": json.loads(after)})
    return {"posting_id": pid, "state": to, "edited": after != before}


def _checked(edited: str, pid: str, kind: str, policy: PostingsConfig,
             mapping: MappingConfig) -> payloads.Payload:
    try:
        payload = payloads.decode(edited)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message, field = validation.describe(exc)
        where = "payload" if field == "$" else f"payload.{field}"
        raise PostingError(f"payload is not a posting: {message}", where, 422) from exc
    if payload.posting_id != pid:
        raise PostingError("payload.posting_id cannot change (it is the idempotency key)",
                           "payload.posting_id", 422)
    if payload.kind != kind:
        raise PostingError(f"payload.kind cannot change (the posting is a {kind})",
                           "payload.kind", 422)
    try:
        governance.check(payload, rounding=policy.rounding, closed_through=policy.closed_through,
                         erp_closed=False)
        governance.to_erp(payload, mapping, Catalog())
    except Rejected as exc:
        where = "payload" if exc.field == "$" else f"payload.{exc.field}"
        raise PostingError(str(exc), where, 422) from exc
    return payload


def _operable(conn: Transaction, pid: str) -> tuple[str, str]:
    row = conn.execute("SELECT state, payload FROM postings WHERE posting_id = ?", (pid,)).fetchone()
    if row is None:
        raise PostingError(f"no posting {pid!r}", status=404)
    if row[0] not in (PostingState.EXCEPTION, PostingState.DEAD):
        raise PostingError(f"posting {pid} is {row[0]}; only exception and dead postings can be "
                           "retried or resubmitted")
    return row[0], row[1]


def _audit(conn: Transaction, pid: str, actor: str, action: str, now: dt.datetime,
           before: dict[str, Any], after: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO posting_audit (posting_id, at, actor, action, before, after)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (pid, stamp(now), actor, action, json.dumps(before), json.dumps(after)))


# --- reading (API and CLI) ---

_COLUMNS = ("posting_id, kind, store_id, business_day, currency, state, reason, erp_ref,"
            " attempts, next_attempt_at, created_at, updated_at, posted_at")


async def due(reader: Reads, now: dt.datetime, limit: int) -> list[str]:
    async with reader.execute(
        "SELECT posting_id FROM postings WHERE state = 'pending' AND next_attempt_at <= ?"
        " ORDER BY priority, next_attempt_at LIMIT ?", (stamp(now), limit)) as cur:
        return [r[0] for r in await cur.fetchall()]


async def listing(reader: Reads, *, state: str | None = None,
                  store_id: str | None = None, business_day: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """The newest `limit` postings that match (see `page` for the ones after them)."""
    return (await page(reader, state=state, store_id=store_id, business_day=business_day,
                       limit=limit))[0]


async def page(reader: Reads, *, state: str | None = None,
               store_id: str | None = None, business_day: str | None = None,
               limit: int = 100, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of postings, newest first, and the cursor of the next page (None at the end).

    The cursor names the last posting shown, so a page never repeats or skips one while new
    postings arrive. Raises ValueError for a cursor this function did not make.
    """
    where, args = _filters(state=state, store_id=store_id, business_day=business_day)
    if cursor is not None:
        created_at, pid = _decode_cursor(cursor)
        where.append("(created_at < ? OR (created_at = ? AND posting_id < ?))")
        args += [created_at, created_at, pid]
    sql = f"SELECT {_COLUMNS} FROM postings"
    if where:
        sql += " WHERE " + " AND ".join(where)
    async with reader.execute(sql + " ORDER BY created_at DESC, posting_id DESC LIMIT ?",
                              (*args, limit + 1)) as cur:
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], _encode_cursor(last["created_at"], last["posting_id"])


def _filters(**columns: str | None) -> tuple[list[str], list[str]]:
    where, args = [], []
    for column, value in columns.items():
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    return where, args


def _encode_cursor(created_at: str, pid: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at}|{pid}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, pid = text.split("|")
        dt.datetime.fromisoformat(created_at)
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error is a ValueError
        raise ValueError("not a cursor this hub gave out (use next_cursor as it came)") from exc
    return created_at, pid


async def counts(reader: Reads, *, store_id: str | None = None,
                 business_day: str | None = None) -> dict[str, int]:
    """Postings per state, of one store and/or business day when given."""
    where, args = _filters(store_id=store_id, business_day=business_day)
    sql = "SELECT state, COUNT(*) FROM postings"
    if where:
        sql += " WHERE " + " AND ".join(where)
    async with reader.execute(sql + " GROUP BY state", args) as cur:
        found: dict[str, int] = {row[0]: row[1] for row in await cur.fetchall()}
    return {state: int(found.get(state, 0)) for state in STATES}


async def show(reader: Reads, pid: str) -> dict[str, Any] | None:
    async with reader.execute(f"SELECT {_COLUMNS}, payload, erp_answer FROM postings"
                              " WHERE posting_id = ?", (pid,)) as cur:
        names = [d[0] for d in cur.description]
        row = await cur.fetchone()
    if row is None:
        return None
    out = dict(zip(names, row, strict=True))
    out["payload"] = json.loads(out["payload"])
    async with reader.execute(
        "SELECT attempt, started_at, request_digest, status, outcome, answer, latency_ms"
        " FROM posting_attempts WHERE posting_id = ? ORDER BY attempt", (pid,)) as cur:
        names = [d[0] for d in cur.description]
        out["attempt_log"] = [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
    async with reader.execute(
        "SELECT at, actor, action, before, after FROM posting_audit WHERE posting_id = ?"
        " ORDER BY id", (pid,)) as cur:
        out["audit"] = [{"at": at, "actor": actor, "action": action,
                         "before": json.loads(b) if b else None, "after": json.loads(a) if a else None}
                        for at, actor, action, b, a in await cur.fetchall()]
    return out


async def sources(reader: Reads, pid: str) -> tuple[str, list[str]] | None:
    """The store of a posting and the event ids it was made from."""
    async with reader.execute("SELECT store_id, event_id FROM postings WHERE posting_id = ?",
                              (pid,)) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    if row[1] is not None:
        return row[0], [row[1]]
    async with reader.execute("SELECT event_id FROM posting_sources WHERE posting_id = ?",
                              (pid,)) as cur:
        return row[0], [r[0] for r in await cur.fetchall()]
