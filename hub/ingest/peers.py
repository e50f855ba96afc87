"""A hub worker among several: when another worker goes away, ask the stores to send again.

A worker that dies (SIGKILL, power cut) takes with it the batches the broker had handed it and
it had not yet acknowledged. Their stores would send them again only after their ack timeout
(`forwarder.ack_timeout_s`, 10 s by default). The broker publishes the dead worker's last will
on `<prefix>/hub/workers/<id>/state` the moment its connection drops (a clean stop says the same):
each surviving worker then asks every store it has heard from lately to send again from the
first event the hub has not applied (a `Replay`), so what was lost is applied within a second.
A store with nothing outstanding sends nothing; one whose batches another worker is applying
sends them twice, and the event log drops the copies.
"""

import datetime as dt
import logging

from hub.ingest.eventlog import Outcome
from hub.ingest.outbound import Outbound
from hub.storage import Reads
from protocol import codec
from protocol.errors import ProtocolError
from protocol.topics import Topics
from runtime.clock import Clock, stamp

log = logging.getLogger(__name__)

# Stores heard from within this long are asked (a store away longer has sent nothing lately).
RECENT = dt.timedelta(hours=1)


class Peers:
    """Hears the other workers' states (`topic`) and, when one goes away, owes every recently
    heard store a replay from its stream's applied seq + 1 (published by Outbound)."""

    def __init__(self, topics: Topics, worker_id: str, outbound: Outbound, clock: Clock) -> None:
        self.topics = topics
        self.worker_id = worker_id
        self.outbound = outbound
        self.clock = clock
        self.replays_asked = 0

    @property
    def topic(self) -> str:
        return self.topics.hub_worker_state("+")

    def owns(self, topic: str) -> bool:
        head = f"{self.topics.prefix}/hub/workers/"
        return topic.startswith(head) and topic.endswith("/state")

    async def on_state(self, reads: Reads, topic: str, payload: bytes, *, retained: bool) -> int:
        """A worker's state; how many stores were asked to send again. A retained state is an
        old one the broker keeps (heard at subscribing): nothing happened now."""
        worker = topic[len(f"{self.topics.prefix}/hub/workers/"):-len("/state")]
        if retained or worker == self.worker_id:
            return 0
        try:
            state = codec.decode_hub_state(payload)
        except ProtocolError as exc:
            log.warning("ignoring hub worker %s's state: %s", worker, exc)
            return 0
        if state.online:
            return 0
        marks = await reads.events.current_marks(stamp(self.clock.now() - RECENT))
        for store_id, stream, applied_seq in marks:
            self.outbound.owe_ack(Outcome(store_id, stream, applied_seq,
                                          replay_from=applied_seq + 1))
        self.replays_asked += len(marks)
        log.info("hub worker %s went away: asking %d stores to send again what the hub has "
                 "not applied", worker, len(marks))
        return len(marks)
