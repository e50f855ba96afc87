"""Logging set-up for the command-line entry points (the only place handlers are configured)."""

import logging
import os
import sys


def setup(level: str = "INFO") -> None:
    """Log to stderr; without timestamps under journald, which adds its own."""
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # amqtt and transitions log every packet at INFO/DEBUG: keep them to warnings.
    for noisy in ("amqtt", "transitions", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
