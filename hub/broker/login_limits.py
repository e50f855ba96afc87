"""Failed broker logins per username and per address, and the backoff that follows them.

After 5 failures for one username, or 20 from one address, further logins for it are refused
without checking the password, for 1 s, then 2 s, 4 s ... up to 60 s after each further
failure; a quiet `forget_s` clears the record. So a password guesser gets a handful of
tries a minute, costs no argon2 work while it waits, and fills the log with one WARNING when
logins start failing and one when they are throttled, not one per try. A successful login
clears its username's record (not its address's, which a guesser could share with a store
behind the same NAT address; the higher address limit is for stores that share one).
Intervals use `time.monotonic()` (runtime.clock): they must not jump with the wall clock.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

USER_THRESHOLD = 5
ADDRESS_THRESHOLD = 20
BASE_S = 1.0
CAP_S = 60.0
FORGET_S = 600.0
_MAX_RECORDS = 10_000  # random usernames must not grow memory without bound


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0
    until: float = 0.0
    refused: int = 0  # refused unchecked while throttled
    throttled: bool = False


class LoginLimiter:
    """Counts failed logins per key ("user 'S001'", "address 10.0.0.5") and throttles them."""

    def __init__(self, user_threshold: int = USER_THRESHOLD,
                 address_threshold: int = ADDRESS_THRESHOLD, base_s: float = BASE_S,
                 cap_s: float = CAP_S, forget_s: float = FORGET_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.thresholds = {"user": user_threshold, "address": address_threshold}
        self.base_s, self.cap_s, self.forget_s = base_s, cap_s, forget_s
        self._now = monotonic
        self._records: dict[str, _Record] = {}

    def throttled(self, *keys: str) -> bool:
        """True if any key is waiting out its backoff: refuse without checking the password."""
        now = self._now()
        waiting = False
        for key in keys:
            record = self._current(key, now)
            if record is not None and now < record.until:
                record.refused += 1
                waiting = True
        return waiting

    def failed(self, user: str, address: str, *, reason: str) -> None:
        """A login for `user` ("user 'S001'") from `address` ("address 10.0.0.5") was refused."""
        now = self._now()
        if len(self._records) >= _MAX_RECORDS:
            self._forget_old(now)
        for kind, key in (("user", user), ("address", address)):
            threshold = self.thresholds[kind]
            record = self._current(key, now) or self._records.setdefault(key, _Record())
            record.failures += 1
            record.last = now
            if key == user and record.failures == 1:
                log.warning("broker login refused for %s from %s: %s", user, address, reason)
            if record.failures >= threshold:
                delay = min(self.base_s * 2 ** (record.failures - threshold), self.cap_s)
                record.until = now + delay
                if not record.throttled:
                    record.throttled = True
                    log.warning("broker logins for %s throttled after %d failures: refused "
                                "unchecked for %g s after each further failure, up to %g s",
                                key, record.failures, delay, self.cap_s)

    def succeeded(self, key: str) -> None:
        record = self._records.pop(key, None)
        if record is not None and record.failures:
            log.info("broker login for %s succeeded after %d failures (%d refused unchecked)",
                     key, record.failures, record.refused)

    def _current(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last > self.forget_s:
            if record.throttled:
                log.info("broker logins for %s no longer throttled (%d failures, %d refused "
                         "unchecked)", key, record.failures, record.refused)
            del self._records[key]
            return None
        return record

    def _forget_old(self, now: float) -> None:
        for key in [k for k, r in self._records.items() if now - r.last > self.forget_s]:
            del self._records[key]
        while len(self._records) >= _MAX_RECORDS:  # still full: drop the oldest
            del self._records[min(self._records, key=lambda k: self._records[k].last)]
