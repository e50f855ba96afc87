"""Reconciliation: per store and business day, the store's day-close, the hub's totals and the ERP's.

All three are compared to the cent. For a mismatch the report names leads: how many transactions
the hub is short of the store's own count, gaps in each register's numbering, postings the ERP
does not hold (with their transactions and state), and documents the ERP holds that the hub
never sent. Without an ERP (`connector = "none"`, postings are only kept) there is no ERP side:
store and hub are compared, and the report says the ERP is not configured.
"""

import datetime as dt
import itertools
import json
import logging
from decimal import Decimal
from enum import StrEnum
from typing import Any

from hub.config import MappingConfig
from hub.erp.base import Connector
from hub.errors import UnknownStore
from hub.ledger import days
from hub.postings.store import PostingState
from hub.storage import Reads, Transaction

log = logging.getLogger(__name__)


class ReconcileStatus(StrEnum):
    """The verdict on one store-day (`reconciliations.status`, the API's `status`)."""

    MATCHED = "matched"        # store, hub and ERP agree
    MISMATCHED = "mismatched"  # they differ, or postings are missing on one side
    INCOMPLETE = "incomplete"  # no day-close from the store yet: the day is not over

_MAX_LEADS = 50
_MAX_JUMP = 100


async def known_store(reader: Reads, store_id: str) -> bool:
    return await reader.reconciliations.store_known(store_id)


async def stores_of_day(reader: Reads, day: dt.date) -> list[str]:
    return await reader.reconciliations.stores_of_day(day)


async def report(reader: Reads, connector: Connector | None,
                 mapping: MappingConfig, store_id: str, day: dt.date) -> dict[str, Any]:
    hub = await days.report(reader, store_id, day)
    close = hub["store_day_close"]
    hub_side = {
        "sales_count": hub["sales_count"], "returns_count": hub["returns_count"],
        "net_total": hub["net_total"], "tax_total": hub["tax_total"],
        "gross_total": hub["gross_total"], "tenders": hub["tenders"],
    }
    differences: list[dict[str, Any]] = []
    store_side = None
    if close is not None:
        store_side = {
            "sales_count": close["sales_count"], "returns_count": close["returns_count"],
            "net_total": close["net_total"], "tax_total": close["tax_total"],
            "gross_total": str(Decimal(close["net_total"]) + Decimal(close["tax_total"])),
            "tenders": close["tenders"],
        }
        for field in ("sales_count", "returns_count", "net_total", "tax_total", "gross_total"):
            if _differs(store_side[field], hub_side[field]):
                differences.append({"field": field, "store": store_side[field], "hub": hub_side[field]})
        for method in sorted(set(store_side["tenders"]) | set(hub_side["tenders"] or {})):
            s, h = store_side["tenders"].get(method, "0"), (hub_side["tenders"] or {}).get(method, "0")
            if _differs(s, h):
                differences.append({"field": f"tenders.{method}", "store": s, "hub": h})
    erp_side, missing_in_erp, extra_in_erp = await _erp(reader, connector, mapping, store_id, day)
    if erp_side.get("gross_total") is not None and _differs(erp_side["gross_total"],
                                                             hub_side["gross_total"]):
        differences.append({"field": "gross_total", "hub": hub_side["gross_total"],
                            "erp": erp_side["gross_total"]})
    # Without the store's day-close the day is not over: the ERP is naturally behind the hub
    # (summaries not released, postings on their way), so that is not a mismatch yet.
    if close is None:
        status = ReconcileStatus.INCOMPLETE
    else:
        status = (ReconcileStatus.MISMATCHED if differences or missing_in_erp or extra_in_erp
                  else ReconcileStatus.MATCHED)
    out: dict[str, Any] = {
        "store_id": store_id, "business_day": day.isoformat(), "status": status,
        "currency": hub["currency"], "store": store_side, "hub": hub_side, "erp": erp_side,
        "differences": differences, "missing_in_erp": missing_in_erp, "extra_in_erp": extra_in_erp,
    }
    if store_side is not None:
        out["missing_in_hub"] = await _hub_leads(reader, store_id, day, store_side, hub_side)
    return out


