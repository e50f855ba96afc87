"""What the store's status page and `/v1/status` say: a plain-language headline, then the numbers.

Everything here is read from the outbox by index (seq, business_day) or kept in memory, so the
page stays fast with a million events waiting.
"""

import datetime as dt
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from edge_agent.capture import CaptureApi
from edge_agent.catalog import Catalog
from edge_agent.catalog_reads import CatalogReads
from edge_agent.config import AgentConfig
from edge_agent.disk import Disk
from edge_agent.forwarder import Forwarder
from edge_agent.outbox import COUNT_CAP, Damage, Outbox
from runtime import timefmt
from runtime.clock import Clock

RECENT = 20
REPAIR_SHOWN_FOR = dt.timedelta(days=7)  # the headline recalls a rebuilt outbox this long
CLOCK_SHOWN_FOR = dt.timedelta(hours=1)  # and a till with a wrong clock, since its last sale


FLOWING_S = 60  # with every waiting event younger than this and an ack as recent: up to date
PRICES_BEHIND = dt.timedelta(days=1)  # the page warns when prices may be older than this


class Agent(Protocol):
    """What the status page reads of the running agent (`edge_agent.app.Agent`); a Protocol,
    so that this module need not import the app that serves it."""

    config: AgentConfig
    clock: Clock
    outbox: Outbox
    forwarder: Forwarder
    api: CaptureApi
    catalog: Catalog
    catalog_reads: CatalogReads
    version: str

    def measure_disk(self, last_seq: int) -> Disk: ...


# What the MQTT library and the operating system say, in words for store staff; the raw text
# stays in /v1/status (`connection.last_error`) for support. First match wins.
_PROBLEMS = (
    (("not authori", "bad user name", "bad username", "password", "code:4", "code:5",
      "code:134", "code:135"),
     "Head office did not accept this store's login. Call support."),
    (("certificate", "ssl", "tls", "handshake"),
     "The secure connection to head office failed (certificate problem). Call support."),
    (("name or service not known", "errno -2", "errno -3", "errno -5", "nodename",
      "temporary failure in name resolution", "getaddrinfo"),
     "Head office's address could not be found: check this store's internet connection."),
    (("errno 101", "errno 113", "network is unreachable", "no route to host"),
     "No network route to head office: check this store's internet connection."),
    (("errno 111", "connection refused"),
     "Head office is not accepting connections right now (it may be restarting)."),
    (("timed out", "timeout", "errno 110"),
     "Head office did not answer in time: the network may be slow or down."),
    (("disconnected", "connection lost", "reset by peer", "errno 104", "broken pipe",
      "errno 32", "keep alive", "keepalive", "unexpected"),
     "The connection to head office was interrupted."),
)


def plain_problem(raw: str | None) -> str | None:
    """A connection error in plain words (None when there is none)."""
    if not raw:
        return None
    text = raw.lower()
    for needles, words in _PROBLEMS:
        if any(n in text for n in needles):
            return words
    return "Could not reach head office."


def _clock(at: dt.datetime | None, zone: dt.tzinfo) -> str | None:
    return at.astimezone(zone).strftime("%H:%M") if at else None


