"""Operator commands against real files: edge-agent status / outbox, retail-hub stores."""

import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from hub.broker.credentials import read_users, set_password, write_users
from tests.integration.procs import AgentProc, HubProc
from tests.integration.tills import Till

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT)


async def test_status_outbox_and_stores_commands(tmp_path):
    hub = HubProc(tmp_path / "hub", ["S001"])
    agent = AgentProc(tmp_path / "S001", "S001", hub)
    conf = str(agent.root / "agent.toml")
    missing = cli("edge_agent", "status", "--config", conf)
    assert missing.returncode == 3 and "no outbox" in missing.stderr
    assert cli("hub", "stores", "--config", str(hub.root / "hub.toml")).returncode == 3
    agent.start()  # the hub is not running: the store is offline and keeps a backlog
    try:
        async with aiohttp.ClientSession() as http:
            await agent.ready(http)
            till = Till(agent.url)
            await till.sell_many(http, 3)
        done = cli("edge_agent", "status", "--config", conf, "--json")
        assert done.returncode == 0, done.stderr
        facts = json.loads(done.stdout)
        assert facts["backlog"] == 3 and facts["agent_running"] is True
        assert facts["mqtt"]["state"] in ("starting", "disconnected")
        text = cli("edge_agent", "status", "--config", conf).stdout
        assert text.startswith("3 events waiting for head office")
        rows = json.loads(cli("edge_agent", "outbox", "--config", conf, "--json", "list").stdout)
        assert [r["seq"] for r in rows] == [1, 2, 3] and rows[0]["state"] == "captured"
        one = json.loads(cli("edge_agent", "outbox", "--config", conf, "--json", "show", "2").stdout)
        assert one["natural_key"] == "txn/R1/000002" and one["event"]["kind"] == "sale"
        assert cli("edge_agent", "outbox", "--config", conf, "show", "99").returncode == 4
        hub.start()
        async with aiohttp.ClientSession() as http:
            await hub.ready(http)
            from tests.integration.helpers import assert_delivered
            await assert_delivered(http, hub, "S001", till)
        stores = json.loads(cli("hub", "stores", "--config", str(hub.root / "hub.toml"), "--json").stdout)
        assert stores[0]["store_id"] == "S001" and stores[0]["events"] == 3
    finally:
        agent.stop()
        hub.stop()


def test_stores_add_rotate_remove(tmp_path):
    from argon2 import PasswordHasher

    from hub.broker.credentials import read_users

    conf = tmp_path / "hub.toml"
    conf.write_text('data_dir = "d"\n[broker]\nusers_file = "users"\nlisten = "0.0.0.0:1883"\n')
    done = cli("hub", "stores", "--config", str(conf), "--json", "add", "S042",
               "--password-file", str(tmp_path / "S042.pw"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "password" not in result and 'username = "S042"' in result["agent_config"]
    password = (tmp_path / "S042.pw").read_text().strip()
    PasswordHasher().verify(read_users(tmp_path / "users")["S042"], password)
    again = cli("hub", "stores", "--config", str(conf), "add", "S042")
    assert again.returncode == 2 and "already exists" in again.stderr
    rotated = json.loads(cli("hub", "stores", "--config", str(conf), "--json", "rotate", "S042").stdout)
    assert rotated["password"] != password
    PasswordHasher().verify(read_users(tmp_path / "users")["S042"], rotated["password"])
    assert cli("hub", "stores", "--config", str(conf), "add", "bad/id").returncode == 2
    assert cli("hub", "stores", "--config", str(conf), "remove", "S042").returncode == 0
    assert "S042" not in read_users(tmp_path / "users")
    assert cli("hub", "stores", "--config", str(conf), "remove", "S042").returncode == 2


def test_stores_add_refuses_ids_that_are_not_safe_names(tmp_path):
    """`.`, `..` and the like would be accepted as store ids (and become file names and client
    ids); they are refused with the rule, and the users file is left alone."""
    conf = tmp_path / "hub.toml"
    conf.write_text('data_dir = "d"\n[broker]\nusers_file = "users"\n')
    for bad in (".", "..", ".hidden", "_x", "edge-S001", "a b", "S/1", "x" * 65):
        done = cli("hub", "stores", "--config", str(conf), "add", bad)
        assert done.returncode == 2, (bad, done.stdout)
        assert "starts with a letter or digit" in done.stderr, (bad, done.stderr)
    for own in ("hub", "retail-hub"):
        done = cli("hub", "stores", "--config", str(conf), "add", own)
        assert done.returncode == 2 and "hub's own identity" in done.stderr, (own, done.stderr)
    assert not (tmp_path / "users").exists()
    assert cli("hub", "stores", "--config", str(conf), "add", "S-1.a_b").returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, as an operator running `stores` with sudo")
def test_stores_run_as_root_keep_the_users_files_owner_and_mode(tmp_path):
    """Run as root, `stores add` used to leave the users file root's, mode 0600: the hub (its
    own user) could no longer read it and refused every store. The owner, group and mode stay."""
    nobody = pwd.getpwnam("nobody")
    conf = tmp_path / "hub.toml"
    conf.write_text('data_dir = "d"\n[broker]\nusers_file = "users"\n')
    users = tmp_path / "users"
    set_password(users, "S001", "pw")
    os.chown(users, nobody.pw_uid, nobody.pw_gid)
    os.chmod(users, 0o640)
    for args in (["add", "S044"], ["rotate", "S044"], ["remove", "S001"]):
        done = cli("hub", "stores", "--config", str(conf), *args)
        assert done.returncode == 0, done.stderr
        st = users.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == \
            (nobody.pw_uid, nobody.pw_gid, 0o640), args
    assert list(read_users(users)) == ["S044"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub.toml", "users"]
    # A new file made by root belongs to its folder's owner, like the hub's data folder.
    folder = tmp_path / "fresh"
    folder.mkdir()
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    write_users(folder / "users", {"S001": "x"})
    st = (folder / "users").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (nobody.pw_uid, nobody.pw_gid, 0o600)


def test_stores_add_prints_an_mqtts_config_when_the_broker_serves_tls(tmp_path):
    from tests.integration.tls import TestCa

    ca = TestCa(tmp_path / "pki")
    conf = tmp_path / "hub.toml"
    conf.write_text(f'data_dir = "d"\n[broker]\nusers_file = "users"\nlisten = "127.0.0.1:1883"\n'
                    f'tls_listen = "0.0.0.0:8883"\ntls_cert_file = "{ca.cert_file}"\n'
                    f'tls_key_file = "{ca.key_file}"\n')
    done = cli("hub", "stores", "--config", str(conf), "--json", "add", "S042",
               "--password-file", str(tmp_path / "S042.pw"))
    assert done.returncode == 0, done.stderr
    text = json.loads(done.stdout)["agent_config"]
    assert 'url = "mqtts://HUB-HOST:8883"' in text and "ca_file" in text
