"""run_until_signal: a service stops in bounded time, exit 0, even if a part ignores the stop."""

import signal
import subprocess
import sys
import time

from tests.integration.procs import REPO

STUBBORN = """
import asyncio, sys
from runtime.service import run_until_signal

async def main():
    print("ready", flush=True)
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            print("stop swallowed", flush=True)  # like a wait_for losing a cancellation

run_until_signal(main(), grace_s=float(sys.argv[1]))
"""


def _start(grace_s: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN, str(grace_s)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_service_that_ignores_the_stop_exits_0_after_the_grace_period():
    proc = _start(1.0)
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert 0.9 < time.monotonic() - began < 5
    assert "not stopped 1 s after the signal: exiting now" in proc.communicate()[1]


def test_a_second_signal_exits_at_once():
    proc = _start(60.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "stop swallowed"
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    assert time.monotonic() - began < 5
    assert "a second signal while stopping" in proc.communicate()[1]
