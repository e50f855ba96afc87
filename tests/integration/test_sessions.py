"""MQTT sessions under trouble: a session taken over or frozen (connected but deaf), a stop while
clients stay connected, the hub's own retained messages coming back to it."""

import signal
import time
from pathlib import Path

import aiomqtt
import pytest

from tests.conftest import wait_for
from tests.integration.deafproxy import DeafProxy
from tests.integration.helpers import hub_and_agents, start
from tests.integration.procs import AgentProc, HubProc, Mosquitto
from tests.integration.tills import Till

pytestmark = pytest.mark.integration
needs_mosquitto = pytest.mark.skipif(not Mosquitto.available(),
                                     reason="mosquitto is not installed (apt-get install mosquitto)")

# Clean stops take well under a second (0.05-0.4 s measured); the bound that must hold whatever
# the peers do is runtime.service.GRACE_S (10 s), after which the process exits 0 regardless.
STOP_DEADLINE_S = 15.0


async def _exits_within(proc, deadline: float) -> int:  # type: ignore[no-untyped-def]
    assert proc.proc is not None
    began = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)

    async def exited() -> bool:
        return proc.proc.poll() is not None

    await wait_for(exited, deadline, f"{proc.argv[2]} to exit after SIGTERM\n{proc.tail()}")
    print(f"{proc.argv[2]} stopped in {time.monotonic() - began:.2f} s")
    return int(proc.proc.returncode)


@pytest.mark.timeout(300)
async def test_sigterm_stops_the_hub_promptly_while_agents_stay_connected(tmp_path: Path, http,
                                                                         procs):
    stores = ["S001", "S002", "S003"]
    for trial in range(4):
        hub, agents = await hub_and_agents(tmp_path / f"t{trial}", http, procs, stores)
        assert await _exits_within(hub, STOP_DEADLINE_S) == 0, hub.tail()
        for agent in agents:
            assert await _exits_within(agent, STOP_DEADLINE_S) == 0, agent.tail()



@pytest.mark.timeout(120)
async def test_sigterm_stops_an_agent_promptly_while_its_broker_is_frozen(tmp_path: Path, http,
                                                                          procs):
    """The hub (and its embedded broker) is frozen with SIGSTOP: the agent's connection is up but
    nothing answers its goodbye. It still stops within the deadline, exit 0."""
    for trial in range(2):
        hub, (agent,) = await hub_and_agents(tmp_path / f"t{trial}", http, procs, ["S001"])
        assert hub.proc is not None
        await wait_for(lambda: _connected(http, agent), 30, "agent connected")  # noqa: B023
        hub.proc.send_signal(signal.SIGSTOP)
        try:
            assert await _exits_within(agent, STOP_DEADLINE_S) == 0, agent.tail()
        finally:
            hub.proc.send_signal(signal.SIGCONT)


async def _connected(http, agent: AgentProc) -> bool:  # type: ignore[no-untyped-def]
    body = await agent.health(http)
    return body is not None and body["mqtt"]["state"] == "connected"


async def test_status_does_not_claim_head_office_is_online_while_the_agent_is_offline(
        tmp_path: Path, http, procs):
    hub, (agent,) = await hub_and_agents(tmp_path, http, procs, ["S001"])

    async def head_office() -> object:
        async with http.get(agent.url + "/v1/status") as r:
            connection = (await r.json())["connection"]
        return connection["state"], connection["head_office_online"]

    await wait_for(lambda: _is(head_office, ("connected", True)), 30, "head office online")
    hub.kill()  # the broker goes with it
    await wait_for(lambda: _is(head_office, ("disconnected", None)), 30,
                   "head office unknown while offline")


async def _is(read, expected: object) -> bool:  # type: ignore[no-untyped-def]
    return bool(await read() == expected)


