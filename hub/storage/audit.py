"""The posting_audit table: who did what to a posting, and when (an operator's retry or
resubmit), with the posting's state (and payload) before and after, kept as JSON text."""

import datetime as dt
import json
from typing import Any

from hub.storage.rows import Connection, Reader, fetch_all
from runtime.clock import stamp


class AuditWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, pid: str, actor: str, action: str, now: dt.datetime,
               before: dict[str, Any], after: dict[str, Any]) -> None:
        """`actor` did `action` to the posting at `now`, taking it from `before` to `after`."""
        self._conn.execute(
            "INSERT INTO posting_audit (posting_id, at, actor, action, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (pid, stamp(now), actor, action, json.dumps(before), json.dumps(after)))


class AuditReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def trail(self, pid: str) -> list[dict[str, Any]]:
        """What was done to a posting, oldest first: at, actor, action, before, after."""
        rows = await fetch_all(
            self._conn,
            "SELECT at, actor, action, before, after FROM posting_audit WHERE posting_id = ?"
            " ORDER BY id", (pid,))
        return [{"at": row["at"], "actor": row["actor"], "action": row["action"],
                 "before": json.loads(row["before"]) if row["before"] else None,
                 "after": json.loads(row["after"]) if row["after"] else None} for row in rows]
