"""The few repository methods PostgreSQL does its own way, as subclasses of the shared ones, and
the Transaction and Reads that use them. Everything else runs the shared repositories' SQL.

- The store's lock while ingest applies it (`PgEventLogWrites.lock_store`):
  `pg_try_advisory_xact_lock(STORE_LOCK, hashtext(store_id))`, held until the transaction ends.
  A try lock, never a wait: one group-commit transaction locks the stores of its jobs in
  whatever order they came, so two workers waiting on each other's stores would deadlock.
  Its own statement, before the job reads anything: under READ COMMITTED each later statement
  then sees what the lock's previous holder committed (a statement's snapshot is taken when it
  starts). Two stores whose names hash alike share a lock: one waits a retry for the other.
- Day totals (`PgDaysWrites.add_totals`): one atomic `UPDATE ... SET x = x + excluded.x` on
  exact `NUMERIC` columns, where SQLite reads, adds as Decimal and writes back text. Correct
  without the writer lock too (single-writer assumption 3 of hub.storage.database).
- The feed's appends (`PgAvailabilityWrites`): deferred to just before COMMIT, under one lock
  (PgConnection.flush_deferred), so cursors commit in order with several writers (hub workers,
  and each worker's two lanes); SQLite's one writer commits them in order by itself.
- Reads a write decides on lock their rows (`FOR UPDATE`), because ingest's lane and other hub
  workers write beside this writer: the inventory rows a reservation checks
  (`PgAvailabilityWrites.stock`, in (sku, location) order), the on-hand row a recheck of short
  reservations reads, and the reservation a collect, release or fulfilment finds
  (`PgReservationsWrites`). SQLite's one writer needs none (hub.storage.reservations).
- The feed's latest cursor (`PgAvailabilityReads.last_cursor`): the highest committed cursor.
  SQLite reads it from `sqlite_sequence`; an identity sequence would also show cursors of
  transactions that have not committed yet. The compaction never deletes the newest row.
- The feed's page (`PgAvailabilityReads.changes`): the same query without SQLite's
  `NOT INDEXED` (there it keeps the planner on the cursor range by rowid; PostgreSQL has no
  such clause, and its planner weighs the primary key's range against the by-key index itself).
- The relay's claims (`PgPostingsWrites`): the claim's selects take the rows they pick with
  `FOR UPDATE SKIP LOCKED`, so relays of several workers claiming at once each take other
  postings (a row another transaction is claiming is passed over, not waited for, and is never
  claimed twice); SQLite has one writer, its claim needs no lock. While every write transaction
  also takes the writer lock (hub.storage.postgres.writer) two claims cannot overlap anyway; the
  row locks are what keeps claims apart once workers write side by side. At a relay's start
  only its own worker id's open claims go back to pending (SQLite, one hub per file: all).
- A catalog version's content (`PgContentReader`, opened by `content_reader`): pages come from
  a server-side cursor inside one REPEATABLE READ snapshot, so a 300,000-item version is never
  held whole in the hub's memory (psycopg's ordinary cursor fetches every row at once).
"""

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from hub.storage.availability import (
    FEED_APPEND,
    LOCATION_CHANGED,
    AvailabilityReads,
    AvailabilityWrites,
    Change,
    Stock,
    json_list,
)
from hub.storage.database import Reads, Transaction
from hub.storage.days import DaysWrites
from hub.storage.eventlog import EventLogWrites
from hub.storage.postgres.connection import PgConnection, dialect
from hub.storage.postings import PostingsWrites
from hub.storage.reservations import ReservationsWrites
from hub.storage.rows import Reader, fetch_all, fetch_one, one_row
from hub.storage.version_content import PAGE, ContentReader
from runtime.clock import stamp

_cursors = itertools.count(1)
# The class of the per-store advisory locks (two-int form), the letters 'RHST' as an int4: a
# space of its own beside hub.storage.postgres.writer's one-int (bigint) keys.
STORE_LOCK = int.from_bytes(b"RHST", "big")


class PgEventLogWrites(EventLogWrites):
    def lock_store(self, store_id: str) -> bool:
        """Whether this transaction holds the store's lock now (taken, or held already)."""
        row = one_row(self._conn,
                      f"SELECT pg_try_advisory_xact_lock({STORE_LOCK}, hashtext(?)) AS granted",
                      (store_id,))
        return bool(row and row["granted"])


class PgDaysWrites(DaysWrites):
    def add_totals(self, store_id: str, business_day: str, currency: str, *, sales_count: int,
                   returns_count: int, net: Decimal, tax: Decimal, gross: Decimal,
                   tenders: Mapping[str, Decimal]) -> None:
        """Add these counts and amounts (and each tender method's amount) to the day's, exactly."""
        day = (store_id, business_day, currency)
        self._conn.execute(
            "INSERT INTO day_totals (store_id, business_day, currency, sales_count, returns_count,"
            " net_total, tax_total, gross_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (store_id, business_day, currency) DO UPDATE SET"
            " sales_count = day_totals.sales_count + excluded.sales_count,"
            " returns_count = day_totals.returns_count + excluded.returns_count,"
            " net_total = day_totals.net_total + excluded.net_total,"
            " tax_total = day_totals.tax_total + excluded.tax_total,"
            " gross_total = day_totals.gross_total + excluded.gross_total",
            (*day, sales_count, returns_count, net, tax, gross))
        if tenders:
            self._conn.executemany(
                "INSERT INTO day_tenders (store_id, business_day, currency, method, amount)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (store_id, business_day, currency, method)"
                " DO UPDATE SET amount = day_tenders.amount + excluded.amount",
                [(*day, method, amount) for method, amount in tenders.items()])


