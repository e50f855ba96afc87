"""What the store's status page and `/v1/status` say: a plain-language headline, then the numbers.

Everything here is read from the outbox by index (seq, business_day) or kept in memory, so the
page stays fast with a million events waiting.
"""

import collections
import datetime as dt
import os
import shutil
import time
from typing import TYPE_CHECKING, Any

import msgspec

from edge_agent.outbox import COUNT_CAP, Damage

if TYPE_CHECKING:
    from edge_agent.app import Agent

RECENT = 20
_WINDOW_S = 15 * 60
REPAIR_SHOWN_FOR = dt.timedelta(days=7)  # the headline recalls a rebuilt outbox this long
CLOCK_SHOWN_FOR = dt.timedelta(hours=1)  # and a till with a wrong clock, since its last sale


class Throughput:
    """Captures in the last 15 minutes (for the rate and the disk estimate)."""

    def __init__(self) -> None:
        self._times: collections.deque[float] = collections.deque(maxlen=200_000)

    def add(self) -> None:
        self._times.append(time.monotonic())

    def last_window(self) -> int:
        cutoff = time.monotonic() - _WINDOW_S
        while self._times and self._times[0] < cutoff:
            self._times.popleft()
        return len(self._times)


def _clock(at: dt.datetime | None, zone: dt.tzinfo) -> str | None:
    return at.astimezone(zone).strftime("%H:%M") if at else None


def _parse(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


async def collect(agent: "Agent") -> dict[str, Any]:
    config, outbox, fwd = agent.config, agent.outbox, agent.forwarder
    zone: dt.tzinfo = config.zone or dt.UTC
    now = agent.clock.now()
    stats = await outbox.stats()
    oldest = _parse(stats.oldest_unsent_at)
    oldest_age = (now - oldest).total_seconds() if oldest else None
    # Counted after `stats`: an ack in between can only make it smaller, never above the backlog.
    sales_waiting = min(await outbox.count_unsent("sale"), stats.backlog)
    disk = _disk(agent, stats.last_seq)
    captured_15 = agent.api.throughput.last_window()
    per_hour = captured_15 * 3600 // _WINDOW_S
    if disk["bytes_per_event"] and per_hour:
        disk["hours_left"] = round(disk["free_bytes"] / (disk["bytes_per_event"] * per_hour), 1)
    connected = fwd.state == "connected"
    down_s = (now - fwd.state_since).total_seconds() if not connected else 0.0
    damage = await outbox.damage()
    headline = _headline(agent, connected, fwd.state_since, zone, sales_waiting, stats.backlog,
                         oldest_age, disk, damage)
    today = now.astimezone(zone).date()
    return {
        "store_id": config.store_id,
        "version": agent.version,
        "at": now.astimezone(zone).isoformat(timespec="seconds"),
        "headline": headline,
        "connection": {"state": fwd.state, "since": fwd.state_since.isoformat(),
                       "down_for_s": round(down_s), "last_error": fwd.last_error,
                       # Only what the hub said in this connection; unknown while offline.
                       "head_office_online": fwd.hub_online if connected else None},
        "backlog": {"events": stats.backlog, "sales": sales_waiting,
                    "oldest_unsent_at": stats.oldest_unsent_at,
                    "oldest_age_s": round(oldest_age) if oldest_age is not None else None},
        "last_ack_at": stats.acked_at,
        "throughput": {"captured_last_15_min": captured_15, "per_hour": per_hour,
                       "forwarded": fwd.forwarded, "captured": agent.api.captured},
        "disk": disk,
        "outbox_check": _check(agent, damage),
        "till_clocks": {r: {"skew_s": round(skew), "seen_at": at.isoformat()}
                        for r, (skew, at) in sorted(agent.api.till_clocks.items())},
        "recent": await outbox.recent(RECENT),
        "today": {"business_day": today.isoformat(), "registers": await outbox.day_by_register(today)},
    }


def _disk(agent: "Agent", last_seq: int) -> dict[str, Any]:
    path = agent.config.outbox_path
    usage = shutil.disk_usage(path.parent)
    size = sum(os.path.getsize(p) for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    free = usage.free
    cap = agent.config.outbox.max_size_mb * 1024 * 1024
    if cap:
        free = min(free, max(0, cap - size))
    events = max(1, last_seq - agent.outbox.pruned_through)
    return {"free_bytes": free, "total_bytes": usage.total, "outbox_bytes": size,
            "bytes_per_event": size // events if last_seq else 0, "hours_left": None,
            "nearly_full": free < agent.config.health.min_free_mb * 1024 * 1024
            or agent.api.full_since is not None}


def _check(agent: "Agent", damage: Damage | None) -> dict[str, Any]:
    """The integrity check at this start, and the last rebuild it ever made."""
    now = agent.outbox.check
    return {"at": now.checked_at if now else None, "problems": now.problems if now else [],
            "last_repair": msgspec.to_builtins(damage) if damage else None}


def _headline(agent: "Agent", connected: bool, since: dt.datetime, zone: dt.tzinfo,
              sales_waiting: int, backlog: int, oldest_age: float | None,
              disk: dict[str, Any], damage: Damage | None) -> dict[str, str]:
    if agent.api.full_since is not None:
        return {"level": "error", "text": "Disk full: new sales are being refused. Call support now."}
    if disk["nearly_full"] or (disk["hours_left"] is not None and disk["hours_left"] < 24):
        return {"level": "error", "text": "Disk almost full: call support. Sales are still recorded."}
    repaired = _parse(damage.repaired_at) if damage else None
    if damage and repaired and agent.clock.now() - repaired < REPAIR_SHOWN_FOR:
        return {"level": "warn",
                "text": f"Sales records were damaged and repaired on "
                        f"{repaired.astimezone(zone):%Y-%m-%d %H:%M}: "
                        f"{damage.kept} kept, {damage.quarantined} damaged set aside. "
                        "Keep selling; tell support."}
    noun = "sale" if sales_waiting == 1 else "sales"
    count = f"{COUNT_CAP}+" if sales_waiting >= COUNT_CAP else str(sales_waiting)
    waiting = (f"{count} {noun} waiting (oldest {_ago(oldest_age or 0)})" if sales_waiting
               else "no sales waiting")
    if not connected:
        return {"level": "warn",
                "text": f"Offline since {_clock(since, zone)} — {waiting}. "
                        "Keep selling: nothing is lost."}
    fwd = agent.forwarder
    if fwd.hub_online is False:
        return {"level": "warn",
                "text": f"Head office is not answering since {_clock(fwd.hub_state_since, zone)}"
                        f" — {waiting}. Keep selling: nothing is lost."}
    if backlog:
        return {"level": "info", "text": f"Sending to head office — {waiting}."}
    recent = sorted(r for r, (_s, at) in agent.api.till_clocks.items()
                    if agent.clock.now() - at < CLOCK_SHOWN_FOR)
    if recent:
        return {"level": "warn", "text": f"All sales sent. Set the clock of till {', '.join(recent)}:"
                                         " it is wrong by more than "
                                         f"{int(agent.config.api.max_clock_skew_s // 60)} min."}
    return {"level": "ok", "text": "All sales sent to head office"}
