"""What was published: tables catalog_versions (one row per version, with the books and groups
it was made with), catalog_items and catalog_prices (a version's content), publications,
publication_targets (each target store's state) and catalog_stores (the version each store
reports applied).

A content row belongs to the versions `from_version <= v < to_version` (to_version NULL: up to
the newest). A version's content therefore never changes once made, and what changed between
two versions a < b is the rows that start or end in (a, b]. Rows that no kept version needs any
more are deleted (`prune`); the version rows themselves stay, marked pruned.

Target states are plain text here: pending, delivered, applied, failed (not final: the store
may still apply it), cancelled, superseded (final). Instants are runtime.clock.stamp text.
"""

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from hub.storage.catalog import ItemRow, PriceRow, item_row, price_row
from hub.storage.rows import (
    Connection,
    Reader,
    Row,
    all_rows,
    chunks,
    fetch_all,
    fetch_one,
    marks,
    one_row,
)
from runtime.clock import stamp

OPEN_STATES = ("pending", "delivered", "failed")
_AT = "from_version <= ? AND (to_version IS NULL OR to_version > ?)"
_CHANGED = ("((from_version > ? AND from_version <= ?)"
            " OR (to_version IS NOT NULL AND to_version > ? AND to_version <= ?))")
_PRICE = "price_id, book, sku, price, effective_from, effective_to"
_ITEM = "sku, name, barcode, unit, tax_class, active"
# Null-safe equality spelt out: SQLite's `a IS b` is PostgreSQL's `IS NOT DISTINCT FROM`, which
# SQLite only learnt in 3.39.
_SAME_ITEM = ("m.sku = c.sku AND m.name = c.name AND m.active = c.active" + "".join(
    f" AND (m.{x} = c.{x} OR (m.{x} IS NULL AND c.{x} IS NULL))"
    for x in ("barcode", "unit", "tax_class")))


class VersionRow(NamedTuple):
    version: int
    created_at: str
    rollback_of: int | None
    setup: dict[str, Any]
    items: int
    prices: int
    pruned: bool


def _version(row: Row) -> VersionRow:
    return VersionRow(row["version"], row["created_at"], row["rollback_of"],
                      json.loads(row["setup"]), row["items"], row["prices"], bool(row["pruned"]))


class PublicationsWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- versions and their content ---

    def head(self) -> int:
        """The newest version, 0 before the first."""
        return int(self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM catalog_versions")
                   .fetchone()[0])

    def version(self, version: int) -> VersionRow | None:
        row = one_row(self._conn, "SELECT * FROM catalog_versions WHERE version = ?", (version,))
        return _version(row) if row else None

    def add_version(self, version: int, now: dt.datetime, rollback_of: int | None,
                    setup: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO catalog_versions (version, created_at, rollback_of, setup, items, prices)"
            " VALUES (?, ?, ?, ?, 0, 0)", (version, stamp(now), rollback_of, json.dumps(setup)))

    def count_version(self, version: int) -> None:
        """Record how many active items and prices the (newest) version holds."""
        self._conn.execute(
            "UPDATE catalog_versions SET"
            " items = (SELECT COUNT(*) FROM catalog_items WHERE to_version IS NULL AND active = 1),"
            " prices = (SELECT COUNT(*) FROM catalog_prices WHERE to_version IS NULL)"
            " WHERE version = ?", (version,))

    def head_prices(self, book: str, skus: Iterable[str]) -> list[PriceRow]:
        """The newest version's prices of these SKUs in `book`."""
        out: list[PriceRow] = []
        for part in chunks(sorted(set(skus))):
            out += map(price_row, all_rows(
                self._conn, f"SELECT {_PRICE} FROM catalog_prices WHERE to_version IS NULL"
                f" AND book = ? AND sku IN ({marks(part)})", (book, *part)))
        return out

    def book_has_prices(self, book: str) -> bool:
        return self._conn.execute("SELECT 1 FROM catalog_prices WHERE to_version IS NULL"
                                  " AND book = ? LIMIT 1", (book,)).fetchone() is not None

    def add_prices(self, version: int, rows: Sequence[PriceRow]) -> None:
        self._conn.executemany(
            f"INSERT INTO catalog_prices ({_PRICE}, from_version) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r.price_id, r.book, r.sku, str(r.price), stamp(r.effective_from),
              stamp(r.effective_to) if r.effective_to else None, version) for r in rows])

    def close_ended(self, version: int, cutoff: dt.datetime) -> int:
        """Leave the prices that can no longer apply after `cutoff` out of `version` (and of
        every later one): those that ended by then, and list prices (no effective_to) followed
        by a later list price that started by then (hub.catalog.pricing). How many."""
        at = stamp(cutoff)
        return self._conn.execute(
            "UPDATE catalog_prices SET to_version = ? WHERE to_version IS NULL AND ("
            " (effective_to IS NOT NULL AND effective_to <= ?) OR (effective_to IS NULL AND EXISTS"
            " (SELECT 1 FROM catalog_prices n WHERE n.to_version IS NULL AND n.book ="
            " catalog_prices.book AND n.sku = catalog_prices.sku AND n.effective_to IS NULL"
            " AND n.effective_from > catalog_prices.effective_from AND n.effective_from <= ?)))",
            (version, at, at)).rowcount

    def restore_prices(self, version: int, earlier: int) -> None:
        """`version`'s prices become exactly those of `earlier` (same price ids)."""
        self._conn.execute(
            "UPDATE catalog_prices SET to_version = ? WHERE to_version IS NULL AND price_id NOT IN"
            f" (SELECT price_id FROM catalog_prices WHERE {_AT})", (version, earlier, earlier))
        self._conn.execute(
            f"INSERT INTO catalog_prices ({_PRICE}, from_version) SELECT {_PRICE}, ?"
            f" FROM catalog_prices WHERE {_AT} AND price_id NOT IN"
            " (SELECT price_id FROM catalog_prices WHERE to_version IS NULL)",
            (version, earlier, earlier))

    def sync_items(self, version: int) -> int:
        """`version`'s items become the master items as they are now; how many rows changed."""
        closed = self._conn.execute(
            "UPDATE catalog_items AS c SET to_version = ? WHERE c.to_version IS NULL AND NOT EXISTS"
            f" (SELECT 1 FROM items m WHERE {_SAME_ITEM})", (version,)).rowcount
        added = self._conn.execute(
            f"INSERT INTO catalog_items ({_ITEM}, from_version) SELECT {_ITEM}, ? FROM items m"
            " WHERE NOT EXISTS (SELECT 1 FROM catalog_items c WHERE c.sku = m.sku"
            " AND c.to_version IS NULL)", (version,)).rowcount
        return closed + added

    def items_at(self, version: int) -> list[ItemRow]:
        return [item_row(r) for r in all_rows(
            self._conn, f"SELECT {_ITEM} FROM catalog_items WHERE {_AT}", (version, version))]

    def prune(self, keep_from: int) -> None:
        """Delete the content only versions before `keep_from` hold; mark those versions."""
        for table in ("catalog_items", "catalog_prices"):
            self._conn.execute(f"DELETE FROM {table} WHERE to_version IS NOT NULL"
                               " AND to_version <= ?", (keep_from,))
        self._conn.execute("UPDATE catalog_versions SET pruned = 1 WHERE version < ?"
                           " AND pruned = 0", (keep_from,))

    # --- publications and their targets ---

    def add_publication(self, version: int, now: dt.datetime, note: str | None,
                        targets: dict[str, Any], rollback_to: int | None) -> int:
        pid: int = self._conn.execute(
            "INSERT INTO publications (version, created_at, note, targets, rollback_to)"
            " VALUES (?, ?, ?, ?, ?) RETURNING publication_id",
            (version, stamp(now), note, json.dumps(targets), rollback_to)).fetchone()[0]
        return pid

    def add_targets(self, pid: int, stores: Iterable[str], now: dt.datetime) -> None:
        """Each store is to apply publication `pid`; what it was still to apply of an earlier
        publication is superseded (the newer version carries it)."""
        at = stamp(now)
        names = sorted(set(stores))
        for part in chunks(names):
            self._conn.execute(
                f"UPDATE publication_targets SET state = 'superseded', updated_at = ?"
                f" WHERE store_id IN ({marks(part)}) AND publication_id < ?"
                f" AND state IN ({marks(OPEN_STATES)})", (at, *part, pid, *OPEN_STATES))
        self._conn.executemany(
            "INSERT INTO publication_targets (publication_id, store_id, state, updated_at)"
            " VALUES (?, ?, 'pending', ?)", [(pid, s, at) for s in names])

    def publication(self, pid: int) -> Row | None:
        return one_row(self._conn, "SELECT * FROM publications WHERE publication_id = ?", (pid,))

    def cancel(self, pid: int, now: dt.datetime) -> int:
        """Stop the publication for every store that has not applied it; how many."""
        at = stamp(now)
        self._conn.execute("UPDATE publications SET cancelled_at = COALESCE(cancelled_at, ?)"
                           " WHERE publication_id = ?", (at, pid))
        return self._conn.execute(
            f"UPDATE publication_targets SET state = 'cancelled', updated_at = ?"
            f" WHERE publication_id = ? AND state IN ({marks(OPEN_STATES)})",
            (at, pid, *OPEN_STATES)).rowcount

    def set_target(self, store_id: str, version: int, state: str, among: Sequence[str],
                   now: dt.datetime, *, applied_at: dt.datetime | None = None,
                   reason: str | None = None) -> int:
        """The store's targets for `version` that are in one of the states `among` move to
        `state`; how many."""
        return self._conn.execute(
            "UPDATE publication_targets SET state = ?, updated_at = ?, applied_at = ?, reason = ?"
            f" WHERE store_id = ? AND state IN ({marks(among)}) AND publication_id IN"
            " (SELECT publication_id FROM publications WHERE version = ?)",
            (state, stamp(now), stamp(applied_at) if applied_at else None, reason, store_id,
             *among, version)).rowcount

    def supersede_below(self, store_id: str, version: int, now: dt.datetime) -> None:
        """The store's open targets of versions before `version` are superseded."""
        self._conn.execute(
            "UPDATE publication_targets SET state = 'superseded', updated_at = ?"
            f" WHERE store_id = ? AND state IN ({marks(OPEN_STATES)}) AND publication_id IN"
            " (SELECT publication_id FROM publications WHERE version < ?)",
            (stamp(now), store_id, *OPEN_STATES, version))


class PublicationsReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def head(self) -> int:
        row = await fetch_one(self._conn, "SELECT COALESCE(MAX(version), 0) FROM catalog_versions")
        return int(row[0]) if row else 0

    async def version(self, version: int) -> VersionRow | None:
        row = await fetch_one(self._conn, "SELECT * FROM catalog_versions WHERE version = ?",
                              (version,))
        return _version(row) if row else None

    async def items_at(self, version: int, skus: Iterable[str] | None = None) -> list[ItemRow]:
        """The version's active items (of these SKUs only, if given), by SKU."""
        sql = f"SELECT {_ITEM} FROM catalog_items WHERE {_AT} AND active = 1"
        if skus is None:
            return [item_row(r) for r in await fetch_all(self._conn, sql + " ORDER BY sku",
                                                         (version, version))]
        out: list[ItemRow] = []
        for part in chunks(sorted(set(skus))):
            out += map(item_row, await fetch_all(self._conn, sql + f" AND sku IN ({marks(part)})",
                                                 (version, version, *part)))
        return out

    async def prices_at(self, version: int, books: Sequence[str], *,
                        ids: Iterable[int] | None = None,
                        sku: str | None = None) -> list[PriceRow]:
        """The version's prices of these books (only these price ids, or this SKU, if given)."""
        if not books:
            return []
        sql = (f"SELECT {_PRICE} FROM catalog_prices WHERE {_AT}"
               f" AND book IN ({marks(books)})")
        args: tuple[Any, ...] = (version, version, *books)
        if sku is not None:
            sql, args = sql + " AND sku = ?", (*args, sku)
        if ids is None:
            return [price_row(r) for r in await fetch_all(self._conn, sql + " ORDER BY price_id",
                                                          args)]
        out: list[PriceRow] = []
        for part in chunks(sorted(set(ids)), 400):
            out += map(price_row, await fetch_all(
                self._conn, sql + f" AND price_id IN ({marks(part)})", (*args, *part)))
        return out

    async def changed_skus(self, since: int, version: int) -> set[str]:
        """SKUs whose item rows start or end in versions (since, version]."""
        return {r[0] for r in await fetch_all(
            self._conn, f"SELECT DISTINCT sku FROM catalog_items WHERE {_CHANGED}",
            (since, version, since, version))}

    async def changed_price_ids(self, since: int, version: int, books: Sequence[str]) -> set[int]:
        """Price ids of these books whose rows start or end in versions (since, version]."""
        if not books:
            return set()
        return {r[0] for r in await fetch_all(
            self._conn, f"SELECT DISTINCT price_id FROM catalog_prices WHERE {_CHANGED}"
            f" AND book IN ({marks(books)})", (since, version, since, version, *books))}

    async def publications(self, *, before: int | None, limit: int) -> list[dict[str, Any]]:
        """Newest first, from the one before publication `before`."""
        rows = await fetch_all(
            self._conn, "SELECT * FROM publications WHERE publication_id < ?"
            " ORDER BY publication_id DESC LIMIT ?", (before or 2**62, limit))
        return [_publication(r) for r in rows]

    async def publication(self, pid: int) -> dict[str, Any] | None:
        row = await fetch_one(self._conn, "SELECT * FROM publications WHERE publication_id = ?",
                              (pid,))
        return _publication(row) if row else None

    async def targets(self, pid: int) -> list[dict[str, Any]]:
        rows = await fetch_all(
            self._conn, "SELECT store_id, state, updated_at, applied_at, reason"
            " FROM publication_targets WHERE publication_id = ? ORDER BY store_id", (pid,))
        return [dict(r) for r in rows]

    async def counts(self, pids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Target stores by state, per publication."""
        found: dict[int, dict[str, int]] = {p: {} for p in pids}
        for part in chunks(list(pids)):
            for r in await fetch_all(
                    self._conn, "SELECT publication_id, state, COUNT(*) FROM publication_targets"
                    f" WHERE publication_id IN ({marks(part)}) GROUP BY 1, 2", part):
                found[r[0]][r[1]] = r[2]
        return found

    async def store(self, store_id: str) -> dict[str, Any] | None:
        """The version a store reports applied, and when."""
        row = await fetch_one(self._conn, "SELECT applied_version, applied_at, reported_at"
                              " FROM catalog_stores WHERE store_id = ?", (store_id,))
        return dict(row) if row else None


def _publication(row: Row) -> dict[str, Any]:
    return {"id": row["publication_id"], "version": row["version"],
            "created_at": row["created_at"], "note": row["note"],
            "targets": json.loads(row["targets"]), "rollback_to": row["rollback_to"],
            "cancelled_at": row["cancelled_at"]}
