"""[storage] and [cluster] in the hub's config, and the storage commands on the command line:
`migrate`, `export`/`import` refusals, an unreachable PostgreSQL (exit 3) and a database of a
newer release (exit 1), each with one line naming what is wrong."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from hub.config import load_config
from hub.storage import factory
from runtime.config import ConfigError
from runtime.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    path = tmp_path / "hub.toml"
    path.write_text('data_dir = "d"\n' + text)
    return path


def hub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_sqlite_is_the_default_and_a_worker_is_named_by_host_and_pid(tmp_path):
    cfg = load_config(write(tmp_path, ""))
    assert (cfg.storage.backend, cfg.storage.pool_size) == ("sqlite", 4)
    assert cfg.worker_id == f"{socket.gethostname()}-{os.getpid()}"
    assert factory.where(cfg) == str(tmp_path / "d" / "hub.sqlite")


def test_a_postgresql_backend_with_its_password_file(tmp_path):
    (tmp_path / "db-password").write_text("s3cret\n")
    (tmp_path / "db-password").chmod(0o600)
    cfg = load_config(write(tmp_path, '[storage]\nbackend = "postgresql"\n'
                                      'url = "postgresql://hub@db:5432/retail?sslmode=require"\n'
                                      'password_file = "db-password"\npool_size = 2\n'
                                      '[cluster]\nworker_id = "hub-a"\n'))
    assert cfg.storage.password_file == str(tmp_path / "db-password")
    assert cfg.storage_password() == "s3cret"
    assert (cfg.worker_id, factory.target(cfg).pool_size) == ("hub-a", 2)
    assert factory.target(cfg).application_name == "retail-hub hub-a"


@pytest.mark.parametrize("text, key, says", [
    ('[storage]\nbackend = "postgresql"\n', "storage.url", "required"),
    ('[storage]\nbackend = "postgresql"\nurl = "mysql://h/db"\n', "storage.url", "expected"),
    ('[storage]\nbackend = "postgresql"\nurl = "postgresql://h:5432"\n', "storage.url",
     "expected"),
    ('[storage]\nbackend = "postgresql"\nurl = "postgresql://hub:pw@h/db"\n', "storage.url",
     "password"),
    ('[storage]\nbackend = "postgresql"\nurl = "postgresql://h:99999/db"\n', "storage.url",
     "port"),
    ('[storage]\nbackend = "mysql"\n', "storage.backend", ""),
    ('[storage]\npool_size = 0\n', "storage.pool_size", ""),
    ('[storage]\nbackend = "postgresql"\nurl = "postgresql://h/db"\npassword_file = "nope"\n',
     "storage.password_file", "cannot read"),
    ('[storage]\nsize = 3\n', "storage.size", ""),
    ('[cluster]\nworker_id = "a b"\n', "cluster.worker_id", ""),
    ('[cluster]\nheartbeat_s = 5\ngone_after_s = 10\n', "cluster.gone_after_s", "twice"),
    ('[cluster]\nleader_check_s = 0\n', "cluster.leader_check_s", ""),
])
def test_a_storage_error_names_the_key_and_the_file(tmp_path, text, key, says):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key and caught.value.path == str(path)
    assert says in caught.value.message


def test_an_unreachable_postgresql_exits_3_naming_it(tmp_path):
    url = f"postgresql://hub@127.0.0.1:{free_port()}/retail"
    config = write(tmp_path, f'[storage]\nbackend = "postgresql"\nurl = "{url}"\n')
    for args in (["migrate"], ["stores"], ["postings", "list"], ["run"]):
        done = hub(config, *args)
        assert done.returncode == 3, (args, done.stderr)
        assert f"cannot reach the hub database at {url}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_migrate_then_a_newer_schema_is_refused_on_both_backends(tmp_path, pg_server):
    sqlite_config = write(tmp_path, "")
    done = hub(sqlite_config, "migrate")
    assert done.returncode == 0 and "schema 0 -> " in done.stdout, done.stderr
    assert "nothing to do" in hub(sqlite_config, "migrate").stdout
    import sqlite3

    sqlite3.connect(tmp_path / "d" / "hub.sqlite").execute("PRAGMA user_version = 99").close()
    name = pg_server.create_database(migrated=False)
    pg_dir = tmp_path / "pg"
    pg_dir.mkdir()
    pg_config = write(pg_dir, f'[storage]\nbackend = "postgresql"\nurl = "{pg_server.url(name)}"\n')
    assert hub(pg_config, "stores").returncode == 3  # not migrated yet: no hub database
    assert hub(pg_config, "migrate").returncode == 0
    assert hub(pg_config, "stores").returncode == 0
    with psycopg.connect(pg_server.url(name), autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    for config in (sqlite_config, pg_config):
        for args in (["migrate"], ["run"]):
            done = hub(config, *args)
            assert done.returncode == 1, (config, args, done.stderr)
            assert "schema 99 is newer than this program" in done.stderr
            assert "Traceback" not in done.stderr
    pg_server.drop_database(name)


def test_an_import_of_what_is_not_an_export_is_refused(tmp_path):
    config = write(tmp_path, "")
    (tmp_path / "junk").write_bytes(b"\x00\x00\x00\x02hi")
    done = hub(config, "import", "--input", str(tmp_path / "junk"))
    assert done.returncode == 4 and "not a retail-hub export" in done.stderr
    done = hub(config, "import", "--input", str(tmp_path / "missing"))
    assert done.returncode == 4 and "cannot read" in done.stderr
    assert hub(config, "export", "--output", str(tmp_path / "x")).returncode == 0  # migrated
    assert hub(config, "import", "--input", str(tmp_path / "x")).returncode == 0  # empty into empty
