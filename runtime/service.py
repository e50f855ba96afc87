"""Running a service: its main coroutine until SIGTERM or SIGINT, the lock that keeps a second
copy off its data_dir, and the start-up failures that end it with one line and an exit code.

A stop is bounded: if the service has not ended `grace_s` after the signal (a part that waits on
a peer that never answers), or at a second signal, the process exits 0 at once. Everything a
service acknowledges is on disk before it answers, so nothing acknowledged is lost by that.
"""

import asyncio
import errno
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, BinaryIO

from runtime.errors import PlumbingError

# Exit codes both programs share for a failed start (README.md has the whole table).
EXIT_CONFIG = 2
EXIT_DATA_DIR_IN_USE = 5
EXIT_CANNOT_LISTEN = 6


class StartupError(PlumbingError):
    """The service cannot start; `str(exc)` is the one line to show, `exit_code` the code."""

    exit_code = 1


class DataDirInUse(StartupError):
    """Another process holds the data_dir's lock: two writers on one outbox or hub database."""

    exit_code = EXIT_DATA_DIR_IN_USE


class CannotListen(StartupError):
    """An address from the config cannot be bound (in use, not ours, or not permitted)."""

    exit_code = EXIT_CANNOT_LISTEN

    def __init__(self, address: str, key: str, source: str, exc: OSError) -> None:
        reason = ("is in use by another program" if exc.errno == errno.EADDRINUSE
                  else f"cannot be used ({exc.strerror or exc})")
        super().__init__(f"cannot listen on {address} ({key} in {source}): the address {reason}")
        self.address, self.key = address, key


def lock_data_dir(data_dir: Path | str, program: str) -> BinaryIO:
    """Take `data_dir/{program}.lock` exclusively (flock) or raise DataDirInUse at once. Keep
    the returned file open while the service runs; the kernel drops the lock when the process
    ends, however it ends (SIGKILL included), so a stale lock file never blocks a start."""
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{program}.lock"
    lock = open(path, "a+b")  # noqa: SIM115 - held for the service's lifetime
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.seek(0)
        holder = lock.read().decode(errors="replace").strip() or "unknown"
        lock.close()
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        raise DataDirInUse(f"data_dir {folder} is in use by another {program} (pid {holder}; "
                           f"lock {path}): stop it first, or give this one its own data_dir") from exc
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n".encode())
    lock.flush()
    return lock

log = logging.getLogger(__name__)

GRACE_S = 10.0


def _exit_now(why: str) -> None:
    log.error("%s: exiting now", why)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_until_signal(main: Coroutine[Any, Any, None], grace_s: float = GRACE_S) -> None:
    async def runner() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        signalled = False

        def stop() -> None:
            nonlocal signalled
            if signalled:
                _exit_now("a second signal while stopping")
            signalled = True
            task.cancel()
            loop.call_later(grace_s, _exit_now, f"not stopped {grace_s:g} s after the signal")

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        try:
            await main
        except asyncio.CancelledError:
            pass

    asyncio.run(runner())
