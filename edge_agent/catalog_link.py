"""The catalog over the forwarder's MQTT session: chunks in (staged by edge_agent.catalog), acks
out (protocol.messages.CatalogAck), complete copies applied one at a time in the background.

- Every PROGRESS_EVERY parts, and at the last, the store says how many parts of the copy it
  holds ("receiving"): the hub sends only a few parts ahead of that (protocol.chunking.WINDOW),
  so a 50 MB version never waits in this process's memory or the broker's.
- A complete copy is applied by `run` (not in the message handler, so acks for sales keep
  flowing meanwhile), then "applied" is said. A copy refused by digest or base version is asked
  for again ("resend", naming the version the store has); one that will never apply is
  "failed" with the reason.
- On every connect the store says again which version it has applied (an ack lost while head
  office was away costs nothing) and how much it holds of a copy still coming.
- Copies complete at start (the agent was killed while applying one) are applied first.
"""

import asyncio
import datetime as dt
import logging
import sqlite3
from collections import Counter

import aiomqtt

from edge_agent.catalog import Catalog, Staged
from edge_agent.errors import CopyRefused
from protocol import codec
from protocol.chunking import PROGRESS_EVERY
from protocol.errors import PayloadError
from protocol.messages import CatalogAck
from protocol.topics import Topics
from runtime.clock import Clock
from runtime.sqlite_writer import WriterClosed

log = logging.getLogger(__name__)


class CatalogLink:
    """Receives catalog versions for one store and says what became of them."""

    def __init__(self, catalog: Catalog, topics: Topics, store_id: str, clock: Clock) -> None:
        self.catalog = catalog
        self.topics = topics
        self.store_id = store_id
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self._client: aiomqtt.Client | None = None
        self._complete: asyncio.Queue[Staged] = asyncio.Queue()

    @property
    def topic(self) -> str:
        return self.topics.catalog(self.store_id)

    async def on_connected(self, client: aiomqtt.Client) -> None:
        self._client = client
        if not self.catalog.is_open:
            return
        state = self.catalog.state
        if state.version is not None:
            await self._say(CatalogAck(self.store_id, state.version, "applied",
                                       at=_instant(state.applied_at),
                                       catalog_version=state.version))
        for copy in await self.catalog.staged():
            if copy.held < copy.parts:
                await self._say(CatalogAck(self.store_id, copy.version, "receiving",
                                           at=self.clock.now(), catalog_version=state.version,
                                           part=copy.held))
                break

    def on_disconnected(self) -> None:
        self._client = None

    async def on_chunk(self, payload: bytes) -> None:
        """One chunk as it came: staged, progress said, a complete copy queued for `run`."""
        if not self.catalog.is_open:
            self.counters["chunks_dropped"] += 1  # a full disk: asked for again when it has room
            return
        try:
            chunk = codec.decode_catalog_chunk(payload)
            staged = await self.catalog.stage(chunk)
        except PayloadError as exc:
            self.counters["chunks_refused"] += 1
            log.warning("refused a catalog chunk: %s", exc)
            return
        except (sqlite3.Error, WriterClosed) as exc:  # a full disk: the hub sends it again
            self.counters["chunks_dropped"] += 1
            log.warning("a catalog chunk could not be kept: %s", exc)
            return
        self.counters["chunks"] += 1
        state = self.catalog.state
        if staged.stale:
            if staged.version == state.version:  # our "applied" went missing: say it again
                await self._say(CatalogAck(self.store_id, staged.version, "applied",
                                           at=_instant(state.applied_at),
                                           catalog_version=state.version))
            return
        if staged.held % PROGRESS_EVERY == 0 or staged.complete:
            await self._say(CatalogAck(self.store_id, staged.version, "receiving",
                                       at=self.clock.now(), catalog_version=state.version,
                                       part=staged.held))
        if staged.complete:
            self._complete.put_nowait(staged)

    async def run(self) -> None:
        """Apply complete copies as they come (those complete at start first), one at a time.
        Starts once the catalog is open."""
        await self.catalog.opened.wait()
        for copy in await self.catalog.staged():
            if copy.held == copy.parts:
                self._complete.put_nowait(copy)
        while True:
            copy = await self._complete.get()
            have = self.catalog.state.version
            if have is None or copy.version > have:
                await self._apply(copy)

    async def _apply(self, copy: Staged) -> None:
        log.info("applying catalog version %d", copy.version)
        try:
            state = await self.catalog.apply(copy.version, copy.digest)
        except CopyRefused as exc:
            self.counters["copies_refused"] += 1
            log.warning("%s; %s", exc, "asking head office for it again" if exc.ask_again
                        else "telling head office")
            await self._say(CatalogAck(
                self.store_id, copy.version, "resend" if exc.ask_again else "failed",
                at=self.clock.now(), reason=exc.reason,
                catalog_version=self.catalog.state.version))
            return
        except Exception as exc:  # a full disk, say: the copy stays staged for the next try
            self.counters["apply_failures"] += 1
            log.exception("applying catalog version %d failed", copy.version)
            await self._say(CatalogAck(self.store_id, copy.version, "failed",
                                       at=self.clock.now(), reason=f"cannot apply: {exc}",
                                       catalog_version=self.catalog.state.version))
            return
        self.counters["applied"] += 1
        log.info("catalog version %d applied (%s)", copy.version, state.kind)
        await self._say(CatalogAck(self.store_id, copy.version, "applied",
                                   at=_instant(state.applied_at), catalog_version=state.version))

    async def _say(self, ack: CatalogAck) -> None:
        """Publish an ack if connected (what is not said now is said again on connect)."""
        client = self._client
        if client is None:
            return
        try:
            await client.publish(self.topics.catalog_ack(self.store_id),
                                 codec.encode_catalog(ack), qos=1)
        except aiomqtt.MqttError as exc:
            log.warning("catalog ack for version %d not sent: %s", ack.version, exc)


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None
