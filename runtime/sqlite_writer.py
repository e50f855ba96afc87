"""One SQLite writer thread with group commit: many callers share one fsync'd transaction.

Callers hand in a function of the connection; the thread takes every job waiting in its queue,
runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction, commits once
(WAL + synchronous=FULL, so the commit is fsync'd), and only then resolves the callers'
futures. A job that raises is rolled back alone; a commit that fails (disk full) fails them all.
The group-commit loop itself is runtime.group_commit's; this module says how SQLite does each step.
"""

import sqlite3
from collections.abc import Callable
from pathlib import Path

import aiosqlite

from runtime.group_commit import GroupCommitWriter, WriterClosed

__all__ = ["SQLiteWriter", "WriterClosed", "connect", "open_reader"]


def connect(path: Path | str) -> sqlite3.Connection:
    """A writable connection configured for durability: WAL, synchronous=FULL, explicit txns."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


async def open_reader(path: Path | str) -> aiosqlite.Connection:
    """A read-only connection for status pages and APIs; it never blocks the writer (WAL)."""
    conn = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True)
    await conn.execute("PRAGMA query_only=ON")
    await conn.execute("PRAGMA busy_timeout=5000")
    return conn


class SQLiteWriter(GroupCommitWriter[sqlite3.Connection]):
    """The single writer of one SQLite file. `setup` runs first, in the thread (migrations)."""

    errors = (sqlite3.Error,)

    def __init__(
        self,
        path: Path | str,
        setup: Callable[[sqlite3.Connection], None],
        *,
        max_group: int = 1024,
        name: str = "sqlite-writer",
    ) -> None:
        super().__init__(setup, max_group=max_group, name=name)
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def _close(self, conn: sqlite3.Connection) -> None:
        conn.close()

    def _begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def _savepoint(self, conn: sqlite3.Connection) -> None:
        conn.execute("SAVEPOINT job")

    def _rollback_to_savepoint(self, conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")

    def _release_savepoint(self, conn: sqlite3.Connection) -> None:
        conn.execute("RELEASE job")

    def _commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _survives(self, conn: sqlite3.Connection, isolated: bool) -> bool:
        # SQLite undoes only the failed statement, unless the error (disk full, I/O) rolled the
        # whole transaction back.
        return conn.in_transaction
