"""Payloads the hub refused: kept with their reason for an operator, counted, never fatal."""

from typing import Any

from hub.storage import Reads, Transaction


def add(tx: Transaction, topic: str, store_id: str | None, reason: str,
        payload: bytes, now: str) -> None:
    tx.quarantine.add(topic, store_id, reason[:1000], payload, now)


async def recent(reads: Reads, limit: int = 100) -> list[dict[str, Any]]:
    """The last refusals, newest first: id, received_at, topic, store_id, reason, bytes."""
    return await reads.quarantine.recent(limit)


async def count(reads: Reads) -> int:
    return await reads.quarantine.count()