class PgAvailabilityWrites(AvailabilityWrites):
    def __init__(self, conn: PgConnection) -> None:
        super().__init__(conn)
        self._pg = conn

    def stock(self, skus: Iterable[str], locations: Iterable[str], now: str) -> list[Stock]:
        skus, locations = list(skus), list(locations)
        self._pg.execute(
            "SELECT 1 FROM inventory WHERE sku IN (SELECT value FROM json_each(?))"
            " AND store_id IN (SELECT value FROM json_each(?)) ORDER BY sku, store_id FOR UPDATE",
            (json_list(skus), json_list(locations)))
        return super().stock(skus, locations, now)

    def record_changes(self, keys: Iterable[tuple[str, str]], now: str) -> None:
        self._pg.defer(FEED_APPEND, [(sku, loc, now) for sku, loc in sorted(set(keys))])

    def record_location_changed(self, location: str, now: str) -> None:
        self._pg.defer(LOCATION_CHANGED, [(now, location)])


class PgReservationsWrites(ReservationsWrites):
    find_sql = f"{ReservationsWrites.find_sql} FOR UPDATE OF r"
    on_hand_sql = f"{ReservationsWrites.on_hand_sql} FOR UPDATE"


class PgAvailabilityReads(AvailabilityReads):
    async def last_cursor(self) -> int:
        """The latest cursor the feed has committed (0 before the first)."""
        row = await fetch_one(self._conn,
                              "SELECT COALESCE(MAX(cursor), 0) AS last FROM availability_changes")
        return int(row["last"]) if row else 0

    async def changes(self, after: int, locations: Iterable[str], limit: int) -> list[Change]:
        """The SKUs changed after `after` at any of `locations` (or everywhere), each once with
        its latest cursor, in cursor order, at most `limit`."""
        rows = await fetch_all(
            self._conn,
            "SELECT MAX(cursor) AS last, sku FROM availability_changes"
            " WHERE cursor > ? AND (location = ''"
            "  OR location IN (SELECT value FROM json_each(?)))"
            " GROUP BY sku ORDER BY last LIMIT ?", (after, json_list(locations), limit))
        return [Change(r[0], r[1]) for r in rows]


class PgPostingsWrites(PostingsWrites):
    """The postings' writes with several workers in mind: a claim locks the rows it picks and
    skips those locked; a relay's start takes back only its own worker's claims."""

    CLAIM_LOCK = " FOR UPDATE SKIP LOCKED"

    def release_claims(self, worker: str | None, now: dt.datetime) -> int:
        """The postings `worker` left mid-send (the same worker id, started again) are pending
        again, due at `now`; how many. Another worker's claims wait for their lease to end:
        that worker may be sending them right now. None: every open claim (the new leader's
        relay, hub.postings.store.release_claims)."""
        if worker is None:
            return super().release_claims(worker, now)
        return self._conn.execute(f"{self.RELEASE} AND claimed_by = ?",
                                  (stamp(now), stamp(now), worker)).rowcount


class PgTransaction(Transaction):
    """A Transaction whose repositories run on PostgreSQL."""

    def __init__(self, conn: PgConnection) -> None:
        super().__init__(conn)
        self.events = PgEventLogWrites(conn)
        self.days = PgDaysWrites(conn)
        self.availability = PgAvailabilityWrites(conn)
        self.reservations = PgReservationsWrites(conn)
        self.postings = PgPostingsWrites(conn)


class PgReads(Reads):
    """The read repositories on PostgreSQL."""

    def __init__(self, conn: Reader) -> None:
        super().__init__(conn)
        self.availability = PgAvailabilityReads(conn)


class PgContentReader(ContentReader):
    """A version's content read on a PostgreSQL connection of its own (hub.storage.version_content
    says what it reads)."""

    def __init__(self, conn: PgConnection) -> None:
        super().__init__(conn)
        self._pg = conn

    def _pages(self, sql: str, args: Sequence[Any], convert: Any) -> Iterator[list[Any]]:
        with self._pg.raw.cursor(name=f"content_{next(_cursors)}") as cur:
            cur.execute(dialect(sql), args)
            while rows := cur.fetchmany(PAGE):
                yield [convert(r) for r in rows]


@contextlib.contextmanager
def content_reader(conn: PgConnection) -> Iterator[ContentReader]:
    """A PgContentReader on `conn` (a connection of its own) inside one read-only REPEATABLE
    READ transaction: every read of one `with` sees one committed state. Closes `conn`."""
    try:
        conn.command("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield PgContentReader(conn)
    finally:
        conn.close()  # without COMMIT: the read transaction ends with the connection
