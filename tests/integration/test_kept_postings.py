"""A hub without an ERP connector keeps its postings (`kept`, not `pending` forever), and sends
them once a connector is configured and the hub restarted. Real hub and agent processes."""

import asyncio
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_for
from tests.integration.helpers import erp_section, hub_and_agents
from tests.integration.tills import Till


def cli(hub, *args):
    return subprocess.run([sys.executable, "-m", "hub", *args, "--config", str(hub.root / "hub.toml")],
                          check=False, capture_output=True, text=True, timeout=60)


async def test_postings_are_kept_without_a_connector_and_sent_once_one_is_configured(
        tmp_path, http, procs, erp):  # noqa: F811
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"])  # connector "none"
    await Till(agent.url).sell_many(http, 3)

    async def kept():
        body = await hub.get(http, "/v1/postings")
        return body if body["counts"]["kept"] == 3 else None

    body = await wait_for(kept, 30, "3 postings kept")
    assert body["counts"]["pending"] == 0
    assert {p["state"] for p in body["postings"]} == {"kept"}
    async with http.get(hub.url + "/metrics") as r:
        families = {f.name: f for f in text_string_to_metric_families(await r.text())}
    by_state = {s.labels["state"]: s.value for s in families["hub_postings"].samples}
    assert by_state["kept"] == 3 and by_state["pending"] == 0
    listed = await asyncio.to_thread(cli, hub, "postings", "list", "--state", "kept")
    assert listed.returncode == 0 and listed.stdout.count(" kept ") == 3, listed.stdout

    hub.stop()
    config = hub.root / "hub.toml"
    config.write_text(config.read_text() + erp_section(erp.url))
    hub.start()
    await hub.ready(http)

    async def posted():
        return (await hub.get(http, "/v1/postings"))["counts"]["posted"] == 3

    await wait_for(posted, 60, "the kept postings to be posted once a connector exists")
    assert sorted(erp.commits.values()) == [1, 1, 1]
