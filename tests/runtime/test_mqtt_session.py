"""runtime.mqtt_session against a real broker (amqtt in this process): online once subscribed,
offline on a stop, the will when the link dies, reconnects after a broker restart, and a deaf
session made again at once."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiomqtt
import pytest
from amqtt.broker import Broker

from runtime.clock import SYSTEM
from runtime.hearing import Hearing
from runtime.mqtt_session import ConnectionState, Login, MqttSession
from runtime.net import free_port
from tests.conftest import wait_for
from tests.integration.deafproxy import DeafProxy

STATE, INBOX = "t/side/state", "t/side/inbox"


class LocalBroker:
    """amqtt on a port of its own that stays the same across restarts."""

    def __init__(self) -> None:
        self.port = free_port()
        self._broker: Broker | None = None

    async def start(self) -> None:
        broker = Broker({
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {}},
        })
        await broker.start()
        self._broker = broker

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await asyncio.wait_for(broker.shutdown(), 10)


@pytest.fixture
async def broker() -> AsyncIterator[LocalBroker]:
    b = LocalBroker()
    await b.start()
    yield b
    await b.stop()


class Side:
    """A side that says "online"/"offline" on STATE, hears INBOX, and can be made deaf-aware:
    with `probe` it sends itself a message now and then and is deaf when none comes back."""

    def __init__(self, probe: bool = False) -> None:
        self.hearing = Hearing(SYSTEM, "test side")
        self.session: MqttSession | None = None
        self.probe = probe
        self.sessions = 0
        self.ended = 0
        self.heard: list[bytes] = []

    async def on_connected(self, client: aiomqtt.Client) -> None:
        self.sessions += 1

    async def announce(self, client: aiomqtt.Client, *, online: bool) -> None:
        await client.publish(STATE, b"online" if online else b"offline", qos=1, retain=True)

    def session_tasks(self, client: aiomqtt.Client) -> dict[str, Coroutine[Any, Any, None]]:
        return {"probe": self._probe(client)} if self.probe else {}

    async def on_message(self, message: aiomqtt.Message) -> None:
        self.hearing.heard()
        self.heard.append(bytes(message.payload))

    def on_disconnected(self) -> None:
        self.ended += 1

    async def _probe(self, client: aiomqtt.Client) -> None:
        assert self.session is not None
        while True:
            await client.publish(INBOX, b"probe", qos=1)
            await asyncio.sleep(0.1)
            if self.session.quiet_s() > 1.0:
                raise self.hearing.went_deaf("no probe came back")


def session_for(side: Side, port: int) -> MqttSession:
    will = aiomqtt.Will(STATE, b"died", qos=1, retain=True)
    login = Login("127.0.0.1", port, username=None, password=lambda: None,
                  identifier=f"test-side-{uuid.uuid4().hex[:8]}", keepalive_s=10, tls=None,
                  will=will)
    side.session = MqttSession(side, login, [INBOX], hearing=side.hearing, clock=SYSTEM,
                               retry_initial_s=0.05, retry_max_s=0.2)
    return side.session


@contextlib.asynccontextmanager
async def running(session: MqttSession) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(session.run())
    try:
        yield task
    finally:
        await stopped(task)


async def stopped(task: asyncio.Task[None]) -> None:
    """Cancel a session's task as a SIGTERM would, and wait until it has ended."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def retained_state(port: int) -> bytes:
    """What STATE holds now, as a newcomer reads it."""
    async with aiomqtt.Client("127.0.0.1", port, timeout=5) as c:
        await c.subscribe(STATE, qos=1)
        async with asyncio.timeout(5):
            async for m in c.messages:
                return bytes(m.payload)
    raise AssertionError("no retained state")


async def test_online_once_subscribed_and_offline_on_a_clean_stop(broker: LocalBroker) -> None:
    side = Side()
    session = session_for(side, broker.port)
    assert (session.state, session.connected) == (ConnectionState.STARTING, False)
    async with aiomqtt.Client("127.0.0.1", broker.port, timeout=5) as watcher:
        await watcher.subscribe(STATE, qos=1)
        async with running(session) as task:
            async for m in watcher.messages:
                if m.payload == b"online":
                    break
            # "online" is said only once subscribed: what a peer sends now reaches the side.
            await watcher.publish(INBOX, b"hello", qos=1)
            await wait_for(lambda: _true(side.heard == [b"hello"]), 10, "the side to hear")
            assert session.state == ConnectionState.CONNECTED and session.connected
            assert session.disconnected_at is None and session.last_error is None
            await stopped(task)
        async with asyncio.timeout(5):
            async for m in watcher.messages:
                assert m.payload == b"offline"  # said by the session, not the will
                break
    assert await retained_state(broker.port) == b"offline"


