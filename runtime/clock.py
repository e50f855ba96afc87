"""The wall clock, injectable: every business-day and timestamp decision asks a `Clock`.

`stamp` is the one text form of an instant a program writes into its database.

Production code takes a `Clock` (default `SYSTEM`); tests pass a `FrozenClock` so that no test
depends on the day it runs. Intervals (timeouts, backoff) use `time.monotonic()` instead: they
are not dates and must not jump when the wall clock is set.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current instant, timezone-aware in UTC."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock that stands still until told to move: for tests."""

    def __init__(self, at: dt.datetime | str) -> None:
        self._at = _utc(at)

    def now(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime | str) -> None:
        self._at = _utc(at)

    def advance(self, **delta: float) -> dt.datetime:
        self._at += dt.timedelta(**delta)
        return self._at


class OffsetClock:
    """The machine's clock moved by a fixed offset (keeps ticking): for whole processes in tests."""

    def __init__(self, offset: dt.timedelta) -> None:
        self.offset = offset

    @classmethod
    def starting_at(cls, at: dt.datetime | str) -> OffsetClock:
        """A clock that reads `at` now and ticks on from there."""
        return cls(_utc(at) - dt.datetime.now(dt.UTC))

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


SYSTEM: Clock = SystemClock()


def stamp(at: dt.datetime) -> str:
    """The one text form of an instant written into a database: UTC, microseconds, offset
    (`2024-05-01T09:30:00.000000+00:00`), so instants sort and compare as text."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")

# A process started by a test may be told the instant its clock reads at start; it then ticks on
# from there. Only for tests: a deployed agent or hub never has this variable set.
CLOCK_ENV = "RETAIL_SYNC_CLOCK_START"


def from_environment() -> Clock:
    """The system clock, or an offset clock starting at $RETAIL_SYNC_CLOCK_START."""
    start = os.environ.get(CLOCK_ENV)
    if not start:
        return SYSTEM
    return OffsetClock.starting_at(start)


def _utc(at: dt.datetime | str) -> dt.datetime:
    when = dt.datetime.fromisoformat(at) if isinstance(at, str) else at
    if when.tzinfo is None:
        raise ValueError(f"a clock needs an instant with a UTC offset, not {when.isoformat()}")
    return when.astimezone(dt.UTC)
