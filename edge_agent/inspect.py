"""Operator views for SSH sessions: `edge-agent status` and `edge-agent outbox list|show`.

They read the outbox read-only (safe while the agent runs) and ask the running agent's
/healthz for the link state. Human-readable text by default, `--json` for scripts.
"""

import asyncio
import datetime as dt
import json
import sqlite3
import urllib.error
import urllib.request
from typing import Any

import msgspec

from edge_agent import integrity
from edge_agent.config import AgentConfig
from edge_agent.errors import OutboxError
from edge_agent.outbox import Outbox
from runtime import clock, timefmt

EXIT_OK, EXIT_DAMAGED, EXIT_CONFIG, EXIT_NO_OUTBOX, EXIT_NOT_FOUND = 0, 1, 2, 3, 4


def check(config: AgentConfig) -> list[str]:
    """What the agent's check at start would find; repairs nothing (the agent does, at start)."""
    if not config.outbox_path.exists():
        raise OutboxError(f"no outbox at {config.outbox_path}")
    return integrity.inspect(config.outbox_path)


def _live(config: AgentConfig) -> dict[str, Any] | None:
    host, port = config.listen
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as r:
            return dict(json.load(r))
    except (OSError, urllib.error.URLError, ValueError):
        return None


async def _with_outbox(config: AgentConfig, fn):  # type: ignore[no-untyped-def]
    box = Outbox(config.outbox_path, config.store_id)
    await box.open_readonly()
    try:
        return await fn(box)
    finally:
        await box.close()


def status(config: AgentConfig) -> dict[str, Any]:
    async def read(box: Outbox) -> dict[str, Any]:
        stats = await box.stats()
        oldest = stats.oldest_unsent_at
        age = None
        if oldest:
            age = (clock.from_environment().now() - dt.datetime.fromisoformat(oldest)).total_seconds()
        try:
            damage = await box.damage()
        except sqlite3.OperationalError:  # an outbox the agent has not migrated yet
            damage = None
        return {"store_id": config.store_id, "stream": box.stream, "outbox": str(box.path),
                **msgspec.to_builtins(stats), "oldest_unsent_age_s": age,
                "last_repair": msgspec.to_builtins(damage) if damage else None}

    facts: dict[str, Any] = asyncio.run(_with_outbox(config, read))
    live = _live(config)
    facts["agent_running"] = live is not None
    facts["mqtt"] = live["mqtt"] if live else None
    return facts


def render_status(facts: dict[str, Any]) -> str:
    if facts["backlog"] == 0:
        headline = "All sales sent to head office."
    else:
        age = facts["oldest_unsent_age_s"] or 0
        headline = (f"{facts['backlog']} events waiting for head office "
                    f"(oldest {timefmt.duration(age)}). Keep selling: nothing is lost.")
    mqtt = facts["mqtt"]
    link = (f"{mqtt['state']} since {mqtt['since']}" if mqtt
            else "agent not running (no answer from its API)")
    return "\n".join([
        headline,
        f"store         {facts['store_id']}",
        f"link to hub   {link}",
        f"captured      {facts['last_seq']} events (stream {facts['stream']})",
        f"acknowledged  through seq {facts['acked_through']} (at {facts['acked_at'] or 'never'})",
        f"outbox        {facts['outbox']}",
        *_repair_line(facts.get("last_repair")),
    ])


def _repair_line(repair: dict[str, Any] | None) -> list[str]:
    if not repair:
        return []
    return [(f"repaired      {repair['repaired_at']}: {repair['kept']} events kept, "
            f"{repair['quarantined']} damaged set aside; damaged files in {repair['moved_to']}")]


def entries(config: AgentConfig, after: int, limit: int, unsent: bool) -> list[dict[str, Any]]:
    async def read(box: Outbox) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(e) for e in await box.entries(after, limit, unsent=unsent)]

    return list(asyncio.run(_with_outbox(config, read)))


def entry(config: AgentConfig, seq: int) -> dict[str, Any] | None:
    async def read(box: Outbox) -> dict[str, Any] | None:
        found = await box.entry(seq)
        return msgspec.to_builtins(found) if found else None

    result: dict[str, Any] | None = asyncio.run(_with_outbox(config, read))
    return result


def render_entries(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'SEQ':>8}  {'STATE':9}  {'KIND':20}  {'DAY':10}  KEY"]
    lines += [f"{r['seq']:>8}  {r['state']:9}  {r['kind']:20}  {r['business_day']:10}  "
              f"{r['natural_key']}" for r in rows]
    return "\n".join(lines)
