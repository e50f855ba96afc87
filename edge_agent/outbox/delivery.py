"""The forwarder's side of the outbox: batches in seq order, the hub's acks and receipts, moving
to a new stream, and pruning what the hub acknowledged long ago."""

import datetime as dt
import logging
import sqlite3

from msgspec import Struct

from edge_agent.errors import OutboxFull
from edge_agent.outbox.file import OutboxFile
from edge_agent.outbox.rows import named
from protocol import identity
from protocol.messages import Receipt

log = logging.getLogger(__name__)


class Row(Struct, frozen=True):
    """One outbox row, as the forwarder reads it."""

    seq: int
    event_id: str
    occurred_at: str
    business_day: str
    captured_at: str
    body: bytes


class Delivery(OutboxFile):
    """`next_batch`, `mark_acked`, `restream`, `record_receipts` (the forwarder's) and `prune`
    (the agent's periodic clean-up)."""

    async def next_batch(self, after_seq: int, max_events: int, max_bytes: int) -> list[Row]:
        """Events after `after_seq` in seq order, at most `max_events` and about `max_bytes`."""
        rows: list[Row] = []
        size = 0
        async with self.reader.execute(
            "SELECT seq, event_id, occurred_at, business_day, captured_at, body FROM events"
            " WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, max_events),
        ) as cur:
            async for r in named(cur):
                size += len(r["body"]) + 200
                if rows and size > max_bytes:
                    break
                rows.append(Row(r["seq"], r["event_id"], r["occurred_at"], r["business_day"],
                                r["captured_at"], r["body"]))
        return rows

    async def restream(self) -> str:
        """Move the whole outbox to a new stream, renumbered from seq 1, nothing acked: the hub
        holds other events than ours at some seqs of the old one (our history went back in
        time). It drops, by event_id, what it already has of what we resend."""
        stream = identity.new_stream_id()

        def job(conn: sqlite3.Connection) -> int:
            first = named(conn.execute(
                "SELECT MIN(seq) AS first FROM events")).fetchone()["first"] or 1
            # Two steps, so no renumbered row meets one not yet moved.
            conn.execute("UPDATE events SET seq = -seq")
            conn.execute("UPDATE events SET seq = -seq - ?", (first - 1,))
            last = named(conn.execute(
                "SELECT COALESCE(MAX(seq), 0) AS last FROM events")).fetchone()["last"]
            conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'", (last,))
            conn.execute("UPDATE outbox_state SET stream = ?, acked_through = 0, acked_at = NULL",
                         (stream,))
            return int(last)

        kept = await self._write(job)
        log.warning("outbox moved to new stream %s (was %s); its %d events are resent from seq 1",
                    stream, self.stream, kept)
        self.stream, self.acked_through, self.pruned_through = stream, 0, 0
        return stream

    async def mark_acked(self, seq: int) -> int:
        """Record that the hub has applied everything through `seq`; returns the new mark.

        On a full disk the mark is kept in memory only and written with the next ack once there
        is room: forwarding goes on, and a restart meanwhile merely resends what the hub then
        drops as duplicates. A full disk must never stop the agent (tills would hear
        "connection refused" instead of 507)."""

        def job(conn: sqlite3.Connection) -> int:
            conn.execute(
                "UPDATE outbox_state SET acked_through = ?, acked_at = ? WHERE acked_through < ?",
                (seq, self._now(), seq),
            )
            return int(named(conn.execute(
                "SELECT acked_through FROM outbox_state")).fetchone()["acked_through"])

        try:
            self.acked_through = await self._write(job)
        except OutboxFull:
            if not self._ack_unrecorded:
                log.warning("disk full: the hub's ack through seq %d is kept in memory until "
                            "there is room to write it down", seq)
            self._ack_unrecorded = True
            self.acked_through = max(self.acked_through, seq)
            return self.acked_through
        if self._ack_unrecorded:
            log.info("the hub's ack is written down again (through seq %d)", self.acked_through)
            self._ack_unrecorded = False
        return self.acked_through

    async def record_receipts(self, receipts: list[Receipt]) -> None:
        """Keep what the hub says the ERP made of our transactions (a later word replaces)."""
        now = self._now()
        rows = [(r.event_id, r.posting_id, r.state, r.erp_ref, now) for r in receipts]

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO receipts (event_id, posting_id, state, erp_ref, received_at)"
                " VALUES (?, ?, ?, ?, ?)", rows)

        try:
            await self._write(job)
        except OutboxFull:  # what the ERP made of them only informs the status page
            log.warning("disk full: %d receipts from the hub not kept", len(rows))

    async def prune(self, older_than: dt.datetime) -> int:
        """Delete events the hub has acked and that were captured before `older_than`."""

        def job(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "DELETE FROM events WHERE seq <= (SELECT acked_through FROM outbox_state)"
                " AND captured_at < ?",
                (older_than.isoformat(),),
            )
            return cur.rowcount

        if not self.writable:
            return 0
        removed = await self._writer.run(job)
        await self._read_pruned()
        if removed:
            log.info("pruned %d acknowledged events captured before %s", removed, older_than)
        return removed