@needs_mosquitto
async def test_the_hub_ignores_its_own_messages_that_its_session_hands_back(tmp_path: Path, http,
                                                                            procs):
    """While the hub was stopped, a client logged in with its client id and subscribed to
    everything; the broker keeps that subscription in the hub's session. The hub then receives
    its own state (and acks): it must ignore them, never quarantine them."""
    hub = HubProc(tmp_path / "hub", ["S001"], mosquitto_root=tmp_path / "mosquitto")
    assert hub.mosquitto is not None
    start(procs, hub.mosquitto)
    start(procs, hub)
    await hub.ready(http)
    assert hub.stop() == 0
    async with aiomqtt.Client("127.0.0.1", hub.mosquitto.port, username="hub",
                              password=hub.hub_password, identifier="retail-hub",
                              clean_session=False) as intruder:
        await intruder.subscribe("retail/v1/#", qos=1)
    hub.start()
    await hub.ready(http)
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    await agent.ready(http)
    await Till(agent.url).sell_many(http, 2)
    await wait_for(lambda: _applied(http, hub, 2), 30, "sales applied")

    async def own_ignored() -> int:
        return int((await _healthz(http, hub.url))[1]["counters"].get("own_ignored", 0))

    quarantined = (await hub.get(http, "/v1/quarantine"))["count"]
    assert quarantined == 0, (await hub.get(http, "/v1/quarantine"))["recent"]
    assert await own_ignored() >= 2  # its state and the acks

async def _store(http, hub: HubProc, store_id: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    stores = {s["store_id"]: s for s in (await hub.get(http, "/v1/stores"))["stores"]}
    return dict(stores.get(store_id, {}))


async def _healthz(http, url: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def, type-arg]
    async with http.get(url + "/healthz") as r:
        return r.status, dict(await r.json())


@pytest.mark.timeout(180)
async def test_a_hub_whose_session_is_taken_over_notices_it_is_deaf_and_reconnects(
        tmp_path: Path, http, procs):
    """Another client logs in with the hub's client id and stays: on the embedded broker the
    hub's connection sometimes stays open with nothing reaching it any more (deaf), sometimes is
    closed (the hub takes its session back). Either way the sales made meanwhile are applied.
    The intruder subscribed to everything: the hub's own retained state then comes back to it,
    and must be ignored, not quarantined."""
    hub = start(procs, HubProc(tmp_path / "hub", ["S001"],
                               ingest="probe_interval_s = 0.5\ndeaf_after_s = 3\n"))
    await hub.ready(http)
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
    await agent.ready(http)
    till = Till(agent.url)
    await till.sell_many(http, 3)
    await wait_for(lambda: _applied(http, hub, 3), 30, "first sales applied")
    async with aiomqtt.Client("127.0.0.1", hub.broker_port, username="hub",
                              password=hub.hub_password, identifier="retail-hub",
                              clean_session=False, keepalive=60) as intruder:
        await intruder.subscribe("retail/v1/#", qos=1)
        await till.sell_many(http, 3)
        await wait_for(lambda: _applied(http, hub, 6), 30, "sales made while deaf applied")
    await wait_for(lambda: _healthz_ok(http, hub.url), 30, "hub /healthz ok again")
    assert (await hub.get(http, "/v1/quarantine"))["count"] == 0


@needs_mosquitto
@pytest.mark.timeout(180)
async def test_a_deaf_hub_says_so_on_healthz_reconnects_and_recovers(tmp_path: Path, http, procs):
    """Between the hub and the broker, a link that drops everything published to the hub:
    connected, pings answered, nothing heard. /healthz says so (503), the hub reconnects (and
    counts it), and once it hears again the sales that waited are applied."""
    hub = HubProc(tmp_path / "hub", ["S001"], mosquitto_root=tmp_path / "mosquitto",
                  ingest="probe_interval_s = 0.5\ndeaf_after_s = 3\n")
    assert hub.mosquitto is not None
    start(procs, hub.mosquitto)
    proxy = DeafProxy(hub.mosquitto.port)
    await proxy.start()
    toml = hub.root / "hub.toml"
    toml.write_text(toml.read_text().replace(hub.mosquitto.url,
                                             f"mqtt://127.0.0.1:{proxy.port}"))
    try:
        start(procs, hub)
        await hub.ready(http)
        agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub))
        await agent.ready(http)
        till = Till(agent.url)
        await till.sell_many(http, 3)
        await wait_for(lambda: _applied(http, hub, 3), 30, "first sales applied")
        proxy.deaf = True
        await till.sell_many(http, 3)
        body = await wait_for(lambda: _healthz_degraded(http, hub.url), 30, "hub /healthz: deaf")
        assert "heard nothing" in body["reason"], body
        await wait_for(lambda: _deaf_reconnects(http, hub.url, "hub", 2), 30,
                       "hub to reconnect while deaf")
        assert int((await _store(http, hub, "S001"))["applied_seq"]) == 3
        proxy.deaf = False
        await wait_for(lambda: _applied(http, hub, 6), 30, "sales made while deaf applied")
        await wait_for(lambda: _healthz_ok(http, hub.url), 30, "hub /healthz ok again")
    finally:
        await proxy.close()


