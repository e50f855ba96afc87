"""Logging set-up for the command-line entry points (the only place handlers are configured)."""

import logging
import os
import sys

from runtime.secrets import scrub


class ScrubbingFormatter(logging.Formatter):
    """Formats as usual, then removes secrets from the whole line (tracebacks included)."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def setup(level: str = "INFO") -> None:
    """Log to stderr; without timestamps under journald, which adds its own."""
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ScrubbingFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # amqtt and transitions log every packet at INFO/DEBUG: keep them to warnings.
    for noisy in ("amqtt", "transitions", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
