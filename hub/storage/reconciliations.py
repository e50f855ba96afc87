"""The reconciliations table (the saved result of each store-day's check), and what the check
reads of the other aggregates' tables: which stores the hub knows (stores, streams, postings),
which stores have anything for a business day (day_totals, day_closes, postings), and the
transaction numbers of a store-day's sales and returns (events)."""

import datetime as dt
import json
from typing import Any

from hub.storage.rows import Connection, Reader, Row, fetch_all, fetch_one
from runtime.clock import stamp


class ReconciliationsWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, store_id: str, business_day: str, status: str, report: dict[str, Any],
               now: dt.datetime) -> None:
        """The store-day's latest result, checked at `now` (it replaces the one before)."""
        self._conn.execute(
            "INSERT INTO reconciliations (store_id, business_day, status, report, checked_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (store_id, business_day) DO UPDATE SET"
            " status = excluded.status, report = excluded.report,"
            " checked_at = excluded.checked_at",
            (store_id, business_day, status, json.dumps(report), stamp(now)))


class ReconciliationsReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def latest(self, limit: int) -> list[dict[str, Any]]:
        """The newest business days' results (mismatched first within a day), without their
        reports: store_id, business_day, status, checked_at."""
        rows = await fetch_all(
            self._conn,
            "SELECT store_id, business_day, status, checked_at FROM reconciliations"
            " ORDER BY business_day DESC, status DESC, store_id LIMIT ?", (limit,))
        return [dict(row) for row in rows]

    async def store_known(self, store_id: str) -> bool:
        """Whether the hub has heard of the store: registered, streaming, or with postings."""
        row = await fetch_one(
            self._conn,
            "SELECT 1 FROM stores WHERE store_id = ? UNION ALL SELECT 1 FROM streams"
            " WHERE store_id = ? UNION ALL SELECT 1 FROM postings WHERE store_id = ? LIMIT 1",
            (store_id, store_id, store_id))
        return row is not None

    async def stores_of_day(self, day: dt.date) -> list[str]:
        """The stores with totals, a day-close or postings for the business day, in order."""
        d = day.isoformat()
        rows = await fetch_all(
            self._conn,
            "SELECT store_id FROM day_totals WHERE business_day = ? UNION SELECT store_id"
            " FROM day_closes WHERE business_day = ? UNION SELECT store_id FROM postings"
            " WHERE business_day = ? ORDER BY 1", (d, d, d))
        return [row["store_id"] for row in rows]

    async def transaction_numbers(self, store_id: str, day: dt.date) -> list[Row]:
        """(register_id, pos_txn_id) of each sale and return the hub applied for the
        store-day, by register."""
        return await fetch_all(
            self._conn,
            "SELECT register_id, pos_txn_id FROM events WHERE store_id = ? AND business_day = ?"
            " AND kind IN ('sale', 'return') ORDER BY register_id", (store_id, day.isoformat()))
