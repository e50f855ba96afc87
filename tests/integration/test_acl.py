"""A store's credentials cannot publish to or read another store's topics, on either broker."""

import asyncio
import datetime as dt

import aiomqtt
import pytest

from protocol import codec
from tests.integration.helpers import send_sale, start
from tests.integration.procs import HubProc

pytestmark = pytest.mark.integration


def client(hub: HubProc, store: str) -> aiomqtt.Client:
    """A store's client with the agent's client id (a store may use only its own)."""
    return aiomqtt.Client("127.0.0.1", hub.broker_port, username=store,
                          password=hub.passwords[store], identifier=f"edge-{store}", timeout=5)


async def received(c: aiomqtt.Client, timeout: float) -> list[str]:
    got: list[str] = []

    async def read() -> None:
        async for m in c.messages:
            got.append(f"{m.topic.value}:{m.payload!r}")

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        pass
    return got


async def forbidden_publish(hub: HubProc, n: int, topic: str, payload: bytes) -> None:
    """Publish as S001 where it may not. Mosquitto drops the client for it; amqtt drops the message."""
    try:
        async with client(hub, "S001") as c:
            await c.publish(topic, payload, qos=1)
    except aiomqtt.MqttError:
        pass


async def test_a_store_cannot_read_or_write_another_stores_topics(hub, http):
    async with client(hub, "S002") as victim, client(hub, "S003") as spy:
        await victim.subscribe("retail/v1/stores/S002/ack", qos=1)
        for topic in ("retail/v1/stores/S002/ack", "retail/v1/stores/S002/control",
                      "retail/v1/stores/+/ack", "retail/v1/#"):
            try:
                await spy.subscribe(topic, qos=1)
            except aiomqtt.MqttError:
                pass  # refused outright is fine too
        for n, (topic, payload) in enumerate([
            ("retail/v1/stores/S002/ack", b"forged-ack"),
            ("retail/v1/stores/S001/ack", b"self-ack"),
            ("retail/v1/stores/S002/events", b"forged-events"),
        ]):
            await forbidden_publish(hub, n, topic, payload)
        # The hub's own identity writes S002's ack when S002 sends a sale: the victim must see
        # that, and only that.
        await send_sale(victim, "S002")
        victim_got = await received(victim, 2)
        spy_got = await received(spy, 0.5)
    assert [m.split(":")[0] for m in victim_got] == ["retail/v1/stores/S002/ack"], victim_got
    # Every store may read whether the hub is online; nothing of another store's.
    assert [m for m in spy_got if not m.startswith("retail/v1/hub/state:")] == [], \
        "S003 read another store's traffic"
    quarantine = await hub.get(http, "/v1/quarantine")
    assert quarantine["count"] == 0, "a forged batch for S002 reached the hub"


async def test_stores_add_rotate_remove_take_effect_without_a_hub_restart(tmp_path, http, procs):
    """The embedded broker re-reads its users file: a store provisioned while the hub runs
    connects at once; a rotated or removed password no longer logs in."""
    import subprocess
    import sys

    from tests.integration.helpers import assert_delivered
    from tests.integration.procs import AgentProc
    from tests.integration.tills import Till

    hub = start(procs, HubProc(tmp_path / "hub", ["S001"]))
    await hub.ready(http)

    def stores(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "hub", "stores", "--config",
                               str(hub.root / "hub.toml"), *args],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    stores("add", "S042", "--password-file", str(tmp_path / "S042.pw"))
    hub.passwords["S042"] = (tmp_path / "S042.pw").read_text().strip()
    agent = start(procs, AgentProc(tmp_path / "S042", "S042", hub))
    await agent.ready(http)
    till = Till(agent.url)
    await till.sell_many(http, 5)
    await assert_delivered(http, hub, "S042", till)

    async def logs_in(password: str) -> bool:
        try:
            async with aiomqtt.Client("127.0.0.1", hub.broker_port, username="S042",
                                      password=password, identifier="S042", timeout=5):
                return True
        except aiomqtt.MqttError:
            return False

    old = hub.passwords["S042"]
    new = json_field(stores("--json", "rotate", "S042"), "password")
    assert not await logs_in(old) and await logs_in(new)
    stores("remove", "S042")
    assert not await logs_in(new)


def json_field(text: str, key: str) -> str:
    import json

    return str(json.loads(text)[key])


async def test_a_store_reads_only_its_own_catalog_and_acks_only_as_itself(hub, http):
    """Head office's catalog for S002 reaches S002 alone; no store may send a catalog, and one
    store's forged ack does not mark another's version applied."""
    from protocol.messages import CatalogAck, StoreState
    from tests.conftest import wait_for
    from tests.integration.catalog import HeadOffice, change

    office = HeadOffice(http, hub)
    await office.items(["SKU-1"])
    await office.book("base", 1, stores="all")
    await office.prices("base", [change("SKU-1", "1.00", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))])
    # A group makes S002 known to head office on either broker (Mosquitto provisions nothing).
    await office.call("PUT", "/v1/store-groups/victims", {"stores": ["S002"]})
    made = await office.publish(groups=["victims"])
    for topic, payload in [
        ("retail/v1/stores/S002/catalog", b"forged-catalog"),
        ("retail/v1/stores/S001/catalog", b"own-catalog"),
        ("retail/v1/stores/S002/catalog-ack",
         codec.encode_catalog(CatalogAck("S002", made["version"], "applied"))),
    ]:
        await forbidden_publish(hub, 0, topic, payload)
    async with client(hub, "S002") as victim, client(hub, "S003") as spy:
        await victim.subscribe("retail/v1/stores/S002/catalog", qos=1)
        for topic in ("retail/v1/stores/S002/catalog", "retail/v1/stores/+/catalog"):
            try:
                await spy.subscribe(topic, qos=1)
            except aiomqtt.MqttError:
                pass
        # S002 says it is online and takes catalogs: head office sends it its version.
        await victim.publish("retail/v1/stores/S002/state", codec.encode_state(
            StoreState("S002", True, at=dt.datetime.now(dt.UTC), catalog_version=0)),
            qos=1, retain=True)
        victim_got = await received(victim, 3)
        spy_got = await received(spy, 0.5)
    assert victim_got and all(m.startswith("retail/v1/stores/S002/catalog:") for m in victim_got)
    assert [m for m in spy_got if not m.startswith("retail/v1/hub/state:")] == []

    async def delivered() -> bool:
        return (await office.publication(made["id"]))["stores"][0]["state"] == "delivered"

    await wait_for(delivered, 10, "S002's version handed over and not taken for applied")
