"""The fleet: each store's online state (from its retained state message), last seen, stream."""

import sqlite3
from typing import Any

import aiosqlite

from protocol.messages import StoreState


def seen(conn: sqlite3.Connection, store_id: str, stream: str, now: str) -> None:
    conn.execute(
        "INSERT INTO stores (store_id, last_seen, stream, online) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (store_id) DO UPDATE SET last_seen = excluded.last_seen,"
        " stream = excluded.stream",
        (store_id, now, stream),
    )


def record_state(conn: sqlite3.Connection, state: StoreState, now: str) -> None:
    at = state.at.isoformat() if state.at else now
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


async def stores(reader: aiosqlite.Connection) -> list[dict[str, Any]]:
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
        }
        for r in rows
    ]
