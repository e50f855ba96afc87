"""`retail-hub reconcile` and `retail-hub postings` as a new user meets them: real processes on a
real hub database (no hub running), checking exit codes and what is printed."""

import json
import subprocess
import sys

from hub.ingest.eventlog import Sequencer
from tests.hub.helpers import NOW, apply, batch, database, sale_envelope
from tests.integration.procs import REPO

DAY = NOW.date().isoformat()


def hub_with_sales(tmp_path, count=3, extra=""):
    (tmp_path / "hub.toml").write_text(f'data_dir = "data"\n{extra}')
    (tmp_path / "data").mkdir()
    conn = database(tmp_path / "data" / "hub.sqlite")
    apply(conn, Sequencer(), batch([sale_envelope(i) for i in range(1, count + 1)]))
    conn.close()
    return tmp_path / "hub.toml"


def hub(config, *args):
    return subprocess.run([sys.executable, "-m", "hub", *args, "--config", str(config)],
                          check=False, capture_output=True, text=True, timeout=60, cwd=REPO)


def test_reconcile_mid_day_is_incomplete_and_exits_0(tmp_path):
    done = hub(hub_with_sales(tmp_path), "reconcile", "--day", DAY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 mismatched, 1 incomplete" in done.stdout
    assert "S001     incomplete" in done.stdout


def test_reconcile_of_an_unknown_store_names_it_and_exits_4(tmp_path):
    done = hub(hub_with_sales(tmp_path), "reconcile", "--day", DAY, "--store", "NOPE")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "unknown store 'NOPE'" in done.stderr and done.stdout == ""


def test_a_bad_day_is_a_usage_error_naming_the_option(tmp_path):
    config = hub_with_sales(tmp_path)
    for args in (("reconcile", "--day", "2026-13-45"), ("postings", "list", "--day", "23.11.2026")):
        done = hub(config, *args)
        assert done.returncode == 2, done.stderr
        assert "argument --day: not a date" in done.stderr and "YYYY-MM-DD" in done.stderr
        assert "fromisoformat" not in done.stderr


def test_postings_list_is_newest_first_and_pages_with_a_cursor(tmp_path):
    config = hub_with_sales(tmp_path, count=5)
    first = hub(config, "postings", "list", "--limit", "3")
    assert first.returncode == 0, first.stderr
    shown = [line.split()[0] for line in first.stdout.splitlines()[1:]]
    assert len(shown) == 3
    (more,) = [line for line in first.stderr.splitlines() if line.startswith("more: --cursor ")]
    rest = hub(config, "postings", "list", "--limit", "3", "--cursor", more.split()[-1])
    assert rest.returncode == 0 and "more:" not in rest.stderr
    shown += [line.split()[0] for line in rest.stdout.splitlines()[1:]]
    everything = hub(config, "postings", "list", "--json")
    rows = json.loads(everything.stdout)
    assert shown == [r["posting_id"] for r in rows] and len(set(shown)) == 5
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
    bad = hub(config, "postings", "list", "--limit", "0")
    assert bad.returncode == 2 and "--limit" in bad.stderr


def test_an_actor_of_only_spaces_is_a_usage_error_naming_the_option(tmp_path):
    done = hub(hub_with_sales(tmp_path), "postings", "retry", "some-id", "--actor", "   ")
    assert done.returncode == 2, done.stderr
    assert "argument --actor: actor must be a name" in done.stderr
