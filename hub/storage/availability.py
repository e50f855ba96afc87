"""Available to sell, as stored: stock per SKU and location (on hand from `inventory`, reserved
from held reservation lines), safety-stock rules, location adjustments, the change feed (and
its compaction: rows past the retention that a newer row of the same SKU and location
supersedes are deleted) and each channel's record of which stores were stale.

`inventory.store_id` holds any location's id: a store's or a warehouse's from [locations]; on
hand is moved through hub.storage.inventory (the one upsert), and when a store was last heard
from is the fleet's to say (hub.storage.fleet).

Single-writer assumptions (see hub.storage.database, point 6): the change feed's cursor is
handed out in commit order only because one writer commits at a time. With several writers a
reader could see cursor 12 committed before 11, and a consumer resuming from 12 would miss 11:
a PostgreSQL backend must append the feed under one lock (`pg_advisory_xact_lock`), or hand out
cursors at commit.
"""

import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from hub.storage.reservations import RESERVED_AT_ROW
from hub.storage.rows import Connection, Reader, fetch_all, fetch_one

Rules = dict[tuple[str, str], int]


class Stock(NamedTuple):
    """One SKU at one location: units on hand, units held by unexpired reservations."""

    sku: str
    location: str
    on_hand: int
    reserved: int


class Change(NamedTuple):
    """A SKU whose availability changed; `cursor` is its latest change in the feed."""

    cursor: int
    sku: str


class Adjustment(NamedTuple):
    digest: str
    applied_at: str


# Lists travel as one JSON argument (json_each): no statement nears SQLite's variable limit,
# however many SKUs a query names or locations a channel has.
_STOCK = (
    f"SELECT i.sku, i.store_id, i.on_hand, {RESERVED_AT_ROW}"
    " FROM inventory i WHERE i.sku IN (SELECT value FROM json_each(?))"
    " AND i.store_id IN (SELECT value FROM json_each(?))")
_RULES = ("SELECT sku, location, qty FROM safety_stock"
          " WHERE sku = '' OR sku IN (SELECT value FROM json_each(?))")


def json_list(items: Iterable[str]) -> str:
    """A list as one JSON argument, for `json_each(?)`."""
    return json.dumps(sorted(set(items)))


FEED_APPEND = "INSERT INTO availability_changes (sku, location, at) VALUES (?, ?, ?)"
LOCATION_CHANGED = ("INSERT INTO availability_changes (sku, location, at)"
                    " SELECT sku, store_id, ? FROM inventory WHERE store_id = ? ORDER BY sku")


class AvailabilityWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- what a reservation checks, in the same transaction that holds it ----------------------

    def stock(self, skus: Iterable[str], locations: Iterable[str], now: str) -> list[Stock]:
        return [Stock(*row) for row in self._conn.execute(
            _STOCK, (now, json_list(skus), json_list(locations)))]

    def safety_rules(self, skus: Iterable[str]) -> Rules:
        return {(s, loc): q for s, loc, q in self._conn.execute(_RULES, (json_list(skus),))}

    # -- safety stock -------------------------------------------------------------------------

    def set_safety_stock(self, rules: Sequence[tuple[str, str, int | None]], now: str) -> None:
        """Write rules (sku or '', location or '', qty); a qty of None removes the rule."""
        self._conn.executemany("DELETE FROM safety_stock WHERE sku = ? AND location = ?",
                               [(s, loc) for s, loc, q in rules if q is None])
        self._conn.executemany(
            "INSERT INTO safety_stock (sku, location, qty, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (sku, location) DO UPDATE SET qty = excluded.qty,"
            " updated_at = excluded.updated_at",
            [(s, loc, q, now) for s, loc, q in rules if q is not None])

    # -- location adjustments ------------------------------------------------------------------

    def adjustment(self, location: str, adjustment_id: str) -> Adjustment | None:
        row = self._conn.execute(
            "SELECT digest, applied_at FROM location_adjustments"
            " WHERE location = ? AND adjustment_id = ?", (location, adjustment_id)).fetchone()
        return Adjustment(*row) if row else None

    def save_adjustment(self, location: str, adjustment_id: str, *, digest: str, reason: str,
                        occurred_at: str, business_day: str, lines: str, now: str) -> None:
        self._conn.execute(
            "INSERT INTO location_adjustments (location, adjustment_id, digest, reason,"
            " occurred_at, business_day, lines, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (location, adjustment_id, digest, reason, occurred_at, business_day, lines, now))

    # -- the change feed -----------------------------------------------------------------------

    def record_changes(self, keys: Iterable[tuple[str, str]], now: str) -> None:
        """Append (sku, location) to the feed, once each; location '' means every location."""
        self._conn.executemany(
            FEED_APPEND, [(sku, location, now) for sku, location in sorted(set(keys))])

    def record_location_changed(self, location: str, now: str) -> None:
        """Append every SKU stocked at `location` (its safety stock or freshness changed)."""
        self._conn.execute(LOCATION_CHANGED, (now, location))

    def compact_feed(self, before: str, limit: int) -> tuple[int, int]:
        """Look at up to `limit` feed rows past the last look, oldest first, stopping at the
        first written at or after `before`; delete those with a newer row of the same SKU and
        location. Returns (rows looked at, rows deleted). A row kept because it was its key's
        latest stays when a newer one comes later (the look has moved on): at most one per key
        each time a key stayed unchanged for longer than the retention."""
        through = self._conn.execute("SELECT through FROM feed_compaction").fetchone()[0]
        upto, looked = through, 0
        for cursor, at in self._conn.execute(
                "SELECT cursor, at FROM availability_changes WHERE cursor > ? ORDER BY cursor"
                " LIMIT ?", (through, limit)).fetchall():
            if at >= before:
                break
            upto, looked = cursor, looked + 1
        if not looked:
            return 0, 0
        deleted = self._conn.execute(
            "DELETE FROM availability_changes WHERE cursor IN (SELECT c.cursor"
            " FROM availability_changes c WHERE c.cursor > ? AND c.cursor <= ?"
            " AND EXISTS (SELECT 1 FROM availability_changes n WHERE n.sku = c.sku"
            "  AND n.location = c.location AND n.cursor > c.cursor))", (through, upto)).rowcount
        self._conn.execute("UPDATE feed_compaction SET through = ?", (upto,))
        return looked, deleted

    def set_webhook_cursor(self, channel: str, cursor: int, now: str) -> None:
        """The channel's receiver has acknowledged the feed up to `cursor`."""
        self._conn.execute(
            "INSERT INTO webhook_cursors (channel, cursor, pushed_at) VALUES (?, ?, ?)"
            " ON CONFLICT (channel) DO UPDATE SET cursor = excluded.cursor,"
            " pushed_at = excluded.pushed_at", (channel, cursor, now))

    def freshness(self, channel: str) -> dict[str, bool]:
        """Whether each location was stale for `channel` when the sweep last looked."""
        return {loc: bool(stale) for loc, stale in self._conn.execute(
            "SELECT location, stale FROM channel_freshness WHERE channel = ?", (channel,))}

    def set_freshness(self, channel: str, location: str, stale: bool, now: str) -> None:
        self._conn.execute(
            "INSERT INTO channel_freshness (channel, location, stale, since) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (channel, location) DO UPDATE SET stale = excluded.stale,"
            " since = excluded.since", (channel, location, int(stale), now))


class AvailabilityReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def stock(self, skus: Iterable[str], locations: Iterable[str], now: str) -> list[Stock]:
        """On hand and reserved of these SKUs at these locations, in one statement (one
        snapshot: a fulfilment never shows its units both still on hand and no longer reserved)."""
        rows = await fetch_all(self._conn, _STOCK, (now, json_list(skus), json_list(locations)))
        return [Stock(*row) for row in rows]

    async def safety_rules(self, skus: Iterable[str]) -> Rules:
        """The rules that can apply to these SKUs: theirs and every location-wide rule."""
        rows = await fetch_all(self._conn, _RULES, (json_list(skus),))
        return {(r[0], r[1]): r[2] for r in rows}

    async def all_safety_rules(self) -> list[tuple[str, str, int, str]]:
        """Every rule as (sku, location, qty, updated_at), '' for "every"."""
        rows = await fetch_all(self._conn, "SELECT sku, location, qty, updated_at"
                                           " FROM safety_stock ORDER BY sku, location")
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def changes(self, after: int, locations: Iterable[str], limit: int) -> list[Change]:
        """The SKUs changed after `after` at any of `locations` (or everywhere), each once with
        its latest cursor, in cursor order, at most `limit`."""
        rows = await fetch_all(
            self._conn,
            # NOT INDEXED: the cursor range by rowid, never a walk of the whole by-key index
            # for the GROUP BY (30 ms instead of 0.1 ms at a million rows).
            "SELECT MAX(cursor) AS last, sku FROM availability_changes NOT INDEXED"
            " WHERE cursor > ? AND (location = ''"
            "  OR location IN (SELECT value FROM json_each(?)))"
            " GROUP BY sku ORDER BY last LIMIT ?", (after, json_list(locations), limit))
        return [Change(r[0], r[1]) for r in rows]

    async def webhook_cursor(self, channel: str) -> int:
        """How far the channel's push has been acknowledged (0 before its first push)."""
        row = await fetch_one(self._conn, "SELECT cursor FROM webhook_cursors WHERE channel = ?",
                              (channel,))
        return int(row[0]) if row else 0

    async def last_cursor(self) -> int:
        """The latest cursor the feed has given out (0 before the first)."""
        row = await fetch_one(self._conn,
                              "SELECT seq FROM sqlite_sequence WHERE name = 'availability_changes'")
        return int(row[0]) if row else 0
