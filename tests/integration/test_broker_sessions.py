"""Client ids and retained messages: one store's credentials cannot deafen the hub or another
store, nor read retained state it may not subscribe to, on either broker."""

import asyncio

import aiomqtt
import pytest

from protocol import codec
from tests.conftest import wait_for
from tests.integration.helpers import send_sale
from tests.integration.procs import HubProc

pytestmark = pytest.mark.integration


def connect(h: HubProc, store: str, identifier: str, *, clean: bool = True) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", h.broker_port, username=store, identifier=identifier,
                          password=h.passwords[store], clean_session=clean, timeout=5)


async def acked(c: aiomqtt.Client, store: str, timeout: float = 10) -> bool:
    """Send one sale on `c` (already subscribed to its ack topic): does the hub ack it?"""
    stream = await send_sale(c, store)

    async def ack() -> bool:
        async for m in c.messages:
            if (m.topic.value.endswith("/ack")
                    and codec.decode_ack(bytes(m.payload)).stream == stream):  # type: ignore[arg-type]
                return True
        return False

    try:
        return await asyncio.wait_for(ack(), timeout)
    except TimeoutError:
        return False


async def hub_hears(h: HubProc, store: str) -> bool:
    async with connect(h, store, f"edge-{store}") as c:
        await c.subscribe(f"retail/v1/stores/{store}/ack", qos=1)
        return await acked(c, store)


async def try_connect(h: HubProc, store: str, identifier: str, *, clean: bool) -> None:
    """Connect (if the broker lets us) and stay a moment, as an attacker would."""
    try:
        async with connect(h, store, identifier, clean=clean) as c:
            await c.subscribe(f"retail/v1/stores/{store}/ack", qos=1)
    except aiomqtt.MqttError:
        pass  # refused: what the embedded broker does


@pytest.mark.parametrize("clean", [True, False])
async def test_a_store_cannot_take_over_the_hubs_client_id(hub, clean):  # noqa: F811
    assert await hub_hears(hub, "S002")
    await try_connect(hub, "S001", "retail-hub", clean=clean)
    assert await hub_hears(hub, "S002"), "a store's login with the hub's client id deafened the hub"


async def test_a_store_cannot_take_over_another_stores_client_id(hub):  # noqa: F811
    async with connect(hub, "S002", "edge-S002", clean=False) as victim:
        await victim.subscribe("retail/v1/stores/S002/ack", qos=1)
        assert await acked(victim, "S002")
        for clean in (True, False):
            await try_connect(hub, "S001", "edge-S002", clean=clean)
        assert await acked(victim, "S002"), "S001's credentials took over S002's session"


async def test_a_store_reconnecting_takes_over_its_own_session_cleanly(hub):  # noqa: F811
    """A store whose old connection is still open (a half-dead link) connects again: the old
    connection is closed and the new one gets its acks."""
    old = connect(hub, "S002", "edge-S002", clean=False)
    await old.__aenter__()
    try:
        await old.subscribe("retail/v1/stores/S002/ack", qos=1)
        async with connect(hub, "S002", "edge-S002", clean=False) as new:
            await new.subscribe("retail/v1/stores/S002/ack", qos=1)
            assert await acked(new, "S002"), "the new connection of a taken-over session is deaf"

            async def old_closed() -> bool:
                try:
                    await old.publish("retail/v1/stores/S002/state", b"{}", qos=1, timeout=1)
                except aiomqtt.MqttError:
                    return True
                return False

            await wait_for(old_closed, 10, "the taken-over connection to be closed")
    finally:
        try:
            await old.__aexit__(None, None, None)
        except aiomqtt.MqttError:
            pass


async def test_retained_state_goes_only_to_subscribers_the_acl_allows(hub):  # noqa: F811
    # S002 leaves retained state; the hub has retained its own.
    async with connect(hub, "S002", "edge-S002") as s2:
        await s2.publish("retail/v1/stores/S002/state", b'{"online":true}', qos=1, retain=True)
    got: list[str] = []
    async with connect(hub, "S001", "edge-S001") as spy:
        async def read() -> None:
            async for m in spy.messages:
                got.append(m.topic.value)

        # Without subscribing, nothing may arrive; subscribed to everything it may read, only
        # the hub's state may.
        try:
            await asyncio.wait_for(read(), 1.5)
        except TimeoutError:
            pass
        unasked = list(got)
        for topic in ("retail/v1/hub/state", "retail/v1/stores/S001/ack", "retail/v1/stores/+/state",
                      "retail/v1/#"):
            try:
                await spy.subscribe(topic, qos=1)
            except aiomqtt.MqttError:
                pass
        try:
            await asyncio.wait_for(read(), 1.5)
        except TimeoutError:
            pass
    assert unasked == [], f"retained messages sent without a subscription: {unasked}"
    assert set(got) <= {"retail/v1/hub/state"}, f"S001 read retained state it may not: {got}"
    assert "retail/v1/hub/state" in got
