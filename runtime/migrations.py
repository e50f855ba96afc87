"""Schema migrations for the project's SQLite files: one SQL script per version, each in its own
transaction, the version kept in `PRAGMA user_version`."""

import sqlite3


class SchemaTooNew(RuntimeError):
    """The file was written by a newer program than this one."""


def migrate(conn: sqlite3.Connection, steps: list[str], what: str) -> None:
    """Run `steps[n-1]` for every version n above the file's; refuse a file from the future."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(steps):
        raise SchemaTooNew(f"{what} schema {version} is newer than this program ({len(steps)})")
    for number in range(version + 1, len(steps) + 1):
        # executescript() commits first, so the BEGIN goes inside the script.
        conn.executescript("BEGIN IMMEDIATE;" + steps[number - 1])
        conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
