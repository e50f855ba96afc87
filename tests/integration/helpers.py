"""What many whole-system tests share: start processes into the `procs` registry, a hub with
agents, the exactly-once check on delivered sales, a store's raw sale over MQTT, an ERP section.
Shared fixtures are in conftest.py."""

import itertools
import json
from collections import Counter
from pathlib import Path

import aiohttp
import aiomqtt

from protocol import codec
from tests.conftest import wait_for
from tests.hub.helpers import batch, sale_envelope
from tests.integration.procs import AgentProc, HubProc
from tests.integration.tills import Till, expected_transactions, hub_transactions

_probes = itertools.count(1)


def start(procs: list, proc):  # type: ignore[no-untyped-def]
    proc.start()
    procs.append(proc)
    return proc


async def hub_and_agents(tmp_path: Path, http: aiohttp.ClientSession, procs: list,
                         stores: list[str], agents: list[str] | None = None, extra: str = "",
                         storage: str | None = None):
    """A running hub (embedded broker) that knows `stores`, and running agents for `agents`;
    `extra`: more TOML sections for the hub (HubProc); `storage`: a PostgreSQL URL for its
    state (the `storage` fixture), or None for SQLite."""
    hub = start(procs, HubProc(tmp_path / "hub", stores, extra=extra, storage=storage))
    await hub.ready(http)
    names = stores if agents is None else agents
    running = [start(procs, AgentProc(tmp_path / s, s, hub)) for s in names]
    for agent in running:
        await agent.ready(http)
    return hub, running


async def assert_delivered(http: aiohttp.ClientSession, hub: HubProc, store_id: str,
                           *tills: Till, timeout: float = 60) -> None:
    """The hub's log holds exactly the accepted sales, once each, and inventory matches them."""
    expected = expected_transactions(*tills)

    async def caught_up() -> bool:
        stores = {s["store_id"]: s for s in (await hub.get(http, "/v1/stores"))["stores"]}
        return stores.get(store_id, {}).get("events", 0) >= len(expected)

    await wait_for(caught_up, timeout, f"hub to apply {len(expected)} events of {store_id}")
    got = hub_transactions(hub.database, store_id)
    duplicates = [k for k, n in Counter(got).items() if n > 1]
    assert not duplicates, f"applied more than once: {duplicates[:5]}"
    assert sorted(got) == expected, "hub log differs from the sales the tills got a 2xx for"
    stock: Counter[str] = Counter()
    for t in tills:
        stock.update(t.expected_stock())
    for sku, qty in stock.items():
        body = await hub.get(http, f"/v1/inventory/{sku}")
        per_store = {s["store_id"]: s["on_hand"] for s in body["stores"]}
        assert per_store[store_id] == qty, f"{sku} on hand at {store_id}"


async def send_sale(c: aiomqtt.Client, store: str) -> str:
    """Publish one sale as `store` on a new stream; the hub acks it on the store's ack topic."""
    stream = f"probe-{store}-{next(_probes)}"
    await c.publish(f"retail/v1/stores/{store}/events",
                    codec.encode(batch([sale_envelope(1, store=store, stream=stream, txn=stream)])),
                    qos=1)
    return stream


def erp_section(url: str, rate: float = 50, **more: object) -> str:
    """The hub's [erp] table for an http-json ERP at `url`, retrying fast; `more`: other keys."""
    options = "".join(f"{k} = {json.dumps(v)}\n" for k, v in more.items())
    return (f'[erp]\nconnector = "http-json"\nurl = "{url}"\nrate_limit_per_s = {rate}\n'
            f"retry_initial_s = 0.1\nretry_max_s = 0.5\n{options}")
