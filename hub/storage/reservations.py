"""The reservations and reservation_lines tables: units a channel holds until it fulfils,
releases, or lets them expire.

A line is one allocation: a SKU, the location it is held at, and how many. While its
reservation is held, a line carries `held = 1` and its reservation's `expires_at`, so what is
reserved per SKU and location is read from one partial index (hub.storage.availability).

Single-writer assumption (see hub.storage.database, point 6): a reservation is checked against
what is available and then held in ONE writer job, and no other job can run between the two
because this backend has one writer thread. Nothing here locks a row. A backend with several
writers must take a lock over every (SKU, location) it checks before it reads them
(`SELECT ... FROM inventory ... FOR UPDATE` on those rows, in a fixed order to avoid deadlocks,
or a `pg_advisory_xact_lock` per SKU) and hold it until the reservation is written.
"""

import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

import aiosqlite

from hub.storage.rows import fetch_all


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


# Units held at inventory row `i` (alias) by reservations not yet expired at the instant given
# as the statement's argument, whatever the sweep has marked: what "reserved" means everywhere.
RESERVED_AT_ROW = (
    "COALESCE((SELECT SUM(l.qty) FROM reservation_lines l WHERE l.held = 1"
    " AND l.sku = i.sku AND l.location = i.store_id AND l.expires_at > ?), 0)")

# A reservation and its lines in one statement, one snapshot.
_FIND = ("SELECT r.reservation_id, r.channel, r.state, r.digest, r.created_at, r.expires_at,"
         " r.ended_at, r.fulfilled_from, l.sku, l.location, l.qty"
         " FROM reservations r LEFT JOIN reservation_lines l USING (reservation_id)"
         " WHERE r.reservation_id = ? ORDER BY l.line")
_LINES = "SELECT sku, location, qty FROM reservation_lines WHERE reservation_id = ? ORDER BY line"


def _found(rows: Sequence[Sequence[object]]) -> tuple[Reservation, list[Line]] | None:
    if not rows:
        return None
    return (Reservation(*rows[0][:8]),  # type: ignore[arg-type]
            [Line(*r[8:]) for r in rows if r[8] is not None])  # type: ignore[arg-type]


class ReservationsWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def find(self, reservation_id: str) -> tuple[Reservation, list[Line]] | None:
        return _found(self._conn.execute(_FIND, (reservation_id,)).fetchall())

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


class ReservationsReads:
    """On the read-only connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def find(self, reservation_id: str) -> tuple[Reservation, list[Line]] | None:
        return _found(await fetch_all(self._conn, _FIND, (reservation_id,)))
