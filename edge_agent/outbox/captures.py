"""The tills' side of the outbox (the capture API's): committing a capture durably, once per
natural key, and a transaction's state looked up by its till's register and number."""

import datetime as dt
import sqlite3

from msgspec import Struct

from edge_agent import keys
from edge_agent.errors import Conflict, OutboxError
from edge_agent.outbox.file import OutboxFile
from edge_agent.outbox.rows import fetch_one, named
from edge_agent.requests import Prepared
from protocol import codec
from protocol.messages import Return, Sale
from protocol.money import gross_total


class Captured(Struct, frozen=True):
    seq: int
    event_id: str
    created: bool


class TxnState(Struct, frozen=True):
    event_id: str
    seq: int
    kind: str
    state: str
    captured_at: str
    business_day: str


class Captures(OutboxFile):
    """`capture` and `transaction`: what the capture API asks of the outbox."""

    async def capture(self, p: Prepared, captured_at: dt.datetime) -> Captured:
        """Commit `p` durably and return its seq; the same key with the same content is a no-op.

        It returns once the writer's transaction holding it is committed and fsync'd, so the
        till's 201 (200 for a retry) means the event is on disk. Other content under the same key
        raises Conflict (409)."""
        body = codec.encode(p.event)
        event = p.event
        txn = event if isinstance(event, Sale | Return) else None
        gross = gross_total(txn.lines, txn.prices_include_tax) if txn else None
        row = (
            p.natural_key,
            p.event_id,
            p.kind,
            p.digest,
            p.occurred_at.isoformat(),
            p.business_day.isoformat(),
            captured_at.isoformat(),
            body,
            getattr(event, "register_id", None),
            str(gross) if gross is not None else None,
            int(gross.scaleb(4).to_integral_value()) if gross is not None else None,
            txn.currency if txn else None,
        )

        def job(conn: sqlite3.Connection) -> Captured:
            found = named(conn.execute(
                "SELECT seq, event_id, digest FROM events WHERE natural_key = ?", (p.natural_key,)
            )).fetchone()
            if found is not None:
                if found["digest"] != p.digest:
                    raise Conflict(p.natural_key, found["seq"], found["event_id"])
                return Captured(found["seq"], found["event_id"], created=False)
            cur = conn.execute(
                "INSERT INTO events (natural_key, event_id, kind, digest, occurred_at,"
                " business_day, captured_at, body, register_id, gross, gross_e4, currency)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            assert cur.lastrowid is not None
            return Captured(cur.lastrowid, p.event_id, created=True)

        try:
            # The job raises (Conflict) only before it writes: no savepoint needed.
            return await self._write(job, isolate=False)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox could not commit: {exc}") from exc

    async def transaction(self, register_id: str, pos_txn_id: str) -> TxnState | None:
        """A sale's or return's seq and whether the hub has it ("delivered") or not yet."""
        row = await fetch_one(
            self.reader,
            "SELECT event_id, seq, kind, captured_at, business_day FROM events"
            " WHERE natural_key = ?",
            (keys.transaction_key(register_id, pos_txn_id),))
        if row is None:
            return None
        return TxnState(row["event_id"], row["seq"], row["kind"], self._state(row["seq"]),
                        row["captured_at"], row["business_day"])
