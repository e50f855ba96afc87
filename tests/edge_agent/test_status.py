"""The store status page and /v1/status, /metrics and /healthz: what staff and monitoring see."""

import copy

from prometheus_client.parser import text_string_to_metric_families

from edge_agent import status, status_page
from tests.conftest import wait_for
from tests.edge_agent.helpers import MORNING_SALE as SALE

BASE = {
    "store_id": "S001", "version": "0.1.0", "at": "2026-11-23T10:50:00+01:00",
    "headline": {"level": "ok", "text": "All sales sent to head office"},
    "connection": {"state": "connected", "since": "2026-11-23T09:00:00+00:00", "down_for_s": 0,
                   "last_error": None},
    "backlog": {"events": 0, "sales": 0, "oldest_unsent_at": None, "oldest_age_s": None},
    "last_ack_at": "2026-11-23T09:49:58+00:00",
    "throughput": {"captured_last_15_min": 30, "per_hour": 120, "forwarded": 40, "captured": 40},
    "disk": {"free_bytes": 50 * 1024**3, "total_bytes": 100 * 1024**3, "outbox_bytes": 1 << 20,
             "bytes_per_event": 600, "hours_left": 700000.0, "nearly_full": False},
    "recent": [{"seq": 40, "kind": "return", "reference": "R1/000140", "gross": "12.00",
                "captured_at": "2026-11-23T09:49:00+00:00", "state": "at_head_office",
                "erp_ref": None}],
    "today": {"business_day": "2026-11-23", "registers": [
        {"register_id": "R1", "sales": 39, "returns": 1, "gross": "900.00",
         "at_head_office": {"sales": 39, "returns": 1, "gross": "900.00"}}]},
}


def state(**changes):
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        out[key] = value
    return out


def test_online_page_says_all_is_sent_in_local_time():
    html = status_page.render(BASE)
    assert "All sales sent to head office" in html
    assert "connected" in html and "since 10:00:00" in html  # Europe/Berlin, from the status
    assert "<script src" not in html and "http" not in html.replace("http-equiv", "")  # no assets
    assert 'content="5"' in html and "location.reload()" in html  # refreshes itself


def test_offline_page_says_keep_selling_and_shows_the_backlog():
    html = status_page.render(state(
        headline={"level": "warn", "text": "Offline since 10:42 — 37 sales waiting (oldest 12 min). "
                                           "Keep selling: nothing is lost."},
        connection={"state": "disconnected", "since": "2026-11-23T09:42:00+00:00",
                    "down_for_s": 480, "last_error": "Connection refused"},
        backlog={"events": 38, "sales": 37, "oldest_unsent_at": "2026-11-23T09:38:00+00:00",
                 "oldest_age_s": 720}))
    assert "Offline since 10:42 — 37 sales waiting (oldest 12 min)" in html
    assert "37 sales" in html and "not connected" in html and "Connection refused" in html
    assert 'class="headline warn"' in html


def test_disk_nearly_full_page_asks_to_call_support():
    html = status_page.render(state(
        headline={"level": "error", "text": "Disk almost full: call support. Sales are still recorded."},
        disk={**BASE["disk"], "free_bytes": 50 * 1024**2, "hours_left": 3.5, "nearly_full": True}))
    assert "Disk almost full: call support" in html and "about 3.5 hours of sales" in html
    assert 'class="headline error"' in html


def test_the_disk_estimate_is_said_in_a_unit_people_use():
    def room(hours):
        return status_page.render(state(disk={**BASE["disk"], "hours_left": hours}))

    assert "about 4240.7 hours" not in room(4240.7) and "room for months of sales" in room(4240.7)
    assert "about 20 days of sales" in room(480.4)
    assert "about 31 hours of sales" in room(31.2)
    assert "less than an hour of sales" in room(0.4)
    assert "room for over a year of sales" in room(700000.0)


def test_counts_are_plural_and_an_empty_backlog_has_no_oldest():
    one = status_page.render(state(backlog={"events": 1, "sales": 1, "oldest_age_s": 5,
                                            "oldest_unsent_at": "2026-11-23T09:49:55+00:00"}))
    assert "1 record in all; oldest from 10:49:55" in one and "1 sale<" in one
    none = status_page.render(BASE)
    assert "nothing waiting" in none and "never" not in none and "0 sales" in none


def test_connection_errors_reach_staff_in_plain_words():
    for raw, words in [
            ("Disconnected during message iteration", "was interrupted"),
            ("[Errno 111] Connect call failed ('127.0.0.1', 1883)", "not accepting connections"),
            ("[Errno -2] Name or service not known", "address could not be found"),
            ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "certificate problem"),
            ("Connection refused: not authorised (code:5)", "did not accept this store"),
            ("timed out", "did not answer in time"),
            ("something new", "Could not reach head office")]:
        assert words in status.plain_problem(raw), raw
        html = status_page.render(state(connection={
            "state": "disconnected", "since": "2026-11-23T09:42:00+00:00", "down_for_s": 480,
            "last_error": raw, "problem": status.plain_problem(raw)}))
        assert words in html and "Errno" not in html and "message iteration" not in html


