"""Identities that must be the same wherever they are computed: event ids and stream ids."""

import uuid

# Fixed forever: changing it would give every past transaction a new event id.
_NAMESPACE = uuid.UUID("6f1d7a52-3c1e-4b0e-9a55-2f5d3c9b8e41")


def transaction_event_id(store_id: str, register_id: str, pos_txn_id: str) -> str:
    """The event id of a till transaction (sale or return): the same for every retry."""
    return str(uuid.uuid5(_NAMESPACE, f"txn\x1f{store_id}\x1f{register_id}\x1f{pos_txn_id}"))


def adjustment_event_id(store_id: str, adjustment_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"adj\x1f{store_id}\x1f{adjustment_id}"))


def day_close_event_id(store_id: str, register_id: str | None, business_day: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"close\x1f{store_id}\x1f{register_id or ''}\x1f{business_day}"))


def new_stream_id() -> str:
    """A fresh stream id, made once when a store's outbox database is created."""
    return uuid.uuid4().hex
