"""The stores table: each store's last state, online flag and backlog.

- `stores`: one row per store: online (from its retained state message), when it was last seen,
  when its state was stamped, its agent's version, its backlog and stream. A provisioned store
  that never connected has a row with no `last_seen`.

The fleet's reads join each store's `streams` (hub.storage.eventlog) for how far it is applied
and its `quarantine` rows for what was refused.
"""

import json
from collections.abc import Iterable, Sequence

from hub.storage.rows import Connection, Reader, Row, all_rows, fetch_all, fetch_one
from protocol.messages import StoreState

# The ids travel as one JSON argument (json_each): a channel of any size is one statement.
_SEEN = "SELECT store_id, last_seen FROM stores WHERE store_id IN (SELECT value FROM json_each(?))"


def _ids(store_ids: Iterable[str]) -> str:
    return json.dumps(sorted(set(store_ids)))


class FleetWrites:
    """Inside the writer's transaction (see hub.storage.database)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def seen(self, store_id: str, stream: str, now: str) -> None:
        """The store sent events on `stream` now: it is online (a new row) and was seen."""
        self._conn.execute(
            "INSERT INTO stores (store_id, last_seen, stream, online) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (store_id) DO UPDATE SET last_seen = excluded.last_seen,"
            " stream = excluded.stream",
            (store_id, now, stream),
        )

    def record_state(self, state: StoreState, *, now: str, state_at: str) -> None:
        """The store's state message: online or not (seen now if online), stamped `state_at`;
        what the message leaves out (version, backlog, stream) keeps its last value."""
        self._conn.execute(
            "INSERT INTO stores (store_id, online, last_seen, state_at, version, backlog, stream)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (store_id) DO UPDATE SET online = excluded.online,"
            " last_seen = CASE WHEN excluded.online <> 0 THEN excluded.last_seen"
            " ELSE stores.last_seen END,"
            " state_at = excluded.state_at,"
            " version = COALESCE(excluded.version, stores.version),"
            " backlog = COALESCE(excluded.backlog, stores.backlog),"
            " stream = COALESCE(excluded.stream, stores.stream)",
            (state.store_id, int(state.online), now, state_at, state.version, state.backlog,
             state.stream),
        )

    def match_provisioned(self, store_ids: Sequence[str]) -> None:
        """A never-connected row for each of `store_ids` without a row; the never-connected rows
        of other stores go. Stores that were seen stay whatever the list says."""
        self._conn.executemany("INSERT INTO stores (store_id, online) VALUES (?, 0)"
                               " ON CONFLICT DO NOTHING",
                               [(s,) for s in store_ids])
        keep = set(store_ids)
        gone = [(row["store_id"],) for row in all_rows(
                    self._conn, "SELECT store_id FROM stores WHERE last_seen IS NULL")
                if row["store_id"] not in keep]
        self._conn.executemany("DELETE FROM stores WHERE store_id = ? AND last_seen IS NULL",
                               gone)

    def last_seen(self, store_ids: Iterable[str]) -> dict[str, str | None]:
        """When each of `store_ids` was last heard from, inside the transaction (what a
        reservation checks); a store with no row is left out."""
        return dict(self._conn.execute(_SEEN, (_ids(store_ids),)).fetchall())


class FleetReads:
    """On the read-only connection."""

    def __init__(self, conn: Reader) -> None:
        self._conn = conn

    async def stores(self) -> list[Row]:
        """Every store by id: store_id, online, last_seen, stream, version, backlog, and
        applied_seq (of its current stream) and events (applied, all its streams together)."""
        return await fetch_all(
            self._conn,
            "SELECT s.store_id, s.online, s.last_seen, s.stream, s.version, s.backlog,"
            " COALESCE((SELECT applied_seq FROM streams t"
            "           WHERE t.store_id = s.store_id AND t.stream = s.stream), 0) AS applied_seq,"
            " COALESCE((SELECT SUM(events_applied) FROM streams t"
            "           WHERE t.store_id = s.store_id), 0) AS events"
            " FROM stores s ORDER BY s.store_id")

    async def page(self, *, online: bool | None, query: str, offset: int,
                   limit: int) -> tuple[int, list[Row]]:
        """How many stores match (id containing `query`, and `online` unless None), and one page
        of them, offline first: store_id, online, last_seen, backlog, version, last_applied_at,
        quarantined. Filtered in SQL, never all the rows."""
        # lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        where: list[str] = ["lower(s.store_id) LIKE lower(?)"]
        args: list[object] = [f"%{query}%"]
        if online is not None:
            where.append("s.online = ?")
            args.append(int(online))
        clause = " WHERE " + " AND ".join(where)
        counted = await fetch_one(self._conn, f"SELECT COUNT(*) AS n FROM stores s{clause}", args)
        rows = await fetch_all(
            self._conn,
            "SELECT s.store_id, s.online, s.last_seen, s.backlog, s.version,"
            " (SELECT MAX(last_applied_at) FROM streams t"
            "  WHERE t.store_id = s.store_id) AS last_applied_at,"
            " (SELECT COUNT(*) FROM quarantine q WHERE q.store_id = s.store_id) AS quarantined"
            f" FROM stores s{clause} ORDER BY s.online, s.store_id LIMIT ? OFFSET ?",
            (*args, limit, offset))
        return (int(counted["n"]) if counted else 0), rows

    async def last_seen(self, store_ids: Iterable[str]) -> dict[str, str | None]:
        """When each of `store_ids` was last heard from; a store with no row is left out."""
        rows = await fetch_all(self._conn, _SEEN, (_ids(store_ids),))
        return {r[0]: r[1] for r in rows}

    async def counts(self) -> tuple[int, int]:
        """(stores, of which online)."""
        row = await fetch_one(
            self._conn, "SELECT COUNT(*) AS stores, COALESCE(SUM(online), 0) AS online FROM stores")
        return (int(row["stores"]), int(row["online"])) if row else (0, 0)

    async def total_backlog(self) -> int:
        """Events the stores last said they hold unacknowledged, all stores together."""
        row = await fetch_one(self._conn,
                              "SELECT COALESCE(SUM(backlog), 0) AS backlog FROM stores")
        return int(row["backlog"]) if row else 0