def test_takings_in_several_currencies_are_shown_per_currency_never_added():
    def part(currency, sales, gross):
        return {"currency": currency, "sales": sales, "returns": 0, "gross": gross,
                "at_head_office": {"sales": sales, "returns": 0, "gross": gross}}

    registers = [
        {"register_id": "R1", "sales": 3, "returns": 0, "currency": None, "gross": None,
         "at_head_office": {"sales": 3, "returns": 0, "gross": None},
         "by_currency": [part("CHF", 1, "10.00"), part("EUR", 1, "20.00"), part("JPY", 1, "500")]},
        {"register_id": "R2", "sales": 1, "returns": 0, "currency": "EUR", "gross": "5.00",
         "at_head_office": {"sales": 1, "returns": 0, "gross": "5.00"},
         "by_currency": [part("EUR", 1, "5.00")]}]
    html = status_page.render(state(today={
        "business_day": "2026-11-23", "registers": registers, "totals": status._totals(registers)}))
    for shown in ("CHF 10.00", "EUR 20.00", "JPY 500", "EUR 5.00", "EUR 25.00"):
        assert shown in html
    assert "530" not in html and "535" not in html


def test_a_transaction_posted_to_the_erp_shows_its_document_number():
    html = status_page.render(state(recent=[{**BASE["recent"][0], "state": "posted",
                                             "erp_ref": "POS/0042"}]))
    assert "posted to ERP POS/0042" in html


def test_markup_in_data_is_escaped():
    html = status_page.render(state(recent=[{**BASE["recent"][0], "reference": "R1/<b>x</b>"}]))
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


async def test_a_real_offline_agent_serves_page_status_metrics_and_health(running_agent, http):
    agent, url = await running_agent(extra="[health]\nbroker_down_s = 0.5\nmin_free_mb = 0\n")
    for n in range(3):
        async with http.post(url + "/v1/sales", json={**SALE, "pos_txn_id": f"00012{n}"}) as r:
            assert r.status == 201
    async with http.get(url + "/v1/status") as r:
        body = await r.json()
    assert body["backlog"]["sales"] == 3
    assert body["headline"]["text"].startswith("Offline since ")
    assert "3 sales waiting" in body["headline"]["text"]
    assert body["today"]["registers"][0]["sales"] == 3
    assert body["today"]["registers"][0]["gross"] == "72.00"
    assert [t["state"] for t in body["recent"]] == ["waiting"] * 3
    async with http.get(url + "/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "3 sales waiting" in await r.text()
    async with http.get(url + "/?register=R1&number=000121") as r:
        assert "sale R1/000121</b> EUR 24.00" in await r.text()
    async with http.get(url + "/?register=R1&number=999") as r:
        assert "No transaction 999 from register R1" in await r.text()
    async with http.get(url + "/metrics") as r:
        families = {f.name: f for f in text_string_to_metric_families(await r.text())}
    assert families["edge_outbox_backlog_events"].samples[0].value == 3
    assert families["edge_events_captured"].samples[0].value == 3
    assert families["edge_mqtt_connected"].samples[0].value == 0

    async def degraded():
        async with http.get(url + "/healthz") as r:
            return (await r.json()) if r.status == 503 else None

    body = await wait_for(degraded, 10, "healthz 503 once the broker is down past the threshold")
    assert "health.broker_down_s" in body["reason"]


async def test_takings_per_currency_and_sales_per_hour_count_only_sales(running_agent, http):
    _agent, url = await running_agent()
    chf = {**SALE, "pos_txn_id": "2", "currency": "CHF"}
    refund = {**SALE, "pos_txn_id": "3", "lines": [{**SALE["lines"][0], "restock": True}]}
    for path, body in [("/v1/sales", SALE), ("/v1/sales", chf), ("/v1/returns", refund),
                       ("/v1/inventory-adjustments", {"adjustment_id": "A1", "reason": "damage",
                                                      "occurred_at": SALE["occurred_at"],
                                                      "lines": [{"sku": "SKU-1", "qty_delta": -1}]})]:
        async with http.post(url + path, json=body) as r:
            assert r.status == 201, await r.text()
    async with http.get(url + "/v1/status") as r:
        body = await r.json()
    assert body["throughput"]["captured_last_15_min"] == 4
    assert body["throughput"]["sales_last_15_min"] == 2
    [register] = body["today"]["registers"]
    assert (register["currency"], register["gross"]) == (None, None)  # two currencies: not added
    assert [(p["currency"], p["sales"], p["returns"], p["gross"]) for p in register["by_currency"]] \
        == [("CHF", 1, 0, "24.00"), ("EUR", 1, 1, "0.00")]
    assert body["today"]["totals"] == [
        {"currency": "CHF", "sales": 1, "returns": 0, "gross": "24.00"},
        {"currency": "EUR", "sales": 1, "returns": 1, "gross": "0.00"}]
    assert body["recent"][-1]["currency"] == "EUR"
    async with http.get(url + "/") as r:
        html = await r.text()
    assert "CHF 24.00" in html and "EUR 0.00" in html and "48.00" not in html
