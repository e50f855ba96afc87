import datetime as dt
import sqlite3
from decimal import Decimal

from hub.storage import Transaction
from hub.storage.schema import migrate
from protocol import identity
from protocol.messages import Batch, Envelope, Sale, SaleLine, Tender
from runtime.sqlite_writer import connect

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def database(path) -> sqlite3.Connection:
    conn = connect(path)
    migrate(conn)
    return conn


def sale_envelope(seq: int, *, store="S001", stream="st-1", txn: str | None = None,
                  sku="SKU-1", qty=1, price="2.50") -> Envelope:
    txn = txn or f"{seq:06d}"
    gross = Decimal(price) * qty
    event = Sale("R1", txn, "EUR", True, [SaleLine(sku, qty, Decimal(price), Decimal(0), gross / 5)],
                 [Tender("cash", gross)])
    return Envelope(store, stream, seq, identity.transaction_event_id(store, "R1", txn), NOW,
                    NOW.date(), NOW, event)


def batch(envs: list[Envelope]) -> Batch:
    return Batch(envs[0].store_id, envs[0].stream, envs)


def apply(conn, sequencer, b: Batch):
    conn.execute("BEGIN IMMEDIATE")
    out = sequencer.apply(Transaction(conn), b, f"retail/v1/stores/{b.store_id}/events")
    conn.execute("COMMIT")
    return out
