"""Which backend the storage port runs on: `[storage] backend` of the hub's config.

`make_database(config)` for the hub, and for a command line `transact`, `reading`, `exists`
and `migrate`, each the same on either backend. PostgreSQL's modules (and psycopg) are imported
only when the config names it, so the embedded default never loads them.
"""

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import IO, TYPE_CHECKING, TypeVar

from hub.config import HubConfig
from hub.storage import database as sqlite
from hub.storage import schema, transfer
from hub.storage.database import Database, Reads, Transaction
from runtime.sqlite_writer import connect

if TYPE_CHECKING:
    from hub.storage.postgres.connection import Target

T = TypeVar("T")


def postgresql(config: HubConfig) -> bool:
    return config.storage.backend == "postgresql"


def target(config: HubConfig) -> "Target":
    """Where the PostgreSQL database is (reads storage.password_file)."""
    from hub.storage.postgres.connection import Target

    return Target(config.storage.url, config.storage_password(), config.storage.pool_size,
                  f"retail-hub {config.worker_id}"[:63])


def where(config: HubConfig) -> str:
    """The database, for a message: its file or its URL."""
    return config.storage.url if postgresql(config) else str(config.db_path)


def make_database(config: HubConfig, *, name: str = "hub-writer") -> Database:
    if postgresql(config):
        from hub.storage.postgres.database import PostgresDatabase

        return PostgresDatabase(target(config), name=name)
    return Database(config.db_path, name=name)


def exists(config: HubConfig) -> bool:
    """Whether there is a hub database yet (SQLite: its file; PostgreSQL: a migrated schema).
    Raises DatabaseUnreachable when the PostgreSQL server cannot be asked."""
    if postgresql(config):
        from hub.storage.postgres.database import version

        return version(target(config)) > 0
    return config.db_path.exists()


def migrate(config: HubConfig) -> tuple[int, int]:
    """Bring the database to this hub's schema: (version before, version after)."""
    if postgresql(config):
        from hub.storage.postgres.database import migrate_now

        return migrate_now(target(config))
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(config.db_path)
    try:
        return schema.migrate(conn)
    finally:
        conn.close()


def transact(config: HubConfig, job: Callable[[Transaction], T]) -> T:
    """`job(tx)` in one transaction of its own, beside a running hub (see hub.storage.database)."""
    if postgresql(config):
        from hub.storage.postgres import database as postgres

        return postgres.transact(target(config), job)
    return sqlite.transact(config.db_path, job)


@contextlib.asynccontextmanager
async def reading(config: HubConfig) -> AsyncIterator[Reads]:
    """The read repositories, for a command line."""
    if postgresql(config):
        from hub.storage.postgres import database as postgres

        async with postgres.reading(target(config)) as reads:
            yield reads
    else:
        async with sqlite.reading(config.db_path) as reads:
            yield reads


def export(config: HubConfig, out: IO[bytes], now: dt.datetime) -> dict[str, int]:
    """Every row of the hub database, as one snapshot, into `out` (hub.storage.transfer);
    the rows of each table."""
    source: transfer.Source
    if postgresql(config):
        from hub.storage.postgres.database import open_connection
        from hub.storage.postgres.transfer import PgSource

        source = PgSource(open_connection(target(config)))
    else:
        source = transfer.SQLiteSource(config.db_path)
    try:
        return transfer.export(source, out, now)
    finally:
        source.close()


def import_(config: HubConfig, src: IO[bytes]) -> dict[str, int]:
    """Load an export into the hub database, which is first brought to this hub's schema and
    must be empty (TransferRefused otherwise): all of it in one transaction, or nothing."""
    migrate(config)
    if postgresql(config):
        from hub.storage.postgres.database import open_connection
        from hub.storage.postgres.transfer import PgTarget

        conn = open_connection(target(config))
        try:
            counts = transfer.load(PgTarget(conn), src)
            conn.command("COMMIT")
            return counts
        finally:
            conn.close()  # without COMMIT, closing rolls the import back
    db = connect(config.db_path)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            counts = transfer.load(transfer.SQLiteTarget(db), src)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return counts
    finally:
        db.close()
