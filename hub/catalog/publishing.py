"""Publications: what is staged (or an earlier version's content) becomes a new immutable catalog
version, deployed to its target stores, each of which then moves through pending, delivered,
applied or failed (below). Each function but the views is one writer job.

- A version's content is the master data as it is at publication: every item (only active
  ones reach the stores), the books and groups, the prices published before and those staged
  now. Prices that can no longer apply (ended, or a list price followed by a later one) more than
  a day before are left out, so the catalog does not grow without end.
- The catalog is one for all of head office: targeting decides which stores are moved to the
  new version now. A store left out gets the changes with the next publication that targets it.
- A store still to apply an earlier publication is moved on to the new one (the earlier target
  is `superseded`: the new version carries its content).
- Cancel stops delivery to the stores that have not applied the version yet. The content stays
  head office's catalog (the next publication carries it): to take it back, roll back.
- Rollback to a kept version publishes that version's content as a new version and puts the
  master data (items, books, groups) back as they were then; items made since become inactive.
  It is refused while price changes are staged (publish or withdraw them first).

Each target store moves through its states as the store reports:

    pending ──> delivered ──> applied (with the store's time)
       │            │
       └────────────┴──> failed (with the store's reason; it may still apply the version)
    pending / delivered / failed ──> cancelled   (POST /v1/publications/{id}/cancel)
                                 ──> superseded  (a newer publication to the store carries it)

hub.catalog.delivery calls `sent` when every chunk of a version has been handed to the broker,
`on_ack` with each CatalogAck a store sends and `reported` with each state it retains.
"""

import datetime as dt
import logging
from typing import Any

from hub.catalog.requests import PublicationIn
from hub.config import CatalogConfig
from hub.errors import CatalogError
from hub.storage import Reads, Transaction
from hub.storage.publications import OPEN_STATES
from protocol.messages import CatalogAck, StoreState

log = logging.getLogger(__name__)

# Prices that stopped applying this long before a publication are left out of it: long enough
# for any store clock that is behind, and for a till asking about yesterday.
KEEP_ENDED = dt.timedelta(days=1)


def publish(tx: Transaction, body: PublicationIn, now: dt.datetime,
            config: CatalogConfig) -> dict[str, Any]:
    """Make the next version and deploy it to the stores `body` names: {"id", "version",
    "stores"}. CatalogError naming the field for targets or a rollback that cannot be."""
    rollback = body.rollback_to
    if rollback is not None:
        _check_rollback(tx, rollback)
    stores = _targets(tx, body)
    if rollback is not None:
        _restore_master(tx, rollback, now)
    version = tx.publications.head() + 1
    tx.publications.add_version(version, now, rollback, tx.catalog.setup())
    if rollback is not None:
        tx.publications.restore_prices(version, rollback)
    else:
        tx.publications.add_prices(version, tx.catalog.take_staged(version))
        tx.publications.close_ended(version, now - KEEP_ENDED)
    tx.publications.sync_items(version)
    tx.publications.count_version(version)
    targets = {"stores": "all" if body.stores is None and not body.groups else body.stores,
               "groups": body.groups}
    pid = tx.publications.add_publication(version, now, body.note, targets, rollback)
    tx.publications.add_targets(pid, stores, now)
    tx.publications.prune(version - config.keep_versions + 1)
    return {"id": pid, "version": version, "stores": len(stores)}


def auto_publish(tx: Transaction, now: dt.datetime, config: CatalogConfig,
                 what: str) -> dict[str, Any] | None:
    """With `[catalog] auto_publish`, publish to every store at once what was just accepted
    (`what` becomes the note); None when it is off or the hub knows no store yet."""
    if not config.auto_publish or not tx.catalog.known_stores():
        return None
    return publish(tx, PublicationIn(stores="all", note=f"auto_publish: {what}"), now, config)


def cancel(tx: Transaction, pid: int, now: dt.datetime) -> int:
    """Stop publication `pid` for the stores that have not applied it; how many. Cancelling
    again is harmless; CatalogError 409 when every target has applied it (or a newer one)."""
    row = tx.publications.publication(pid)
    if row is None:
        raise CatalogError(f"no publication {pid}", "id", status=404)
    if row["cancelled_at"] is not None:
        return 0
    stopped = tx.publications.cancel(pid, now)
    if not stopped:
        raise CatalogError(f"publication {pid} has nothing left to stop: every target store "
                           "applied it or a newer version", "id", status=409)
    return stopped


