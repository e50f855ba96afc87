"""The till-facing HTTP API, over real HTTP against a running agent with a real outbox."""

import datetime as dt
import json
import sqlite3

import pytest

from edge_agent import keys
from protocol import codec
from protocol.messages import Sale
from tests.protocol.older import OlderSale
from tests.edge_agent.helpers import SALE, post, with_


async def sell_until_refused(http, url) -> tuple[int, dict]:
    """Post distinct sales until one is refused; it must be a 507. Returns (accepted, answer)."""
    for n in range(20000):
        status, answer = await post(http, url, with_("pos_txn_id", f"{n:06d}"))
        if status != 201:
            assert status == 507, answer
            return n, answer
    raise AssertionError("the outbox never filled up")


async def test_a_sale_is_captured_then_a_retry_gets_the_same_answer(running_agent, http):
    agent, url = await running_agent()
    status, body = await post(http, url, SALE)
    assert status == 201
    assert body["seq"] == 1 and body["status"] == "captured" and body["event_id"]
    assert await post(http, url, SALE) == (200, body)
    status, conflict = await post(http, url, with_("lines.0.qty", 3))
    assert status == 409 and conflict["field"] == "pos_txn_id" and conflict["seq"] == 1
    async with http.get(url + "/v1/transactions/R1/000123") as r:
        txn = await r.json()
    assert txn["state"] == "captured" and txn["seq"] == 1
    assert txn["business_day"] == "2026-11-23"  # store-local date (Europe/Berlin), not UTC's 22nd
    async with http.get(url + "/v1/transactions/R1/nope") as r:
        assert r.status == 404 and "error" in await r.json()


async def test_a_click_and_collect_sale_names_its_reservation_as_part_of_its_meaning(
        running_agent, http):
    _agent, url = await running_agent()
    collect = with_("reservation_id", "WEB-100234")
    status, body = await post(http, url, collect)
    assert status == 201
    assert await post(http, url, collect) == (200, body)
    for other in (SALE, with_("reservation_id", "WEB-100235")):  # without it, or another one
        status, conflict = await post(http, url, other)
        assert status == 409 and conflict["field"] == "pos_txn_id"


async def test_a_sale_without_a_reservation_keeps_the_digest_it_had_before_the_field(
        running_agent, http, tmp_path):
    """A till retrying across the upgrade still gets its 200: the digest of a sale that names
    no reservation is the one an agent computed before `reservation_id` existed."""
    _agent, url = await running_agent()
    assert (await post(http, url, SALE))[0] == 201
    event = codec.decode_event(sqlite3.connect(tmp_path / "data" / "outbox.sqlite").execute(
        "SELECT body FROM events").fetchone()[0])
    assert isinstance(event, Sale) and event.reservation_id is None
    older = OlderSale(event.register_id, event.pos_txn_id, event.currency,
                      event.prices_include_tax, event.lines, event.tenders)
    when, day = dt.datetime(2026, 11, 22, 23, 15, tzinfo=dt.UTC), dt.date(2026, 11, 23)
    assert keys.digest(event, when, day) == keys.digest(older, when, day)  # type: ignore[arg-type]


async def test_every_kind_is_captured_with_gapless_seqs(running_agent, http):
    agent, url = await running_agent()
    ret = {"register_id": "R1", "pos_txn_id": "000124", "occurred_at": "2026-11-23T10:00:00Z",
           "currency": "EUR", "lines": [{"sku": "SKU-1001", "qty": 1, "unit_price": "12.00",
                                         "tax": "2.00", "restock": True}],
           "tenders": [{"method": "cash", "amount": "12.00"}],
           "original": {"register_id": "R1", "pos_txn_id": "000123"}}
    adj = {"adjustment_id": "ADJ-1", "reason": "receipt", "occurred_at": "2026-11-23T10:00:00Z",
           "lines": [{"sku": "SKU-1001", "qty_delta": 24}]}
    close = {"business_day": "2026-11-23", "sales_count": 1, "returns_count": 1,
             "net_total": "10.00", "tax_total": "2.00", "tenders": {"cash": "12.00"}}
    seqs = []
    for path, body in (("/v1/sales", SALE), ("/v1/returns", ret),
                       ("/v1/inventory-adjustments", adj), ("/v1/day-close", close)):
        status, answer = await post(http, url, body, path)
        assert status == 201, answer
        seqs.append(answer["seq"])
    assert seqs == [1, 2, 3, 4]
    assert (await post(http, url, close, "/v1/day-close"))[0] == 200
    status, answer = await post(http, url, {**close, "net_total": "11.00"}, "/v1/day-close")
    assert status == 409 and answer["field"] == "business_day"


