"""Each store's catalog as the hub knows it: the version the store says it has applied
(catalog_stores, from its acks and its state), which version is to be sent to which store (the
open targets of hub.storage.publications), and how the prices of its sales deviated from its
catalog (price_deviations per store and SKU, price_lines per store).

Instants are runtime.clock.stamp text. `state_at` is the store's own clock of the report that
set its applied version: a report stamped earlier never undoes a later one.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from hub.storage.rows import Connection, Reader, chunks, fetch_all, marks
from runtime.clock import stamp

_OPEN = "('pending', 'delivered', 'failed')"


class OpenTarget(NamedTuple):
    """The newest version still to reach an online store, and what the store has."""

    store_id: str
    version: int
    state: str
    updated_at: str
    applied_version: int | None


class Deviation(NamedTuple):
    """Sale lines of one store and SKU whose price differed from the store's catalog."""

    store_id: str
    sku: str
    lines: int
    at: str
    price: str
    catalog_price: str


class StoreCatalogsWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def report(self, store_id: str, version: int | None, at: dt.datetime,
               now: dt.datetime, applied_at: dt.datetime | None = None) -> bool:
        """The store says (at `at`, its clock) that it has `version` (None: none), applied at
        `applied_at` when it says so. False when an earlier-stamped report was taken already."""
        said = stamp(at)
        row = self._conn.execute("SELECT applied_version, applied_at, state_at FROM catalog_stores"
                                 " WHERE store_id = ?", (store_id,)).fetchone()
        if row is not None and row[2] is not None and row[2] > said:
            return False
        when = stamp(applied_at) if applied_at else (row[1] if row and row[0] == version else None)
        self._conn.execute(
            "INSERT INTO catalog_stores (store_id, applied_version, applied_at, reported_at,"
            " state_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (store_id) DO UPDATE SET"
            " applied_version = excluded.applied_version, applied_at = excluded.applied_at,"
            " reported_at = excluded.reported_at, state_at = excluded.state_at",
            (store_id, version, when, stamp(now), said))
        return True

    def reopen_above(self, store_id: str, version: int | None, at: dt.datetime,
                     now: dt.datetime) -> int:
        """The store says (at `at`) it has `version`, older than one it applied before (its
        catalog was lost or restored): those applied targets that it applied before `at` are
        pending again, so the version is sent again. How many."""
        return self._conn.execute(
            "UPDATE publication_targets SET state = 'pending', updated_at = ?, applied_at = NULL,"
            " reason = ? WHERE store_id = ? AND state = 'applied' AND applied_at < ?"
            " AND publication_id IN (SELECT publication_id FROM publications WHERE version > ?)",
            (stamp(now), f"the store reported version {version}", store_id, stamp(at),
             version or 0)).rowcount

    def count_sale_lines(self, lines: dict[str, tuple[int, int]],
                         deviations: Sequence[Deviation]) -> None:
        """Add sale lines per store ({store: (lines, of which deviating)}) and the deviating
        lines per store and SKU."""
        self._conn.executemany(
            "INSERT INTO price_lines (store_id, lines, deviations) VALUES (?, ?, ?)"
            " ON CONFLICT (store_id) DO UPDATE SET lines = price_lines.lines + excluded.lines,"
            " deviations = price_lines.deviations + excluded.deviations",
            [(store, n, d) for store, (n, d) in lines.items()])
        self._conn.executemany(
            "INSERT INTO price_deviations (store_id, sku, lines, first_at, last_at, last_price,"
            " catalog_price) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store_id, sku) DO UPDATE"
            " SET lines = price_deviations.lines + excluded.lines,"
            " last_at = excluded.last_at, last_price = excluded.last_price,"
            " catalog_price = excluded.catalog_price",
            [(d.store_id, d.sku, d.lines, d.at, d.at, d.price, d.catalog_price)
             for d in deviations])


class StoreCatalogsReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def open_targets(self) -> list[OpenTarget]:
        """For each online store with a version still to reach it, the newest such version."""
        rows = await fetch_all(
            self._conn, "SELECT t.store_id, p.version, t.state, t.updated_at, c.applied_version"
            " FROM publication_targets t JOIN publications p USING (publication_id)"
            " JOIN stores s ON s.store_id = t.store_id AND s.online = 1"
            " LEFT JOIN catalog_stores c ON c.store_id = t.store_id"
            f" WHERE t.state IN {_OPEN} ORDER BY t.store_id, p.version DESC")
        newest: dict[str, OpenTarget] = {}
        for r in rows:
            newest.setdefault(r[0], OpenTarget(*r))
        return list(newest.values())

    async def applied(self, store_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The version each store says it has applied, and when: {store: {"version",
        "applied_at", "reported_at"}} (all stores that ever reported, or these)."""
        sql = "SELECT store_id, applied_version, applied_at, reported_at FROM catalog_stores"
        names = None if store_ids is None else sorted(set(store_ids))
        parts = [()] if names is None else list(chunks(names))
        found: dict[str, dict[str, Any]] = {}
        for part in parts:
            where = f" WHERE store_id IN ({marks(part)})" if names is not None else ""
            for r in await fetch_all(self._conn, sql + where, part):
                found[r[0]] = {"version": r[1], "applied_at": r[2], "reported_at": r[3]}
        return found

    async def behind(self, pids: Sequence[int], limit: int) -> dict[int, list[dict[str, Any]]]:
        """Per publication, up to `limit` target stores that have not applied it yet, the longest
        waiting first: store, state, since (when the publication was made), reason."""
        found: dict[int, list[dict[str, Any]]] = {p: [] for p in pids}
        for pid in pids:
            rows = await fetch_all(
                self._conn, "SELECT t.store_id, t.state, p.created_at, t.updated_at, t.reason"
                " FROM publication_targets t JOIN publications p USING (publication_id)"
                f" WHERE t.publication_id = ? AND t.state IN {_OPEN}"
                " ORDER BY t.state = 'failed' DESC, t.store_id LIMIT ?", (pid, limit))
            found[pid] = [{"store_id": r[0], "state": r[1], "since": r[2], "at": r[3],
                           "reason": r[4]} for r in rows]
        return found

    async def meant(self) -> dict[str, int]:
        """The version each target store is meant to have: that of its newest publication
        target not cancelled or superseded (applied or still to apply)."""
        rows = await fetch_all(
            self._conn, "SELECT t.store_id, MAX(p.version) FROM publication_targets t"
            " JOIN publications p USING (publication_id) WHERE t.state IN"
            " ('pending', 'delivered', 'failed', 'applied') GROUP BY t.store_id")
        return {r[0]: r[1] for r in rows}

    async def open_counts(self) -> dict[str, int]:
        """Targets still to apply their version, by state, all publications together."""
        rows = await fetch_all(self._conn, "SELECT state, COUNT(*) FROM publication_targets"
                               f" WHERE state IN {_OPEN} GROUP BY state")
        return {r[0]: r[1] for r in rows}

    async def deviations(self, *, limit: int) -> list[Deviation]:
        """The store and SKU pairs with the most deviating sale lines."""
        rows = await fetch_all(
            self._conn, "SELECT store_id, sku, lines, last_at, last_price, catalog_price"
            " FROM price_deviations ORDER BY lines DESC, store_id, sku LIMIT ?", (limit,))
        return [Deviation(*r) for r in rows]

    async def sale_lines(self) -> dict[str, tuple[int, int]]:
        """{store: (sale lines, of which deviating)}."""
        rows = await fetch_all(self._conn, "SELECT store_id, lines, deviations FROM price_lines")
        return {r[0]: (r[1], r[2]) for r in rows}
