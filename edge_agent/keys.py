"""What makes two captures "the same": an event's natural key in the outbox, and the digest of
its meaning that tells a till's retry (200) from a different transaction under that key (409)."""

import datetime as dt
import hashlib
import sqlite3
from decimal import Decimal
from typing import Any

import msgspec

from protocol import codec
from protocol.messages import DayClose, Event, InventoryAdjustment, Return, Sale

_canonical = msgspec.json.Encoder(order="sorted")


def _part(text: str) -> str:
    # `/` separates the parts and `%` escapes; ids of new captures hold neither (protocol.rules),
    # so their keys read as before, and older ids that did stay distinct.
    return text.replace("%", "%25").replace("/", "%2F")


def unquote(part: str) -> str:
    return part.replace("%2F", "/").replace("%25", "%")


def transaction_key(register_id: str, pos_txn_id: str) -> str:
    """The key of a sale or return: sales and returns share one key space."""
    return f"txn/{_part(register_id)}/{_part(pos_txn_id)}"


def natural_key(event: Event, business_day: dt.date) -> str:
    if isinstance(event, Sale | Return):
        return transaction_key(event.register_id, event.pos_txn_id)
    if isinstance(event, InventoryAdjustment):
        return f"adj/{_part(event.adjustment_id)}"
    return f"close/{_part(event.register_id or '')}/{business_day.isoformat()}"


def digest(event: Event, occurred_at: dt.datetime, business_day: dt.date) -> bytes:
    """The digest of what a capture means, not of how it was written: amounts compare by value
    ("1" is "1.00"), defaults equal explicit values, the instant counts in UTC, and the business
    day is the one the event got (given or derived). A day-close's `occurred_at` is optional
    (the agent's clock fills it in), so it is not part of its meaning."""
    when = None if isinstance(event, DayClose) else occurred_at.astimezone(dt.UTC).isoformat()
    body = msgspec.to_builtins(event, builtin_types=(Decimal,))
    tag = type(event).__struct_config__.tag
    if tag == "sale":  # a Sale, or an older agent's sale decoded by its own struct
        for line in body["lines"]:
            # The agent's own note of a price deviation is not what the till said: digests of
            # sales captured before the field existed stay as they were.
            line.pop("catalog_price", None)
    meaning = [tag, _normal(body), when, business_day.isoformat()]
    return hashlib.sha256(_canonical.encode(meaning)).digest()


def _normal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format((value + 0).normalize(), "f")  # + 0 makes -0 into 0
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def rekey(conn: sqlite3.Connection) -> None:
    """Outbox migration 5: every row gets the key and digest above. Keys change only for ids
    holding `/` or `%` (they were ambiguous: `txn/R/1/coll`); digests change for all rows, so a
    till retrying across the upgrade still gets its 200."""
    changed: list[tuple[str, bytes, int]] = []
    cur = conn.execute("SELECT seq, natural_key, body, occurred_at, business_day FROM events")
    cur.row_factory = sqlite3.Row  # this cursor's rows only, read by name
    for row in cur.fetchall():
        seq = row["seq"]
        event = codec.decode_event(row["body"])
        business_day = dt.date.fromisoformat(row["business_day"])
        new_key = natural_key(event, business_day)
        changed.append((new_key, digest(event, dt.datetime.fromisoformat(row["occurred_at"]),
                                        business_day), seq))
        # Out of the way first: a new key may be another row's old one.
        if new_key != row["natural_key"]:
            conn.execute("UPDATE events SET natural_key = ? WHERE seq = ?", (f"\x00{seq}", seq))
    conn.executemany("UPDATE events SET natural_key = ?, digest = ? WHERE seq = ?", changed)
