"""One encoded catalog version split into chunks of bounded bytes, and joined back only when
every part has come and the SHA-256 of the whole matches the digest each chunk carries.

The hub calls `split`; a store collects what arrives in a `Reassembly` (or keeps the chunks
elsewhere and calls `join`), then decodes the content (`codec.decode_catalog_content`). A chunk
that contradicts the others, or a whole whose digest does not match, raises PayloadError: the
store drops that copy and asks for the version again (a CatalogAck with state "resend").
"""

import hashlib
from collections.abc import Iterable, Iterator

from protocol import codec
from protocol.errors import PayloadError
from protocol.messages import MAX_BATCH_BYTES, CatalogChunk

# A chunk is one MQTT message: at most what a batch may be, and big enough to carry its header.
MIN_CHUNK_BYTES = 1024
MAX_CHUNK_BYTES = MAX_BATCH_BYTES
# The largest whole a store accepts (300,000 items with a price each take about 52 MB).
MAX_CONTENT_BYTES = 512 * 1024 * 1024
# Flow control: the hub sends at most WINDOW parts beyond those a store says it holds, and a
# store says so (CatalogAck "receiving") at least every PROGRESS_EVERY parts and at the last.
WINDOW = 4
PROGRESS_EVERY = 2


def digest(payload: bytes) -> str:
    """The digest chunks carry: SHA-256 of the whole encoded content, in hex."""
    return hashlib.sha256(payload).hexdigest()


def split(payload: bytes, version: int, max_bytes: int) -> list[CatalogChunk]:
    """`payload` (an encoded CatalogContent) as chunks whose encoding is at most `max_bytes`
    each; at least one chunk, even for an empty payload."""
    return list(parts(payload, version, max_bytes))


def parts(payload: bytes, version: int, max_bytes: int) -> Iterator[CatalogChunk]:
    """The chunks of `split`, made one at a time (a caller that encodes each and lets it go
    holds the payload's bytes twice at most, not three times)."""
    if not MIN_CHUNK_BYTES <= max_bytes <= MAX_CHUNK_BYTES:
        raise ValueError(f"max_bytes must be {MIN_CHUNK_BYTES} to {MAX_CHUNK_BYTES}, not {max_bytes}")
    if len(payload) > MAX_CONTENT_BYTES:
        raise ValueError(f"{len(payload)} bytes is more than a store accepts ({MAX_CONTENT_BYTES})")
    whole = digest(payload)
    # The header of the largest numbers msgpack may need, and the 5-byte head of a bin32 field
    # in place of the 2 bytes an empty one takes.
    header = len(codec.encode_catalog(
        CatalogChunk(version, 2**32, 2**32, 2**32, whole, b""))) - 2 + 5
    room = max_bytes - header
    count = max(1, -(-len(payload) // room))
    for n in range(count):
        yield CatalogChunk(version, n + 1, count, len(payload), whole,
                           payload[n * room:(n + 1) * room])


def check(chunk: CatalogChunk) -> None:
    """A chunk that cannot be part of any whole: PayloadError saying why."""
    if not 1 <= chunk.part <= chunk.parts:
        raise PayloadError(f"chunk part {chunk.part} is not within 1..{chunk.parts}")
    if not 0 <= chunk.size <= MAX_CONTENT_BYTES:
        raise PayloadError(f"catalog of {chunk.size} bytes is more than {MAX_CONTENT_BYTES}")
    if len(chunk.data) > chunk.size:
        raise PayloadError(f"chunk of {len(chunk.data)} bytes in a whole of {chunk.size}")


def join(chunks: Iterable[CatalogChunk]) -> bytes:
    """The whole payload from all of its chunks (in any order, repeats allowed), or PayloadError:
    chunks of different wholes, a part missing, a length or a digest that does not match."""
    found: dict[int, CatalogChunk] = {}
    first: CatalogChunk | None = None
    for chunk in chunks:
        check(chunk)
        if first is None:
            first = chunk
        elif (chunk.version, chunk.parts, chunk.size, chunk.digest) != (
                first.version, first.parts, first.size, first.digest):
            raise PayloadError(f"chunk {chunk.part} of version {chunk.version} belongs to "
                               f"another copy than chunk {first.part} of version {first.version}")
        found[chunk.part] = chunk
    if first is None:
        raise PayloadError("no chunks")
    missing = [n for n in range(1, first.parts + 1) if n not in found]
    if missing:
        raise PayloadError(f"version {first.version}: {len(missing)} of {first.parts} parts "
                           f"missing (first: {missing[0]})")
    payload = b"".join(found[n].data for n in range(1, first.parts + 1))
    if len(payload) != first.size:
        raise PayloadError(f"version {first.version}: {len(payload)} bytes, not {first.size}")
    if digest(payload) != first.digest:
        raise PayloadError(f"version {first.version}: the digest does not match (a corrupted chunk)")
    return payload


class Reassembly:
    """Chunks as they arrive, in memory, kept per copy (version and digest: the hub may send the
    same version again as a snapshot). `add` answers the whole once a copy is complete."""

    def __init__(self) -> None:
        self._copies: dict[tuple[int, str], dict[int, CatalogChunk]] = {}

    def add(self, chunk: CatalogChunk) -> bytes | None:
        """Keep `chunk`; the verified whole when it completed its copy, else None. PayloadError
        for a chunk that cannot belong, or a complete copy whose digest does not match (that
        copy is dropped, so a resend starts afresh)."""
        check(chunk)
        key = (chunk.version, chunk.digest)
        parts = self._copies.setdefault(key, {})
        parts[chunk.part] = chunk
        if len(parts) < chunk.parts:
            return None
        del self._copies[key]
        return join(parts.values())

    def forget(self, below: int) -> None:
        """Drop every copy of a version below `below` (the store has applied a newer one)."""
        self._copies = {k: v for k, v in self._copies.items() if k[0] >= below}

    @property
    def pending(self) -> list[tuple[int, int, int]]:
        """(version, parts come, parts) of each copy still incomplete."""
        return [(version, len(parts), next(iter(parts.values())).parts)
                for (version, _), parts in self._copies.items()]
