"""The PostgreSQL side of `retail-hub export` / `import` (hub.storage.transfer has the format):
a source read in one REPEATABLE READ snapshot through a server-side cursor, a target loaded with
COPY in one transaction that holds the writer lock, identity counters moved past the ids loaded."""

from collections.abc import Iterator
from typing import Any

from hub.storage.postgres.connection import PgConnection
from hub.storage.postgres.schema import VERSION_TABLE, TableVersion
from hub.storage.postgres.writer import BEGIN
from hub.storage.transfer import ordered

_TABLES = ("SELECT table_name AS name FROM information_schema.tables"
           " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
_REFERENCES = ("SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent"
               " FROM pg_constraint c WHERE c.contype = 'f'"
               " AND c.connamespace = current_schema()::regnamespace")
_COLUMNS = ("SELECT column_name AS name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position")


def tables(conn: PgConnection) -> list[str]:
    """The hub's tables (not the version table), parents before the tables referencing them."""
    names = [r["name"] for r in conn.execute(_TABLES) if r["name"] != VERSION_TABLE]
    parents: dict[str, set[str]] = {}
    for r in conn.execute(_REFERENCES):
        parents.setdefault(r["child"], set()).add(r["parent"])
    return ordered(names, parents)


def columns(conn: PgConnection, table: str) -> list[str]:
    return [r["name"] for r in conn.execute(_COLUMNS, (table,))]


class _PgSchema:
    """What a source and a target both read of a PostgreSQL hub database's schema, inside the
    transaction `begin` opens."""

    def __init__(self, conn: PgConnection, begin: str) -> None:
        self.conn = conn
        conn.command(begin)

    def schema_version(self) -> int:
        return TableVersion(self.conn).version()

    def tables(self) -> list[str]:
        return tables(self.conn)

    def columns(self, table: str) -> list[str]:
        return columns(self.conn, table)


class PgSource(_PgSchema):
    """A PostgreSQL hub database being exported, inside one read-only snapshot."""

    backend = "postgresql"

    def __init__(self, conn: PgConnection) -> None:
        super().__init__(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        with self.conn.raw.cursor(name=f"export_{table}") as cur:
            cur.itersize = 2000
            cur.execute(f"SELECT {', '.join(columns)} FROM {table}")
            yield from cur

    def close(self) -> None:
        self.conn.command("COMMIT")
        self.conn.close()


class PgTarget(_PgSchema):
    """A new PostgreSQL hub database being imported into, inside one transaction (under the
    writer lock)."""

    def __init__(self, conn: PgConnection) -> None:
        super().__init__(conn, BEGIN)

    def count(self, table: str) -> int:
        row = self.conn.execute(f"SELECT COUNT(*) AS n FROM {table}").fetchone()
        assert row is not None  # COUNT(*) always answers
        return int(row["n"])

    def clear(self, table: str) -> None:
        self.conn.command(f"DELETE FROM {table}")

    def load(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        with self.conn.raw.cursor() as cur, cur.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        """Each identity column's next value goes past the highest id loaded."""
        identities = self.conn.execute(
            "SELECT table_name AS t, column_name AS c FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall()
        for row in identities:
            self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX({row['c']}), 0) + 1,"
                f" false) FROM {row['t']}", (row["t"], row["c"]))
