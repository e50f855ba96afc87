"""The hub's PostgreSQL writers: each one thread, one connection, group commit
(runtime.group_commit). A hub has two, its lanes (hub.storage.database.Lane):

- the serial lane: each group is one transaction that first takes `WRITER_LOCK`
  (`pg_advisory_xact_lock`): one such writer at a time across every hub worker and command line
  (`transact`), as SQLite's `BEGIN IMMEDIATE` gives. Everything but ingest runs here, so the
  single-writer assumptions of the storage port hold for it on any number of workers.
- the ingest lane: groups of stores' batches, without that lock. Each batch first takes its
  store's lock (a try-lock: hub.ingest.eventlog), so workers apply different stores side by
  side; the rows ingest shares with the serial lane are protected by row locks (inventory,
  reservations) and atomic increments (day totals), and the availability feed's appends wait for
  one lock taken just before COMMIT (PgConnection.flush_deferred).

A job that loses a lock race (a deadlock PostgreSQL broke, a serialization failure) fails alone
with hub.errors.WriteConflict: the caller may simply try again.

A group that fails because the server went away fails its jobs with hub.errors.
DatabaseUnreachable (ingest then does not ack, so the store sends again; the relay waits); the
next group connects again (PgConnection.ensure).
"""

from collections.abc import Callable

import psycopg
from psycopg.pq import TransactionStatus

from hub.errors import WriteConflict
from hub.storage.postgres.connection import PgConnection, Target, connection_lost, unreachable
from runtime.group_commit import GroupCommitWriter

# Advisory lock keys: the letters 'RHUBWRIT' and 'RHUBMIGR' read as 64-bit integers.
WRITER_LOCK = int.from_bytes(b"RHUBWRIT", "big")
MIGRATION_LOCK = int.from_bytes(b"RHUBMIGR", "big")
BEGIN = f"BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})"
BEGIN_INGEST = "BEGIN"
# SQLSTATEs of a statement that lost a race with another transaction: deadlock_detected,
# serialization_failure, lock_not_available.
_CONFLICTS = ("40P01", "40001", "55P03")


class PgWriter(GroupCommitWriter[PgConnection]):
    """The single writer of the hub's PostgreSQL database. `setup` runs first (migrations)."""

    errors = (psycopg.Error,)

    def __init__(self, target: Target, setup: Callable[[PgConnection], None], *,
                 max_group: int = 1024, name: str = "pg-writer", begin: str = BEGIN) -> None:
        super().__init__(setup, max_group=max_group, name=name)
        self.target = target
        self._begin_sql = begin
        self._mark = 0

    def _connect(self) -> PgConnection:
        conn = PgConnection(self.target, writer=True)
        conn.ensure()
        return conn

    def _close(self, conn: PgConnection) -> None:
        conn.close()

    def _prepare(self, conn: PgConnection) -> None:
        conn.ensure()

    def _begin(self, conn: PgConnection) -> None:
        conn.deferred = []
        conn.command(self._begin_sql)

    def _savepoint(self, conn: PgConnection) -> None:
        self._mark = len(conn.deferred)
        conn.command("SAVEPOINT job")

    def _rollback_to_savepoint(self, conn: PgConnection) -> None:
        del conn.deferred[self._mark:]
        conn.command("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")

    def _release_savepoint(self, conn: PgConnection) -> None:
        conn.command("RELEASE SAVEPOINT job")

    def _commit(self, conn: PgConnection) -> None:
        conn.flush_deferred()
        conn.command("COMMIT")

    def _rollback(self, conn: PgConnection) -> None:
        conn.deferred = []
        if conn.status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            conn.command("ROLLBACK")

    def _failure(self, error: BaseException) -> BaseException:
        if isinstance(error, psycopg.Error) and connection_lost(error):
            translated = unreachable(self.target, error)
            translated.__cause__ = error
            return translated
        return error

    def _job_failure(self, error: BaseException) -> BaseException:
        if isinstance(error, psycopg.Error) and error.sqlstate in _CONFLICTS:
            conflict = WriteConflict(f"lost a race with another writer: {error}")
            conflict.__cause__ = error
            return conflict
        return error

    def _survives(self, conn: PgConnection, isolated: bool) -> bool:
        # After an error PostgreSQL refuses every statement until ROLLBACK TO SAVEPOINT: a job
        # without its own savepoint takes the group with it.
        status = conn.status
        return status == TransactionStatus.INTRANS or (
            isolated and status == TransactionStatus.INERROR)
