"""Schema migrations: one runner for every database the project keeps, forward only.

A schema is a list of steps; step n brings a database from version n-1 to n, in one transaction
with the new version number. A step is an SQL script, or a function of the connection for one
that must compute (decode rows, say). Where the version lives is the database's business:
SQLite files keep it in `PRAGMA user_version` (here); the hub's PostgreSQL backend keeps it in a
table (hub.storage.postgres.schema). A database from a newer program is refused, not touched.
"""

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from runtime.errors import PlumbingError

Step = str | Callable[[sqlite3.Connection], None]


class SchemaTooNew(PlumbingError, RuntimeError):
    """The file was written by a newer program than this one."""


class Versioned(Protocol):
    """A database as the runner sees it: its version, and a way to take one step."""

    def version(self) -> int:
        """The schema version the database is at (0 for a new one)."""
        ...

    def step(self, number: int, step: Any) -> None:
        """Run `step` and record version `number`, in one transaction."""
        ...


def run(db: Versioned, steps: Sequence[Any], what: str) -> tuple[int, int]:
    """Take every step above the database's version; (version before, version after)."""
    version = db.version()
    if version > len(steps):
        raise SchemaTooNew(f"{what} schema {version} is newer than this program ({len(steps)})")
    for number in range(version + 1, len(steps) + 1):
        db.step(number, steps[number - 1])
    return version, len(steps)


class UserVersion:
    """An SQLite connection whose version is `PRAGMA user_version`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def step(self, number: int, step: Step) -> None:
        conn = self.conn
        if isinstance(step, str):
            # executescript() commits first, so the BEGIN goes inside the script.
            conn.executescript("BEGIN IMMEDIATE;" + step)
        else:
            conn.execute("BEGIN IMMEDIATE")
            try:
                step(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, steps: Sequence[Step], what: str) -> None:
    """Run `steps[n-1]` for every version n above the file's; refuse a file from the future."""
    run(UserVersion(conn), steps, what)
