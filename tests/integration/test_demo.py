"""`retail-hub demo` (what `make demo` runs): stores sell, the day closes, Tryton gets the postings."""

import subprocess
import sys

from runtime.net import free_port


def test_the_demo_delivers_posts_and_reconciles(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--stores", "2", "--rate", "10", "--duration", "4",
         "--data-dir", str(tmp_path / "demo-data"), "--api-port", str(free_port())],
        capture_output=True, text=True, timeout=240)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "ERP: Tryton at http://127.0.0.1:" in out
    assert "all delivered" in out
    assert "0 exceptions, 0 dead" in out
    assert "reconciliation of" in out and "2 matched, 0 mismatched" in out
