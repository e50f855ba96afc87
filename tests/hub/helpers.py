import contextlib
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from hub.storage import Database, Reads, Transaction
from hub.storage import reading as sqlite_reading
from hub.storage.postgres.connection import PgConnection, Target
from hub.storage.postgres.database import PostgresDatabase
from hub.storage.postgres.database import reading as pg_reading
from hub.storage.postgres.repositories import PgTransaction
from hub.storage.postgres.schema import migrate as pg_migrate
from hub.storage.schema import migrate
from protocol import identity
from protocol.messages import Batch, DayClose, Envelope, Sale, SaleLine, Tender
from runtime.sqlite_writer import connect

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def database(where: Path | str) -> "sqlite3.Connection | PgConnection":
    """A migrated hub database's writer connection: the SQLite file at a path, or the PostgreSQL
    database at a postgresql:// URL (its adapter takes the same SQL, `?` placeholders and all)."""
    if str(where).startswith("postgresql://"):
        pg = PgConnection(Target(str(where)))
        pg.ensure()
        pg_migrate(pg)
        return pg
    conn = connect(where)
    migrate(conn)
    return conn


def hub_database(tmp_path: Path, storage: str | None) -> Database:
    """The storage port on the `storage` fixture's backend (not started)."""
    if storage:
        return PostgresDatabase(Target(storage))
    return Database(tmp_path / "hub.sqlite")


@contextlib.asynccontextmanager
async def reading(where: Path | str) -> AsyncIterator[Reads]:
    """The read repositories of the database at a path or a postgresql:// URL."""
    if str(where).startswith("postgresql://"):
        async with pg_reading(Target(str(where))) as reads:
            yield reads
    else:
        async with sqlite_reading(where) as reads:
            yield reads


def transaction(conn: "sqlite3.Connection | PgConnection") -> Transaction:
    return PgTransaction(conn) if isinstance(conn, PgConnection) else Transaction(conn)


def begin(conn: "sqlite3.Connection | PgConnection") -> None:
    conn.execute("BEGIN" if isinstance(conn, PgConnection) else "BEGIN IMMEDIATE")


def commit(conn: "sqlite3.Connection | PgConnection") -> None:
    """COMMIT, with the feed's appends PostgreSQL defers to just before it (flush_deferred)."""
    if isinstance(conn, PgConnection):
        conn.flush_deferred()
    conn.execute("COMMIT")


def sale_envelope(seq: int, *, store="S001", stream="st-1", txn: str | None = None,
                  sku="SKU-1", qty=1, price="2.50") -> Envelope:
    txn = txn or f"{seq:06d}"
    gross = Decimal(price) * qty
    event = Sale("R1", txn, "EUR", True, [SaleLine(sku, qty, Decimal(price), Decimal(0), gross / 5)],
                 [Tender("cash", gross)])
    return Envelope(store, stream, seq, identity.transaction_event_id(store, "R1", txn), NOW,
                    NOW.date(), NOW, event)


def day_close(seq: int, register: str | None = None) -> Envelope:
    """A store's (or, with `register`, one register's) day close at `seq`."""
    close = DayClose(register, 0, 0, Decimal(0), Decimal(0), {}, "EUR")
    return Envelope("S001", "st-1", seq, f"close-{seq}", NOW, NOW.date(), NOW, close)


def batch(envs: list[Envelope]) -> Batch:
    return Batch(envs[0].store_id, envs[0].stream, envs)


def apply(conn, sequencer, b: Batch):
    begin(conn)
    out = sequencer.apply(transaction(conn), b, f"retail/v1/stores/{b.store_id}/events")
    commit(conn)
    return out


def empty(conn: PgConnection) -> None:
    """Every table of a PostgreSQL hub database emptied (for each example of a property test)."""
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " AND table_name <> 'schema_version'")]
    conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
