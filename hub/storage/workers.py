"""The workers table: the hub workers sharing one database (hub.cluster.workers), one row each,
upserted by the worker's heartbeat. Instants are runtime.clock.stamp text, so they compare."""

from typing import NamedTuple

from hub.storage.rows import Connection, Reader, fetch_all


class Worker(NamedTuple):
    """A worker's row (`leading` is the column `leads`: LEADING is a keyword of PostgreSQL)."""

    worker_id: str
    host: str
    pid: int
    started_at: str
    heartbeat_at: str
    batches_applied: int
    leading: bool


class WorkersWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def beat(self, worker: Worker) -> None:
        """The worker's row as it says now (made the first time)."""
        self._conn.execute(
            "INSERT INTO workers (worker_id, host, pid, started_at, heartbeat_at,"
            " batches_applied, leads) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
            " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
            " batches_applied = excluded.batches_applied, leads = excluded.leads",
            (worker.worker_id, worker.host, worker.pid, worker.started_at, worker.heartbeat_at,
             worker.batches_applied, 1 if worker.leading else 0))

    def not_leading_but(self, worker_id: str) -> None:
        """Clear the leading mark of every worker but this one (the leader's)."""
        self._conn.execute("UPDATE workers SET leads = 0 WHERE leads = 1 AND worker_id <> ?",
                           (worker_id,))

    def forget(self, worker_id: str) -> None:
        """A worker that stops cleanly takes its row away."""
        self._conn.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))

    def prune(self, heard_before: str) -> int:
        """Drop the rows of workers last heard before this instant; how many."""
        cur = self._conn.execute("DELETE FROM workers WHERE heartbeat_at < ?", (heard_before,))
        return max(0, cur.rowcount)


class WorkersReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def listing(self) -> list[Worker]:
        """Every worker's row, the longest running first."""
        rows = await fetch_all(
            self._conn,
            "SELECT worker_id, host, pid, started_at, heartbeat_at, batches_applied, leads"
            " FROM workers ORDER BY started_at, worker_id")
        return [Worker(r["worker_id"], r["host"], int(r["pid"]), r["started_at"],
                       r["heartbeat_at"], int(r["batches_applied"]), bool(r["leads"]))
                for r in rows]
