"""Starting the programs for real: one process per data_dir, an address already taken, and the
command lines' global options. Each failure is one line and a documented exit code."""

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from edge_agent.outbox import Outbox
from runtime.net import free_port
from tests.integration.procs import AgentProc, HubProc

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def one_line_failure(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The process ended with `code`, no traceback, and a last stderr line with every word."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in last, (word, last)
    return last


def taken_port() -> socket.socket:
    """A listening socket on a free port: the port is taken (like a Mosquitto on 1883)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def test_a_second_hub_or_agent_on_the_same_data_dir_exits_5(tmp_path):
    hub = HubProc(tmp_path / "hub", ["S001"])
    agent = AgentProc(tmp_path / "S001", "S001", hub)
    hub.start()
    agent.start()
    try:
        async with aiohttp.ClientSession() as http:
            await hub.ready(http)
            await agent.ready(http)
        # Same files, other ports: only the lock can stop them.
        for conf, key in ((hub.root / "hub.toml", "hub"), (agent.root / "agent.toml", "edge_agent")):
            text = conf.read_text()
            for port in (hub.api_port, hub.broker_port, agent.api_port):
                text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}")
            (conf.parent / "second.toml").write_text(text)
            done = cli(key, "run", "--config", str(conf.parent / "second.toml"))
            one_line_failure(done, 5, "in use by another", str(conf.parent / "data"))
        assert hub.running and agent.running
    finally:
        agent.stop()
        hub.stop()
    # The lock goes with its process, even a killed one: a restart is never blocked.
    agent.start()
    agent.kill()
    agent.start()
    try:
        async with aiohttp.ClientSession() as http:
            await agent.ready(http)
    finally:
        agent.stop()


def test_a_taken_broker_port_is_one_line_and_exit_6_not_a_hang(tmp_path):
    with taken_port() as sock:
        port = sock.getsockname()[1]
        conf = tmp_path / "hub.toml"
        conf.write_text(f'data_dir = "data"\n[broker]\nlisten = "127.0.0.1:{port}"\n'
                        f'[api]\nlisten = "127.0.0.1:{free_port()}"\n')
        done = cli("hub", "run", "--config", str(conf), timeout=30)
        one_line_failure(done, 6, f"127.0.0.1:{port}", "broker.listen", str(conf), "in use")
        conf.write_text(f'data_dir = "data"\n[broker]\nlisten = "127.0.0.1:{free_port()}"\n'
                        f'[api]\nlisten = "127.0.0.1:{port}"\n')
        done = cli("hub", "run", "--config", str(conf), timeout=30)
        one_line_failure(done, 6, f"127.0.0.1:{port}", "api.listen", str(conf))
        conf = tmp_path / "agent.toml"
        conf.write_text(f'store_id = "S001"\ndata_dir = "agent"\n[api]\nlisten = "127.0.0.1:{port}"\n'
                        f'[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n')
        done = cli("edge_agent", "run", "--config", str(conf), timeout=30)
        one_line_failure(done, 6, f"127.0.0.1:{port}", "api.listen", str(conf))


def test_global_options_before_or_after_the_command_and_the_installed_default(tmp_path):
    conf = tmp_path / "hub.toml"
    conf.write_text('data_dir = "d"\n[broker]\nusers_file = "users"\n')
    added = cli("hub", "stores", "add", "S042", "--config", str(conf), "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["store_id"] == "S042"
    for argv in (("--config", str(conf), "--json", "stores", "rotate", "S042"),
                 ("stores", "--json", "rotate", "--config", str(conf), "S042")):
        done = cli("hub", *argv)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["store_id"] == "S042"
    assert json.loads(cli("hub", "check-config", "--json", "--config", str(conf)).stdout)[
        "broker"]["users_file"] == str(tmp_path / "users")
    agent_conf = tmp_path / "agent.toml"
    agent_conf.write_text('store_id = "S001"\ndata_dir = "a"\n')

    async def make_outbox() -> None:
        box = Outbox(tmp_path / "a" / "outbox.sqlite", "S001")
        await box.open()
        await box.close()

    asyncio.run(make_outbox())
    for argv in (("outbox", "--config", str(agent_conf), "list", "--json"),
                 ("--json", "outbox", "list", "--config", str(agent_conf)),
                 ("--config", str(agent_conf), "outbox", "--json", "list")):
        done = cli("edge_agent", *argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert json.loads(done.stdout) == []
    for module, path in (("edge_agent", "/etc/edge-agent/agent.toml"),
                         ("hub", "/etc/retail-hub/hub.toml")):
        if Path(path).exists():
            continue  # an installed machine: the default is read, which is the point
        done = cli(module, "check-config")
        assert done.returncode == 2 and path in done.stderr, done.stderr
