"""Day totals, tenders and day-closes per store and business day.

- `day_totals`: per (store, business day, currency): sales and returns counted, net, tax and gross.
- `day_tenders`: per (store, business day, currency, tender method): the amount.
- `day_closes`: per (store, business day, register; '' for a store-wide close): the store's own
  figures, the last close received replacing an earlier one.

On SQLite, amounts are Decimals stored as text: read, added as Decimal and written back, never
summed in SQL (SQLite would use floats). That read-modify-write is correct only with one writer
(hub.storage.database, 3.). On PostgreSQL they are exact NUMERICs added in SQL, atomically
(hub.storage.postgres.repositories.PgDaysWrites); both read back as the same decimal text.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from hub.storage.rows import Connection, Reader, Row, fetch_all, one_row
from protocol.messages import DayClose, Envelope


class DaysWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_totals(self, store_id: str, business_day: str, currency: str, *, sales_count: int,
                   returns_count: int, net: Decimal, tax: Decimal, gross: Decimal,
                   tenders: Mapping[str, Decimal]) -> None:
        """Add these counts and amounts (and each tender method's amount) to the day's, exactly."""
        day = (store_id, business_day, currency)
        row = one_row(
            self._conn,
            "SELECT net_total, tax_total, gross_total FROM day_totals"
            " WHERE store_id = ? AND business_day = ? AND currency = ?", day)
        # A first total is 0 + the amount too: the stored text is always a Decimal sum (so an
        # amount of 5E+1 is written "50", as it always was).
        was = ([Decimal(row[c]) for c in ("net_total", "tax_total", "gross_total")] if row
               else [Decimal(0)] * 3)
        self._conn.execute(
            "INSERT INTO day_totals (store_id, business_day, currency, sales_count, returns_count,"
            " net_total, tax_total, gross_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (store_id, business_day, currency) DO UPDATE SET"
            " sales_count = day_totals.sales_count + excluded.sales_count,"
            " returns_count = day_totals.returns_count + excluded.returns_count,"
            " net_total = excluded.net_total, tax_total = excluded.tax_total,"
            " gross_total = excluded.gross_total",
            (*day, sales_count, returns_count, str(was[0] + net), str(was[1] + tax),
             str(was[2] + gross)),
        )
        for method, amount in tenders.items():
            found = one_row(
                self._conn,
                "SELECT amount FROM day_tenders WHERE store_id = ? AND business_day = ?"
                " AND currency = ? AND method = ?", (*day, method))
            total = (Decimal(found["amount"]) if found else Decimal(0)) + amount
            self._conn.execute(
                "INSERT INTO day_tenders (store_id, business_day, currency, method, amount)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (store_id, business_day, currency, method)"
                " DO UPDATE SET amount = excluded.amount",
                (*day, method, str(total)),
            )

    def record_close(self, envelope: Envelope, now: str) -> None:
        """Keep a store's (or register's) day-close; it replaces an earlier one of the same."""
        close = envelope.event
        assert isinstance(close, DayClose)
        self._conn.execute(
            "INSERT INTO day_closes (store_id, business_day, register_id, event_id, currency,"
            " sales_count, returns_count, net_total, tax_total, tenders, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (store_id, business_day, register_id) DO UPDATE SET"
            " event_id = excluded.event_id, currency = excluded.currency,"
            " sales_count = excluded.sales_count, returns_count = excluded.returns_count,"
            " net_total = excluded.net_total, tax_total = excluded.tax_total,"
            " tenders = excluded.tenders, received_at = excluded.received_at",
            (envelope.store_id, envelope.business_day.isoformat(), close.register_id or "",
             envelope.event_id, close.currency, close.sales_count, close.returns_count,
             str(close.net_total), str(close.tax_total),
             msgspec.json.encode({k: str(v) for k, v in close.tenders.items()}).decode(), now),
        )


class DaysReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def totals(self, store_id: str, business_day: str) -> list[Row]:
        """The day's totals by currency: currency, sales_count, returns_count, net_total,
        tax_total, gross_total (amounts as exact decimal text)."""
        return await fetch_all(
            self._conn,
            "SELECT currency, sales_count, returns_count, net_total, tax_total, gross_total"
            " FROM day_totals WHERE store_id = ? AND business_day = ? ORDER BY currency",
            (store_id, business_day))

    async def tenders(self, store_id: str, business_day: str) -> list[Row]:
        """The day's tenders: currency, method, amount (exact decimal text), by method."""
        return await fetch_all(
            self._conn,
            "SELECT currency, method, amount FROM day_tenders"
            " WHERE store_id = ? AND business_day = ? ORDER BY method",
            (store_id, business_day))

    async def closes(self, store_id: str, business_day: str) -> list[dict[str, Any]]:
        """The day's closes by register (a store-wide close has register_id None), each with
        its tenders as {method: amount text}."""
        rows = await fetch_all(
            self._conn,
            "SELECT register_id, currency, sales_count, returns_count, net_total, tax_total,"
            " tenders, received_at FROM day_closes WHERE store_id = ? AND business_day = ?"
            " ORDER BY register_id",
            (store_id, business_day))
        return [{**dict(row), "register_id": row["register_id"] or None,
                 "tenders": msgspec.json.decode(row["tenders"])} for row in rows]
