"""Forwards the outbox to the hub over MQTT, in seq order, until the hub's ack covers each event.
Catalog versions from head office come over the same session (edge_agent.catalog_link).

The outbox, not the MQTT client, is the source of truth: a PUBACK only says the broker has a
message. Events stay in the outbox until the hub acks that it applied them; without progress for
`ack_timeout_s` the forwarder resends from the first unacked seq (the hub deduplicates), and a
hub's replay request rewinds it. When `deaf_after_resends` resends in a row get no ack while the
hub says it is online, the session is deaf (runtime.hearing): it is torn down and made again.
The session itself (reconnects with backoff, connection state, online/offline and the last will)
is runtime.mqtt_session's.
"""

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Coroutine
from typing import Any

import aiomqtt

from edge_agent.catalog_link import CatalogLink
from edge_agent.config import AgentConfig
from edge_agent.errors import OutboxError
from edge_agent.outbox import Outbox, Row
from protocol import codec
from protocol.errors import ProtocolError
from protocol.messages import Ack, Batch, Control, Envelope, Receipts, Restream, StoreState
from protocol.topics import Topics
from runtime.clock import SYSTEM, Clock
from runtime.config import broker_address
from runtime.hearing import Hearing
from runtime.mqtt_session import ConnectionState, Login, MqttSession

log = logging.getLogger(__name__)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


