"""How lengths of time and past instants read on pages and in messages: "45 s", "12 min", "1 h 45 min ago"."""

import datetime as dt


def duration(seconds: float) -> str:
    """A length of time, rounded down: "45 s" under a minute, "12 min" under an hour, else
    "1 h 45 min". The sign is dropped (the caller says "ahead" or "behind")."""
    whole = int(abs(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def ago(at: dt.datetime | None, now: dt.datetime) -> str:
    """How long before `now` something happened ("12 min ago"), "never" for None; an instant
    after `now` (a clock a little ahead) reads "0 s ago"."""
    if at is None:
        return "never"
    return f"{duration(max(0.0, (now - at).total_seconds()))} ago"
