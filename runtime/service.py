"""Run a service's main coroutine until SIGTERM or SIGINT, then let it shut down cleanly, in
bounded time: if it has not ended `grace_s` after the signal (a part that waits on a peer that
never answers), or at a second signal, the process exits 0 at once. Everything a service
acknowledges is on disk before it answers, so nothing acknowledged is lost by that.
"""

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

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
