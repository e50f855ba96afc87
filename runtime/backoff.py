"""Exponential backoff with full jitter and a cap, for reconnect loops."""

import random


class Backoff:
    def __init__(self, initial: float = 0.5, cap: float = 30.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self._attempt = 0

    def next_delay(self) -> float:
        """The next wait: uniform in [initial/2, min(cap, initial * factor**n)]."""
        ceiling = min(self.cap, self.initial * self.factor**self._attempt)
        self._attempt += 1
        return random.uniform(min(self.initial / 2, ceiling), ceiling)

    def reset(self) -> None:
        self._attempt = 0
