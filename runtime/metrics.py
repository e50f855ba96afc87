"""Prometheus text exposition for both services, from values read at scrape time."""

from collections.abc import Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

Family = Metric


def gauge(name: str, doc: str, value: float | None = None,
          labels: dict[str, list[tuple[str, float]]] | None = None) -> GaugeMetricFamily:
    """A gauge; with `labels={"label": [(label_value, value), ...]}` one sample per label value."""
    if labels:
        ((label, samples),) = labels.items()
        family = GaugeMetricFamily(name, doc, labels=[label])
        for label_value, v in samples:
            family.add_metric([label_value], v)
        return family
    return GaugeMetricFamily(name, doc, value=value if value is not None else 0.0)


def counter(name: str, doc: str, value: float = 0.0,
            labels: dict[str, list[tuple[str, float]]] | None = None) -> CounterMetricFamily:
    """`name` without `_total`; the exposition adds it. `labels` as for `gauge`."""
    if labels:
        ((label, samples),) = labels.items()
        family = CounterMetricFamily(name, doc, labels=[label])
        for label_value, v in samples:
            family.add_metric([label_value], v)
        return family
    return CounterMetricFamily(name, doc, value=value)


def counters(name: str, doc: str, labels: tuple[str, ...],
             samples: Iterable[tuple[tuple[str, ...], float]]) -> CounterMetricFamily:
    """A counter with one sample per tuple of label values (`labels` names them)."""
    family = CounterMetricFamily(name, doc, labels=list(labels))
    for values, v in samples:
        family.add_metric(list(values), v)
    return family


def summary(name: str, doc: str, count: int, total: float) -> SummaryMetricFamily:
    """`name_count` and `name_sum` (e.g. seconds spent in calls and how many)."""
    return SummaryMetricFamily(name, doc, count_value=count, sum_value=total)


class _Snapshot(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def response(families: Iterable[Metric]) -> web.Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    return web.Response(body=generate_latest(registry),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
