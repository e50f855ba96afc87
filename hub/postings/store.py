"""ERP postings: the hub's transactional outbox towards the ERP, with its attempts and audit trail.

A posting is created in the same transaction that applies its source events, so none is lost and
none is made twice. A posting of one transaction names its event in `postings.event_id`; a daily
summary's events are listed in `posting_sources`. Its `posting_id` is derived from its sources
and is also the idempotency key every ERP call carries. States: pending → posting → posted |
exception | dead; `exception` and `dead` go back to pending only by an operator's retry or
resubmit, which the audit trail records. Without an ERP connector a posting is `kept` instead of
pending: stored, not waiting for anything; when a connector is configured, the relay makes kept
postings pending at its start.

A relay claims a posting for a lease (`claim`: `posting`, its worker id and the lease's end) and
counts an attempt, whose number names that claim. A relay that dies mid-send leaves its claims
to their lease: once it ends they are due again, for any worker's relay, and are sent again under
the same idempotency key (the ERP answers "already posted"). A worker that starts again under the
same id takes its own unfinished claims back at once (`release_claims`; on SQLite, where one hub
owns the database, a starting hub takes back every open claim). The ERP's answer is
recorded only under the claim it was sent under (`settle`): an answer that comes back after the
claim was lost (its lease ended and another relay claimed the posting, or it was put back) changes
nothing but the attempt's own record, because the posting is now another claim's to settle, and
that claim's call, under the same key, gets the ERP's answer for the same posting. Recording the
late answer instead could put back to pending (or mark dead) a posting another relay is sending.

This module decides; the tables are read and written by the storage port's `postings` and
`audit` repositories (hub.storage.postings, hub.storage.audit).
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
from hub.storage.postings import NewPosting, PostingSource
from protocol import codec
from protocol.messages import DayClose, Envelope, InventoryAdjustment, Return, Sale
from runtime import validation


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


def on_applied(tx: Transaction, envs: list[Envelope], policy: PostingsConfig,
               now: dt.datetime, state: PostingState = PostingState.PENDING) -> int:
    """Create the postings that newly applied events call for; runs in the applying transaction."""
    summarised: dict[tuple[str, dt.date], int] = defaultdict(int)
    closes: list[tuple[str, dt.date]] = []
    made: list[tuple[payloads.Payload, str | None]] = []  # (posting, its one event if one)
    kinds = summary_kinds(policy)
    for env in envs:
        event = env.event
        if isinstance(event, DayClose):
            if event.register_id is None:
                closes.append((env.store_id, env.business_day))
        elif env.kind in kinds:
            summarised[(env.store_id, env.business_day)] += 1
        elif isinstance(event, Sale | Return):
            pid = posting_id(env.kind, env.event_id)
            made.append((payloads.for_transaction(pid, env), env.event_id))
        elif isinstance(event, InventoryAdjustment) and policy.inventory_adjustments != "none":
            pid = posting_id(env.kind, env.event_id)
            made.append((payloads.for_adjustment(pid, env), env.event_id))
    # The whole batch in one statement: 500 sales are one insert, not 500 (ingest's hot path).
    _add(tx, made, now, state)
    created = len(made)
    for (store, day), count in summarised.items():
        tx.postings.await_summary(store, day, count)
    if summary_kinds(policy):
        for store, day in closes:
            created += release_summary(tx, store, day, policy, now, state)
    return created


def release_summary(tx: Transaction, store_id: str, day: dt.date,
                    policy: PostingsConfig, now: dt.datetime,
                    state: PostingState = PostingState.PENDING) -> int:
    """Post one store-day's not yet summarised sales (and returns): one posting per currency.

    Events that arrive after a day was released go into a later part of the same day.
    """
    bodies = tx.postings.unsummarised(store_id, day, sorted(summary_kinds(policy)))
    part = tx.postings.summary_parts(store_id, day)
    by_currency: dict[str, list[Envelope]] = defaultdict(list)
    for body in bodies:
        env = codec.decode_envelope(body)
        assert isinstance(env.event, Sale | Return)
        by_currency[env.event.currency].append(env)
    if by_currency:
        part += 1
    for currency, envs in sorted(by_currency.items()):
        pid = posting_id("daily_summary", store_id, day.isoformat(), currency, str(part))
        _add(tx, [(payloads.daily_summary(pid, store_id, day, currency, envs), None)], now, state)
        tx.postings.link_sources(
            PostingSource(env.event_id, pid, getattr(env.event, "register_id", None),
                          getattr(env.event, "pos_txn_id", None)) for env in envs)
    tx.postings.summary_released(store_id, day, part, now)
    return len(by_currency)


def sweep(tx: Transaction, policy: PostingsConfig, now: dt.datetime,
          state: PostingState = PostingState.PENDING) -> int:
    """Release the summaries whose cutoff has passed, and late events of released days."""
    if not summary_kinds(policy):
        return 0
    hour, minute = (int(x) for x in policy.summary_cutoff.split(":"))
    local = now.astimezone(zoneinfo.ZoneInfo(policy.timezone))
    # The cutoff of business day D is at summary_cutoff on D + 1 (local time).
    passed = local.hour * 60 + local.minute >= hour * 60 + minute
    last_due = local.date() - dt.timedelta(days=1 if passed else 2)
    # Each store-day under its store's lock (hub.ingest.eventlog), as ingest applies the store's
    # events and releases on a day close: otherwise a sale committed between this release's
    # reads and its writes could be counted as summarised but left out, or released twice.
    # A store another worker is applying now waits for the next sweep.
    return sum(release_summary(tx, store, day, policy, now, state)
               for store, day in tx.postings.summaries_due(last_due)
               if tx.events.lock_store(store))


def _add(tx: Transaction, made: list[tuple[payloads.Payload, str | None]],
         now: dt.datetime, state: PostingState) -> None:
    assert state in (PostingState.PENDING, PostingState.KEPT)
    tx.postings.add([NewPosting(p.posting_id, p.kind, p.store_id, p.business_day, p.currency,
                                PRIORITY.get(p.kind, 1), payloads.encode(p), event_id)
                     for p, event_id in made], state, now)


# --- the relay's transitions (run in the hub's writer) ---

class Claimed(msgspec.Struct, frozen=True):
    posting_id: str
    kind: str
    attempts: int
    payload: str


def release_claims(tx: Transaction, worker: str | None, now: dt.datetime) -> int:
    """At a relay's start: the postings left mid-send by this worker before it stopped (the same
    worker id, started again) are pending again, due at once; how many. Other workers' claims
    are left to their lease (on SQLite, one hub per database, every open claim is this hub's:
    all go back). `worker` None: every open claim goes back, for the relay of the worker that
    has just taken the cluster's lead (the one relay; a former leader that lost its lead while
    still sending is stopped within `cluster.leader_check_s`, and a posting it sends as well
    carries the same idempotency key)."""
    return tx.postings.release_claims(worker, now)


def release_kept(tx: Transaction, now: dt.datetime) -> int:
    """A connector is configured now: postings kept without one become pending, due at once."""
    return tx.postings.release_kept(now)


def keep_waiting(tx: Transaction, now: dt.datetime) -> int:
    """No connector (any more): postings waiting for one are kept, not pending forever (one that
    another worker's relay is sending, its lease not ended, stays that relay's)."""
    return tx.postings.keep_waiting(now)


def claim(tx: Transaction, now: dt.datetime, limit: int, worker: str,
          until: dt.datetime) -> list[Claimed]:
    """Up to `limit` postings due at `now` (pending, or claimed under a lease that has ended), now
    `worker`'s until `until`, each attempt counted."""
    return [Claimed(row["posting_id"], row["kind"], row["attempts"], row["payload"])
            for row in tx.postings.claim(now, limit, worker, until)]


