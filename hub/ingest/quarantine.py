"""Payloads the hub refused: kept with their reason for an operator, counted, never fatal."""

from typing import Any

from hub.storage import Reads, Transaction


def add(conn: Transaction, topic: str, store_id: str | None, reason: str,
        payload: bytes, now: str) -> None:
    conn.execute(
        "INSERT INTO quarantine (received_at, topic, store_id, reason, payload)"
        " VALUES (?, ?, ?, ?, ?)",
        (now, topic, store_id, reason[:1000], payload),
    )


async def recent(reader: Reads, limit: int = 100) -> list[dict[str, Any]]:
    async with reader.execute(
        "SELECT id, received_at, topic, store_id, reason, length(payload) FROM quarantine"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    ) as cur:
        rows = await cur.fetchall()
    return [
        {"id": r[0], "received_at": r[1], "topic": r[2], "store_id": r[3], "reason": r[4],
         "bytes": r[5]}
        for r in rows
    ]


async def count(reader: Reads) -> int:
    async with reader.execute("SELECT count(*) FROM quarantine") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0
