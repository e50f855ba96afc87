"""A catalog version's content read page by page on a connection of its own, in a thread: what
the hub sends a store can be 300,000 items and as many prices, and neither the event loop nor
the writer may wait while it is read (hub.catalog.content builds it; `Database.read_content`
runs the job).

The rows are those of hub.storage.publications (a row belongs to the versions
`from_version <= v < to_version`); this module only reads them, in the order a version's content
lists them (items by SKU, prices by id), `PAGE` rows at a time. `content_reader` opens SQLite's
connection; PostgreSQL's is hub.storage.postgres.repositories.content_reader, whose reader
pages through a server-side cursor (a client-side one would hold every row at once).
"""

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hub.storage.catalog import ItemRow, PriceRow, item_row, price_row
from hub.storage.publications import _AT, _CHANGED, _ITEM, _PRICE, VersionRow, _version
from hub.storage.rows import Connection, chunks, marks

PAGE = 5000


class ContentReader:
    """Reads of a version's content on one read-only connection (one thread at a time) whose
    rows are named (sqlite3.Row, or the PostgreSQL adapter's)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def head(self) -> int:
        """The newest version, 0 before the first."""
        return int(self._conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM catalog_versions").fetchone()[0])

    def version(self, version: int) -> VersionRow | None:
        row = self._conn.execute("SELECT * FROM catalog_versions WHERE version = ?",
                                 (version,)).fetchone()
        return _version(row) if row else None

    def items(self, version: int, skus: Sequence[str] | None = None) -> Iterator[list[ItemRow]]:
        """The version's active items (only these SKUs, if given), by SKU, in pages."""
        sql = f"SELECT {_ITEM} FROM catalog_items WHERE {_AT} AND active = 1"
        if skus is None:
            yield from self._pages(sql + " ORDER BY sku", (version, version), item_row)
            return
        for part in chunks(sorted(set(skus))):
            found = [item_row(r) for r in self._conn.execute(
                sql + f" AND sku IN ({marks(part)}) ORDER BY sku", (version, version, *part))]
            if found:
                yield found

    def prices(self, version: int, books: Sequence[str],
               ids: Sequence[int] | None = None) -> Iterator[list[PriceRow]]:
        """The version's prices of these books (only these ids, if given), by id, in pages."""
        if not books:
            return
        sql = f"SELECT {_PRICE} FROM catalog_prices WHERE {_AT} AND book IN ({marks(books)})"
        args: tuple[Any, ...] = (version, version, *books)
        if ids is None:
            yield from self._pages(sql + " ORDER BY price_id", args, price_row)
            return
        for part in chunks(sorted(set(ids)), 400):
            found = [price_row(r) for r in self._conn.execute(
                sql + f" AND price_id IN ({marks(part)}) ORDER BY price_id", (*args, *part))]
            if found:
                yield found

    def changed_skus(self, since: int, version: int) -> set[str]:
        """SKUs whose item rows start or end in versions (since, version]."""
        return {r[0] for r in self._conn.execute(
            f"SELECT DISTINCT sku FROM catalog_items WHERE {_CHANGED}",
            (since, version, since, version))}

    def changed_price_ids(self, since: int, version: int, books: Sequence[str]) -> set[int]:
        """Price ids of these books whose rows start or end in versions (since, version]."""
        if not books:
            return set()
        return {r[0] for r in self._conn.execute(
            f"SELECT DISTINCT price_id FROM catalog_prices WHERE {_CHANGED}"
            f" AND book IN ({marks(books)})", (since, version, since, version, *books))}


    def _pages(self, sql: str, args: Sequence[Any], convert: Any) -> Iterator[list[Any]]:
        """The query's rows, converted, `PAGE` at a time (SQLite steps its cursor as asked)."""
        cursor = self._conn.execute(sql, args)
        while rows := cursor.fetchmany(PAGE):
            yield [convert(r) for r in rows]


@contextlib.contextmanager
def content_reader(path: Path | str) -> Iterator[ContentReader]:
    """A ContentReader on a read-only connection of its own, closed afterwards. Reads inside
    one `with` see one committed state (a read transaction), whatever the writer does."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("BEGIN")
        yield ContentReader(conn)
    finally:
        conn.close()
