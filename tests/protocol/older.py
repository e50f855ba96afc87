"""Wire messages as v1's first agents and hubs knew them, before a field was added: what the
schema-evolution tests decode newer messages with, and encode older ones from."""

import datetime as dt

import msgspec

from protocol.messages import SaleLine, Tender


class OlderSale(msgspec.Struct, frozen=True, tag="sale", tag_field="kind"):
    """A sale as v1's first agents and hubs knew it, before `reservation_id`."""

    register_id: str
    pos_txn_id: str
    currency: str
    prices_include_tax: bool
    lines: list[SaleLine]
    tenders: list[Tender]


class OlderEnvelope(msgspec.Struct, frozen=True):
    store_id: str
    stream: str
    seq: int
    event_id: str
    occurred_at: dt.datetime
    business_day: dt.date
    captured_at: dt.datetime
    event: OlderSale
    v: int = 1


class OlderBatch(msgspec.Struct, frozen=True):
    store_id: str
    stream: str
    events: list[OlderEnvelope]
    v: int = 1