def settle(tx: Transaction, claimed: Claimed, worker: str, state: PostingState,
           now: dt.datetime, *, reason: str | None = None, erp_ref: str | None = None,
           answer: str | None = None, next_attempt: dt.datetime | None = None) -> bool:
    """End `worker`'s claim as `finish` would: True; False and nothing changed when the claim is
    no longer the posting's (see the module docstring)."""
    assert state in STATES
    return tx.postings.settle(claimed.posting_id, worker, claimed.attempts, state, now,
                              due=next_attempt or now, reason=reason, erp_ref=erp_ref,
                              answer=answer)


def finish(tx: Transaction, pid: str, state: PostingState, now: dt.datetime, *,
           reason: str | None = None, erp_ref: str | None = None, answer: str | None = None,
           next_attempt: dt.datetime | None = None) -> None:
    """Put a posting in `state`; a pending one is due at `next_attempt` (at once if None)."""
    assert state in STATES
    tx.postings.set_state(pid, state, now, due=next_attempt or now, reason=reason,
                          erp_ref=erp_ref, answer=answer)


def record_attempt(tx: Transaction, pid: str, attempt: int, started: dt.datetime,
                   digest: str, status: int | None, outcome: str, answer: str | None,
                   latency_ms: int) -> None:
    tx.postings.record_attempt(pid, attempt, started, digest, status, outcome, answer,
                               latency_ms)


