"""The dashboard's last-hour chart: rates from the sampled counter, drawn as inline SVG."""

import datetime as dt

from hub.web.activity import Activity

T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_rates_come_from_the_counter_between_samples_and_an_hour_is_kept():
    activity = Activity(interval_s=10, span_s=3600)
    for n in range(400):  # more than an hour of samples: 50 events/s, backlog n
        activity.add(at(10 * n), 500 * n, n)
    series = activity.series(at(3990))
    assert len(series) == 360 and max(ago for ago, _r, _b in series) <= 3600
    assert {rate for _a, rate, _b in series} == {50.0}
    assert series[-1] == (0.0, 50.0, 399)


def test_a_hub_restart_counts_as_no_events_not_a_negative_rate():
    activity = Activity()
    activity.add(at(0), 1000, 0)
    activity.add(at(10), 5, 0)
    assert activity.series(at(10)) == [(0.0, 0.0, 0)]


def test_the_chart_is_inline_svg_without_scripts_or_network():
    activity = Activity()
    assert "appears after" in activity.svg(at(0))
    for n in range(10):
        activity.add(at(10 * n), 30 * n, 7)
    svg = activity.svg(at(90))
    assert svg.count("<polyline") == 2 and "now 3.0" in svg and "now 7" in svg
    assert "<script" not in svg and "http" not in svg
