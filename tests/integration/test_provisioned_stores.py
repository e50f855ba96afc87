"""Provisioned stores that never connected are listed (`never_connected`) by `/v1/stores` and
`retail-hub stores`; a store removed with `stores remove` is not. Real hub process and CLI."""

import asyncio
import json
import subprocess
import sys

from tests.integration.helpers import start
from tests.integration.procs import HubProc


def stores_cli(hub, *args):
    return subprocess.run([sys.executable, "-m", "hub", "stores", "--config",
                           str(hub.root / "hub.toml"), *args],
                          check=False, capture_output=True, text=True, timeout=60)


async def test_provisioned_stores_are_listed_as_never_connected_until_removed(tmp_path, http, procs):
    hub = start(procs, HubProc(tmp_path / "hub", ["S001", "S002"]))  # no agent ever connects
    await hub.ready(http)

    async def listed():
        return {s["store_id"]: s for s in (await hub.get(http, "/v1/stores"))["stores"]}

    found = await listed()
    assert set(found) == {"S001", "S002"}
    assert found["S001"]["never_connected"] is True and found["S001"]["online"] is False
    assert found["S001"]["last_seen"] is None

    added = await asyncio.to_thread(stores_cli, hub, "add", "S003")  # while the hub runs
    assert added.returncode == 0, added.stderr
    removed = await asyncio.to_thread(stores_cli, hub, "remove", "S002")
    assert removed.returncode == 0, removed.stderr
    assert set(await listed()) == {"S001", "S003"}

    table = await asyncio.to_thread(stores_cli, hub)
    assert table.returncode == 0
    assert "S001" in table.stdout and "never connected" in table.stdout
    assert "S002" not in table.stdout
    rows = json.loads((await asyncio.to_thread(stores_cli, hub, "--json")).stdout)
    assert [(r["store_id"], r["never_connected"]) for r in rows] == [("S001", True), ("S003", True)]
