"""One MQTT session to the broker, kept up for as long as it runs: the hub's and the agent's.

The session reconnects with backoff, keeps the connection state /healthz and the status pages
show, says "online" (retained) once subscribed and "offline" on a clean stop (the last will
says it when the process dies), and makes a deaf session again after the shortest backoff (each
side detects deafness its own way and raises runtime.hearing.Deaf). What a session does while
it is up belongs to its side (`Side`): what "online" says, what to do with a message, which
tasks run alongside; the side also names the topics to subscribe to.

Both sides keep a persistent session (clean_session=False) under a fixed client id, so what the
broker queued while they were away is delivered when they come back; a hub worker of several
starts clean instead (`Login.clean_session`): what it missed goes to the other workers.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import ssl
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import aiomqtt

from runtime.backoff import Backoff
from runtime.clock import Clock
from runtime.hearing import Deaf, Hearing
from runtime.secrets import scrub

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10  # connect, subscribe and publish calls
LEAVE_TIMEOUT_S = 2     # the goodbye of a session that ends: a deaf or frozen broker may not answer


class ConnectionState(StrEnum):
    """The link to the broker as the operator sees it (the agent's `mqtt.state` on /healthz and
    its status page). A deaf session made again at once does not change it."""

    STARTING = "starting"            # not yet tried
    CONNECTED = "connected"          # subscribed and announced online
    DISCONNECTED = "disconnected"    # lost or refused; retrying with backoff


@dataclass(frozen=True)
class Login:
    """Where a session connects, and as whom."""

    host: str
    port: int
    username: str | None
    password: Callable[[], str | None]  # read at every connect
    identifier: str                     # the client id: the broker keeps its session under it
    keepalive_s: int
    tls: ssl.SSLContext | None
    will: aiomqtt.Will                  # what the broker says for us if we die ("offline")
    # False: the broker keeps the session (subscriptions, QoS 1 messages) while we are away.
    # True for a hub worker of several: what it missed goes to the others, or is sent again.
    clean_session: bool = False


class Side(Protocol):
    """What a session asks of the side it serves (the hub's ingest, the agent's forwarder)."""

    async def on_connected(self, client: aiomqtt.Client) -> None:
        """Subscribed: start this session's own state afresh (before "online" is said)."""

    async def announce(self, client: aiomqtt.Client, *, online: bool) -> None:
        """Publish, retained, that this side is online (once subscribed) or offline (a stop)."""

    def session_tasks(self, client: aiomqtt.Client) -> dict[str, Coroutine[Any, Any, None]]:
        """The side's tasks that run as long as the session lasts, by task name."""

    async def on_message(self, message: aiomqtt.Message) -> None:
        """Handle one message the session received."""

    def on_disconnected(self) -> None:
        """The session has ended (the next one is being tried)."""


class MqttSession:
    """Connects, runs the side's session, and when it ends backs off and connects again.

    `state`, `since` and `last_error` change once per change of the link (one log line each);
    `connected` and `disconnected_at` follow each session itself: `connected` is False between
    any two sessions, a deaf one made again at once included. `topics`: subscribed to (QoS 1)
    at the start of every session. `hearing`: the side's, which its own deafness check feeds.
    `survives`: errors of the side after which it connects again (logged with their traceback)
    instead of stopping."""

    def __init__(self, side: Side, login: Login, topics: Sequence[str], *, hearing: Hearing,
                 clock: Clock, retry_initial_s: float, retry_max_s: float,
                 survives: tuple[type[Exception], ...] = ()) -> None:
        self.side = side
        self.login = login
        self.topics = tuple(topics)
        self.hearing = hearing
        self.who = hearing.who
        self.clock = clock
        self.retry_initial_s, self.retry_max_s = retry_initial_s, retry_max_s
        self.survives = survives
        self.state = ConnectionState.STARTING
        self.since = clock.now()
        self.last_error: str | None = None
        self.connected = False
        self.disconnected_at: dt.datetime | None = None  # None: not yet connected since start
        self.attempts = 0  # sessions tried, and ended, since start
        self._heard_at = time.monotonic()  # last message of any kind, or now while handling one
        self._handling = False

    def quiet_s(self) -> float:
        """Seconds since a message last reached this session; 0 while one is being handled
        (a busy side is not a deaf session)."""
        return 0.0 if self._handling else time.monotonic() - self._heard_at

    async def run(self) -> None:
        backoff = Backoff(self.retry_initial_s, self.retry_max_s)
        while True:
            try:
                async with self._client() as client:
                    backoff.reset()
                    try:
                        await self._session(client)
                    finally:
                        client.timeout = min(client.timeout, LEAVE_TIMEOUT_S)
            except* Deaf:
                backoff.reset()  # the broker is there: connect again at once
            except* aiomqtt.MqttError as group:
                self._set_state(ConnectionState.DISCONNECTED, str(group.exceptions[0]))
            except* self.survives as group:  # e.g. the agent's full disk: try again later
                log.exception("%s: MQTT session failed", self.who, exc_info=group.exceptions[0])
                self._set_state(ConnectionState.DISCONNECTED, str(group.exceptions[0]))
            if self.connected:
                self.disconnected_at = self.clock.now()
            self.connected = False
            self.attempts += 1
            self.side.on_disconnected()
            await asyncio.sleep(backoff.next_delay())

    def _client(self) -> aiomqtt.Client:
        login = self.login
        return aiomqtt.Client(
            login.host,
            login.port,
            username=login.username,
            password=login.password(),
            identifier=login.identifier,
            clean_session=login.clean_session,
            keepalive=login.keepalive_s,
            timeout=CONNECT_TIMEOUT_S,
            tls_context=login.tls,
            will=login.will,
        )

    async def _session(self, client: aiomqtt.Client) -> None:
        for topic in self.topics:
            await client.subscribe(topic, qos=1)
        await self.side.on_connected(client)
        self._heard_at = time.monotonic()
        self.connected = True
        # Subscribed first, then "online": peers now send what they held while we were away.
        await self.side.announce(client, online=True)
        self._set_state(ConnectionState.CONNECTED)
        try:
            async with asyncio.TaskGroup() as tasks:
                for name, job in self.side.session_tasks(client).items():
                    tasks.create_task(job, name=name)
                async for message in client.messages:
                    self._handling, self._heard_at = True, time.monotonic()
                    try:
                        await self.side.on_message(message)
                    finally:
                        self._handling, self._heard_at = False, time.monotonic()
        except asyncio.CancelledError:
            # A clean stop does not fire the last will: say we are going offline ourselves.
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await asyncio.wait_for(self.side.announce(client, online=False), LEAVE_TIMEOUT_S)
            raise

    def _set_state(self, state: ConnectionState, reason: str | None = None) -> None:
        if state == self.state:
            return
        reason = scrub(reason) if reason else reason
        self.state, self.since, self.last_error = state, self.clock.now(), reason
        if state == ConnectionState.CONNECTED:
            log.info("%s connected to broker %s:%d", self.who, self.login.host, self.login.port)
        else:
            log.warning("%s not connected to broker %s:%d (%s); retrying with backoff", self.who,
                        self.login.host, self.login.port, reason)