class Forwarder:
    """The agent's one MQTT session to the broker: sends the outbox in batches, takes the hub's
    acks, receipts, replay and restream requests, publishes the store's state, and keeps the
    connection state and counters the status page and /healthz show."""

    def __init__(self, config: AgentConfig, outbox: Outbox, version: str,
                 clock: Clock = SYSTEM, catalog: CatalogLink | None = None) -> None:
        self.config = config
        self.clock = clock
        self.outbox = outbox
        self.version = version
        self.catalog = catalog  # catalog versions come over this session too
        self.topics = Topics(config.mqtt.topic_prefix)
        store = config.store_id
        address = broker_address(config.mqtt.url, path=config.source, key="mqtt.url")
        password = config.mqtt_password()
        will = aiomqtt.Will(self.topics.state(store),
                            codec.encode_state(StoreState(store, online=False)), qos=1, retain=True)
        login = Login(address.host, address.port, username=config.mqtt.username,
                      password=lambda: password, identifier=config.mqtt.client_id or f"edge-{store}",
                      keepalive_s=config.mqtt.keepalive_s, tls=config.mqtt_tls(), will=will)
        self.hearing = Hearing(clock, f"store {store}")
        topics = (self.topics.ack(store), self.topics.control(store), self.topics.hub_state(),
                  *((catalog.topic,) if catalog else ()))
        self.session = MqttSession(self, login, topics, hearing=self.hearing, clock=clock,
                                   retry_initial_s=config.forwarder.reconnect_initial_s,
                                   retry_max_s=config.forwarder.reconnect_max_s,
                                   # A full disk, a damaged outbox: try again later.
                                   survives=(OSError, ProtocolError, OutboxError))
        self._poke = asyncio.Event()
        self._next_seq = 1
        self._rewind: int | None = None
        self._last_progress = time.monotonic()
        self.last_ack_at: dt.datetime | None = None
        self.forwarded = 0
        self.resends = 0
        self.restreams = 0
        self._silent_resends = 0  # resends in a row, in this session, that got no ack
        # What the hub last said of itself: None (never heard: an older hub) means send anyway.
        self.hub_online: bool | None = None
        self.hub_state_since: dt.datetime | None = None

    def wake(self) -> None:
        """New events are in the outbox."""
        self._poke.set()

    @property
    def state(self) -> ConnectionState:
        return self.session.state

    @property
    def state_since(self) -> dt.datetime:
        return self.session.since

    @property
    def last_error(self) -> str | None:
        return self.session.last_error

    @property
    def reconnects(self) -> int:
        """Sessions tried and ended since start."""
        return self.session.attempts

    async def run(self) -> None:
        await self.session.run()

    # The session's side (runtime.mqtt_session.Side).

    async def on_connected(self, client: aiomqtt.Client) -> None:
        self._next_seq = self.outbox.acked_through + 1
        self._rewind = None
        self._last_progress = time.monotonic()
        self._silent_resends = 0
        if self.catalog is not None:
            await self.catalog.on_connected(client)

    def session_tasks(self, client: aiomqtt.Client) -> dict[str, Coroutine[Any, Any, None]]:
        return {"forwarder-send": self._send(client), "forwarder-report": self._report(client)}

    def on_disconnected(self) -> None:
        if self.catalog is not None:
            self.catalog.on_disconnected()

    async def announce(self, client: aiomqtt.Client, *, online: bool) -> None:
        """The store's state, retained: online (with its backlog), or offline on a stop."""
        stats = await self.outbox.stats()
        state = StoreState(
            store_id=self.config.store_id,
            online=online,
            at=self.clock.now(),
            stream=self.outbox.stream,
            version=self.version,
            backlog=stats.backlog,
            # 0: this agent takes catalogs and has none yet (None would mean it does not).
            catalog_version=(self.catalog.catalog.state.version or 0) if self.catalog else None,
        )
        await client.publish(
            self.topics.state(self.config.store_id), codec.encode_state(state), qos=1, retain=True
        )

    async def _report(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.config.forwarder.state_interval_s)
            await self.announce(client, online=True)

    async def _send(self, client: aiomqtt.Client) -> None:
        cfg = self.config.forwarder
        topic = self.topics.events(self.config.store_id)
        while True:
            self._poke.clear()
            acked = self.outbox.acked_through
            if self._rewind is not None:
                # Below our acks too: a hub restored from an older backup lost events it had
                # acknowledged, and gets them back from here while the outbox still holds them.
                self._next_seq, self._rewind = self._rewind, None
            else:
                self._next_seq = max(self._next_seq, acked + 1)
            outstanding = max(0, self._next_seq - 1 - acked)
            if outstanding and time.monotonic() - self._last_progress > cfg.ack_timeout_s:
                log.warning("no ack from the hub for %.0f s; resending from seq %d",
                            cfg.ack_timeout_s, acked + 1)
                self.resends += 1
                self._silent_resends += 1
                if self._silent_resends > cfg.deaf_after_resends:
                    raise self.hearing.went_deaf(
                        f"{cfg.deaf_after_resends} resends got no ack in "
                        f"{cfg.ack_timeout_s * (cfg.deaf_after_resends + 1):.0f} s while head "
                        "office says it is online")
                self._next_seq, outstanding = acked + 1, 0
                self._last_progress = time.monotonic()
            room = cfg.max_in_flight_events - outstanding
            rows = []
            if self.hub_online is False:
                # Head office is away: queueing at the broker would only make its return slower
                # (one small message per sale, behind which new sales wait). Keep them here.
                self._last_progress = time.monotonic()
            elif room > 0:
                stream = self.outbox.stream
                rows = await self.outbox.next_batch(
                    self._next_seq - 1, min(cfg.batch_max_events, room), cfg.batch_max_bytes
                )
                if stream != self.outbox.stream:
                    continue  # restreamed while reading: these seqs are of the old numbering
            if not rows:
                try:
                    await asyncio.wait_for(self._poke.wait(), cfg.ack_timeout_s / 4)
                except TimeoutError:
                    pass
                continue
            if outstanding == 0:
                self._last_progress = time.monotonic()
            await client.publish(topic, self._encode(rows), qos=1)
            self._next_seq = rows[-1].seq + 1
            self.forwarded += len(rows)

    def _encode(self, rows: list[Row]) -> bytes:
        store, stream = self.config.store_id, self.outbox.stream
        events = [
            Envelope(
                store_id=store,
                stream=stream,
                seq=r.seq,
                event_id=r.event_id,
                occurred_at=_utc(r.occurred_at),
                business_day=dt.date.fromisoformat(r.business_day),
                captured_at=_utc(r.captured_at),
                event=codec.decode_event(r.body),
            )
            for r in rows
        ]
        return codec.encode(Batch(store_id=store, stream=stream, events=events))

    async def on_message(self, message: aiomqtt.Message) -> None:
        self.hearing.heard()
        self._silent_resends = 0
        if message.topic.value == self.topics.hub_state():
            self._on_hub_state(message.payload)
            return
        try:
            _store, channel = self.topics.parse(message.topic.value)
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                raise ProtocolError("payload is not bytes")
            if channel == "ack":
                await self._on_ack(codec.decode_ack(bytes(payload)))
            elif channel == "control":
                await self._on_control(codec.decode_control(bytes(payload)))
            elif channel == "catalog" and self.catalog is not None:
                await self.catalog.on_chunk(bytes(payload))
        except ProtocolError as exc:
            log.warning("ignoring a message on %s: %s", message.topic.value, exc)

    def _on_hub_state(self, payload: object) -> None:
        try:
            state = codec.decode_hub_state(bytes(payload) if isinstance(payload, bytes | bytearray)
                                           else b"")
        except ProtocolError as exc:
            log.warning("ignoring the hub's state: %s", exc)
            return
        if state.online == self.hub_online:
            return
        self.hub_online = state.online
        self.hub_state_since = self.clock.now()
        if state.online:
            log.info("head office is online: sending what waits")
            self._last_progress = time.monotonic()  # no resend for the time it was away
            self._poke.set()
        else:
            log.warning("head office is offline: keeping sales here until it is back")

    async def _on_ack(self, ack: Ack) -> None:
        if ack.stream != self.outbox.stream:
            return
        through = min(ack.applied_seq, await self.outbox.last_seq())
        if through > self.outbox.acked_through:
            await self.outbox.mark_acked(through)
            self._last_progress = time.monotonic()
            self.last_ack_at = self.clock.now()
            self._poke.set()

    async def _on_control(self, control: Control) -> None:
        if isinstance(control, Receipts):
            await self.outbox.record_receipts(control.items)
            return
        if control.stream != self.outbox.stream:
            return
        if isinstance(control, Restream):
            log.error("the hub holds other events at seq %d and after of stream %s: this outbox "
                      "went back in time (a restored backup or a lost WAL)", control.from_seq,
                      control.stream)
            await self.outbox.restream()
            self.restreams += 1
            self._rewind, self._next_seq = 1, 1
            self._last_progress = time.monotonic()
            self._poke.set()
            return
        log.info("hub asked for a replay from seq %d", control.from_seq)
        if control.from_seq - 1 > self.outbox.acked_through:
            await self._on_ack(Ack(control.stream, control.from_seq - 1))
        self._rewind = control.from_seq
        self._last_progress = time.monotonic()
        self._poke.set()
