"""The outbox as people read it: the backlog and ack mark, the newest transactions and what
became of them, one business day's takings per register, and single rows for
`edge-agent outbox list|show`. Read-only, on the reader connection."""

import datetime as dt
import sqlite3
from decimal import Decimal
from typing import Any

import msgspec
from msgspec import Struct

from edge_agent import keys
from edge_agent.outbox.file import OutboxFile
from edge_agent.outbox.rows import fetch_all, fetch_one
from protocol import codec

COUNT_CAP = 100_000


class Stats(Struct, frozen=True):
    last_seq: int
    acked_through: int
    backlog: int
    oldest_unsent_at: str | None
    acked_at: str | None


class Entry(Struct, frozen=True):
    """One outbox row as an operator sees it (`edge-agent outbox list|show`)."""

    seq: int
    natural_key: str
    event_id: str
    kind: str
    state: str
    occurred_at: str
    business_day: str
    captured_at: str
    event: dict[str, object] | None = None


def _money(e4: int) -> str:
    """An amount kept in 1/10,000 units, shown with cents unless it has finer digits."""
    value = Decimal(e4).scaleb(-4)
    cents = value.quantize(Decimal("0.01"))
    return str(cents if cents == value else value.normalize())


class Reading(OutboxFile):
    """`last_seq`, `stats`, `count_unsent` (the status page, /v1/status, the forwarder),
    `recent`, `find`, `day_by_register` (the status page) and `entries`, `entry` (the
    operator's `edge-agent outbox` commands)."""

    async def last_seq(self) -> int:
        """The newest event's seq in this stream, pruned events included (SQLite's AUTOINCREMENT
        counter)."""
        row = await fetch_one(
            self.reader,
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
            " AS last_seq")
        return int(row["last_seq"]) if row else 0

    async def stats(self) -> Stats:
        last = await self.last_seq()
        row = await fetch_one(
            self.reader,
            "SELECT acked_through, acked_at,"
            " (SELECT captured_at FROM events WHERE seq > s.acked_through ORDER BY seq LIMIT 1)"
            " AS oldest_unsent_at"
            " FROM outbox_state s")
        assert row is not None
        acked = int(row["acked_through"])
        return Stats(last, acked, max(0, last - acked), row["oldest_unsent_at"], row["acked_at"])

    async def count_unsent(self, kind: str) -> int:
        """Events of `kind` waiting, counted up to COUNT_CAP (then the page says "100000+")."""
        row = await fetch_one(
            self.reader,
            "SELECT COUNT(*) AS waiting"
            " FROM (SELECT 1 FROM events WHERE seq > ? AND kind = ? LIMIT ?)",
            (self.acked_through, kind, COUNT_CAP))
        return int(row["waiting"]) if row else 0

    async def entries(self, after_seq: int, limit: int, *, unsent: bool = False) -> list[Entry]:
        """Rows after `after_seq` in seq order (only those the hub has not acked, with
        `unsent`), without their bodies."""
        floor = max(after_seq, self.acked_through) if unsent else after_seq
        rows = await fetch_all(
            self.reader,
            "SELECT seq, natural_key, event_id, kind, occurred_at, business_day, captured_at"
            " FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (floor, limit))
        return [Entry(r["seq"], r["natural_key"], r["event_id"], r["kind"], self._state(r["seq"]),
                      r["occurred_at"], r["business_day"], r["captured_at"]) for r in rows]

    async def entry(self, seq: int) -> Entry | None:
        """One row with its event decoded."""
        r = await fetch_one(
            self.reader,
            "SELECT seq, natural_key, event_id, kind, occurred_at, business_day, captured_at, body"
            " FROM events WHERE seq = ?",
            (seq,))
        if r is None:
            return None
        event = msgspec.to_builtins(codec.decode_event(r["body"]))
        return Entry(r["seq"], r["natural_key"], r["event_id"], r["kind"], self._state(r["seq"]),
                     r["occurred_at"], r["business_day"], r["captured_at"], event)

    _TXN_SQL = ("SELECT e.seq, e.kind, e.natural_key, e.captured_at, e.gross, e.currency,"
                " e.business_day, r.state AS erp_state, r.erp_ref FROM events e"
                " LEFT JOIN receipts r ON r.event_id = e.event_id")

    def _described(self, rows: list[sqlite3.Row]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for r in rows:
            seq = r["seq"]
            parts = r["natural_key"].split("/")
            state = r["erp_state"] or ("at_head_office" if seq <= self.acked_through else "waiting")
            out.append({"seq": seq, "kind": r["kind"],
                        "reference": "/".join(keys.unquote(p) for p in parts[1:]),
                        "captured_at": r["captured_at"], "gross": r["gross"],
                        "currency": r["currency"], "business_day": r["business_day"],
                        "state": state, "erp_ref": r["erp_ref"]})
        return out

    async def recent(self, limit: int) -> list[dict[str, object]]:
        """The newest transactions with what became of them: waiting, at head office, or the
        ERP's answer (posted with its document number, or a problem at head office)."""
        return self._described(
            await fetch_all(self.reader, self._TXN_SQL + " ORDER BY e.seq DESC LIMIT ?", (limit,)))

    async def find(self, register_id: str, pos_txn_id: str) -> dict[str, object] | None:
        """One transaction by its till's register and number, described as `recent` does."""
        found = self._described(
            await fetch_all(self.reader, self._TXN_SQL + " WHERE e.natural_key = ?",
                            (keys.transaction_key(register_id, pos_txn_id),)))
        return found[0] if found else None

    async def day_by_register(self, day: dt.date) -> list[dict[str, Any]]:
        """Sales, returns and takings per register and currency for one business day, summed by
        SQLite over exact integers; beside them the part head office has acknowledged.

        Amounts in different currencies are never added: each register lists `by_currency`,
        and its own `gross`/`currency` are filled only when it took one currency that day."""
        acked = self.acked_through
        rows = await fetch_all(
            self.reader,
            "SELECT register_id, currency, kind, COUNT(*) AS n,"
            " COALESCE(SUM(gross_e4), 0) AS total_e4, SUM(seq <= ?) AS acked_n,"
            " SUM(CASE WHEN seq <= ? THEN COALESCE(gross_e4, 0) ELSE 0 END) AS acked_e4"
            " FROM events WHERE business_day = ? AND kind IN ('sale', 'return')"
            " GROUP BY register_id, currency, kind", (acked, acked, day.isoformat()))
        # (register, currency) -> [sales, returns, gross_e4, acked sales, acked returns, acked gross_e4]
        sums: dict[tuple[str, str], list[int]] = {}
        for r in rows:
            t = sums.setdefault((r["register_id"] or "?", r["currency"] or "?"), [0] * 6)
            sale = r["kind"] == "sale"
            t[0 if sale else 1] += r["n"]
            t[3 if sale else 4] += r["acked_n"]
            t[2] += (1 if sale else -1) * int(r["total_e4"])
            t[5] += (1 if sale else -1) * int(r["acked_e4"])
        out: dict[str, dict[str, Any]] = {}
        for (reg, currency), t in sorted(sums.items()):
            entry = out.setdefault(reg, {"register_id": reg, "sales": 0, "returns": 0,
                                         "at_head_office": {"sales": 0, "returns": 0},
                                         "by_currency": []})
            entry["sales"] += t[0]
            entry["returns"] += t[1]
            entry["at_head_office"]["sales"] += t[3]
            entry["at_head_office"]["returns"] += t[4]
            entry["by_currency"].append({
                "currency": currency, "sales": t[0], "returns": t[1], "gross": _money(t[2]),
                "at_head_office": {"sales": t[3], "returns": t[4], "gross": _money(t[5])}})
        for entry in out.values():
            one = entry["by_currency"][0] if len(entry["by_currency"]) == 1 else None
            entry["currency"] = one["currency"] if one else None
            entry["gross"] = one["gross"] if one else None
            entry["at_head_office"]["gross"] = one["at_head_office"]["gross"] if one else None
        return [out[k] for k in sorted(out)]
