"""The demo's ports: the well-known ones the README names (8800, 8701, ...) when they are free."""

import socket

from runtime.net import free_port


def port_or_free(preferred: int) -> int:
    """`preferred` if it is free on 127.0.0.1, else any free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()
