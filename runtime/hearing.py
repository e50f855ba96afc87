"""Connected but deaf: an MQTT session the broker keeps open while nothing reaches us any more.

It happens when another client takes over the session (amqtt leaves the old connection open),
on a half-open link the broker has not noticed yet, or with an old outbox on a spare agent that
shares the client id. The keepalive does not catch it: pings still get answers. Each side
detects it its own way (the hub by a probe it sends itself, the agent by resends that get no
ack while the hub says it is online), raises `Deaf` out of the session so it is torn down and
made again, and keeps `Hearing` for /healthz and the metrics.
"""

import datetime as dt
import logging

from runtime.clock import Clock
from runtime.errors import PlumbingError

log = logging.getLogger(__name__)


class Deaf(PlumbingError):
    """Raised out of an MQTT session that hears nothing: tear it down and reconnect."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Hearing:
    """Whether a session is deaf, since when and why, and how often that cost a reconnect."""

    def __init__(self, clock: Clock, who: str) -> None:
        self.clock = clock
        self.who = who
        self.deaf_since: dt.datetime | None = None
        self.reason: str | None = None
        self.reconnects = 0

    def went_deaf(self, reason: str) -> Deaf:
        """Record it (once per episode in the log) and return the exception to raise."""
        self.reconnects += 1
        if self.deaf_since is None:
            self.deaf_since = self.clock.now()
            log.warning("%s is connected to the broker but deaf (%s); reconnecting", self.who,
                        reason)
        self.reason = reason
        return Deaf(reason)

    def heard(self) -> None:
        """Something the peer sent reached us: the session works."""
        if self.deaf_since is not None:
            log.info("%s hears the broker again after %.0f s", self.who,
                     (self.clock.now() - self.deaf_since).total_seconds())
            self.deaf_since, self.reason = None, None
