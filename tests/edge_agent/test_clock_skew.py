"""A till whose clock is hours off: business days follow the store controller's clock."""

import datetime as dt
import zoneinfo

import pytest

from edge_agent.requests import SaleIn, decode, prepare

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def body(occurred: dt.datetime, business_day: str | None = None) -> bytes:
    extra = f',"business_day":"{business_day}"' if business_day else ""
    return (b'{"register_id":"R1","pos_txn_id":"1","occurred_at":"%s","currency":"EUR",'
            b'"lines":[{"sku":"A","qty":1,"unit_price":"1.00"}],"tenders":[]%s}'
            % (occurred.isoformat().encode(), extra.encode()))


@pytest.mark.parametrize("now, till_off_h, day", [
    # 23:30 in Berlin; a till 3 h fast says 02:30 tomorrow: still today.
    (dt.datetime(2026, 11, 23, 22, 30, tzinfo=dt.UTC), 3, "2026-11-23"),
    # 01:30 in Berlin; a till 3 h slow says 22:30 yesterday: today.
    (dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC), -3, "2026-11-24"),
    # A till 10 min off stays within the default 15 min: its own time decides (22:50 UTC).
    (dt.datetime(2026, 11, 23, 22, 55, tzinfo=dt.UTC), 10 / 60, "2026-11-24"),
])
def test_business_day_follows_the_controller_when_the_till_clock_is_off(now, till_off_h, day):
    occurred = now + dt.timedelta(hours=till_off_h)
    p = prepare(decode(body(occurred), SaleIn), "S1", BERLIN, now, max_skew_s=900)
    assert p.business_day.isoformat() == day
    assert p.occurred_at == occurred  # what the till said is kept as it said it
    assert p.clock_skew_s == pytest.approx(till_off_h * 3600)


def test_an_explicit_business_day_is_always_kept():
    now = dt.datetime(2026, 11, 23, 22, 30, tzinfo=dt.UTC)
    p = prepare(decode(body(now + dt.timedelta(hours=5), "2026-11-22"), SaleIn), "S1", BERLIN, now,
                max_skew_s=900)
    assert p.business_day.isoformat() == "2026-11-22"


async def test_the_answer_and_status_name_the_till_with_a_wrong_clock(running_agent, http):
    agent, url = await running_agent()
    off = agent.clock.now() + dt.timedelta(hours=5, minutes=2, seconds=30)
    async with http.post(url + "/v1/sales", data=body(off),
                         headers={"Content-Type": "application/json"}) as r:
        answer = await r.json()
    assert r.status == 201
    assert "5 h 2 min ahead" in answer["warning"]
    today = agent.clock.now().astimezone(BERLIN).date().isoformat()  # the test agent's zone is Berlin
    assert f"business_day {today}" in answer["warning"]
    async with http.get(url + "/v1/status") as r:
        status = await r.json()
    assert status["till_clocks"]["R1"]["skew_s"] == pytest.approx(5 * 3600 + 150, abs=5)
