"""The cluster's lead on PostgreSQL (hub.storage.leadership says what the port promises).

The lead is the session-level advisory lock `LEADER_LOCK`, taken with `pg_try_advisory_lock` on
a connection of its own: neither the writer's (whose transactions take WRITER_LOCK and end) nor
one of the reads'. Advisory locks are per database, so hubs on other databases of one server do
not compete. The server releases the lock when that session ends, however it ends: a stop, a
crash, `pg_terminate_backend`, a server restart, or a network failure noticed by TCP keepalive.
So a leader must learn of its connection's loss at once: every `hold()` of the leader runs a
statement on it, and any failure there means the lead is lost (the connection is dropped; a
later `hold()` connects anew and tries again, like any other worker).

The connection asks the server to probe it (TCP keepalive after 5 s idle, `tcp_user_timeout`
10 s), so a leader's machine that vanishes from the network loses the lock within about 15 s
rather than after the operating system's two hours; the client side probes the same way, so a
`hold()` stuck on a dead network fails rather than hanging.
"""

import psycopg

from hub.storage.leadership import Leadership
from hub.storage.postgres.connection import CLIENT_PROBE, SERVER_PROBE, Target, unreachable

# Advisory lock key: the letters 'RHUBLEAD' read as a 64-bit integer (hub.storage.postgres.writer
# has the others).
LEADER_LOCK = int.from_bytes(b"RHUBLEAD", "big")


class PgLeadership(Leadership):
    """The lead as an advisory lock held by a connection of this worker's own."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._held = False

    def hold(self) -> bool:
        try:
            if self._conn is None:
                self._conn = psycopg.connect(
                    self.target.url, password=self.target.password, autocommit=True,
                    application_name=self.target.application_name, connect_timeout=5,
                    options=SERVER_PROBE.strip(), **CLIENT_PROBE)
            if self._held:
                self._conn.execute("SELECT 1").fetchone()  # the session, so the lock, lives
            else:
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)",
                                         (LEADER_LOCK,)).fetchone()
                self._held = bool(row and row[0])
            return self._held
        except psycopg.Error as exc:
            self.release()
            if isinstance(exc, psycopg.OperationalError):
                raise unreachable(self.target, exc) from exc
            raise

    def release(self) -> None:
        """Close the connection: the server drops its session's lock with it."""
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