@pytest.mark.timeout(180)
async def test_a_deaf_agent_says_so_on_healthz_reconnects_and_recovers(tmp_path: Path, http,
                                                                       procs):
    """Between the agent and the broker, a link that drops everything published to the agent
    (its acks): the agent resends, gets no ack while the hub says it is online, says so on
    /healthz, reconnects (and counts it), and once it hears again every sale is acknowledged."""
    hub = start(procs, HubProc(tmp_path / "hub", ["S001"]))
    await hub.ready(http)
    proxy = DeafProxy(hub.broker_port)
    await proxy.start()
    agent = AgentProc(tmp_path / "S001", "S001", hub, ack_timeout_s=1.0)
    toml = agent.root / "agent.toml"
    toml.write_text(toml.read_text().replace(hub.broker_url, f"mqtt://127.0.0.1:{proxy.port}"))
    try:
        start(procs, agent)
        await agent.ready(http)
        till = Till(agent.url)
        await till.sell_many(http, 3)
        await wait_for(lambda: _acked(http, agent, 3), 30, "first sales acknowledged")
        proxy.deaf = True
        await till.sell_many(http, 3)
        body = await wait_for(lambda: _healthz_degraded(http, agent.url), 30,
                              "agent /healthz: deaf")
        assert "no ack from head office" in body["reason"], body
        await wait_for(lambda: _deaf_reconnects(http, agent.url, "edge", 2), 30,
                       "agent to reconnect while deaf")
        proxy.deaf = False
        await wait_for(lambda: _acked(http, agent, 6), 30, "sales made while deaf acknowledged")
        await wait_for(lambda: _healthz_ok(http, agent.url), 30, "agent /healthz ok again")
    finally:
        await proxy.close()


async def _acked(http, agent: AgentProc, n: int) -> bool:  # type: ignore[no-untyped-def]
    body = await agent.health(http)
    return body is not None and int(body["outbox"]["acked_through"]) >= n


async def _deaf_reconnects(http, url: str, side: str, n: int) -> bool:  # type: ignore[no-untyped-def]
    return _sample(await _metrics(http, url), f"{side}_mqtt_deaf_reconnects_total") >= n


async def _applied(http, hub: HubProc, n: int) -> bool:  # type: ignore[no-untyped-def]
    return int((await _store(http, hub, "S001")).get("applied_seq", 0)) >= n


async def _healthz_degraded(http, url: str) -> dict | None:  # type: ignore[no-untyped-def, type-arg]
    status, body = await _healthz(http, url)
    return body if status == 503 else None


async def _healthz_ok(http, url: str) -> bool:  # type: ignore[no-untyped-def]
    return (await _healthz(http, url))[0] == 200


async def _metrics(http, url: str) -> str:  # type: ignore[no-untyped-def]
    async with http.get(url + "/metrics") as r:
        return await r.text()


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")
