"""A catalog version written and read section by section: the writer's bytes are exactly the
codec's, the reader gives back every row from blocks of any size, skips a field it does not
know, and refuses what is not such content."""

import datetime as dt
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import catalog_stream, codec
from protocol.errors import PayloadError
from protocol.messages import CatalogBook, CatalogDelta, CatalogItem, CatalogPrice, CatalogSnapshot

NOW = dt.datetime(2026, 11, 23, 9, 15, tzinfo=dt.UTC)


def snapshot(n: int) -> CatalogSnapshot:
    return CatalogSnapshot(
        9, [CatalogBook("base", "EUR", 10), CatalogBook("promo", "EUR", 20)],
        [CatalogItem(f"SKU-{i:06d}", f"Item {i} ünïcode", barcode=f"{4000000000000 + i}",
                     unit="pcs" if i % 2 else None) for i in range(n)],
        [CatalogPrice(i + 1, "base", f"SKU-{i:06d}", Decimal(f"{i}.99"), NOW,
                      NOW + dt.timedelta(days=i % 3) if i % 3 else None) for i in range(n)])


def delta() -> CatalogDelta:
    return CatalogDelta(10, 9, [CatalogBook("promo", "EUR", 30)], ["old"],
                        [CatalogItem("SKU-9", "Nine")], ["SKU-1", "SKU-2"],
                        [CatalogPrice(5, "base", "SKU-9", Decimal("1.10"), NOW)], [1, 2, 70000])


def written(content: CatalogSnapshot | CatalogDelta, page: int = 7) -> bytes:
    kind = "snapshot" if isinstance(content, CatalogSnapshot) else "delta"
    writer = catalog_stream.ContentWriter(kind, content.version,
                                          getattr(content, "base_version", None))
    for field in msgspec.structs.fields(type(content)):
        rows = getattr(content, field.name)
        if isinstance(rows, list):
            for i in range(0, len(rows), page):
                writer.add(field.name, rows[i:i + page])
    return writer.payload()


def read_back(payload: bytes, block: int, page: int = 5) -> CatalogSnapshot | CatalogDelta:
    blocks = [payload[i:i + block] for i in range(0, len(payload), block)]
    found: dict[str, list] = {}
    header = None
    for event in catalog_stream.read(blocks, page=page):
        if isinstance(event, catalog_stream.Header):
            header = event
        else:
            section, rows = event
            assert 0 < len(rows) <= page
            found.setdefault(section, []).extend(rows)
    assert header is not None
    kind = catalog_stream.KINDS[header.kind]
    fields = {f.name: found.get(f.name, []) for f in msgspec.structs.fields(kind)
              if f.name not in ("version", "base_version")}
    extra = {"base_version": header.base_version} if header.kind == "delta" else {}
    return kind(version=header.version, **extra, **fields)  # type: ignore[no-any-return]


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 65535, 65536])
def test_the_writer_writes_exactly_what_the_codec_writes(n):
    content = snapshot(n)
    assert written(content, page=4096) == codec.encode_catalog(content)
    assert written(delta()) == codec.encode_catalog(delta())


@settings(max_examples=40, deadline=None)
@given(block=st.integers(1, 600), page=st.integers(1, 50), n=st.integers(0, 60))
def test_every_row_comes_back_whatever_the_block_and_page_sizes(block, page, n):
    content = snapshot(n)
    assert read_back(codec.encode_catalog(content), block, page) == content
    assert read_back(codec.encode_catalog(delta()), block, page) == delta()


def test_a_field_the_reader_does_not_know_is_skipped():
    class NewerSnapshot(msgspec.Struct, tag="snapshot", tag_field="kind"):
        version: int
        books: list[CatalogBook]
        items: list[CatalogItem]
        prices: list[CatalogPrice]
        labels: dict[str, list[int]]

    old = snapshot(3)
    newer = NewerSnapshot(old.version, old.books, old.items, old.prices, {"a": [1, 2]})
    assert read_back(msgspec.msgpack.encode(newer), 10) == old


@pytest.mark.parametrize("payload, reason", [
    (b"", "ends in the middle"),
    (b"\x93\x01\x02\x03", "expected a map"),
    (msgspec.msgpack.encode({"kind": "teleport", "version": 1, "books": []}), "neither"),
    (msgspec.msgpack.encode({"kind": "delta", "version": 2, "books": []}), "base_version"),
    (msgspec.msgpack.encode({"kind": "snapshot", "books": []}), "no version"),
    (msgspec.msgpack.encode({"kind": "snapshot", "version": 1, "items": [{"sku": 5}]}), "items"),
    (msgspec.msgpack.encode({"kind": "snapshot", "version": 1, "books": [], "version2": 1})[:-1],
     "ends in the middle"),
    (codec.encode_catalog(delta()) + b"\x01", "after the end"),
    (msgspec.msgpack.encode({"kind": "snapshot", "items": [], "version": 1}), "no version"),
    (msgspec.msgpack.encode({"kind": "snapshot", "version": 1, "items": [], "base_version": 1}),
     "after the rows"),
])
def test_what_is_not_catalog_content_is_refused(payload, reason):
    with pytest.raises(PayloadError, match=reason):
        list(catalog_stream.read([payload[:3], payload[3:]]))
