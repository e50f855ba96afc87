"""The fleet: each store's online state (from its retained state message), last seen, stream.

A provisioned store that never connected has a row with no `last_seen` (`never_connected`), so it
is listed beside the others; removing its credentials removes that row (`provisioned`).
"""

import asyncio
from typing import Any

from hub.config import HubConfig
from hub.storage import Reads, Transaction, factory
from protocol.messages import StoreState
from runtime.clock import stamp


def seen(tx: Transaction, store_id: str, stream: str, now: str) -> None:
    tx.fleet.seen(store_id, stream, now)


def record_state(tx: Transaction, state: StoreState, now: str) -> None:
    tx.fleet.record_state(state, now=now, state_at=stamp(state.at) if state.at else now)


def provisioned(tx: Transaction, store_ids: list[str]) -> None:
    """Make the never-connected rows match the provisioned stores (the broker's users file)."""
    tx.fleet.match_provisioned(store_ids)


async def stores(reads: Reads) -> list[dict[str, Any]]:
    """Every store; `catalog_version` is the catalog version it says it has (None: none, or it
    never said), `catalog_applied_at` when it applied it (its clock)."""
    catalogs = await reads.store_catalogs.applied()
    return [
        {
            "store_id": r["store_id"], "online": bool(r["online"]), "last_seen": r["last_seen"],
            "stream": r["stream"], "version": r["version"], "backlog": r["backlog"],
            "applied_seq": r["applied_seq"], "events": r["events"],
            "never_connected": r["last_seen"] is None,
            "catalog_version": catalogs.get(r["store_id"], {}).get("version"),
            "catalog_applied_at": catalogs.get(r["store_id"], {}).get("applied_at"),
        }
        for r in await reads.fleet.stores()
    ]


def list_stores_now(config: HubConfig) -> list[dict[str, Any]]:
    """`stores()` for a command line: opens, reads and closes a read-only connection."""

    async def read() -> list[dict[str, Any]]:
        async with factory.reading(config) as reads:
            return await stores(reads)

    return asyncio.run(read())


def render_stores(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'STORE':12}  {'ONLINE':6}  {'APPLIED':>8}  {'EVENTS':>8}  {'BACKLOG':>7}  LAST SEEN"]
    lines += [f"{r['store_id']:12}  {'yes' if r['online'] else 'no':6}  {r['applied_seq']:>8}  "
              f"{r['events']:>8}  {r['backlog'] if r['backlog'] is not None else '-':>7}  "
              f"{r['last_seen'] or 'never connected'}" for r in rows]
    return "\n".join(lines)


async def page(reads: Reads, *, online: bool | None, query: str,
               offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """One page of the fleet for the dashboard: filtered in SQL, never all 1,000 rows."""
    total, rows = await reads.fleet.page(online=online, query=query, offset=offset, limit=limit)
    return total, [
        {"store_id": r["store_id"], "online": bool(r["online"]), "last_seen": r["last_seen"],
         "backlog": r["backlog"], "version": r["version"], "last_applied_at": r["last_applied_at"],
         "quarantined": r["quarantined"], "never_connected": r["last_seen"] is None}
        for r in rows
    ]


async def counts(reads: Reads) -> dict[str, int]:
    total, online = await reads.fleet.counts()
    return {"stores": total, "online": online, "offline": total - online}