@pytest.mark.parametrize("body, field", [
    (with_("lines.0.qty", "2"), "lines[0].qty"),
    (with_("lines.0.qty", 0), "lines[0].qty"),
    (with_("lines.0.unit_price", "12,00"), "lines[0].unit_price"),
    (with_("lines.0.unit_price", "NaN"), "lines[0].unit_price"),
    (with_("lines.0.tax", "0.000001"), "lines[0].tax"),
    (with_("tenders.0.amount", "1e20"), "tenders[0].amount"),
    (with_("lines", []), "lines"),
    (with_("lines", ...), "lines"),
    (with_("register_id", ...), "register_id"),
    (with_("currency", "euro"), "currency"),
    (with_("occurred_at", "2026-11-23T10:15:00"), "occurred_at"),
    (with_("occurred_at", "yesterday"), "occurred_at"),
    (with_("business_day", "2026-13-40"), "business_day"),
    (with_("lines.0.colour", "red"), "lines[0].colour"),
    (with_("pos_txn_id", ""), "pos_txn_id"),
    (with_("reservation_id", "WEB/1"), "reservation_id"),
    (with_("reservation_id", ""), "reservation_id"),
    (with_("reservation_id", 7), "reservation_id"),
    ([1, 2], "$"),
])
async def test_malformed_sales_are_refused_naming_the_field(running_agent, http, body, field):
    _agent, url = await running_agent()
    status, answer = await post(http, url, body)
    assert status == 422, answer
    assert answer["field"] == field, answer
    assert answer["error"]


async def test_unbalanced_tenders_are_still_captured(running_agent, http):
    """Business rules are checked at the hub: at the store the customer has already paid."""
    _agent, url = await running_agent()
    status, _ = await post(http, url, with_("tenders.0.amount", "1.00"))
    assert status == 201


async def test_bad_bodies_invalid_utf8_wrong_type_and_oversize(running_agent, http):
    _agent, url = await running_agent()
    for raw in (b"{", b"\xff\xfe\x00", b""):
        async with http.post(url + "/v1/sales", data=raw,
                             headers={"Content-Type": "application/json"}) as r:
            assert r.status == 422 and (await r.json())["field"] == "$"
    async with http.post(url + "/v1/sales", data=b"<sale/>",
                         headers={"Content-Type": "application/xml"}) as r:
        assert r.status == 415
    big = with_("lines", [SALE["lines"][0]] * 5000)
    status, answer = await post(http, url, big)
    assert status == 422 and "larger" in answer["error"]
    async with http.get(url + "/v1/nothing-here") as r:
        assert r.status == 404 and (await r.json())["error"]
    assert (await post(http, url, SALE))[0] == 201  # valid requests in between still accepted


async def test_healthz_reports_outbox_and_link(running_agent, http):
    _agent, url = await running_agent()
    await post(http, url, SALE)
    async with http.get(url + "/healthz") as r:
        body = await r.json()
    assert r.status == 200
    assert body["store_id"] == "S001" and body["outbox"]["backlog"] == 1
    assert body["mqtt"]["state"] in ("starting", "disconnected")


async def test_a_full_outbox_answers_507_and_keeps_what_it_accepted(running_agent, http, tmp_path):
    agent, url = await running_agent(extra="[outbox]\nmax_size_mb = 1\n")
    accepted, answer = await sell_until_refused(http, url)
    assert "disk is full" in answer["error"]
    assert accepted > 100
    # Still full, still refusing, still serving reads; everything accepted is intact.
    assert (await post(http, url, with_("pos_txn_id", "x")))[0] == 507
    async with http.get(url + "/healthz") as r:
        health = await r.json()
    assert r.status == 503 and "disk full" in health["reason"]
    assert health["outbox"]["last_seq"] == accepted
    conn = sqlite3.connect(f"file:{agent.config.outbox_path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*), min(seq), max(seq) FROM events").fetchone() == (
        accepted, 1, accepted)


async def test_a_really_full_disk_answers_507_and_capture_resumes_when_space_returns(
        running_agent, http, small_disk):
    import subprocess

    agent, url = await running_agent(root=small_disk, extra="[health]\nmin_free_mb = 0\n")
    accepted, answer = await sell_until_refused(http, url)
    assert accepted > 20  # a 1 MiB disk still holds a few dozen sales
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    status, answer = await post(http, url, with_("pos_txn_id", "after"))
    assert status == 201, answer
    assert answer["seq"] == accepted + 1  # no gap, nothing lost
    async with http.get(url + "/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"


async def test_tills_on_another_host_need_the_shared_token(running_agent, http, tmp_path):
    root = tmp_path / "secured"
    root.mkdir()
    (root / "till-token").write_text("t0ken-for-tills\n")
    (root / "till-token").chmod(0o600)
    _agent, url = await running_agent(root=root, api_extra='token_file = "till-token"\n')
    status, body = await post(http, url, SALE)
    assert status == 401 and body["field"] == "Authorization"
    assert body["error"] == "missing or wrong bearer token"  # words are not secrets
    assert "t0ken" not in json.dumps(body)
    status, _ = await post(http, url, SALE, headers={"Authorization": "Bearer wrong"})
    assert status == 401
    status, _ = await post(http, url, SALE, headers={"Authorization": "Bearer t0ken-for-tills"})
    assert status == 201
    async with http.get(url + "/healthz") as r:
        assert r.status == 200 and "t0ken" not in await r.text()