def _differs(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is not b
    return Decimal(str(a)) != Decimal(str(b))


async def _erp(reader: Reads, connector: Connector | None, mapping: MappingConfig,
               store_id: str, day: dt.date) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(ERP side, postings the ERP lacks, documents only the ERP has); `connector` None is no
    ERP at all: nothing is expected of it."""
    expected = {row["posting_id"]: (row["kind"], row["state"], row["reason"],
                                    json.loads(row["payload"]))
                for row in await reader.postings.for_the_erp_books(store_id, day)}
    if connector is None:
        return ({"configured": False, "available": False, "source": "none",
                 "postings": len(expected)}, [], [])
    docs = await connector.posted(mapping.stores.get(store_id, store_id), day)
    erp_side: dict[str, Any] = {"configured": True, "available": docs is not None,
                                "postings": len(expected),
                                "source": "erp" if docs is not None else "hub_ledger"}
    if docs is None:
        # The ERP cannot be asked: what the hub knows it accepted stands in for it.
        found_ids = {pid for pid, (_, state, _, _) in expected.items() if state == PostingState.POSTED}
        gross = Decimal(0)
        for pid in found_ids:
            kind, _, _, payload = expected[pid]
            amount = Decimal(payload["totals"]["gross"])
            gross += -amount if kind == "return" else amount
        erp_side.update(gross_total=str(gross), documents=len(found_ids))
    else:
        found_ids = {d.posting_id for d in docs}
        gross = Decimal(0)
        for d in docs:
            kind = expected.get(d.posting_id, ("sale",))[0]
            gross += -abs(d.gross) if kind == "return" else d.gross
        erp_side.update(gross_total=str(gross), documents=len(docs))
    missing = [
        {"posting_id": pid, "kind": kind, "state": state, "reason": reason,
         "source": payload.get("source", [])[:_MAX_LEADS]}
        for pid, (kind, state, reason, payload) in expected.items() if pid not in found_ids
    ]
    extra = [{"posting_id": d.posting_id, "erp_ref": d.erp_ref, "gross": str(d.gross)}
             for d in docs or [] if d.posting_id not in expected]
    return erp_side, missing, extra


async def _hub_leads(reader: Reads, store_id: str, day: dt.date,
                     store_side: dict[str, Any], hub_side: dict[str, Any]) -> dict[str, Any]:
    """Which transactions the hub may lack: the count short and gaps in register numbering."""
    numbers: dict[str, list[tuple[int, str]]] = {}
    for row in await reader.reconciliations.transaction_numbers(store_id, day):
        txn = row["pos_txn_id"]
        if txn is not None and txn.isdigit():
            numbers.setdefault(row["register_id"], []).append((int(txn), txn))
    gaps = []
    for register, found in sorted(numbers.items()):
        found.sort()
        width = len(found[0][1])
        missing: list[str] = []
        for (a, _), (b, _) in itertools.pairwise(found):
            # A jump of more than _MAX_JUMP is another numbering series (returns, a new roll),
            # not missing receipts.
            if 1 < b - a <= _MAX_JUMP:
                missing.extend(str(n).zfill(width) for n in range(a + 1, min(b, a + 1 + _MAX_LEADS)))
            if len(missing) >= _MAX_LEADS:
                break
        if missing:
            gaps.append({"register_id": register, "missing": missing[:_MAX_LEADS],
                         "last_seen": found[-1][1]})
    return {
        "sales_short": store_side["sales_count"] - hub_side["sales_count"],
        "returns_short": store_side["returns_count"] - hub_side["returns_count"],
        "register_gaps": gaps,
        "last_seen": {r: f[-1][1] for r, f in sorted(numbers.items())},
    }


async def run(reader: Reads, connector: Connector | None, mapping: MappingConfig,
              day: dt.date, store_id: str | None = None) -> dict[str, Any]:
    """Raises UnknownStore when `store_id` names a store the hub does not know."""
    if store_id is not None and not await known_store(reader, store_id):
        raise UnknownStore(store_id)
    stores = [store_id] if store_id is not None else await stores_of_day(reader, day)
    reports = [await report(reader, connector, mapping, s, day) for s in stores]
    statuses = [r["status"] for r in reports]
    return {"business_day": day.isoformat(),
            **{status.value: statuses.count(status) for status in ReconcileStatus},
            "stores": reports}


def save(tx: Transaction, result: dict[str, Any], now: dt.datetime) -> None:
    """Keep the latest scheduled result per store-day (for the dashboard and audits)."""
    for rep in result["stores"]:
        tx.reconciliations.record(rep["store_id"], rep["business_day"], rep["status"], rep, now)
