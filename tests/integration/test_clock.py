"""Tills with clocks hours off, selling in turn: the hub books every sale on the business day of
the store controller's clock, and keeps them in the order the agent captured them (seq)."""

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.integration.helpers import hub_and_agents
from tests.integration.tills import sale

pytestmark = pytest.mark.integration


async def test_skewed_tills_get_the_controllers_business_day_and_seq_order(tmp_path: Path, http,
                                                                           procs):
    hub, [agent] = await hub_and_agents(tmp_path, http, procs, ["S001"])
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date(), dt.time(), dt.UTC)
    # Enough hours off that each till's own clock is on another day (the agent keeps UTC days).
    offsets = {"FAST": midnight + dt.timedelta(days=1, hours=1) - now,
               "SLOW": midnight - dt.timedelta(hours=1) - now}
    captured: list[str] = []
    for n in range(40):
        register = "FAST" if n % 2 else "SLOW"
        body = sale(register, n)
        body["occurred_at"] = (dt.datetime.now(dt.UTC) + offsets[register]).isoformat()
        async with http.post(agent.url + "/v1/sales", json=body) as r:
            assert r.status == 201, await r.text()
            assert "clock" in (await r.json())["warning"]
        captured.append(f"{register}/{body['pos_txn_id']}")

    def rows() -> list[tuple[str, str, str]]:
        conn = sqlite3.connect(f"file:{hub.db}?mode=ro", uri=True)
        try:
            return conn.execute(
                "SELECT register_id || '/' || pos_txn_id, business_day, captured_at FROM events"
                " WHERE store_id = 'S001' ORDER BY seq").fetchall()
        finally:
            conn.close()

    async def all_applied() -> bool:
        return len(rows()) == 40

    await wait_for(all_applied, 30, "40 sales at the hub")
    got = rows()
    assert [r[0] for r in got] == captured
    for _txn, day, captured_at in got:
        assert day == dt.datetime.fromisoformat(captured_at).astimezone(dt.UTC).date().isoformat()
    async with http.get(agent.url + "/v1/status") as r:
        clocks = (await r.json())["till_clocks"]
    assert set(clocks) == {"FAST", "SLOW"}
    assert clocks["FAST"]["skew_s"] > 3600 and clocks["SLOW"]["skew_s"] < -3600
