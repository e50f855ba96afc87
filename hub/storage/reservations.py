"""The reservations and reservation_lines tables: units a channel holds until it fulfils,
releases, or lets them expire.

A line is one allocation: a SKU, the location it is held at, and how many. While its
reservation is held, a line carries `held = 1` and its reservation's `expires_at`, so what is
reserved per SKU and location is read from one partial index (hub.storage.availability).

Single-writer assumption (see hub.storage.database, point 6): a reservation is checked against
what is available and then held in ONE writer job. On SQLite no other job can run between the
two (one writer thread), so nothing here locks a row. On PostgreSQL, where ingest's lane and
other hub workers write beside it, the reads a write job decides on lock what they read
(hub.storage.postgres.repositories): the inventory rows a reservation checks
(`AvailabilityWrites.stock`), the on-hand row a recheck reads (`_ON_HAND`), the reservation a
collect or release finds (`_FIND`); ingest's own increments lock the same inventory rows, so a
reservation and a sale of the same SKU and location are never decided on each other's stale
figures.
"""

import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from hub.storage.rows import Connection, Reader, Row, fetch_all, fetch_one


class Reservation(NamedTuple):
    reservation_id: str
    channel: str
    state: str
    digest: str
    created_at: str
    expires_at: str
    ended_at: str | None
    fulfilled_from: str | None


class Line(NamedTuple):
    sku: str
    location: str
    qty: int
    short: int = 0  # units of this held line the location's on hand does not cover


class ReservationSale(NamedTuple):
    """An applied till sale that named a reservation, and what it did to it."""

    event_id: str
    store_id: str
    outcome: str
    applied_at: str


class ShortLine(NamedTuple):
    reservation_id: str
    channel: str
    sku: str
    location: str
    qty: int
    short: int
    created_at: str


# Units held at inventory row `i` (alias) by reservations not yet expired at the instant given
# as the statement's argument, whatever the sweep has marked: what "reserved" means everywhere.
RESERVED_AT_ROW = (
    "COALESCE((SELECT SUM(l.qty) FROM reservation_lines l WHERE l.held = 1"
    " AND l.sku = i.sku AND l.location = i.store_id AND l.expires_at > ?), 0)")

# A reservation and its lines in one statement, one snapshot.
_FIND = ("SELECT r.reservation_id, r.channel, r.state, r.digest, r.created_at, r.expires_at,"
         " r.ended_at, r.fulfilled_from, l.sku, l.location, l.qty, l.short"
         " FROM reservations r LEFT JOIN reservation_lines l USING (reservation_id)"
         " WHERE r.reservation_id = ? ORDER BY l.line")
_LINES = ("SELECT sku, location, qty, short FROM reservation_lines WHERE reservation_id = ?"
          " ORDER BY line")
_SALES = ("SELECT event_id, store_id, outcome, applied_at FROM reservation_sales"
          " WHERE reservation_id = ? ORDER BY applied_at, event_id")


_ON_HAND = "SELECT on_hand FROM inventory WHERE sku = ? AND store_id = ?"


def _found(rows: Sequence[Row]) -> tuple[Reservation, list[Line]] | None:
    if not rows:
        return None
    return (Reservation(*rows[0][:8]),
            [Line(*r[8:]) for r in rows if r[8] is not None])


class ReservationsWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    # The statements whose rows a write decides on (a backend with several writers locks them).
    find_sql = _FIND
    on_hand_sql = _ON_HAND

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def find(self, reservation_id: str) -> tuple[Reservation, list[Line]] | None:
        return _found(self._conn.execute(self.find_sql, (reservation_id,)).fetchall())

    def hold(self, reservation_id: str, *, channel: str, digest: str, now: str,
             expires_at: str, lines: Sequence[Line]) -> None:
        self._conn.execute(
            "INSERT INTO reservations (reservation_id, channel, state, digest, created_at,"
            " expires_at) VALUES (?, ?, 'held', ?, ?, ?)",
            (reservation_id, channel, digest, now, expires_at))
        self._conn.executemany(
            "INSERT INTO reservation_lines (reservation_id, line, sku, location, qty, held,"
            " expires_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
            [(reservation_id, n, x.sku, x.location, x.qty, expires_at)
             for n, x in enumerate(lines, 1)])

    def end(self, reservation_id: str, state: str, at: str,
            fulfilled_from: str | None = None) -> None:
        """The reservation leaves `held` for `state`: its lines stop counting as reserved."""
        self._conn.execute(
            "UPDATE reservations SET state = ?, ended_at = ?, fulfilled_from = ?"
            " WHERE reservation_id = ?", (state, at, fulfilled_from, reservation_id))
        self._conn.execute("UPDATE reservation_lines SET held = 0 WHERE reservation_id = ?",
                           (reservation_id,))

    def move(self, reservation_id: str, location: str) -> None:
        """Every line of the reservation now names `location` (it was fulfilled from there)."""
        self._conn.execute("UPDATE reservation_lines SET location = ? WHERE reservation_id = ?",
                           (location, reservation_id))

    def expire_due(self, now: str, limit: int = 10000) -> tuple[int, list[Line]]:
        """Mark up to `limit` held reservations whose expiry has passed `expired` (ended at their
        expiry: that is when they stopped counting); how many, and their lines."""
        due = [r[0] for r in self._conn.execute(
            "SELECT reservation_id FROM reservations WHERE state = 'held' AND expires_at <= ?"
            " ORDER BY expires_at LIMIT ?", (now, limit))]
        lines: list[Line] = []
        for reservation_id in due:
            lines += [Line(*r) for r in self._conn.execute(_LINES, (reservation_id,))]
            self._conn.execute(
                "UPDATE reservations SET state = 'expired', ended_at = expires_at"
                " WHERE reservation_id = ?", (reservation_id,))
            self._conn.execute("UPDATE reservation_lines SET held = 0 WHERE reservation_id = ?",
                               (reservation_id,))
        return len(due), lines

    # -- click and collect ---------------------------------------------------------------------

    def record_sale(self, sale: ReservationSale, reservation_id: str) -> None:
        """Keep an applied sale that named `reservation_id`, with its outcome (once per event)."""
        self._conn.execute(
            "INSERT INTO reservation_sales (event_id, reservation_id, store_id, outcome,"
            " applied_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            (sale.event_id, reservation_id, sale.store_id, sale.outcome, sale.applied_at))

    # -- oversell ------------------------------------------------------------------------------

    def recheck_short(self, keys: Iterable[tuple[str, str]], now: str) -> list[ShortLine]:
        """Set `short` on the held, unexpired lines of each (sku, location) in `keys`: on hand
        there covers the oldest reservations first (by `created_at`, then id), so when it falls
        below what is held the newest are short. A line covered again (stock arrived, another
        reservation ended) is no longer short. Returns the lines that became short or shorter."""
        by_location: dict[str, set[str]] = {}
        for sku, location in keys:
            by_location.setdefault(location, set()).add(sku)
        worse: list[ShortLine] = []
        for location, skus in sorted(by_location.items()):
            # Only the SKUs something is held for: with no reservations, one look at an empty
            # partial index.
            held = [r[0] for r in self._conn.execute(
                "SELECT DISTINCT sku FROM reservation_lines WHERE held = 1 AND location = ?"
                " AND sku IN (SELECT value FROM json_each(?)) AND expires_at > ? ORDER BY sku",
                (location, json.dumps(sorted(skus)), now))]
            for sku in held:
                worse += self._recheck(sku, location, now)
        return worse

    def _recheck(self, sku: str, location: str, now: str) -> list[ShortLine]:
        row = self._conn.execute(self.on_hand_sql, (sku, location)).fetchone()
        left = max(0, row[0] if row else 0)
        worse: list[ShortLine] = []
        changed: list[tuple[int, str, int]] = []
        for rid, line, qty, short, channel, created_at in self._conn.execute(
                "SELECT l.reservation_id, l.line, l.qty, l.short, r.channel, r.created_at"
                " FROM reservation_lines l JOIN reservations r USING (reservation_id)"
                " WHERE l.held = 1 AND l.sku = ? AND l.location = ? AND l.expires_at > ?"
                " ORDER BY r.created_at, l.reservation_id, l.line", (sku, location, now)).fetchall():
            covered = min(qty, left)
            left -= covered
            if qty - covered != short:
                changed.append((qty - covered, rid, line))
            if qty - covered > short:
                worse.append(ShortLine(rid, channel, sku, location, qty, qty - covered, created_at))
        self._conn.executemany(
            "UPDATE reservation_lines SET short = ? WHERE reservation_id = ? AND line = ?", changed)
        return worse


class ReservationsReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def find(self, reservation_id: str) -> tuple[Reservation, list[Line]] | None:
        return _found(await fetch_all(self._conn, _FIND, (reservation_id,)))

    async def sales(self, reservation_id: str) -> list[ReservationSale]:
        rows = await fetch_all(self._conn, _SALES, (reservation_id,))
        return [ReservationSale(*r) for r in rows]

    async def holding(self, now: str) -> tuple[int, int]:
        """(held, short): reservations held and not yet expired at `now`, and how many of those
        have a line their location no longer covers. Read from the index of held ones only."""
        row = await fetch_one(
            self._conn,
            "SELECT COUNT(*) AS held, COUNT(*) FILTER (WHERE EXISTS (SELECT 1"
            "  FROM reservation_lines l WHERE l.reservation_id = r.reservation_id AND l.held = 1"
            "  AND l.short > 0)) AS short"
            " FROM reservations r WHERE r.state = 'held' AND r.expires_at > ?", (now,))
        return (int(row["held"]), int(row["short"])) if row else (0, 0)

    async def short_lines(self, now: str, limit: int = 50) -> list[ShortLine]:
        """Held, unexpired lines their location does not cover, newest reservation first."""
        rows = await fetch_all(
            self._conn,
            "SELECT l.reservation_id, r.channel, l.sku, l.location, l.qty, l.short, r.created_at"
            " FROM reservation_lines l JOIN reservations r USING (reservation_id)"
            " WHERE l.held = 1 AND l.short > 0 AND l.expires_at > ?"
            " ORDER BY r.created_at DESC, l.reservation_id, l.line LIMIT ?", (now, limit))
        return [ShortLine(*r) for r in rows]

    async def sales_by_outcome(self) -> dict[str, int]:
        """Applied sales that named a reservation, by what they did to it (ever)."""
        rows = await fetch_all(self._conn, "SELECT outcome, COUNT(*) AS n FROM reservation_sales"
                                           " GROUP BY outcome ORDER BY outcome")
        return {r["outcome"]: int(r["n"]) for r in rows}
