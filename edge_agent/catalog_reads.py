"""What tills and the agent read of the store's catalog, offline: an item with the price in force
at an instant, by the store's own clock (protocol.pricing: a future-dated price takes effect at
its instant with no message from head office), the catalog's version and next price change, and
what changed since a version.

Reads use read-only connections of their own (WAL: a version being applied stays invisible
until its transaction commits). A lookup by SKU or barcode is one indexed statement of tens of
microseconds, so it runs on the event loop: a thread hop would cost more than the read and
queue behind others while tills capture (bench.till_lookup). Scans (counts, the next change,
changes since a version) run in a thread on a second connection.
"""

import asyncio
import datetime as dt
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from edge_agent.errors import CatalogUnavailable
from protocol.pricing import for_store
from runtime.clock import stamp

MAX_CHANGES = 1000   # items per page of changes
NEXT_LOOKAHEAD = 20  # price boundaries looked at for the next change that alters a price

_ITEM = ("SELECT i.sku, i.name, i.barcode, i.unit, i.tax_class, s.version, p.book, p.price,"
         " p.effective_from, p.effective_to, b.currency, b.priority FROM items i"
         " CROSS JOIN catalog_state s LEFT JOIN prices p ON p.sku = i.sku"
         " LEFT JOIN books b ON b.book = p.book")


class Row(NamedTuple):
    """A price row as protocol.pricing resolves it."""

    book: str
    price: Decimal
    effective_from: dt.datetime
    effective_to: dt.datetime | None
    currency: str
    priority: int


def _price_rows(rows: Iterable[sqlite3.Row]) -> list[Row]:
    return [Row(r[6], Decimal(r[7]), dt.datetime.fromisoformat(r[8]),
                dt.datetime.fromisoformat(r[9]) if r[9] else None, r[10], r[11])
            for r in rows if r[6] is not None and r[10] is not None]


def resolve(rows: list[Row], at: dt.datetime) -> Row | None:
    """The price in force at `at` among one SKU's rows (the books the store has all apply)."""
    return for_store(rows, {r.book: r.priority for r in rows}, at)


