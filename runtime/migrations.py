"""Schema migrations for the project's SQLite files: one SQL script per version, each in its own
transaction, the version kept in `PRAGMA user_version`. A step that must compute (decode rows,
say) is a function of the connection instead of a script."""

import sqlite3
from collections.abc import Callable, Sequence

from runtime.errors import PlumbingError

Step = str | Callable[[sqlite3.Connection], None]


class SchemaTooNew(PlumbingError, RuntimeError):
    """The file was written by a newer program than this one."""


def migrate(conn: sqlite3.Connection, steps: Sequence[Step], what: str) -> None:
    """Run `steps[n-1]` for every version n above the file's; refuse a file from the future."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(steps):
        raise SchemaTooNew(f"{what} schema {version} is newer than this program ({len(steps)})")
    for number in range(version + 1, len(steps) + 1):
        step = steps[number - 1]
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
