"""A catalog version's encoded content written and read section by section, so that neither side
holds 300,000 items as objects at once (a store's agent stays within 50 MB while it applies one).

The bytes are exactly `codec.encode_catalog(content)`: a msgpack map with the tag `kind`, then
the fields of CatalogSnapshot or CatalogDelta in their declared order. `ContentWriter` builds them
from pages of rows; `read` walks them from blocks in any sizes (the chunks of protocol.chunking,
once their digest matched) and hands the rows back in pages, decoding one page at a time. It
needs the scalar fields (`kind`, `version`, `base_version`) before the lists, as msgspec writes
them; a field it does not know is skipped (schema evolution).
"""

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import msgspec

from protocol.errors import PayloadError
from protocol.messages import CatalogBook, CatalogDelta, CatalogItem, CatalogPrice, CatalogSnapshot

PAGE = 500  # rows decoded at a time
KINDS: dict[str, type[msgspec.Struct]] = {"snapshot": CatalogSnapshot, "delta": CatalogDelta}
ROWS: dict[str, Any] = {"books": CatalogBook, "items": CatalogItem, "prices": CatalogPrice,
                        "books_removed": str, "items_removed": str, "prices_removed": int}
_SCALARS = ("version", "base_version")
_FIELDS = {kind: {f.encode_name for f in msgspec.structs.fields(struct)}
           for kind, struct in KINDS.items()}
_encoder = msgspec.msgpack.Encoder()
_decoders = {name: msgspec.msgpack.Decoder(list[kind]) for name, kind in ROWS.items()}  # type: ignore[valid-type]


class Header(NamedTuple):
    """What a version's content is: a snapshot, or a delta from `base_version`."""

    kind: str
    version: int
    base_version: int | None


def array_header(count: int) -> bytes:
    """The msgpack head of an array of `count` elements, as msgspec writes it."""
    if count < 16:
        return bytes([0x90 | count])
    if count < 2**16:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


class ContentWriter:
    """The encoded content of one version, from its rows added page by page (`add`)."""

    def __init__(self, kind: str, version: int, base_version: int | None = None) -> None:
        self.header = Header(kind, version, base_version)
        fields = msgspec.structs.fields(KINDS[kind])
        self._names = [f.encode_name for f in fields]
        self._pieces: dict[str, list[bytes]] = {n: [] for n in self._names if n in ROWS}
        self._counts: dict[str, int] = dict.fromkeys(self._pieces, 0)

    def add(self, section: str, rows: list[Any]) -> None:
        """Append rows (CatalogItem, ..., or the keys of removed rows) to a section."""
        if not rows:
            return
        encoded = _encoder.encode(rows)
        self._pieces[section].append(encoded[len(array_header(len(rows))):])
        self._counts[section] += len(rows)

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def payload(self) -> bytes:
        """The whole encoded content (what protocol.chunking splits)."""
        out = [bytes([0x80 | (len(self._names) + 1)]), _encoder.encode("kind"),
               _encoder.encode(self.header.kind)]
        for name in self._names:
            out.append(_encoder.encode(name))
            if name in self._pieces:
                out.append(array_header(self._counts[name]))
                out += self._pieces[name]
            else:
                out.append(_encoder.encode(getattr(self.header, name)))
        return b"".join(out)


class _Short(Exception):
    """The buffer ends inside the object being read: more bytes are needed."""


def _end(buf: bytes, i: int) -> int:
    """Where the msgpack object starting at `buf[i]` ends; _Short when it goes past the buffer."""
    try:
        end = _skip(buf, i)
    except IndexError:
        raise _Short from None
    if end > len(buf):
        raise _Short
    return end


def _skip(buf: bytes, i: int) -> int:
    b = buf[i]
    if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
        return i + 1
    if b <= 0x8F:
        return _skip_n(buf, i + 1, (b & 0x0F) * 2)
    if b <= 0x9F:
        return _skip_n(buf, i + 1, b & 0x0F)
    if b <= 0xBF:
        return i + 1 + (b & 0x1F)
    if b in _FIXED:
        return i + _FIXED[b]
    if b in _SIZED:
        width, extra = _SIZED[b]
        return i + 1 + width + extra + int.from_bytes(buf[i + 1:i + 1 + width], "big")
    if b in _CONTAINERS:
        width, per = _CONTAINERS[b]
        count = int.from_bytes(buf[i + 1:i + 1 + width], "big") * per
        return _skip_n(buf, i + 1 + width, count)
    raise PayloadError(f"not msgpack: byte 0x{b:02x} at {i}")


def _skip_n(buf: bytes, i: int, count: int) -> int:
    for _ in range(count):
        i = _skip(buf, i)
    return i


