"""The quarantine table: payloads the hub refused, with their reason.

- `quarantine`: one row per refused payload (a message, a batch or one event of a batch): when it
  arrived, on which topic, from which store if known, why, and the payload as received.
"""

from typing import Any

from hub.storage.rows import Connection, Reader, fetch_all, fetch_one


class QuarantineWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, topic: str, store_id: str | None, reason: str, payload: bytes,
            now: str) -> None:
        self._conn.execute(
            "INSERT INTO quarantine (received_at, topic, store_id, reason, payload)"
            " VALUES (?, ?, ?, ?, ?)",
            (now, topic, store_id, reason, payload),
        )


class QuarantineReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The last `limit` refusals, newest first, each with its payload's size (`bytes`)."""
        rows = await fetch_all(
            self._conn,
            "SELECT id, received_at, topic, store_id, reason, length(payload) AS bytes"
            " FROM quarantine ORDER BY id DESC LIMIT ?",
            (limit,))
        return [dict(row) for row in rows]

    async def count(self) -> int:
        row = await fetch_one(self._conn, "SELECT count(*) AS n FROM quarantine")
        return int(row["n"]) if row else 0