def price_view(found: Row | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {"amount": str(found.price), "currency": found.currency, "price_book": found.book,
            "effective_from": found.effective_from.isoformat(),
            "effective_to": found.effective_to.isoformat() if found.effective_to else None}


def _item_view(rows: list[sqlite3.Row], at: dt.datetime) -> dict[str, Any]:
    first = rows[0]
    return {"sku": first[0], "name": first[1], "barcode": first[2], "unit": first[3],
            "tax_class": first[4], "price": price_view(resolve(_price_rows(rows), at)),
            "catalog_version": first[5]}


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    conn.execute("PRAGMA busy_timeout=2000")
    return conn


class CatalogReads:
    """Reads of catalog.sqlite (which edge_agent.catalog.Catalog must have created first)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._quick: sqlite3.Connection | None = None
        self._slow: sqlite3.Connection | None = None
        self._slow_lock = asyncio.Lock()
        self._summary: tuple[Any, dict[str, Any]] | None = None

    def open(self) -> None:
        self._quick = _connect(self.path)
        self._slow = _connect(self.path)

    @property
    def available(self) -> bool:
        return self._quick is not None

    def close(self) -> None:
        for conn in (self._quick, self._slow):
            if conn is not None:
                conn.close()
        self._quick = self._slow = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._quick is None:
            raise CatalogUnavailable("the store's catalog is not open just now")
        return self._quick

    def item(self, at: dt.datetime, *, sku: str | None = None,
             barcode: str | None = None) -> dict[str, Any] | None:
        """The item with that SKU (or barcode) and its price at `at`; None when unknown."""
        if sku is not None:
            rows = self._conn.execute(_ITEM + " WHERE i.sku = ?", (sku,)).fetchall()
        else:
            rows = self._conn.execute(
                _ITEM + " WHERE i.sku = (SELECT sku FROM items WHERE barcode = ?"
                " ORDER BY sku LIMIT 1)", (barcode,)).fetchall()
        return _item_view(rows, at) if rows else None

    def prices(self, skus: Iterable[str], at: dt.datetime) -> dict[str, Row]:
        """The price in force at `at` of each of these SKUs that has one."""
        names = sorted(set(skus))
        by_sku: dict[str, list[sqlite3.Row]] = defaultdict(list)
        for part in range(0, len(names), 500):
            some = names[part:part + 500]
            for r in self._conn.execute(_ITEM + f" WHERE i.sku IN ({','.join('?' for _ in some)})",
                                        some):
                by_sku[r[0]].append(r)
        found = {sku: resolve(_price_rows(rs), at) for sku, rs in by_sku.items()}
        return {sku: row for sku, row in found.items() if row is not None}

    async def _scan(self, job: Any, *args: Any) -> Any:
        conn = self._slow
        if conn is None:
            raise CatalogUnavailable("the store's catalog is not open just now")
        async with self._slow_lock:
            return await asyncio.to_thread(job, conn, *args)

    async def summary(self, now: dt.datetime) -> dict[str, Any]:
        """{"version", "applied_at", "items", "next_change": {"at", "items"} or None}; kept
        until the version changes or the next change comes."""
        version = self._conn.execute("SELECT version, applied_at FROM catalog_state").fetchone()
        kept = self._summary
        if kept is not None and kept[0] == tuple(version):
            nxt = kept[1]["next_change"]
            if nxt is None or dt.datetime.fromisoformat(nxt["at"]) > now:
                return kept[1]
        found: dict[str, Any] = await self._scan(_summary, now)
        self._summary = (tuple(version), found)
        return found

    async def changes(self, since: int, at: dt.datetime, after: str = "",
                      limit: int = MAX_CHANGES) -> dict[str, Any]:
        """Items that changed in versions after `since` (their row or a price row of theirs),
        each as `item` shows it at `at`, by SKU from `after`, a page at a time, and the SKUs
        removed; `next` is the SKU to go on from, None on the last page."""
        return await self._scan(_changes, since, at, after, limit)  # type: ignore[no-any-return]


def _summary(conn: sqlite3.Connection, now: dt.datetime) -> dict[str, Any]:
    conn.execute("BEGIN")
    try:
        version, applied_at = conn.execute(
            "SELECT version, applied_at FROM catalog_state").fetchone()
        items = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        nxt = _next_change(conn, now)
    finally:
        conn.execute("COMMIT")
    return {"version": version, "applied_at": applied_at, "items": items, "next_change": nxt}


def _next_change(conn: sqlite3.Connection, now: dt.datetime) -> dict[str, Any] | None:
    """The next instant after `now` at which some item's price changes, and how many items'."""
    after = stamp(now)
    instants = [r[0] for r in conn.execute(
        "SELECT at FROM (SELECT effective_from AS at FROM prices WHERE effective_from > ?"
        " UNION SELECT effective_to FROM prices WHERE effective_to > ?) ORDER BY at LIMIT ?",
        (after, after, NEXT_LOOKAHEAD))]
    for text in instants:
        at = dt.datetime.fromisoformat(text)
        before = at - dt.timedelta(microseconds=1)
        skus = [r[0] for r in conn.execute(
            "SELECT DISTINCT sku FROM prices WHERE effective_from = ? OR effective_to = ?",
            (text, text))]
        changed = 0
        for part in range(0, len(skus), 500):
            some = skus[part:part + 500]
            rows = conn.execute(_ITEM + f" WHERE i.sku IN ({','.join('?' for _ in some)})",
                                some).fetchall()
            by_sku: dict[str, list[sqlite3.Row]] = defaultdict(list)
            for r in rows:
                by_sku[r[0]].append(r)
            for rs in by_sku.values():
                prices = _price_rows(rs)
                if price_view(resolve(prices, before)) != price_view(resolve(prices, at)):
                    changed += 1
        if changed:
            return {"at": at.isoformat(), "items": changed}
    return None


def _changes(conn: sqlite3.Connection, since: int, at: dt.datetime, after: str,
             limit: int) -> dict[str, Any]:
    conn.execute("BEGIN")
    try:
        version = conn.execute("SELECT version FROM catalog_state").fetchone()[0]
        changed = ("SELECT sku FROM items WHERE changed_in > :v"
                   " UNION SELECT sku FROM prices WHERE changed_in > :v"
                   " UNION SELECT sku FROM removed WHERE version > :v AND kind = 'price'"
                   " UNION SELECT p.sku FROM prices p JOIN books b USING (book)"
                   " WHERE b.changed_in > :v"
                   " UNION SELECT p.sku FROM prices p JOIN removed r ON r.key = p.book"
                   " AND r.kind = 'book' WHERE r.version > :v")
        skus = [r[0] for r in conn.execute(
            f"SELECT sku FROM ({changed}) WHERE sku > :after AND sku IN (SELECT sku FROM items)"
            " ORDER BY sku LIMIT :limit", {"v": since, "after": after, "limit": limit + 1})]
        more = len(skus) > limit
        skus = skus[:limit]
        items: list[dict[str, Any]] = []
        for part in range(0, len(skus), 500):
            some = skus[part:part + 500]
            rows = conn.execute(_ITEM + f" WHERE i.sku IN ({','.join('?' for _ in some)})"
                                " ORDER BY i.sku", some).fetchall()
            by_sku: dict[str, list[sqlite3.Row]] = defaultdict(list)
            for r in rows:
                by_sku[r[0]].append(r)
            items += [_item_view(by_sku[s], at) for s in some if s in by_sku]
        removed = [] if after else [r[0] for r in conn.execute(
            "SELECT key FROM removed WHERE kind = 'item' AND version > ?"
            " AND key NOT IN (SELECT sku FROM items) ORDER BY key", (since,))]
    finally:
        conn.execute("COMMIT")
    return {"since": since, "version": version, "items": items, "removed": removed,
            "next": skus[-1] if more else None}
