"""One encoder and one decoder per message type, built once at import."""

from typing import TypeVar

import msgspec

from protocol.errors import PayloadError
from protocol.messages import (
    MAX_BATCH_BYTES,
    Ack,
    Batch,
    CatalogAck,
    CatalogChunk,
    CatalogContent,
    Control,
    Envelope,
    Event,
    HubState,
    StoreState,
)

T = TypeVar("T")

_msgpack = msgspec.msgpack.Encoder()
_json = msgspec.json.Encoder()
_batch = msgspec.msgpack.Decoder(Batch)
_ack = msgspec.msgpack.Decoder(Ack)
_control = msgspec.msgpack.Decoder(Control)
_event = msgspec.msgpack.Decoder(Event)
_envelope = msgspec.msgpack.Decoder(Envelope)
_state = msgspec.json.Decoder(StoreState)
_hub_state = msgspec.json.Decoder(HubState)
_catalog_chunk = msgspec.msgpack.Decoder(CatalogChunk)
_catalog_content = msgspec.msgpack.Decoder(CatalogContent)
_catalog_ack = msgspec.msgpack.Decoder(CatalogAck)


def encode(message: Batch | Ack | Control | Event) -> bytes:
    return _msgpack.encode(message)


def encode_envelope(envelope: Envelope) -> bytes:
    return _msgpack.encode(envelope)


def decode_envelope(payload: bytes) -> Envelope:
    return _decode(_envelope, payload)


def encode_state(state: StoreState | HubState) -> bytes:
    return _json.encode(state)


def _decode(decoder: "msgspec.msgpack.Decoder[T] | msgspec.json.Decoder[T]", payload: bytes) -> T:
    try:
        return decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PayloadError(str(exc)) from exc


def decode_batch(payload: bytes) -> Batch:
    if len(payload) > MAX_BATCH_BYTES:
        raise PayloadError(f"batch of {len(payload)} bytes exceeds {MAX_BATCH_BYTES}")
    return _decode(_batch, payload)


def decode_ack(payload: bytes) -> Ack:
    return _decode(_ack, payload)


def decode_control(payload: bytes) -> Control:
    control: Control = _decode(_control, payload)
    return control


def decode_event(payload: bytes) -> Event:
    event: Event = _decode(_event, payload)
    return event


def decode_state(payload: bytes) -> StoreState:
    return _decode(_state, payload)


def decode_hub_state(payload: bytes) -> HubState:
    return _decode(_hub_state, payload)


def encode_catalog(message: CatalogContent | CatalogChunk | CatalogAck) -> bytes:
    return _msgpack.encode(message)


def decode_catalog_chunk(payload: bytes) -> CatalogChunk:
    if len(payload) > MAX_BATCH_BYTES:
        raise PayloadError(f"catalog chunk of {len(payload)} bytes exceeds {MAX_BATCH_BYTES}")
    return _decode(_catalog_chunk, payload)


def decode_catalog_content(payload: bytes) -> CatalogContent:
    """A whole catalog version, as joined from its chunks (protocol.chunking.join)."""
    content: CatalogContent = _decode(_catalog_content, payload)
    return content


def decode_catalog_ack(payload: bytes) -> CatalogAck:
    return _decode(_catalog_ack, payload)