# --- operators' actions (CLI and API), each kept in the audit trail ---

def retry(tx: Transaction, pid: str, actor: str, now: dt.datetime,
          to: PostingState = PostingState.PENDING) -> dict[str, Any]:
    """Send a dead or exception posting again, unchanged (`to` is `kept` without a connector)."""
    state, _ = _operable(tx, pid)
    finish(tx, pid, to, now)
    tx.audit.record(pid, actor, "retry", now, {"state": state}, {"state": to})
    return {"posting_id": pid, "state": to}


def resubmit(tx: Transaction, pid: str, actor: str, now: dt.datetime,
             edited: str | None = None, policy: PostingsConfig | None = None,
             mapping: MappingConfig | None = None, to: PostingState = PostingState.PENDING) -> dict[str, Any]:
    """Send again after a correction: a new payload, or none when the mapping was fixed.

    An edited payload must pass what governance checks before sending (balance, open day, and
    the config's mapping tables; the ERP's own records are checked when it is sent): otherwise
    PostingError 422 naming the field, e.g. `payload.tenders`, and nothing changes.
    """
    state, before = _operable(tx, pid)
    after = before
    if edited is not None:
        payload = _checked(edited, pid, json.loads(before)["kind"], policy or PostingsConfig(),
                           mapping or MappingConfig())
        after = payloads.encode(payload)
        tx.postings.replace_payload(pid, after, payload.currency)
    finish(tx, pid, to, now)
    tx.audit.record(pid, actor, "resubmit", now,
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


def _operable(tx: Transaction, pid: str) -> tuple[str, str]:
    """(state, payload) of a posting an operator may retry or resubmit; PostingError otherwise."""
    row = tx.postings.state_and_payload(pid)
    if row is None:
        raise PostingError(f"no posting {pid!r}", status=404)
    if row["state"] not in (PostingState.EXCEPTION, PostingState.DEAD):
        raise PostingError(f"posting {pid} is {row['state']}; only exception and dead postings "
                           "can be retried or resubmitted")
    return row["state"], row["payload"]


# --- reading (API and CLI) ---

async def due(reads: Reads, now: dt.datetime, limit: int) -> list[str]:
    return await reads.postings.due(now, limit)


async def listing(reads: Reads, *, state: str | None = None,
                  store_id: str | None = None, business_day: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """The newest `limit` postings that match (see `page` for the ones after them)."""
    return (await page(reads, state=state, store_id=store_id, business_day=business_day,
                       limit=limit))[0]


async def page(reads: Reads, *, state: str | None = None,
               store_id: str | None = None, business_day: str | None = None,
               limit: int = 100, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of postings, newest first, and the cursor of the next page (None at the end).

    The cursor names the last posting shown, so a page never repeats or skips one while new
    postings arrive. Raises ValueError for a cursor this function did not make.
    """
    before = _decode_cursor(cursor) if cursor is not None else None
    # One more than the page: whether it exists says if there is a next page.
    rows = await reads.postings.newest(state=state, store_id=store_id, business_day=business_day,
                                       before=before, limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], _encode_cursor(last["created_at"], last["posting_id"])


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


async def counts(reads: Reads, *, store_id: str | None = None,
                 business_day: str | None = None) -> dict[str, int]:
    """Postings per state, of one store and/or business day when given."""
    found = await reads.postings.count_by_state(store_id=store_id, business_day=business_day)
    return {state: found.get(state, 0) for state in STATES}


async def show(reads: Reads, pid: str) -> dict[str, Any] | None:
    """A posting with its payload, the ERP's last answer, its attempts and its audit trail."""
    out = await reads.postings.one(pid)
    if out is None:
        return None
    out["payload"] = json.loads(out["payload"])
    out["attempt_log"] = await reads.postings.attempts(pid)
    out["audit"] = await reads.audit.trail(pid)
    return out


async def sources(reads: Reads, pid: str) -> tuple[str, list[str]] | None:
    """The store of a posting and the event ids it was made from."""
    return await reads.postings.made_from(pid)
