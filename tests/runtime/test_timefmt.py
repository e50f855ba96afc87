"""One way to say how long: status page, dashboard, till warnings and `edge-agent status`."""

import datetime as dt

from runtime.timefmt import ago, duration

NOW = dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.UTC)


def test_durations_read_in_the_largest_unit_that_fits_and_round_down():
    assert [duration(s) for s in (0, 59.9, 60, 719, 3599, 3600, 6300, 18120, 90000)] == [
        "0 s", "59 s", "1 min", "11 min", "59 min", "1 h 0 min", "1 h 45 min", "5 h 2 min",
        "25 h 0 min"]


def test_a_duration_drops_its_sign():
    assert duration(-6300) == "1 h 45 min"


def test_ago_says_never_for_nothing_and_zero_for_an_instant_a_little_ahead():
    assert ago(None, NOW) == "never"
    assert ago(NOW - dt.timedelta(minutes=12, seconds=30), NOW) == "12 min ago"
    assert ago(NOW + dt.timedelta(seconds=3), NOW) == "0 s ago"
