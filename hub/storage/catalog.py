"""Catalog master data as head office edits it: tables items, store_groups,
store_group_members, price_books (with price_book_stores and price_book_groups),
price_change_sets and price_changes (staged until a publication takes them).

`CatalogWrites` runs inside the writer's transaction; `CatalogReads` on the read-only
connection. What was published lives in hub.storage.publications. Prices are decimal text,
instants runtime.clock.stamp text (they compare as text).
"""

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

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


class ItemRow(NamedTuple):
    sku: str
    name: str
    barcode: str | None
    unit: str | None
    tax_class: str | None
    active: bool


class BookRow(NamedTuple):
    """A price book and the stores it applies to: `all_stores`, or the stores named and the
    members of the groups named."""

    book: str
    currency: str
    priority: int
    all_stores: bool
    stores: list[str]
    groups: list[str]


class PriceRow(NamedTuple):
    """One price of a book (hub.catalog.pricing says which applies when)."""

    price_id: int
    book: str
    sku: str
    price: Decimal
    effective_from: dt.datetime
    effective_to: dt.datetime | None


class NewPrice(NamedTuple):
    sku: str
    price: Decimal
    effective_from: dt.datetime
    effective_to: dt.datetime | None


def price_row(row: Row) -> PriceRow:
    to = row["effective_to"]
    return PriceRow(row["price_id"], row["book"], row["sku"], Decimal(row["price"]),
                    dt.datetime.fromisoformat(row["effective_from"]),
                    dt.datetime.fromisoformat(to) if to else None)


def item_row(row: Row) -> ItemRow:
    return ItemRow(row["sku"], row["name"], row["barcode"], row["unit"], row["tax_class"],
                   bool(row["active"]))


_PRICE = "c.price_id, c.book, c.sku, c.price, c.effective_from, c.effective_to"
_ITEM = "sku, name, barcode, unit, tax_class, active"
_STAGED = "FROM price_changes c JOIN price_change_sets s USING (change_set)" \
          " WHERE s.version IS NULL AND s.withdrawn_at IS NULL"


class CatalogWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- items ---

    def item_states(self, skus: Iterable[str]) -> dict[str, bool]:
        """Whether each of these SKUs is active, for those that are items at all."""
        found: dict[str, bool] = {}
        for part in chunks(sorted(set(skus))):
            for row in all_rows(self._conn, f"SELECT sku, active FROM items WHERE sku IN"
                                f" ({marks(part)})", part):
                found[row["sku"]] = bool(row["active"])
        return found

    def barcode_owners(self, barcodes: Iterable[str]) -> dict[str, str]:
        """The SKU that holds each of these barcodes, for those held."""
        found: dict[str, str] = {}
        for part in chunks(sorted(set(barcodes))):
            for row in all_rows(self._conn, "SELECT barcode, sku FROM items WHERE barcode IN"
                                f" ({marks(part)})", part):
                found[row["barcode"]] = row["sku"]
        return found

    def upsert_items(self, items: Sequence[ItemRow], now: dt.datetime) -> None:
        """Write these items whole. Barcodes move first (a barcode handed from one item to
        another within the same call must not meet itself in the unique index)."""
        self._conn.executemany("UPDATE items SET barcode = NULL WHERE sku = ?",
                               [(i.sku,) for i in items])
        self._conn.executemany(
            f"INSERT INTO items ({_ITEM}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sku) DO UPDATE SET name = excluded.name, barcode = excluded.barcode,"
            " unit = excluded.unit, tax_class = excluded.tax_class, active = excluded.active,"
            " updated_at = excluded.updated_at",
            [(*i[:5], int(i.active), stamp(now)) for i in items])

    def retire_items_except(self, skus: Iterable[str], now: dt.datetime) -> None:
        """Every item not among `skus` becomes inactive and gives up its barcode (a rollback to
        a version made before these items were)."""
        self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS kept_skus (sku TEXT PRIMARY KEY)")
        self._conn.execute("DELETE FROM kept_skus")
        self._conn.executemany("INSERT INTO kept_skus (sku) VALUES (?) ON CONFLICT DO NOTHING",
                               [(s,) for s in skus])
        self._conn.execute("UPDATE items SET active = 0, barcode = NULL, updated_at = ?"
                           " WHERE sku NOT IN (SELECT sku FROM kept_skus)", (stamp(now),))
        self._conn.execute("DELETE FROM kept_skus")

    # --- store groups and price books ---

    def existing_groups(self, groups: Iterable[str]) -> set[str]:
        names = sorted(set(groups))
        return {row["group_id"] for part in chunks(names) for row in all_rows(
            self._conn, f"SELECT group_id FROM store_groups WHERE group_id IN ({marks(part)})",
            part)}

    def put_group(self, group: str, stores: Sequence[str], now: dt.datetime) -> None:
        """The group's members become exactly `stores`."""
        self._conn.execute(
            "INSERT INTO store_groups (group_id, updated_at) VALUES (?, ?)"
            " ON CONFLICT (group_id) DO UPDATE SET updated_at = excluded.updated_at",
            (group, stamp(now)))
        self._conn.execute("DELETE FROM store_group_members WHERE group_id = ?", (group,))
        self._conn.executemany("INSERT INTO store_group_members (group_id, store_id) VALUES (?, ?)",
                               [(group, s) for s in sorted(set(stores))])

    def book(self, book: str) -> BookRow | None:
        row = one_row(self._conn, "SELECT book, currency, priority, all_stores FROM price_books"
                      " WHERE book = ?", (book,))
        return _book(row, self._members(book)) if row else None

    def book_with_priority(self, priority: int, other_than: str) -> str | None:
        row = one_row(self._conn, "SELECT book FROM price_books WHERE priority = ? AND book != ?",
                      (priority, other_than))
        return row["book"] if row else None

    def put_book(self, book: BookRow, now: dt.datetime) -> None:
        self._conn.execute(
            "INSERT INTO price_books (book, currency, priority, all_stores, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (book) DO UPDATE SET currency = excluded.currency,"
            " priority = excluded.priority, all_stores = excluded.all_stores,"
            " updated_at = excluded.updated_at",
            (book.book, book.currency, book.priority, int(book.all_stores), stamp(now)))
        self._conn.execute("DELETE FROM price_book_stores WHERE book = ?", (book.book,))
        self._conn.execute("DELETE FROM price_book_groups WHERE book = ?", (book.book,))
        self._conn.executemany("INSERT INTO price_book_stores (book, store_id) VALUES (?, ?)",
                               [(book.book, s) for s in sorted(set(book.stores))])
        self._conn.executemany("INSERT INTO price_book_groups (book, group_id) VALUES (?, ?)",
                               [(book.book, g) for g in sorted(set(book.groups))])

    def setup(self) -> dict[str, Any]:
        """Every book and group as a version records them: {"books": {book: {"currency",
        "priority", "all_stores", "stores", "groups"}}, "groups": {group: [stores]}}."""
        groups: dict[str, list[str]] = {
            row["group_id"]: [] for row in all_rows(self._conn, "SELECT group_id FROM store_groups")}
        for row in all_rows(self._conn, "SELECT group_id, store_id FROM store_group_members"
                            " ORDER BY group_id, store_id"):
            groups[row["group_id"]].append(row["store_id"])
        books = {row["book"]: _book(row, self._members(row["book"]))._asdict() for row in
                 all_rows(self._conn, "SELECT book, currency, priority, all_stores"
                          " FROM price_books ORDER BY book")}
        for body in books.values():
            del body["book"]
        return {"books": books, "groups": groups}

    def restore_setup(self, setup: dict[str, Any], now: dt.datetime) -> None:
        """Books and groups as `setup` (from `setup()`) has them; a book or group it does not
        name is kept but applies to no store / has no members."""
        self._conn.execute("DELETE FROM store_group_members")
        self._conn.execute("DELETE FROM price_book_stores")
        self._conn.execute("DELETE FROM price_book_groups")
        self._conn.execute("UPDATE price_books SET all_stores = 0")
        for group, stores in setup["groups"].items():
            self.put_group(group, stores, now)
        for book, body in setup["books"].items():
            self.put_book(BookRow(book=book, **body), now)

    def _members(self, book: str) -> tuple[list[str], list[str]]:
        stores = [r[0] for r in self._conn.execute(
            "SELECT store_id FROM price_book_stores WHERE book = ? ORDER BY store_id", (book,))]
        groups = [r[0] for r in self._conn.execute(
            "SELECT group_id FROM price_book_groups WHERE book = ? ORDER BY group_id", (book,))]
        return stores, groups

    # --- staged price changes ---

    def stage(self, book: str, changes: Sequence[NewPrice], forced: bool,
              now: dt.datetime) -> int:
        """Stage a change set for `book`; its number. Each change gets its price id."""
        change_set: int = self._conn.execute(
            "INSERT INTO price_change_sets (book, staged_at, forced, changes) VALUES (?, ?, ?, ?)"
            " RETURNING change_set", (book, stamp(now), int(forced), len(changes))).fetchone()[0]
        self._conn.executemany(
            "INSERT INTO price_changes (change_set, idx, book, sku, price, effective_from,"
            " effective_to) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(change_set, i, book, c.sku, str(c.price), stamp(c.effective_from),
              stamp(c.effective_to) if c.effective_to else None) for i, c in enumerate(changes)])
        return change_set

    def staged_prices(self, book: str, skus: Iterable[str]) -> list[PriceRow]:
        """The staged (not yet published) prices of these SKUs in `book`."""
        out: list[PriceRow] = []
        for part in chunks(sorted(set(skus))):
            out += map(price_row, all_rows(
                self._conn, f"SELECT {_PRICE} {_STAGED} AND c.book = ?"
                f" AND c.sku IN ({marks(part)})", (book, *part)))
        return out

    def staged_count(self, book: str | None = None) -> int:
        row = one_row(self._conn, f"SELECT COUNT(*) AS n {_STAGED}"
                      + (" AND c.book = ?" if book else ""), (book,) if book else ())
        return int(row["n"]) if row else 0

    def take_staged(self, version: int) -> list[PriceRow]:
        """Every staged price, now published in `version` (their change sets say so)."""
        rows = [price_row(r) for r in all_rows(
            self._conn, f"SELECT {_PRICE} {_STAGED} ORDER BY c.price_id")]
        self._conn.execute("UPDATE price_change_sets SET version = ?"
                           " WHERE version IS NULL AND withdrawn_at IS NULL", (version,))
        return rows

    def withdraw(self, book: str, now: dt.datetime) -> int:
        """Withdraw the book's staged change sets; how many prices that takes back."""
        count = self.staged_count(book)
        self._conn.execute("UPDATE price_change_sets SET withdrawn_at = ? WHERE book = ?"
                           " AND version IS NULL AND withdrawn_at IS NULL", (stamp(now), book))
        return count

    def known_stores(self) -> set[str]:
        """Every store the hub knows: provisioned or seen (the fleet), or named by a group or a
        book."""
        return {r[0] for r in self._conn.execute(
            "SELECT store_id FROM stores UNION SELECT store_id FROM store_group_members"
            " UNION SELECT store_id FROM price_book_stores")}


