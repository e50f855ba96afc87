"""Everything the hub publishes over MQTT: acks, Restream/Replay controls, receipts, catalog
chunks (for hub.catalog.delivery), its state, the probe.

The receiver (`receiver.py`) hands over the outcome of a batch only after its transaction has
committed (`owe_ack`); `send_acks` then publishes "applied through seq N" to the store, after a
Restream (the store must not take that ack as covering its events) and before a Replay. The
hub's state is retained on `hub/state`, and the last will says "offline" if the hub dies.
Receipts tell a store what the ERP made of its transactions once the relay settles a posting
(`settled`, the relay's `on_settled`).
"""

import asyncio
import logging

import aiomqtt

from hub import __version__
from hub.ingest.eventlog import Outcome
from hub.postings import store as postings
from hub.storage import Database
from protocol import codec
from protocol.errors import TopicError
from protocol.messages import MAX_RECEIPTS, Ack, HubState, Receipt, Receipts, Replay, Restream
from protocol.topics import Topics
from runtime.clock import Clock

log = logging.getLogger(__name__)


class Outbound:
    """The hub's voice on the broker, over whichever session is current (none between sessions)."""

    def __init__(self, topics: Topics, clock: Clock, worker_id: str | None = None) -> None:
        self.topics = topics
        self.clock = clock
        # One worker of several (`[cluster] shared_group`): its own state is this worker's;
        # the hub's state says "online" while any worker is, and never "offline".
        self.worker_id = worker_id
        self._client: aiomqtt.Client | None = None
        self._acks: dict[tuple[str, str], Outcome] = {}
        self._acks_ready = asyncio.Event()

    def attach(self, client: aiomqtt.Client | None) -> None:
        """The session to publish over from now on; None once it has ended."""
        self._client = client

    def will(self) -> aiomqtt.Will:
        """The last will: the broker announces the hub offline (retained) if it dies; one
        worker of several announces only itself offline (the others still serve the stores)."""
        return aiomqtt.Will(self._own_state(),
                            codec.encode_state(HubState(online=False)), qos=1, retain=True)

    def _own_state(self) -> str:
        if self.worker_id is None:
            return self.topics.hub_state()
        return self.topics.hub_worker_state(self.worker_id)

    @property
    def connected(self) -> bool:
        """Whether a session is there to publish over."""
        return self._client is not None

    async def catalog(self, store_id: str, payload: bytes) -> bool:
        """One chunk of a catalog version to a store (QoS 1: back once the broker has it);
        False when there is no session or the broker did not take it."""
        client = self._client
        if client is None:
            return False
        try:
            await client.publish(self.topics.catalog(store_id), payload, qos=1)
        except aiomqtt.MqttError as exc:
            log.warning("catalog chunk for store %s not sent: %s", store_id, exc)
            return False
        return True

    def own(self, topic: str) -> bool:
        """A topic the hub publishes itself (its state, a store's ack, control or catalog): a
        retained message of ours that a session subscribed too widely hands back. Never store
        input."""
        if topic == self.topics.hub_state() or topic.startswith(f"{self.topics.prefix}/hub/workers/"):
            return True
        try:
            return self.topics.parse(topic)[1] in ("ack", "control", "catalog")
        except TopicError:
            return False

    async def announce(self, client: aiomqtt.Client, *, online: bool) -> None:
        """Retain the hub's state: "online" once subscribed, "offline" on a clean stop. One
        worker of several says "offline" only of itself."""
        state = codec.encode_state(HubState(online=online, at=self.clock.now(),
                                            version=__version__))
        if self.worker_id is not None:
            await client.publish(self._own_state(), state, qos=1, retain=True)
            if not online:
                return
        await client.publish(self.topics.hub_state(), state, qos=1, retain=True)

    async def probe(self, client: aiomqtt.Client, token: bytes) -> None:
        """Send the hub a probe of its own, to show that its session still hears."""
        await client.publish(self.topics.hub_probe(), token, qos=1)

    def owe_ack(self, out: Outcome) -> None:
        """Record a batch's outcome, called only after its transaction has committed. Outcomes
        of one stream that pile up before `send_acks` runs are folded into one: the highest
        mark, and any replay or divergence they carry."""
        key = (out.store_id, out.stream)
        previous = self._acks.get(key)
        if (previous is None or out.applied_seq >= previous.applied_seq or out.replay_from
                or out.diverged_from is not None):
            if previous is not None and out.diverged_from is None:
                out.diverged_from = previous.diverged_from
            self._acks[key] = out
        self._acks_ready.set()

    async def send_acks(self, client: aiomqtt.Client) -> None:
        """Publish the acks owed, as they become owed, for as long as the session lasts."""
        while True:
            await self._acks_ready.wait()
            self._acks_ready.clear()
            pending, self._acks = self._acks, {}
            for (store_id, stream), out in pending.items():
                if out.diverged_from is not None:
                    # Before the ack: the store must not take that ack as covering its events.
                    await client.publish(self.topics.control(store_id),
                                         codec.encode(Restream(stream, out.diverged_from)), qos=1)
                await client.publish(self.topics.ack(store_id),
                                     codec.encode(Ack(stream, out.applied_seq)), qos=1)
                if out.replay_from is not None:
                    log.info("store %s: gap after seq %d; asking for a replay",
                             store_id, out.applied_seq)
                    await client.publish(self.topics.control(store_id),
                                         codec.encode(Replay(stream, out.replay_from)), qos=1)

    async def receipts(self, store_id: str, items: list[Receipt]) -> bool:
        """Tell a store what the ERP made of its transactions; False if not connected now."""
        client = self._client
        if client is None:
            return False
        try:
            for i in range(0, len(items), MAX_RECEIPTS):
                await client.publish(self.topics.control(store_id),
                                     codec.encode(Receipts(items[i:i + MAX_RECEIPTS])), qos=1)
        except aiomqtt.MqttError as exc:
            log.warning("receipts for store %s not sent: %s", store_id, exc)
            return False
        return True

    async def settled(self, db: Database, posting_id: str, state: str,
                      erp_ref: str | None) -> None:
        """Tell the store what became of the transactions behind a posting: the relay's
        `on_settled` (bound to the database), once the posting is posted, dead or an exception."""
        found = await postings.sources(db.reads, posting_id)
        if found is None or not found[1]:
            return
        store_id, event_ids = found
        await self.receipts(store_id, [Receipt(e, posting_id, state, erp_ref) for e in event_ids])
