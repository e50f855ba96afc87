"""The hub's PostgreSQL writer: one thread, one connection, group commit (runtime.group_commit).

Each group is one transaction that first takes `WRITER_LOCK` (`pg_advisory_xact_lock`): one
writer at a time, as SQLite's `BEGIN IMMEDIATE` gives. So the single-writer assumptions of the
storage port (hub.storage.database) hold on PostgreSQL too, with a command line (`transact`)
writing beside the hub, or a second hub started by mistake on the same database. The lock is
held from BEGIN to COMMIT, which is short: several hub workers sharing one database need finer
locks instead (per stream, per posting claim; docs/scale-out.md).

A group that fails because the server went away fails its jobs with hub.errors.
DatabaseUnreachable (ingest then does not ack, so the store sends again; the relay waits); the
next group connects again (PgConnection.ensure).
"""

from collections.abc import Callable

import psycopg
from psycopg.pq import TransactionStatus

from hub.storage.postgres.connection import PgConnection, Target, connection_lost, unreachable
from runtime.group_commit import GroupCommitWriter

# Advisory lock keys: the letters 'RHUBWRIT' and 'RHUBMIGR' read as 64-bit integers.
WRITER_LOCK = int.from_bytes(b"RHUBWRIT", "big")
MIGRATION_LOCK = int.from_bytes(b"RHUBMIGR", "big")
BEGIN = f"BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})"


class PgWriter(GroupCommitWriter[PgConnection]):
    """The single writer of the hub's PostgreSQL database. `setup` runs first (migrations)."""

    errors = (psycopg.Error,)

    def __init__(self, target: Target, setup: Callable[[PgConnection], None], *,
                 max_group: int = 1024, name: str = "pg-writer") -> None:
        super().__init__(setup, max_group=max_group, name=name)
        self.target = target

    def _connect(self) -> PgConnection:
        conn = PgConnection(self.target)
        conn.ensure()
        return conn

    def _close(self, conn: PgConnection) -> None:
        conn.close()

    def _prepare(self, conn: PgConnection) -> None:
        conn.ensure()

    def _begin(self, conn: PgConnection) -> None:
        conn.command(BEGIN)

    def _savepoint(self, conn: PgConnection) -> None:
        conn.command("SAVEPOINT job")

    def _rollback_to_savepoint(self, conn: PgConnection) -> None:
        conn.command("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")

    def _release_savepoint(self, conn: PgConnection) -> None:
        conn.command("RELEASE SAVEPOINT job")

    def _commit(self, conn: PgConnection) -> None:
        conn.command("COMMIT")

    def _rollback(self, conn: PgConnection) -> None:
        if conn.status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            conn.command("ROLLBACK")

    def _failure(self, error: BaseException) -> BaseException:
        if isinstance(error, psycopg.Error) and connection_lost(error):
            translated = unreachable(self.target, error)
            translated.__cause__ = error
            return translated
        return error

    def _survives(self, conn: PgConnection, isolated: bool) -> bool:
        # After an error PostgreSQL refuses every statement until ROLLBACK TO SAVEPOINT: a job
        # without its own savepoint takes the group with it.
        status = conn.status
        return status == TransactionStatus.INTRANS or (
            isolated and status == TransactionStatus.INERROR)
