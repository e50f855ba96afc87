"""Where each publication stands, store by store: the writer jobs that move a target store
through its states as the store reports, and the views the API shows.

    pending ──> delivered ──> applied (with the store's time)
       │            │
       └────────────┴──> failed (with the store's reason; it may still apply the version)
    pending / delivered / failed ──> cancelled   (POST /v1/publications/{id}/cancel)
                                 ──> superseded  (a newer publication to the store carries it)

Phase 2 of the catalog (docs/catalog.md) calls `delivered` when every chunk of a version has
been handed to the broker, and `on_ack` with each CatalogAck a store sends.
"""

import datetime as dt
from typing import Any

from hub.storage import Reads, Transaction
from hub.storage.publications import OPEN_STATES
from protocol.messages import CatalogAck

STATES = ("pending", "delivered", "applied", "failed", "cancelled", "superseded")


def delivered(tx: Transaction, store_id: str, version: int, now: dt.datetime) -> int:
    """The version was handed over for the store; how many targets that moved."""
    return tx.publications.set_target(store_id, version, "delivered", ("pending",), now)


def applied(tx: Transaction, store_id: str, version: int, at: dt.datetime,
            now: dt.datetime) -> None:
    """The store applied `version` at `at` (its clock): its targets for that version are applied,
    any for older versions superseded, and the store's applied version recorded."""
    tx.publications.set_target(store_id, version, "applied", OPEN_STATES, now, applied_at=at)
    tx.publications.supersede_below(store_id, version, now)
    tx.publications.record_applied(store_id, version, at, now)


def failed(tx: Transaction, store_id: str, version: int, reason: str, now: dt.datetime) -> int:
    """The store cannot apply `version`, and says why."""
    return tx.publications.set_target(store_id, version, "failed", ("pending", "delivered"), now,
                                      reason=reason[:500])


def on_ack(tx: Transaction, ack: CatalogAck, now: dt.datetime) -> None:
    """A store's CatalogAck: applied, failed, or resend (the version goes back to pending, so
    it is sent again). A state this hub does not know is ignored (schema evolution)."""
    if ack.state == "applied":
        applied(tx, ack.store_id, ack.version, ack.at or now, now)
    elif ack.state == "failed":
        failed(tx, ack.store_id, ack.version, ack.reason or "no reason given", now)
    elif ack.state == "resend":
        tx.publications.set_target(ack.store_id, ack.version, "pending", ("delivered",), now)


async def view(reads: Reads, pid: int) -> dict[str, Any] | None:
    """A publication with its counts by state and each target store's state."""
    found = await reads.publications.publication(pid)
    if found is None:
        return None
    counts = (await reads.publications.counts([pid]))[pid]
    return {**found, **_progress(counts), "stores": [
        {"store_id": t["store_id"], "state": t["state"], "at": t["updated_at"],
         "applied_at": t["applied_at"], "reason": t["reason"]}
        for t in await reads.publications.targets(pid)]}


async def listing(reads: Reads, *, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Publications newest first, each with its counts (not its stores)."""
    found = await reads.publications.publications(before=before, limit=limit)
    counts = await reads.publications.counts([p["id"] for p in found])
    return [{**p, **_progress(counts[p["id"]])} for p in found]


def _progress(counts: dict[str, int]) -> dict[str, Any]:
    full = {state: counts.get(state, 0) for state in STATES}
    total = sum(full.values())
    return {"counts": {**full, "total": total},
            "progress": f"applied by {full['applied']} of {total} stores"}
