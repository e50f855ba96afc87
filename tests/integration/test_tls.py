"""mqtts:// between stores and the broker, with a CA made in the test: the embedded broker and
Mosquitto both serve TLS; agents verify the broker; client certificates are demanded when set."""

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import wait_for
from tests.integration.helpers import assert_delivered, start
from tests.integration.procs import AgentProc, HubProc, Mosquitto
from tests.integration.tills import Till
from tests.integration.tls import TestCa

pytestmark = pytest.mark.integration


async def status(http: aiohttp.ClientSession, agent: AgentProc) -> dict[str, Any]:
    async with http.get(agent.url + "/v1/status") as r:
        return dict(await r.json())


async def refused(http: aiohttp.ClientSession, agent: AgentProc, why: str) -> None:
    """The agent keeps its sales and says why the broker will not have it."""
    async def said() -> bool:
        conn = (await status(http, agent))["connection"]
        return conn["state"] == "disconnected" and why in (conn["last_error"] or "-")

    await wait_for(said, 30, f"{agent.store_id} to report {why!r}")
    assert (await agent.health(http) or {})["outbox"]["backlog"] >= 1


async def test_embedded_broker_serves_mqtts_and_demands_client_certificates(tmp_path: Path, http,
                                                                             procs):
    ca = TestCa(tmp_path / "pki")
    stores = ["S001", "S002", "S003"]
    hub = start(procs, HubProc(tmp_path / "hub", stores, tls=ca, require_client_cert=True))
    await hub.ready(http)
    assert hub.broker_url.startswith("mqtts://")
    cert, key = ca.client("S001")
    good = start(procs, AgentProc(tmp_path / "S001", "S001", hub, mqtt_extra=(
        f'ca_file = "{ca.ca_file}"\ncert_file = "{cert}"\nkey_file = "{key}"\n')))
    # Right CA, no client certificate: the broker ends the handshake.
    no_cert = start(procs, AgentProc(tmp_path / "S002", "S002", hub))
    # A broker certificate from a CA the agent does not trust: the agent refuses the broker.
    stranger = TestCa(tmp_path / "other-pki")
    wrong_ca = start(procs, AgentProc(tmp_path / "S003", "S003", hub,
                                      mqtt_extra=f'ca_file = "{stranger.ca_file}"\n'))
    tills = {}
    for agent in (good, no_cert, wrong_ca):
        await agent.ready(http)
        tills[agent.store_id] = Till(agent.url)
        await tills[agent.store_id].sell_many(http, 20)
    await assert_delivered(http, hub, "S001", tills["S001"])
    await refused(http, wrong_ca, "certificate verify failed")
    # The broker drops the handshake; paho reports only a timeout (after 10 s), not the alert.
    await refused(http, no_cert, "")
    stores_seen = {s["store_id"]: s for s in (await hub.get(http, "/v1/stores"))["stores"]}
    assert stores_seen.get("S002", {}).get("events", 0) == 0
    assert stores_seen.get("S003", {}).get("events", 0) == 0


@pytest.mark.skipif(not Mosquitto.available(), reason="mosquitto is not installed")
async def test_mosquitto_over_mqtts_for_hub_and_stores(tmp_path: Path, http, procs):
    """The shipped retail-hub-tls.conf listener; the hub too connects with mqtts:// and a
    client certificate."""
    ca = TestCa(tmp_path / "pki")
    hub = HubProc(tmp_path / "hub", ["S001"], mosquitto_root=tmp_path / "mosquitto", tls=ca,
                  require_client_cert=True)
    assert hub.mosquitto is not None and hub.broker_url.startswith("mqtts://")
    start(procs, hub.mosquitto)
    start(procs, hub)
    await hub.ready(http)
    cert, key = ca.client("S001")
    agent = start(procs, AgentProc(tmp_path / "S001", "S001", hub, mqtt_extra=(
        f'ca_file = "{ca.ca_file}"\ncert_file = "{cert}"\nkey_file = "{key}"\n')))
    await agent.ready(http)
    till = Till(agent.url)
    await till.sell_many(http, 30)
    await assert_delivered(http, hub, "S001", till)
