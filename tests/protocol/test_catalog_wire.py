"""The catalog on the wire: a version as a snapshot or a delta, chunked to bounded bytes with a
digest of the whole; a corrupted, missing or foreign chunk is refused; schema evolution of the
store's state and the catalog messages."""

import datetime as dt
import random
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import chunking, codec
from protocol.errors import PayloadError
from protocol.messages import (
    CatalogAck, CatalogBook, CatalogDelta, CatalogItem, CatalogPrice, CatalogSnapshot, StoreState,
)
from protocol.topics import Topics

NOW = dt.datetime(2026, 11, 23, 9, 15, tzinfo=dt.UTC)


def snapshot(items: int = 3000) -> CatalogSnapshot:
    return CatalogSnapshot(
        version=7, books=[CatalogBook("base", "EUR", 10), CatalogBook("promo", "EUR", 20)],
        items=[CatalogItem(f"SKU-{n:06d}", f"Item number {n}", barcode=f"400{n:010d}")
               for n in range(items)],
        prices=[CatalogPrice(n + 1, "base", f"SKU-{n:06d}", Decimal(f"{n}.99"), NOW)
                for n in range(items)]
        + [CatalogPrice(10**6, "promo", "SKU-000001", Decimal("0.50"), NOW,
                        NOW + dt.timedelta(days=7))])


def test_a_snapshot_and_a_delta_round_trip_exactly():
    snap = snapshot(10)
    assert codec.decode_catalog_content(codec.encode_catalog(snap)) == snap
    delta = CatalogDelta(8, 7, [CatalogBook("promo", "EUR", 30)], ["old"],
                         [CatalogItem("SKU-9", "Nine")], ["SKU-1"],
                         [CatalogPrice(5, "base", "SKU-9", Decimal("1.10"), NOW)], [1, 2])
    again = codec.decode_catalog_content(codec.encode_catalog(delta))
    assert again == delta and isinstance(again, CatalogDelta)
    assert again.prices[0].price == Decimal("1.10")  # exact, never a float


@pytest.mark.parametrize("max_bytes", [1024, 4096, 64 * 1024, chunking.MAX_CHUNK_BYTES])
def test_every_chunk_stays_within_the_bound_and_the_parts_join_back(max_bytes):
    payload = codec.encode_catalog(snapshot())
    chunks = chunking.split(payload, 7, max_bytes)
    encoded = [codec.encode_catalog(c) for c in chunks]
    assert all(len(e) <= max_bytes for e in encoded)
    assert [c.part for c in chunks] == list(range(1, len(chunks) + 1))
    assert {(c.version, c.parts, c.size, c.digest) for c in chunks} == {
        (7, len(chunks), len(payload), chunking.digest(payload))}
    received = [codec.decode_catalog_chunk(e) for e in encoded]
    random.Random(max_bytes).shuffle(received)
    assert chunking.join(received + received[:2]) == payload  # any order, repeats harmless


@given(st.binary(max_size=20_000), st.integers(1024, 4096))
def test_any_payload_splits_and_joins(payload, max_bytes):
    chunks = chunking.split(payload, 1, max_bytes)
    assert all(len(codec.encode_catalog(c)) <= max_bytes for c in chunks)
    assert chunking.join(chunks) == payload


def test_an_empty_payload_is_one_chunk():
    chunks = chunking.split(b"", 3, 1024)
    assert len(chunks) == 1 and chunking.join(chunks) == b""


def test_a_corrupted_chunk_is_refused_by_the_digest():
    chunks = chunking.split(codec.encode_catalog(snapshot()), 7, 4096)
    bad = bytearray(chunks[3].data)
    bad[100] ^= 0x01
    corrupted = [*chunks[:3], msgspec.structs.replace(chunks[3], data=bytes(bad)), *chunks[4:]]
    with pytest.raises(PayloadError, match="digest"):
        chunking.join(corrupted)


def test_a_missing_part_and_a_chunk_of_another_copy_are_refused():
    payload = codec.encode_catalog(snapshot())
    chunks = chunking.split(payload, 7, 4096)
    with pytest.raises(PayloadError, match="missing"):
        chunking.join(chunks[:-1])
    other = chunking.split(payload + b"x", 7, 4096)
    with pytest.raises(PayloadError, match="another copy"):
        chunking.join([*chunks[:-1], other[-1]])
    with pytest.raises(PayloadError):
        chunking.join([])