# Type byte -> whole length (ints, floats, fixext); -> (length width, extra head) for bin, str
# and ext; -> (count width, objects per count) for arrays and maps.
_FIXED = {0xCC: 2, 0xD0: 2, 0xCD: 3, 0xD1: 3, 0xCE: 5, 0xD2: 5, 0xCA: 5, 0xCF: 9, 0xD3: 9,
          0xCB: 9, 0xD4: 3, 0xD5: 4, 0xD6: 6, 0xD7: 10, 0xD8: 18}
_SIZED = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0),
          0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1)}
_CONTAINERS = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}


class _Blocks:
    """The bytes of `blocks` as one stream, holding only what is not yet read."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self.buf = b""
        self.pos = 0

    def more(self) -> None:
        """Drop what was read and take the next block; PayloadError at the end."""
        block = next(self._blocks, None)
        if block is None:
            raise PayloadError("the catalog content ends in the middle of an object")
        self.buf = self.buf[self.pos:] + bytes(block)
        self.pos = 0

    def take(self) -> bytes:
        """The next whole object's bytes."""
        while True:
            try:
                end = _end(self.buf, self.pos)
            except _Short:
                self.more()
                continue
            out, self.pos = self.buf[self.pos:end], end
            return out

    def decode(self) -> Any:
        try:
            return msgspec.msgpack.decode(self.take())
        except msgspec.DecodeError as exc:
            raise PayloadError(f"catalog content: {exc}") from exc

    def count(self, low: int, small: int) -> int:
        """The element count of the map (low 0x80, small 0xDE) or array (0x90, 0xDC) next."""
        while len(self.buf) - self.pos < 1:
            self.more()
        b = self.buf[self.pos]
        if low <= b <= low + 0x0F:
            self.pos += 1
            return b & 0x0F
        if b not in (small, small + 1):
            raise PayloadError(f"catalog content: expected a {'map' if low == 0x80 else 'list'}")
        size = 2 if b == small else 4
        while len(self.buf) - self.pos < 1 + size:
            self.more()
        n = int.from_bytes(self.buf[self.pos + 1:self.pos + 1 + size], "big")
        self.pos += 1 + size
        return n

    def done(self) -> bool:
        if self.pos < len(self.buf):
            return False
        for block in self._blocks:
            if block:
                self.buf, self.pos = bytes(block), 0
                return False
        return True


def read(blocks: Iterable[bytes], page: int = PAGE) -> Iterator[Header | tuple[str, list[Any]]]:
    """Walk an encoded CatalogContent: first its Header, then (section, rows) pages, each
    section's pages in order. PayloadError for anything that is not such content."""
    stream = _Blocks(blocks)
    entries = stream.count(0x80, 0xDE)
    scalars: dict[str, Any] = {}
    header: Header | None = None
    for _ in range(entries):
        key = stream.decode()
        if key in ROWS:
            if header is None:
                header = _header(scalars)
                yield header
            if key in _FIELDS[header.kind]:
                yield from _rows(stream, key, page)
                continue
        elif key == "kind" or key in _SCALARS:
            if header is not None:
                raise PayloadError(f"catalog content: {key!r} comes after the rows")
            scalars[key] = stream.decode()
            continue
        stream.take()  # a field this reader does not know (a newer hub's)
    if header is None:
        yield _header(scalars)
    if not stream.done():
        raise PayloadError("catalog content: bytes after the end")


def _header(scalars: dict[str, Any]) -> Header:
    kind, version, base = scalars.get("kind"), scalars.get("version"), scalars.get("base_version")
    if kind not in KINDS:
        raise PayloadError(f"catalog content: kind {kind!r} is neither snapshot nor delta")
    if not isinstance(version, int) or isinstance(version, bool):
        raise PayloadError("catalog content: no version")
    if kind == "delta" and (not isinstance(base, int) or isinstance(base, bool)):
        raise PayloadError("catalog content: a delta without base_version")
    return Header(kind, version, base if kind == "delta" else None)


def _rows(stream: _Blocks, section: str, page: int) -> Iterator[tuple[str, list[Any]]]:
    left = stream.count(0x90, 0xDC)
    decoder = _decoders[section]
    while left:
        # Whole elements already in the buffer, up to a page; at least one (reading on for it).
        start, ends = stream.pos, 0
        while ends < min(left, page):
            try:
                stream.pos = _end(stream.buf, stream.pos)
            except _Short:
                if ends:
                    break
                stream.pos = start
                stream.more()
                start = stream.pos
                continue
            ends += 1
        try:
            rows = decoder.decode(array_header(ends) + stream.buf[start:stream.pos])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PayloadError(f"catalog content: {section}: {exc}") from exc
        left -= ends
        yield section, rows