def _parse(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


async def collect(agent: Agent) -> dict[str, Any]:
    config, outbox, fwd = agent.config, agent.outbox, agent.forwarder
    zone: dt.tzinfo = config.zone or dt.UTC
    now = agent.clock.now()
    stats = await outbox.stats()
    oldest = _parse(stats.oldest_unsent_at)
    oldest_age = (now - oldest).total_seconds() if oldest else None
    # Counted after `stats`: an ack in between can only make it smaller, never above the backlog.
    sales_waiting = min(await outbox.count_unsent("sale"), stats.backlog)
    disk = agent.measure_disk(stats.last_seq)
    captured_15 = agent.api.throughput.last_window()
    sales_15 = agent.api.throughput.sales_last_window()
    per_hour = agent.api.throughput.per_hour(captured_15)
    connected = fwd.state == "connected"
    down_s = (now - fwd.state_since).total_seconds() if not connected else 0.0
    damage = await outbox.damage()
    ack_age = ((now - dt.datetime.fromisoformat(stats.acked_at)).total_seconds()
               if stats.acked_at else None)
    flowing = (stats.backlog > 0 and oldest_age is not None and oldest_age < FLOWING_S
               and ack_age is not None and ack_age < FLOWING_S)
    headline = _headline(agent, connected, fwd.state_since, zone, sales_waiting, stats.backlog,
                         oldest_age, disk, damage, flowing)
    today = now.astimezone(zone).date()
    registers = await outbox.day_by_register(today)
    return {
        "store_id": config.store_id,
        "version": agent.version,
        "at": now.astimezone(zone).isoformat(timespec="seconds"),
        "headline": headline,
        "connection": {"state": fwd.state, "since": fwd.state_since.isoformat(),
                       "down_for_s": round(down_s), "last_error": fwd.last_error,
                       "problem": plain_problem(fwd.last_error),
                       # Only what the hub said in this connection; unknown while offline.
                       "head_office_online": fwd.hub_online if connected else None},
        "backlog": {"events": stats.backlog, "sales": sales_waiting,
                    "oldest_unsent_at": stats.oldest_unsent_at,
                    "oldest_age_s": round(oldest_age) if oldest_age is not None else None,
                    "flowing": flowing},
        "last_ack_at": stats.acked_at,
        "throughput": {"captured_last_15_min": captured_15, "per_hour": per_hour,
                       "sales_last_15_min": sales_15,
                       "sales_per_hour": agent.api.throughput.per_hour(sales_15),
                       "forwarded": fwd.forwarded, "captured": agent.api.captured},
        "disk": disk.report(full=agent.api.full_since is not None),
        "outbox_check": _check(agent, damage),
        "till_clocks": {r: {"skew_s": round(skew), "seen_at": at.isoformat()}
                        for r, (skew, at) in sorted(agent.api.till_clocks.items())},
        "prices": await _prices(agent, now, zone),
        "recent": await outbox.recent(RECENT),
        "today": {"business_day": today.isoformat(), "registers": registers,
                  "totals": _totals(registers)},
    }


def _totals(registers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The store's day per currency, all registers together (exact: Decimal sums)."""
    out: dict[str, dict[str, Any]] = {}
    for r in registers:
        for part in r["by_currency"]:
            t = out.setdefault(part["currency"], {"currency": part["currency"], "sales": 0,
                                                  "returns": 0, "gross": Decimal(0)})
            t["sales"] += part["sales"]
            t["returns"] += part["returns"]
            t["gross"] += Decimal(part["gross"])
    return [{**t, "gross": str(t["gross"])} for _c, t in sorted(out.items())]


def _check(agent: Agent, damage: Damage | None) -> dict[str, Any]:
    """The integrity check at this start, and the last rebuild it ever made."""
    now = agent.outbox.check
    return {"at": now.checked_at if now else None, "problems": now.problems if now else [],
            "last_repair": msgspec.to_builtins(damage) if damage else None}


def _headline(agent: Agent, connected: bool, since: dt.datetime, zone: dt.tzinfo,
              sales_waiting: int, backlog: int, oldest_age: float | None,
              disk: Disk, damage: Damage | None, flowing: bool) -> dict[str, str]:
    if agent.api.full_since is not None:
        return {"level": "error", "text": "Disk full: new sales are being refused. Call support now."}
    if disk.running_out:
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
    waiting = (f"{count} {noun} waiting (oldest {timefmt.duration(oldest_age or 0)})" if sales_waiting
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
    if backlog and not flowing:
        return {"level": "info", "text": f"Sending to head office — {waiting}."}
    recent = sorted(r for r, (_s, at) in agent.api.till_clocks.items()
                    if agent.clock.now() - at < CLOCK_SHOWN_FOR)
    if recent:
        sent = "Sales are being sent as they happen" if backlog else "All sales sent"
        return {"level": "warn", "text": f"{sent}. Set the clock of till {', '.join(recent)}:"
                                         " it is wrong by more than "
                                         f"{timefmt.duration(agent.config.api.max_clock_skew_s)}."}
    if backlog:
        # Under steady trade a few sales are always on their way: that is up to date, not late.
        return {"level": "ok", "text": "Up to date: sales reach head office as they happen"}
    return {"level": "ok", "text": "All sales sent to head office"}


def _when(at: dt.datetime, now: dt.datetime, zone: dt.tzinfo) -> str:
    """An instant to come as staff say it: "today 18:00", "tonight 00:00", "tomorrow 09:00",
    "on Friday 09:00", "on 2026-12-24 09:00"."""
    local, today = at.astimezone(zone), now.astimezone(zone).date()
    clock = f"{local:%H:%M}"
    days = (local.date() - today).days
    if days == 0:
        return f"today {clock}"
    if days == 1:
        return f"tonight {clock}" if clock == "00:00" else f"tomorrow {clock}"
    return f"on {local:%A} {clock}" if days < 7 else f"on {local:%Y-%m-%d} {clock}"


def _applied(at: dt.datetime, now: dt.datetime, zone: dt.tzinfo) -> str:
    local = at.astimezone(zone)
    same_day = local.date() == now.astimezone(zone).date()
    return f"{local:%H:%M}" if same_day else f"{local:%Y-%m-%d %H:%M}"


async def _prices(agent: Agent, now: dt.datetime, zone: dt.tzinfo) -> dict[str, Any]:
    """The prices line: which version, since when, the next change; a warning when the prices
    may be more than a day behind head office (a newer version heard of and not applied, or no
    word from head office) or cannot be looked up."""
    catalog = agent.catalog
    if not agent.catalog_reads.available:
        return {"level": "error", "text": "Prices cannot be looked up: the disk is full. "
                                          "Call support.", "version": None}
    summary = await agent.catalog_reads.summary(now)
    state = catalog.state
    if summary["version"] is None:
        return {"level": "info", "text": "Prices: none from head office yet.", "version": None}
    applied = dt.datetime.fromisoformat(summary["applied_at"])
    text = f"Prices: version {summary['version']}, applied {_applied(applied, now, zone)}."
    nxt = summary["next_change"]
    if nxt is not None:
        count = nxt["items"]
        text += (f" Next change {_when(dt.datetime.fromisoformat(nxt['at']), now, zone)}"
                 f" ({count} item{'' if count == 1 else 's'}).")
    if catalog.applying is not None:
        text += f" Applying version {catalog.applying} now."
    level, warning = "ok", None
    fwd = agent.forwarder
    heard = dt.datetime.fromisoformat(state.heard_at) if state.heard_at else None
    if (state.heard_version or 0) > summary["version"] and heard and now - heard > PRICES_BEHIND:
        warning = (f"Prices are more than a day behind head office: version "
                   f"{state.heard_version} has been arriving since {_applied(heard, now, zone)} "
                   "and is not applied yet. Call support.")
    else:
        away = (fwd.state_since if fwd.state != "connected"
                else fwd.hub_state_since if fwd.hub_online is False else None)
        if away is not None and now - away > PRICES_BEHIND:
            warning = (f"Prices may be more than a day behind head office: no contact since "
                       f"{_applied(away, now, zone)}. Tills keep selling at these prices.")
    if warning:
        level = "warn"
    return {"level": level, "text": text, "warning": warning, "version": summary["version"],
            "applied_at": summary["applied_at"], "items": summary["items"],
            "next_change": nxt, "applying": catalog.applying}


async def lookup(agent: Agent, register_id: str, pos_txn_id: str) -> dict[str, Any]:
    """The page's "find a transaction" answer for one register and number."""
    register_id, pos_txn_id = register_id.strip(), pos_txn_id.strip()
    found = (await agent.outbox.find(register_id, pos_txn_id)
             if register_id and pos_txn_id else None)
    return {"register_id": register_id, "pos_txn_id": pos_txn_id, "found": found}
