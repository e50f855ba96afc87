"""Weekly time windows ("Sun 02:00-04:00", "23:30-00:30" daily) and whether an instant is inside one."""

import datetime as dt
import re
import zoneinfo

from runtime.errors import PlumbingError

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WINDOW = re.compile(
    r"^(?:(?P<day>[A-Za-z]{3})\s+)?(?P<start>\d{2}):(?P<sm>\d{2})-(?P<end>\d{2}):(?P<em>\d{2})$")


class WindowError(PlumbingError, ValueError):
    """A window that cannot be parsed; the message quotes it."""


class Window:
    """From `start` to `end` minutes after midnight on `day` (0 = Monday, None = every day).

    An end before the start crosses midnight into the next day.
    """

    def __init__(self, day: int | None, start: int, end: int, text: str) -> None:
        self.day, self.start, self.end, self.text = day, start, end, text

    def contains(self, local: dt.datetime) -> bool:
        minute = local.hour * 60 + local.minute
        today = local.weekday()
        if self.start < self.end:
            return self._on(today) and self.start <= minute < self.end
        # Crossing midnight: the evening part belongs to `day`, the morning part to the day after.
        return ((self._on(today) and minute >= self.start)
                or (self._on((today - 1) % 7) and minute < self.end))

    def _on(self, weekday: int) -> bool:
        return self.day is None or self.day == weekday


def parse_windows(texts: list[str]) -> list[Window]:
    out = []
    for text in texts:
        m = _WINDOW.match(text.strip())
        if not m:
            raise WindowError(f"{text!r}: expected \"HH:MM-HH:MM\" or \"Sun HH:MM-HH:MM\"")
        day = m.group("day")
        if day is not None and day.lower() not in _DAYS and day.lower() != "all":
            raise WindowError(f"{text!r}: day must be one of Mon Tue Wed Thu Fri Sat Sun")
        sh, sm, eh, em = (int(m.group(k)) for k in ("start", "sm", "end", "em"))
        if sh > 23 or eh > 24 or sm > 59 or em > 59 or (eh == 24 and em):
            raise WindowError(f"{text!r}: not a time of day")
        start, end = sh * 60 + sm, eh * 60 + em
        if start == end:
            raise WindowError(f"{text!r}: empty window")
        index = None if day is None or day.lower() == "all" else _DAYS.index(day.lower())
        out.append(Window(index, start, end, text))
    return out


class Schedule:
    """The maintenance windows of one ERP, in its time zone."""

    def __init__(self, texts: list[str], timezone: str = "UTC") -> None:
        self.windows = parse_windows(texts)
        self.zone = zoneinfo.ZoneInfo(timezone)

    def closed_now(self, now: dt.datetime) -> Window | None:
        """The window `now` falls in, if any."""
        local = now.astimezone(self.zone)
        return next((w for w in self.windows if w.contains(local)), None)

    def next_change(self, now: dt.datetime, horizon_days: int = 8) -> dt.datetime | None:
        """When the current state (inside a window or not) next changes, to the minute."""
        inside = self.closed_now(now) is not None
        at = now.replace(second=0, microsecond=0)
        for _ in range(horizon_days * 24 * 60):
            at += dt.timedelta(minutes=1)
            if (self.closed_now(at) is not None) != inside:
                return at
        return None