async def test_the_will_says_offline_when_the_link_dies(broker: LocalBroker) -> None:
    proxy = DeafProxy(broker.port)
    await proxy.start()
    side = Side()
    session = session_for(side, proxy.port)
    async with running(session):
        await wait_for(lambda: _true(session.state == ConnectionState.CONNECTED), 10, "connected")
        await proxy.close()  # the link drops: no goodbye reaches the broker
        await wait_for(lambda: _true(session.state == ConnectionState.DISCONNECTED), 30,
                       "the session to notice")
        assert not session.connected and session.disconnected_at is not None
        assert session.last_error and side.ended >= 1
        assert await retained_state(broker.port) == b"died"


async def test_a_session_comes_back_after_the_broker_restarts(broker: LocalBroker) -> None:
    side = Side()
    session = session_for(side, broker.port)
    async with running(session):
        await wait_for(lambda: _true(session.connected), 10, "connected")
        await broker.stop()
        await wait_for(lambda: _true(session.state == ConnectionState.DISCONNECTED), 30,
                       "disconnected")
        lost_at, down_since = session.disconnected_at, session.since
        assert lost_at is not None and not session.connected and session.last_error
        tries = session.attempts
        await wait_for(lambda: _true(session.attempts > tries + 2), 10, "retries while down")
        # One state change, however many tries.
        assert session.state == ConnectionState.DISCONNECTED and session.since == down_since
        await broker.start()  # an empty broker: its retained state is gone
        await wait_for(lambda: _true(session.state == ConnectionState.CONNECTED), 10,
                       "connected again")
        assert side.sessions == 2 and session.connected and session.disconnected_at == lost_at
        assert await retained_state(broker.port) == b"online"  # said again


async def test_a_refused_first_connect_is_a_disconnected_state_not_a_lost_session() -> None:
    side = Side()
    session = session_for(side, free_port())  # nothing listens there
    async with running(session):
        await wait_for(lambda: _true(session.state == ConnectionState.DISCONNECTED), 10,
                       "refused")
        assert session.last_error and session.disconnected_at is None and not session.connected
        assert side.sessions == 0


async def test_a_deaf_session_is_made_again_at_once_and_recovers(broker: LocalBroker) -> None:
    proxy = DeafProxy(broker.port)
    await proxy.start()
    side = Side(probe=True)
    session = session_for(side, proxy.port)
    try:
        async with running(session):
            await wait_for(lambda: _true(side.heard), 10, "its own probe")
            since = session.since
            proxy.deaf = True
            await wait_for(lambda: _true(side.hearing.reconnects >= 2), 20,
                           "reconnects while deaf")
            assert side.hearing.deaf_since is not None and side.sessions >= 2
            # The link as an operator sees it did not change: connected since the first session.
            assert session.state == ConnectionState.CONNECTED and session.since == since
            assert session.disconnected_at is not None
            proxy.deaf = False
            await wait_for(lambda: _true(side.hearing.deaf_since is None), 20, "hearing again")
            assert session.connected
    finally:
        await proxy.close()


async def test_a_side_error_it_survives_reconnects_and_any_other_stops_the_session(
        broker: LocalBroker) -> None:
    class Failing(Side):
        error: Exception = OSError("disk full")

        async def on_connected(self, client: aiomqtt.Client) -> None:
            await super().on_connected(client)
            if self.sessions == 1:
                raise self.error

    side = Failing()
    session = session_for(side, broker.port)
    session.survives = (OSError,)
    async with running(session):
        await wait_for(lambda: _true(side.sessions == 2 and session.connected), 10,
                       "a second session")
        assert session.state == ConnectionState.CONNECTED and session.last_error is None
    other = Failing()
    other.error = ValueError("a bug")
    with pytest.raises(ValueError, match="a bug"):
        await asyncio.wait_for(session_for(other, broker.port).run(), 10)


async def _true(value: object) -> bool:
    return bool(value)
