"""The dashboard's "last hour" chart: applied events/s and the stores' backlog, sampled in memory.

A ring buffer of one sample every INTERVAL_S (the hub's applied-events counter and the backlog the
stores last reported), drawn server-side as inline SVG: no JavaScript library, no network. It
starts empty at each hub start; the figures themselves are in /metrics for long-term graphs.
"""

import collections
import datetime as dt
from html import escape

INTERVAL_S = 10
SPAN_S = 3600
_W, _H, _PAD = 600, 130, 18


class Activity:
    """The samples of the last hour; `add` one every INTERVAL_S, `svg` draws them."""

    def __init__(self, interval_s: float = INTERVAL_S, span_s: float = SPAN_S) -> None:
        self.interval_s = interval_s
        self.span_s = span_s
        self._samples: collections.deque[tuple[dt.datetime, int, int]] = collections.deque(
            maxlen=int(span_s // interval_s) + 1)

    def add(self, at: dt.datetime, applied_total: int, backlog: int) -> None:
        self._samples.append((at, applied_total, backlog))

    def series(self, now: dt.datetime) -> list[tuple[float, float, int]]:
        """(seconds before now, applied events/s since the previous sample, backlog) per sample
        of the last hour; a counter that went back (hub restart) counts as 0 events/s."""
        out = []
        previous: tuple[dt.datetime, int, int] | None = None
        for at, applied, backlog in self._samples:
            ago = (now - at).total_seconds()
            if previous is not None and ago <= self.span_s:
                seconds = (at - previous[0]).total_seconds()
                rate = max(0, applied - previous[1]) / seconds if seconds > 0 else 0.0
                out.append((ago, rate, backlog))
            previous = (at, applied, backlog)
        return out

    def svg(self, now: dt.datetime) -> str:
        points = self.series(now)
        if not points:
            return ("<p id=activity><small>The chart of the last hour appears after the first "
                    f"{self.interval_s * 2:g} s of the hub running.</small></p>")
        top_rate = max(max(p[1] for p in points), 1.0)
        top_backlog = max(max(p[2] for p in points), 1)

        def line(values: list[tuple[float, float]], top: float) -> str:
            return " ".join(
                f"{_W - _PAD - (ago / self.span_s) * (_W - 2 * _PAD):.1f},"
                f"{_H - _PAD - (v / top) * (_H - 2 * _PAD):.1f}" for ago, v in values)

        rate_line = line([(a, r) for a, r, _b in points], top_rate)
        backlog_line = line([(a, float(b)) for a, _r, b in points], top_backlog)
        now_rate, now_backlog = points[-1][1], points[-1][2]
        title = (f"Last hour: applied events per second (now {now_rate:.1f}, peak {top_rate:.1f})"
                 f" and events waiting in stores (now {now_backlog}, peak {top_backlog})")
        return f"""<figure id=activity><svg viewBox="0 0 {_W} {_H}" role="img" width="100%"
 preserveAspectRatio="none" style="max-width:{_W}px;height:auto;border:1px solid #ddd">
<title>{escape(title)}</title>
<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#bbb"/>
<polyline points="{backlog_line}" fill="none" stroke="#d08000" stroke-width="2"
 stroke-dasharray="5 3"/>
<polyline points="{rate_line}" fill="none" stroke="#2a7a2a" stroke-width="2"/>
<text x="{_PAD}" y="12" font-size="11" fill="#2a7a2a">events/s (top {top_rate:.1f})</text>
<text x="{_W - _PAD}" y="12" font-size="11" fill="#d08000" text-anchor="end">backlog (top
 {top_backlog})</text>
<text x="{_PAD}" y="{_H - 4}" font-size="10" fill="#666">−60 min</text>
<text x="{_W - _PAD}" y="{_H - 4}" font-size="10" fill="#666" text-anchor="end">now</text>
</svg><figcaption><small>{escape(title)}.</small></figcaption></figure>"""
