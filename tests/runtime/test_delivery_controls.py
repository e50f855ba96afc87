"""The relay's controls on their own: maintenance windows, the circuit breaker, the token bucket."""

import asyncio
import datetime as dt
import time

import pytest

from runtime.circuit import CircuitBreaker
from runtime.ratelimit import TokenBucket
from runtime.windows import Schedule, WindowError, parse_windows


def at(day: int, hh: int, mm: int) -> dt.datetime:
    # 2026-11-23 is a Monday.
    return dt.datetime(2026, 11, 23 + day, hh, mm, tzinfo=dt.UTC)


def test_a_weekly_window_and_one_across_midnight():
    schedule = Schedule(["Sun 02:00-04:00", "23:30-00:30"])
    assert schedule.closed_now(at(6, 2, 0)).text == "Sun 02:00-04:00"   # Sunday 29th
    assert schedule.closed_now(at(6, 4, 0)) is None
    assert schedule.closed_now(at(0, 2, 30)) is None                   # a Monday
    assert schedule.closed_now(at(0, 23, 45)).text == "23:30-00:30"
    assert schedule.closed_now(at(1, 0, 15)).text == "23:30-00:30"
    assert schedule.closed_now(at(1, 0, 30)) is None


def test_windows_are_read_in_the_erps_time_zone():
    schedule = Schedule(["02:00-03:00"], "Europe/Berlin")  # UTC+1 in November
    assert schedule.closed_now(at(0, 1, 30)) is not None
    assert schedule.closed_now(at(0, 2, 30)) is None


@pytest.mark.parametrize("bad", ["2-4", "Sun 02:00", "Xyz 01:00-02:00", "25:00-26:00", "01:00-01:00"])
def test_a_bad_window_is_refused_with_its_text(bad):
    with pytest.raises(WindowError, match="'" + bad.split()[0]):
        parse_windows([bad])


def test_the_breaker_opens_after_n_failures_and_one_probe_closes_it():
    now = [0.0]
    breaker = CircuitBreaker(3, 10.0, clock=lambda: now[0])
    for _ in range(2):
        breaker.failure()
    assert breaker.allowance() is None
    breaker.failure()
    assert breaker.state == "open" and breaker.allowance() == 0
    now[0] = 10.0
    assert breaker.state == "half_open" and breaker.allowance() == 1
    breaker.started()
    assert breaker.allowance() == 0          # one probe at a time
    breaker.failure()                        # the probe failed: open again
    assert breaker.state == "open"
    now[0] = 20.0
    breaker.started()
    breaker.success()
    assert breaker.state == "closed" and breaker.allowance() is None


async def test_the_bucket_spaces_acquisitions_at_its_rate():
    bucket = TokenBucket(20.0)
    start = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(11)))
    # The first token is there at once; the other ten come at 20/s.
    assert time.monotonic() - start >= 10 / 20 * 0.95


def test_the_next_change_of_a_window_is_found():
    schedule = Schedule(["Sun 02:00-04:00"])
    assert schedule.next_change(at(0, 9, 0)) == at(6, 2, 0)        # Monday → Sunday 02:00
    assert schedule.next_change(at(6, 2, 30)) == at(6, 4, 0)       # inside → when it ends
