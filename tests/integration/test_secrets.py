"""Secrets never appear in logs (even at DEBUG), status pages, dashboards, stored ERP answers or
error bodies: the hub and the agents run with every kind of secret, then everything they show
or write is searched for them."""

import subprocess
import sys
from pathlib import Path

import pytest

from hub.broker.credentials import new_password, write_secret
from tests.conftest import wait_for
from tests.erp_server import FakeErp
from tests.integration.helpers import erp_section, start
from tests.integration.procs import AgentProc, HubProc
from tests.integration.tills import sale

pytestmark = pytest.mark.integration


def debug(config: Path) -> None:
    config.write_text('log_level = "DEBUG"\n' + config.read_text())


async def test_no_secret_leaks_anywhere(tmp_path: Path, http, procs):
    erp = await FakeErp().start()
    erp.reject_skus, erp.echo_auth = {"SKU-2"}, True
    try:
        erp_token = new_password()
        write_secret(tmp_path / "erp-token", erp_token)
        hub = HubProc(tmp_path / "hub", ["S001", "S002"],
                      extra=erp_section(erp.url, token_file=str(tmp_path / "erp-token")))
        debug(hub.root / "hub.toml")
        start(procs, hub)
        await hub.ready(http)
        capture_token = new_password()
        good = AgentProc(tmp_path / "S001", "S001", hub)
        write_secret(good.root / "till-token", capture_token)
        text = (good.root / "agent.toml").read_text()
        (good.root / "agent.toml").write_text(text.replace(
            "[api]\n", '[api]\ntoken_file = "till-token"\n'))
        debug(good.root / "agent.toml")
        wrong_password = new_password()
        bad = AgentProc(tmp_path / "S002", "S002", hub)
        write_secret(bad.root / "mqtt-password", wrong_password)  # not what the broker has
        debug(bad.root / "agent.toml")
        for agent in (start(procs, good), start(procs, bad)):
            await agent.ready(http)
        secrets = {"admin token": hub.admin_token, "ERP token": erp_token,
                   "till token": capture_token, "S001 password": hub.passwords["S001"],
                   "S002 password": hub.passwords["S002"], "S002 wrong password": wrong_password,
                   "hub broker password": hub.hub_password}
        assert all(len(s) >= 16 for s in secrets.values())

        seen: list[str] = []

        async def get(url: str, **headers: str) -> None:
            async with http.get(url, headers=headers) as r:
                seen.append(await r.text())

        async def post(url: str, **kw) -> None:  # type: ignore[no-untyped-def]
            async with http.post(url, **kw) as r:
                seen.append(await r.text())

        till = {"Authorization": f"Bearer {capture_token}"}
        for n in range(1, 9):  # SKU-2 sales are refused by the ERP, which quotes the token
            await post(good.url + "/v1/sales", json=sale("R1", n), headers=till)
        await post(good.url + "/v1/sales", json=sale("R1", 99),
                   headers={"Authorization": "Bearer not-the-token-at-all"})
        await post(good.url + "/v1/sales", json=sale("R1", 98),
                   headers={"Authorization": f"Bearer {capture_token}x"})
        await post(good.url + "/v1/sales", data=b'{"password": "' + capture_token.encode() + b'"',
                   headers=till)

        async def dead_letters() -> bool:
            async with http.get(hub.url + "/v1/postings", params={"state": "dead"}) as r:
                return len((await r.json())["postings"]) >= 2

        await wait_for(dead_letters, 30, "the ERP's refusals")
        async with http.get(hub.url + "/v1/postings", params={"state": "dead"}) as r:
            dead = (await r.json())["postings"]
        for p in dead:
            await get(f"{hub.url}/v1/postings/{p['posting_id']}")
        assert any("[secret]" in s for s in seen), "the ERP's echo of the token was not scrubbed"
        await post(f"{hub.url}/v1/postings/{dead[0]['posting_id']}/retry",
                   headers={"Authorization": f"Bearer {hub.admin_token}-wrong"})
        await post(f"{hub.url}/v1/postings/{dead[0]['posting_id']}/retry",
                   headers={"Authorization": f"Bearer {hub.admin_token}"})

        async def refused() -> bool:
            async with http.get(bad.url + "/v1/status") as r:
                return (await r.json())["connection"]["last_error"] is not None

        await wait_for(refused, 30, "S002 to be refused by the broker")
        for agent in (good, bad):
            for path in ("/", "/v1/status", "/metrics", "/healthz"):
                await get(agent.url + path)
        for path in ("/", "/v1/stores", "/v1/postings", "/metrics", "/healthz",
                     "/v1/reconciliation?day=2026-11-23", "/fleet"):
            await get(hub.url + path)
        for config in (hub.root / "hub.toml", good.root / "agent.toml"):
            module = "hub" if config.name == "hub.toml" else "edge_agent"
            done = subprocess.run([sys.executable, "-m", module, "check-config", "--config",
                                   str(config)], capture_output=True, text=True, check=False)
            seen.append(done.stdout + done.stderr)
        for proc in (hub, good, bad):
            proc.stop()
            seen.append(proc.log.read_text(errors="replace"))
        everything = "\n".join(seen)
        assert "DEBUG" in everything  # the logs were as talkative as they get
        leaks = [name for name, secret in secrets.items() if secret in everything]
        assert not leaks, f"leaked: {leaks}"
    finally:
        await erp.stop()