@pytest.mark.parametrize("change", [{"part": 0}, {"part": 9, "parts": 8},
                                    {"size": chunking.MAX_CONTENT_BYTES + 1}])
def test_a_chunk_that_cannot_belong_to_any_whole_is_refused(change):
    chunk = msgspec.structs.replace(chunking.split(b"abc", 1, 1024)[0], **change)
    with pytest.raises(PayloadError):
        chunking.check(chunk)


def test_split_refuses_a_bound_outside_what_a_message_may_be():
    for max_bytes in (1023, chunking.MAX_CHUNK_BYTES + 1):
        with pytest.raises(ValueError):
            chunking.split(b"abc", 1, max_bytes)


def test_reassembly_answers_the_whole_once_and_drops_a_corrupted_copy_so_a_resend_succeeds():
    payload = codec.encode_catalog(snapshot())
    chunks = chunking.split(payload, 7, 8192)
    parts = chunking.Reassembly()
    bad = msgspec.structs.replace(chunks[0], data=b"\x00" + chunks[0].data[1:])
    for chunk in [bad, *chunks[1:-1]]:
        assert parts.add(chunk) is None
    assert parts.pending == [(7, len(chunks) - 1, len(chunks))]
    with pytest.raises(PayloadError, match="digest"):
        parts.add(chunks[-1])
    assert parts.pending == []  # the broken copy is gone: the resend starts afresh
    results = [parts.add(c) for c in chunks]
    assert results[:-1] == [None] * (len(chunks) - 1) and results[-1] == payload
    decoded = codec.decode_catalog_content(results[-1])
    assert decoded == snapshot()


def test_reassembly_keeps_a_delta_and_a_snapshot_of_the_same_version_apart():
    delta = codec.encode_catalog(CatalogDelta(7, 6, [], [], [], ["SKU-1"], [], []))
    snap = codec.encode_catalog(snapshot(2000))
    parts = chunking.Reassembly()
    snap_chunks = chunking.split(snap, 7, 4096)
    assert parts.add(snap_chunks[0]) is None
    assert parts.add(chunking.split(delta, 7, 4096)[0]) == delta
    parts.forget(below=8)
    assert parts.pending == []


def test_the_catalog_topics():
    t = Topics()
    assert t.catalog("S001") == "retail/v1/stores/S001/catalog"
    assert t.catalog_ack("S001") == "retail/v1/stores/S001/catalog-ack"
    assert t.parse("retail/v1/stores/S001/catalog") == ("S001", "catalog")
    assert t.parse("retail/v1/stores/S001/catalog-ack") == ("S001", "catalog-ack")


class OlderStoreState(msgspec.Struct, frozen=True):
    """StoreState as agents before catalogs send it."""

    store_id: str
    online: bool
    at: dt.datetime | None = None
    stream: str | None = None
    version: str | None = None
    backlog: int | None = None


def test_the_applied_catalog_version_on_the_state_evolves_both_ways():
    older = msgspec.json.encode(OlderStoreState("S001", True, NOW, "s", "0.1.0", 3))
    assert codec.decode_state(older).catalog_version is None
    newer = codec.encode_state(StoreState("S001", True, NOW, "s", "0.2.0", 0, catalog_version=12))
    assert msgspec.json.decode(newer, type=OlderStoreState).backlog == 0
    assert codec.decode_state(newer).catalog_version == 12


class NewerAck(msgspec.Struct, frozen=True):
    store_id: str
    version: int
    state: str
    at: dt.datetime | None = None
    reason: str | None = None
    v: int = 1
    took_ms: int = 0


def test_a_catalog_ack_round_trips_and_an_older_reader_skips_added_fields():
    ack = CatalogAck("S001", 12, "applied", NOW)
    assert codec.decode_catalog_ack(codec.encode_catalog(ack)) == ack
    newer = msgspec.msgpack.encode(NewerAck("S001", 12, "resend", took_ms=40))
    assert codec.decode_catalog_ack(newer).state == "resend"
    with pytest.raises(PayloadError):
        codec.decode_catalog_ack(msgspec.msgpack.encode({"store_id": "S/1", "version": 1,
                                                         "state": "applied"}))


def test_an_oversized_chunk_is_refused_before_decoding():
    with pytest.raises(PayloadError, match="exceeds"):
        codec.decode_catalog_chunk(b"\x00" * (chunking.MAX_CHUNK_BYTES + 1))
