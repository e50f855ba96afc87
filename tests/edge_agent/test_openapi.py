"""The published OpenAPI document matches the API: schemathesis generates requests from it
(valid and invalid) against a real agent process; no answer is a 5xx, and every answer has a
status code and body the document declares."""

import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from hub.broker.credentials import write_secret
from tests.integration.procs import Proc
from runtime.net import free_port
from tests.conftest import wait_for

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


async def test_the_document_is_served_and_describes_every_capture_route(running_agent, http):
    _agent, url = await running_agent()
    async with http.get(url + "/openapi.json") as r:
        doc = await r.json()
    assert doc["openapi"].startswith("3.1")
    assert {"/v1/sales", "/v1/returns", "/v1/inventory-adjustments", "/v1/day-close"} <= set(doc["paths"])
    sale = doc["components"]["schemas"]["SaleIn"]
    assert sale["additionalProperties"] is False
    assert sale["properties"]["occurred_at"]["format"] == "date-time"


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed")
async def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(tmp_path, http):
    port = free_port()
    write_secret(tmp_path / "till-token", "test-till-token-0123456789")
    (tmp_path / "agent.toml").write_text(
        f'store_id = "S001"\ndata_dir = "data"\ntimezone = "Europe/Berlin"\n'
        f'[api]\nlisten = "127.0.0.1:{port}"\ntoken_file = "till-token"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n')
    agent = Proc([sys.executable, "-m", "edge_agent", "run", "--config", str(tmp_path / "agent.toml")],
                 tmp_path / "agent.log")
    agent.start()
    try:
        async def up() -> bool:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    return r.status in (200, 503)
            except aiohttp.ClientError:
                return False

        await wait_for(up, 30, "the agent")
        done = subprocess.run(
            [str(SCHEMATHESIS), "run", f"http://127.0.0.1:{port}/openapi.json",
             "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                         "response_schema_conformance",
             "--max-examples", "40", "--seed", "1", "--phases", "examples,coverage,fuzzing",
             "-H", "Authorization: Bearer test-till-token-0123456789",
             "--no-color"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        assert agent.running, agent.tail()
    finally:
        agent.stop()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
