"""The outbox's tables: the migrations from version 1 to SCHEMA_VERSION, and the setup every
opening runs (migrate, claim the file for its store, cap its size)."""

import sqlite3
from collections.abc import Callable

from edge_agent import keys
from edge_agent.errors import OutboxError
from edge_agent.outbox.rows import named
from protocol import codec, identity
from protocol.errors import ProtocolError
from runtime.clock import Clock
from runtime.migrations import SchemaTooNew, Step, migrate

SCHEMA_VERSION = 6
_SCHEMA = """
CREATE TABLE outbox_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    store_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    created_at TEXT NOT NULL,
    acked_through INTEGER NOT NULL DEFAULT 0,
    acked_at TEXT
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    natural_key TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    digest BLOB NOT NULL,
    occurred_at TEXT NOT NULL,
    business_day TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    body BLOB NOT NULL
);
"""
# 2: what the status page needs: each transaction's register and amount (also as an exact integer
# of 1/10,000 units, so SQLite can add them without floats), today's rows by a covering index,
# and the hub's receipts (what the ERP made of each transaction).
_SCHEMA_V2 = """
ALTER TABLE events ADD COLUMN register_id TEXT;
ALTER TABLE events ADD COLUMN gross TEXT;
ALTER TABLE events ADD COLUMN gross_e4 INTEGER;
CREATE INDEX events_by_day ON events (business_day, kind, register_id, seq, gross_e4);
CREATE INDEX events_by_kind ON events (kind, seq);
CREATE TABLE receipts (
    event_id TEXT PRIMARY KEY,
    posting_id TEXT NOT NULL,
    state TEXT NOT NULL,
    erp_ref TEXT,
    received_at TEXT NOT NULL
);
"""


# 4: what the check at start (edge_agent.integrity) set aside and when it rebuilt the outbox.
_SCHEMA_V4 = """
CREATE TABLE quarantined_rows (
    id INTEGER PRIMARY KEY,
    old_stream TEXT,
    old_seq INTEGER NOT NULL,
    natural_key TEXT,
    reason TEXT NOT NULL,
    body BLOB,
    found_at TEXT NOT NULL
);
CREATE TABLE integrity_repairs (
    id INTEGER PRIMARY KEY,
    repaired_at TEXT NOT NULL,
    problems TEXT NOT NULL,
    kept INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    moved_to TEXT NOT NULL,
    old_stream TEXT
);
"""


# 3: the (kind, seq) index cost every capture ~8 % (bench.capture) to count waiting sales
# faster; that count now stops at COUNT_CAP (edge_agent.outbox.reading) instead.
_SCHEMA_V3 = "DROP INDEX IF EXISTS events_by_kind;"
# 5: unambiguous keys (ids holding `/` made `txn/R/1/coll` two transactions' key) and digests of
# a capture's meaning rather than its bytes (edge_agent.keys).
# 6: each sale's and return's currency, so the status page shows takings per currency instead of
# adding EUR to CHF; the day index covers it. Older rows get theirs from the body.


def _add_currency(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE events ADD COLUMN currency TEXT")
    conn.execute("DROP INDEX IF EXISTS events_by_day")
    conn.execute("CREATE INDEX events_by_day ON events"
                 " (business_day, kind, register_id, currency, seq, gross_e4)")
    rows = named(conn.execute(
        "SELECT seq, body FROM events WHERE kind IN ('sale', 'return')")).fetchall()
    filled = []
    for row in rows:
        try:
            event = codec.decode_event(row["body"])
        except ProtocolError:
            continue  # the integrity check deals with unreadable rows
        filled.append((getattr(event, "currency", None), row["seq"]))
    conn.executemany("UPDATE events SET currency = ? WHERE seq = ?", filled)


MIGRATIONS: list[Step] = [_SCHEMA, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4, keys.rekey, _add_currency]
assert len(MIGRATIONS) == SCHEMA_VERSION


def setup(store_id: str, max_bytes: int | None,
          clock: Clock) -> Callable[[sqlite3.Connection], None]:
    """What the writer thread runs on opening (and the integrity check on a rebuilt file):
    the migrations, then the file's claim for `store_id`; another store's outbox is refused."""

    def run(conn: sqlite3.Connection) -> None:
        if max_bytes:
            # SQLite itself refuses to grow past this (SQLITE_FULL), exactly as a full disk would.
            page = named(conn.execute("PRAGMA page_size")).fetchone()["page_size"]
            conn.execute(f"PRAGMA max_page_count = {max(16, max_bytes // page)}")
        try:
            migrate(conn, MIGRATIONS, "outbox")
        except SchemaTooNew as exc:
            raise OutboxError(str(exc)) from exc
        conn.execute(
            "INSERT OR IGNORE INTO outbox_state (id, store_id, stream, created_at) VALUES (1, ?, ?, ?)",
            (store_id, identity.new_stream_id(), clock.now().isoformat()),
        )
        owner = named(conn.execute("SELECT store_id FROM outbox_state")).fetchone()["store_id"]
        if owner != store_id:
            raise OutboxError(f"outbox belongs to store {owner!r}, not {store_id!r}")

    return run
