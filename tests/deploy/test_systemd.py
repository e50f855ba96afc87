"""The systemd units verify, and the services speak the notify protocol to a fake NOTIFY_SOCKET."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.net import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.mark.skipif(not shutil.which("systemd-analyze"),
                    reason="systemd-analyze missing (apt-get install systemd)")
def test_units_pass_systemd_analyze_verify(tmp_path):
    units = []
    for name in ("edge-agent", "retail-hub"):
        text = (ROOT / "systemd" / f"{name}.service").read_text()
        assert "Type=notify" in text and "WatchdogSec=" in text and "ProtectSystem=strict" in text
        assert "\nRestartPreventExitStatus=2 5\n" in text  # config error, data_dir in use
        # verify checks that ExecStart exists: point it at this checkout's console script.
        unit = tmp_path / f"{name}.service"
        unit.write_text(text.replace(f"/usr/bin/{name}", str(VENV_BIN / name)))
        units.append(str(unit))
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # verify only warns (exit 0) about a value it cannot parse, e.g. a bad exit status
    assert "Failed to parse" not in done.stdout + done.stderr, done.stdout + done.stderr


def receive_until(sock: socket.socket, want: str, timeout: float) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if want in got[-1]:
            return got
    raise AssertionError(f"no {want!r} within {timeout}s; got {got}")


@pytest.mark.parametrize("service", ["edge_agent", "hub"])
def test_ready_watchdog_and_stopping_are_notified(tmp_path, service):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    if service == "edge_agent":
        config = (f'store_id = "S1"\ndata_dir = "d"\n[api]\nlisten = "127.0.0.1:{free_port()}"\n'
                  f'[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n')
    else:
        config = (f'data_dir = "d"\n[broker]\nlisten = "127.0.0.1:{free_port()}"\n'
                  f'[api]\nlisten = "127.0.0.1:{free_port()}"\n')
    (tmp_path / "c.toml").write_text(config)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "200000"}
    proc = subprocess.Popen([sys.executable, "-m", service, "run", "--config", str(tmp_path / "c.toml")],
                            env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        receive_until(sock, "READY=1", 30)
        pings = [m for m in receive_until(sock, "WATCHDOG=1", 5) if m == "WATCHDOG=1"]
        pings += [m for m in receive_until(sock, "WATCHDOG=1", 5) if m == "WATCHDOG=1"]
        assert len(pings) >= 2
        proc.send_signal(signal.SIGTERM)
        receive_until(sock, "STOPPING=1", 30)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        sock.close()
