"""The fleet: each store's online state (from its retained state message), last seen, stream.

A provisioned store that never connected has a row with no `last_seen` (`never_connected`), so it
is listed beside the others; removing its credentials removes that row (`provisioned`).
"""

import asyncio
from pathlib import Path
from typing import Any

from hub.storage import Reads, Transaction, reading
from protocol.messages import StoreState
from runtime.clock import stamp


def seen(conn: Transaction, store_id: str, stream: str, now: str) -> None:
    conn.execute(
        "INSERT INTO stores (store_id, last_seen, stream, online) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (store_id) DO UPDATE SET last_seen = excluded.last_seen,"
        " stream = excluded.stream",
        (store_id, now, stream),
    )


def record_state(conn: Transaction, state: StoreState, now: str) -> None:
    at = stamp(state.at) if state.at else now
    conn.execute(
        "INSERT INTO stores (store_id, online, last_seen, state_at, version, backlog, stream)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (store_id) DO UPDATE SET online = excluded.online,"
        " last_seen = CASE WHEN excluded.online THEN excluded.last_seen ELSE last_seen END,"
        " state_at = excluded.state_at,"
        " version = COALESCE(excluded.version, version),"
        " backlog = COALESCE(excluded.backlog, backlog),"
        " stream = COALESCE(excluded.stream, stream)",
        (state.store_id, int(state.online), now, at, state.version, state.backlog, state.stream),
    )


def provisioned(conn: Transaction, store_ids: list[str]) -> None:
    """Make the never-connected rows match the provisioned stores (the broker's users file)."""
    conn.executemany("INSERT OR IGNORE INTO stores (store_id, online) VALUES (?, 0)",
                     [(s,) for s in store_ids])
    keep = set(store_ids)
    gone = [(r[0],) for r in conn.execute("SELECT store_id FROM stores WHERE last_seen IS NULL")
            if r[0] not in keep]
    conn.executemany("DELETE FROM stores WHERE store_id = ? AND last_seen IS NULL", gone)


async def stores(reader: Reads) -> list[dict[str, Any]]:
    async with reader.execute(
        "SELECT s.store_id, s.online, s.last_seen, s.stream, s.version, s.backlog,"
        " COALESCE((SELECT applied_seq FROM streams t"
        "           WHERE t.store_id = s.store_id AND t.stream = s.stream), 0),"
        " COALESCE((SELECT SUM(events_applied) FROM streams t WHERE t.store_id = s.store_id), 0)"
        " FROM stores s ORDER BY s.store_id"
    ) as cur:
        rows = await cur.fetchall()
    return [
        {
            "store_id": r[0], "online": bool(r[1]), "last_seen": r[2], "stream": r[3],
            "version": r[4], "backlog": r[5], "applied_seq": r[6], "events": r[7],
            "never_connected": r[2] is None,
        }
        for r in rows
    ]


def list_stores_now(db_path: Path) -> list[dict[str, Any]]:
    """`stores()` for a command line: opens, reads and closes a read-only connection."""

    async def read() -> list[dict[str, Any]]:
        async with reading(db_path) as reads:
            return await stores(reads)

    return asyncio.run(read())


def render_stores(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'STORE':12}  {'ONLINE':6}  {'APPLIED':>8}  {'EVENTS':>8}  {'BACKLOG':>7}  LAST SEEN"]
    lines += [f"{r['store_id']:12}  {'yes' if r['online'] else 'no':6}  {r['applied_seq']:>8}  "
              f"{r['events']:>8}  {r['backlog'] if r['backlog'] is not None else '-':>7}  "
              f"{r['last_seen'] or 'never connected'}" for r in rows]
    return "\n".join(lines)


async def page(reader: Reads, *, online: bool | None, query: str,
               offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """One page of the fleet for the dashboard: filtered in SQL, never all 1,000 rows."""
    where: list[str] = ["s.store_id LIKE ?"]
    args: list[object] = [f"%{query}%"]
    if online is not None:
        where.append("s.online = ?")
        args.append(int(online))
    clause = " WHERE " + " AND ".join(where)
    async with reader.execute(f"SELECT COUNT(*) FROM stores s{clause}", args) as cur:
        total = (await cur.fetchone() or (0,))[0]
    async with reader.execute(
        "SELECT s.store_id, s.online, s.last_seen, s.backlog, s.version,"
        " (SELECT MAX(last_applied_at) FROM streams t WHERE t.store_id = s.store_id),"
        " (SELECT COUNT(*) FROM quarantine q WHERE q.store_id = s.store_id)"
        f" FROM stores s{clause} ORDER BY s.online, s.store_id LIMIT ? OFFSET ?",
        (*args, limit, offset)) as cur:
        rows = await cur.fetchall()
    return int(total), [
        {"store_id": r[0], "online": bool(r[1]), "last_seen": r[2], "backlog": r[3],
         "version": r[4], "last_applied_at": r[5], "quarantined": r[6],
         "never_connected": r[2] is None}
        for r in rows
    ]


async def counts(reader: Reads) -> dict[str, int]:
    async with reader.execute("SELECT COUNT(*), COALESCE(SUM(online), 0) FROM stores") as cur:
        total, online = await cur.fetchone() or (0, 0)
    return {"stores": int(total), "online": int(online), "offline": int(total) - int(online)}
