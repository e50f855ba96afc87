"""systemd's notify protocol, in a few lines: READY=1 once serving, WATCHDOG=1 pings from the
event loop (so a hung loop is restarted), STOPPING=1 on the way out. A no-op outside systemd."""

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send one notification to $NOTIFY_SOCKET; False when there is none (not under systemd)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("cannot notify systemd: %s", exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Half of WatchdogSec= in seconds, or None when systemd asked for no watchdog pings."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 2_000_000)
    except ValueError:
        return None


async def watchdog() -> None:
    """Ping the watchdog for as long as the event loop keeps turning."""
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