def _check_rollback(tx: Transaction, version: int) -> None:
    found = tx.publications.version(version)
    if found is None:
        raise CatalogError(f"no catalog version {version}", "rollback_to")
    if found.pruned:
        raise CatalogError(f"version {version} is no longer kept ([catalog] keep_versions): "
                           "it cannot be rolled back to", "rollback_to")
    staged = tx.catalog.staged_count()
    if staged:
        raise CatalogError(f"{staged} price changes are staged: publish them or withdraw them "
                           "(DELETE /v1/price-books/{book}/prices/staged) before a rollback",
                           "rollback_to", status=409)


def _targets(tx: Transaction, body: PublicationIn) -> set[str]:
    """The stores a publication goes to, every name checked."""
    stores, groups = body.stores, body.groups
    if stores is None and not groups:
        if body.rollback_to is None:
            raise CatalogError('say where to publish: "stores": "all" or a list of stores, '
                               'and/or "groups"', "stores")
        stores = "all"
    known = tx.catalog.known_stores()
    chosen: set[str] = set()
    if stores == "all":
        chosen |= known
    elif stores is not None:
        for i, store in enumerate(stores):
            if store not in known:
                raise CatalogError(f"the hub knows no store {store!r} (not provisioned, never "
                                   "connected, in no group or book)", f"stores[{i}]")
        chosen |= set(stores)
    members = tx.catalog.setup()["groups"]
    for i, group in enumerate(groups):
        if group not in members:
            raise CatalogError(f"no store group {group!r}", f"groups[{i}]")
        chosen |= set(members[group])
    if not chosen:
        raise CatalogError("no store to publish to: the targets name none", "stores")
    return chosen


def _restore_master(tx: Transaction, version: int, now: dt.datetime) -> None:
    """Items, books and groups as they were in `version`."""
    found = tx.publications.version(version)
    assert found is not None
    items = tx.publications.items_at(version)
    tx.catalog.retire_items_except([i.sku for i in items], now)
    tx.catalog.upsert_items(items, now)
    tx.catalog.restore_setup(found.setup, now)


# --- tracking, store by store ---

STATES = ("pending", "delivered", "applied", "failed", "cancelled", "superseded")


def delivered(tx: Transaction, store_id: str, version: int, now: dt.datetime) -> int:
    """The version was handed over for the store; how many targets that moved."""
    return tx.publications.set_target(store_id, version, "delivered", ("pending",), now)


def sent(tx: Transaction, store_id: str, version: int, now: dt.datetime) -> int:
    """Every chunk of `version` was handed to the broker for the store (again): its open
    targets for it are `delivered` as of now, and the wait for the store's ack starts over."""
    return tx.publications.set_target(store_id, version, "delivered", OPEN_STATES, now)


def applied(tx: Transaction, store_id: str, version: int, at: dt.datetime,
            now: dt.datetime) -> None:
    """The store applied `version` at `at` (its clock): its targets for that version are applied,
    any for older versions superseded, and the store's applied version recorded."""
    tx.publications.set_target(store_id, version, "applied", OPEN_STATES, now, applied_at=at)
    tx.publications.supersede_below(store_id, version, now)
    tx.store_catalogs.report(store_id, version, at, now, applied_at=at)


def failed(tx: Transaction, store_id: str, version: int, reason: str, now: dt.datetime) -> int:
    """The store cannot apply `version`, and says why."""
    return tx.publications.set_target(store_id, version, "failed", ("pending", "delivered"), now,
                                      reason=reason[:500])


def on_ack(tx: Transaction, ack: CatalogAck, now: dt.datetime) -> None:
    """A store's CatalogAck: applied, failed, or resend (the version goes back to pending, so
    it is sent again, as a delta from the version the ack says the store has). A state this hub
    does not know is ignored (schema evolution)."""
    if ack.state == "applied":
        applied(tx, ack.store_id, ack.version, ack.at or now, now)
    elif ack.state == "failed":
        failed(tx, ack.store_id, ack.version, ack.reason or "no reason given", now)
    elif ack.state == "resend":
        if ack.at is not None:
            tx.store_catalogs.report(ack.store_id, ack.catalog_version, ack.at, now)
        tx.publications.set_target(ack.store_id, ack.version, "pending", ("delivered", "failed"),
                                   now)


def reported(tx: Transaction, state: StoreState, now: dt.datetime) -> None:
    """A store's state names the catalog version it has (0: it takes catalogs and has none;
    None: an agent that does not take catalogs, left alone). A version older than one it
    applied before (its catalog was lost or restored) puts that one back to pending."""
    if state.catalog_version is None:
        return
    at = state.at or now
    version = state.catalog_version or None
    if tx.store_catalogs.report(state.store_id, version, at, now):
        reopened = tx.store_catalogs.reopen_above(state.store_id, version, at, now)
        if reopened:
            log.warning("store %s reports catalog version %s, older than one it applied: "
                        "sending it again", state.store_id, version)


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