def _book(row: Row, members: tuple[list[str], list[str]]) -> BookRow:
    return BookRow(row["book"], row["currency"], int(row["priority"]), bool(row["all_stores"]),
                   *members)


class CatalogReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def items(self, *, after: str = "", limit: int = 100) -> list[ItemRow]:
        """Items by SKU, from the first after `after`."""
        return [item_row(r) for r in await fetch_all(
            self._conn, f"SELECT {_ITEM} FROM items WHERE sku > ? ORDER BY sku LIMIT ?",
            (after, limit))]

    async def item(self, sku: str) -> ItemRow | None:
        row = await fetch_one(self._conn, f"SELECT {_ITEM} FROM items WHERE sku = ?", (sku,))
        return item_row(row) if row else None

    async def counts(self) -> dict[str, int]:
        row = await fetch_one(self._conn, "SELECT COUNT(*) AS items, COALESCE(SUM(active), 0)"
                              " AS active FROM items")
        staged = await fetch_one(self._conn, f"SELECT COUNT(*) AS n {_STAGED}")
        return {"items": int(row["items"]) if row else 0,
                "active_items": int(row["active"]) if row else 0,
                "staged_prices": int(staged["n"]) if staged else 0}

    async def books(self) -> list[dict[str, Any]]:
        """Every book with its stores, groups and how many prices it has staged."""
        rows = await fetch_all(
            self._conn, "SELECT b.book, b.currency, b.priority, b.all_stores,"
            " (SELECT json_group_array(store_id) FROM price_book_stores s WHERE s.book = b.book),"
            " (SELECT json_group_array(group_id) FROM price_book_groups g WHERE g.book = b.book),"
            f" (SELECT COUNT(*) {_STAGED} AND c.book = b.book)"
            " FROM price_books b ORDER BY b.priority DESC")
        return [{"book": r[0], "currency": r[1], "priority": r[2],
                 "stores": "all" if r[3] else sorted(json.loads(r[4])),
                 "groups": sorted(json.loads(r[5])), "staged_prices": r[6]} for r in rows]

    async def groups(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {
            r[0]: [] for r in await fetch_all(self._conn, "SELECT group_id FROM store_groups"
                                              " ORDER BY group_id")}
        for r in await fetch_all(self._conn, "SELECT group_id, store_id FROM store_group_members"
                                 " ORDER BY group_id, store_id"):
            found[r[0]].append(r[1])
        return found

    async def change_sets(self, version: int) -> list[int]:
        """The change sets a version published."""
        return [r[0] for r in await fetch_all(
            self._conn, "SELECT change_set FROM price_change_sets WHERE version = ?"
            " ORDER BY change_set", (version,))]
