"""Ending the demo's child processes: the stores' agents, the hub workers, Mosquitto."""

import subprocess


def end(proc: "subprocess.Popen[bytes] | None", grace_s: float = 10.0) -> None:
    """SIGTERM (each of them stops cleanly on it), SIGKILL if it has not ended within
    `grace_s`; nothing for a process not started or already ended."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
