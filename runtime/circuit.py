"""A circuit breaker: after N consecutive failures stop calling for a while, then probe once."""

import time
from collections.abc import Callable
from enum import StrEnum


class CircuitState(StrEnum):
    """Whether calls may go through (also the text shown on /healthz and the dashboard)."""

    CLOSED = "closed"        # calls go through
    OPEN = "open"            # no calls until open_s has passed
    HALF_OPEN = "half_open"  # one probe at a time decides


class CircuitBreaker:
    """closed → (N failures in a row) → open → (after open_s) → half_open: one probe at a time;
    the probe's success closes the circuit, its failure opens it again."""

    def __init__(self, failures: int, open_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.open_s = open_s
        self._clock = clock
        self.consecutive = 0
        self._opened_at: float | None = None
        self._probing = False
        self.opened = 0

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at < self.open_s:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def allowance(self) -> int | None:
        """How many calls may start now: None for no limit, 0 while open or a probe is out."""
        state = self.state
        if state == CircuitState.CLOSED:
            return None
        if state == CircuitState.OPEN or self._probing:
            return 0
        return 1

    def seconds_until_probe(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.open_s - (self._clock() - self._opened_at))

    def started(self) -> None:
        """A call starts; in half-open state it is the probe."""
        if self.state == CircuitState.HALF_OPEN:
            self._probing = True

    def success(self) -> None:
        self.consecutive = 0
        self._opened_at = None
        self._probing = False

    def failure(self) -> None:
        self.consecutive += 1
        probing, self._probing = self._probing, False
        if probing or (self._opened_at is None and self.consecutive >= self.threshold):
            self._opened_at = self._clock()
            self.opened += 1

    def neutral(self) -> None:
        """A call ended without telling anything about the ERP's health (e.g. rate limited)."""
        self._probing = False
