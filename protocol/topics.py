"""The only place that builds or parses MQTT topic strings.

Layout, under a configurable prefix (default `retail/v1`):
    {prefix}/stores/{store_id}/events   agent -> hub   Batch (msgpack)
    {prefix}/stores/{store_id}/ack      hub -> agent   Ack (msgpack)
    {prefix}/stores/{store_id}/control  hub -> agent   Control (msgpack)
    {prefix}/stores/{store_id}/state    agent, retained; last will   StoreState (JSON)
    {prefix}/stores/{store_id}/catalog  hub -> agent   CatalogChunk (msgpack)
    {prefix}/stores/{store_id}/catalog-ack  agent -> hub   CatalogAck (msgpack)
    {prefix}/hub/state                  hub, retained; last will     HubState (JSON)
    {prefix}/hub/probe                  hub -> hub     a token: proves the hub's session hears
"""

import re
from typing import Literal

from protocol.errors import TopicError

DEFAULT_PREFIX = "retail/v1"
Channel = Literal["events", "ack", "control", "state", "catalog", "catalog-ack"]
CHANNELS: tuple[Channel, ...] = ("events", "ack", "control", "state", "catalog", "catalog-ack")
_STORE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_store_id(store_id: str) -> str:
    """Return `store_id` if it is usable in a topic, else raise TopicError."""
    if not _STORE_ID.match(store_id):
        raise TopicError(store_id, "store id must be 1-64 of A-Z a-z 0-9 _ . -")
    return store_id


class Topics:
    """Topic names under one prefix."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        prefix = prefix.strip("/")
        if not prefix or any(c in prefix for c in "+#"):
            raise TopicError(prefix, "topic prefix must be non-empty and free of wildcards")
        self.prefix = prefix

    def store(self, store_id: str, channel: Channel) -> str:
        return f"{self.prefix}/stores/{check_store_id(store_id)}/{channel}"

    def events(self, store_id: str) -> str:
        return self.store(store_id, "events")

    def ack(self, store_id: str) -> str:
        return self.store(store_id, "ack")

    def control(self, store_id: str) -> str:
        return self.store(store_id, "control")

    def state(self, store_id: str) -> str:
        return self.store(store_id, "state")

    def catalog(self, store_id: str) -> str:
        """Where the hub sends a store its catalog versions, in chunks."""
        return self.store(store_id, "catalog")

    def catalog_ack(self, store_id: str) -> str:
        """Where a store says it applied (or could not apply) a catalog version."""
        return self.store(store_id, "catalog-ack")

    def hub_state(self) -> str:
        """Whether the hub is there: agents hold their backlog while it is not."""
        return f"{self.prefix}/hub/state"

    def hub_worker_state(self, worker_id: str) -> str:
        """One hub worker's own state, when several share the stores (its last will goes here,
        not to `hub_state`: the hub is online while any worker is)."""
        return f"{self.prefix}/hub/workers/{worker_id}/state"

    def shared(self, group: str, topic_filter: str) -> str:
        """`topic_filter` as a shared subscription of `group`: the broker hands each message to
        one member of the group (MQTT 5's `$share`, which Mosquitto 2 also takes from MQTT
        3.1.1 clients)."""
        return f"$share/{group}/{topic_filter}"

    def hub_probe(self) -> str:
        """The hub publishes to itself here: a probe that does not come back means it is deaf."""
        return f"{self.prefix}/hub/probe"

    def every_store(self, channel: Channel) -> str:
        """The subscription filter for one channel of every store."""
        return f"{self.prefix}/stores/+/{channel}"

    def parse(self, topic: str) -> tuple[str, Channel]:
        """Split a concrete topic into (store_id, channel)."""
        head = f"{self.prefix}/stores/"
        if not topic.startswith(head):
            raise TopicError(topic, "not under this prefix")
        parts = topic[len(head):].split("/")
        if len(parts) != 2 or parts[1] not in CHANNELS:
            raise TopicError(topic, "not a store topic")
        return check_store_id(parts[0]), parts[1]
