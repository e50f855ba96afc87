"""Bounds, the amount grammar, the id alphabet, retries that mean the same, and honest answers:
over real HTTP against a running agent with a real outbox (docs/api.md, "Bounds")."""

import sqlite3

import pytest

from edge_agent.outbox import Outbox
from protocol import codec
from tests.edge_agent.helpers import SALE, post, with_

RETURN = {**SALE, "pos_txn_id": "RET-1",
          "lines": [{"sku": "SKU-1001", "qty": 1, "unit_price": "12.00", "restock": True}]}
ADJ = {"adjustment_id": "ADJ-1", "reason": "receipt", "occurred_at": "2026-11-23T10:00:00Z",
       "lines": [{"sku": "SKU-1001", "qty_delta": 24}]}
CLOSE = {"business_day": "2026-11-23", "sales_count": 1, "returns_count": 0,
         "net_total": "20.00", "tax_total": "4.00", "tenders": {"cash": "24.00"},
         "occurred_at": "2026-11-23T20:00:00+01:00"}
# docs/api.md's example sale, as printed there.
DOC_SALE = {"register_id": "R1", "pos_txn_id": "000123",
            "occurred_at": "2026-11-23T10:15:00+01:00", "business_day": "2026-11-23",
            "currency": "EUR", "prices_include_tax": True,
            "lines": [{"sku": "SKU-1001", "qty": 2, "unit_price": "12.00", "discount": "0.00",
                       "tax": "4.00"}],
            "tenders": [{"method": "cash", "amount": "24.00"}]}


@pytest.mark.parametrize("when", ["9999-12-31T20:00:00-05:00", "0001-01-01T00:30:00+01:00",
                                  "1999-12-31T23:59:59Z", "3000-01-01T00:00:00Z"])
async def test_instants_outside_the_years_2000_to_2999_get_422_on_every_capture(
        running_agent, http, when):
    _agent, url = await running_agent()
    for path, body in (("/v1/sales", SALE), ("/v1/returns", RETURN),
                       ("/v1/inventory-adjustments", ADJ), ("/v1/day-close", CLOSE)):
        status, answer = await post(http, url, {**body, "occurred_at": when}, path)
        assert (status, answer["field"]) == (422, "occurred_at"), (path, answer)


async def test_totals_and_figures_out_of_bounds_get_422_naming_the_field(running_agent, http):
    _agent, url = await running_agent()
    huge = with_("lines.0", {"sku": "A", "qty": 1_000_000, "unit_price": "1000000.00"})
    assert (await post(http, url, huge))[1]["field"] == "lines[0]"
    two = with_("lines", [{"sku": "A", "qty": 1, "unit_price": "600000000000"}] * 2)
    status, answer = await post(http, url, two)
    assert (status, answer["field"]) == (422, "lines")
    for field, value in (("sales_count", 100_000_001), ("net_total", "1000000000000")):
        status, answer = await post(http, url, {**CLOSE, field: value}, "/v1/day-close")
        assert (status, answer["field"]) == (422, field), answer
    bad = {**ADJ, "lines": [{"sku": "A", "qty_delta": -1_000_001}]}
    status, answer = await post(http, url, bad, "/v1/inventory-adjustments")
    assert (status, answer["field"]) == (422, "lines[0].qty_delta")
    assert (await post(http, url, {**CLOSE, "business_day": "1999-12-31"}, "/v1/day-close"))[0] == 422


@pytest.mark.parametrize("amount", ["1_000", "١٢", " 12.00 ", "+12", "12.", ".5", "1e3", "NaN",
                                    "Infinity", "0.00001", True, None, [1]])
async def test_amounts_follow_one_grammar(running_agent, http, amount):
    _agent, url = await running_agent()
    status, answer = await post(http, url, with_("lines.0.unit_price", amount))
    assert (status, answer["field"]) == (422, "lines[0].unit_price"), answer


async def test_json_numbers_written_in_the_grammar_are_read_exactly(running_agent, http):
    agent, url = await running_agent()
    async with http.post(url + "/v1/sales", headers={"Content-Type": "application/json"},
                         data=b'{"register_id":"R1","pos_txn_id":"N1","occurred_at":'
                              b'"2026-11-23T11:00:00Z","currency":"EUR","lines":[{"sku":"A",'
                              b'"qty":1,"unit_price":12.10}],"tenders":[{"method":"cash",'
                              b'"amount":12}]}') as r:
        assert r.status == 201, await r.text()
    entry = await agent.outbox.entry(1)
    assert entry.event["lines"][0]["unit_price"] == "12.10"


@pytest.mark.parametrize("field, value", [("register_id", "R/1"), ("pos_txn_id", "1/coll"),
                                          ("pos_txn_id", "a b"), ("pos_txn_id", "x" * 65),
                                          ("pos_txn_id", "50%")])
async def test_ids_outside_the_alphabet_get_422(running_agent, http, field, value):
    _agent, url = await running_agent()
    status, answer = await post(http, url, with_(field, value))
    assert (status, answer["field"]) == (422, field), answer
    ok = with_("pos_txn_id", "Az09-_.:")
    assert (await post(http, url, ok))[0] == 201


async def test_old_ids_with_a_slash_stay_distinct_and_findable_after_the_upgrade(
        running_agent, http, tmp_path):
    agent, url = await running_agent(tmp_path / "a")
    status, first = await post(http, url, with_("pos_txn_id", "coll"))
    assert status == 201
    path = agent.outbox.path
    await agent.outbox.close()
    # What an older agent wrote for the sale ("R/1", "coll"): key txn/R/1/coll, schema 4.
    conn = sqlite3.connect(path)
    (body,) = conn.execute("SELECT body FROM events WHERE seq = 1").fetchone()
    sale = codec.decode_event(body)
    import msgspec
    old = msgspec.structs.replace(sale, register_id="R/1")
    conn.execute("UPDATE events SET natural_key = 'txn/R/1/coll', body = ?, digest = x'00'",
                 (codec.encode(old),))
    conn.execute("DROP INDEX events_by_day")  # schema 6 added the currency column to it
    conn.execute("ALTER TABLE events DROP COLUMN currency")
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    outbox = Outbox(path, "S001")
    await outbox.open()
    try:
        found = await outbox.transaction("R/1", "coll")
        assert found is not None and found.seq == 1
        assert await outbox.transaction("R", "1/coll") is None
        assert (await outbox.recent(5))[0]["reference"] == "R/1/coll"
    finally:
        await outbox.close()


async def test_a_retry_with_the_same_meaning_gets_200(running_agent, http):
    _agent, url = await running_agent()
    status, first = await post(http, url, SALE)
    assert status == 201
    same = [
        with_("lines.0.unit_price", "12.0000"),
        with_("lines.0.discount", ...),  # omitted: the default 0
        with_("lines.0.discount", "0"),
        with_("occurred_at", "2026-11-22T23:15:00Z"),  # the same instant at UTC
        {**SALE, "business_day": "2026-11-23"},  # the day it was given anyway
        {**SALE, "prices_include_tax": True},
        with_("tenders.0.amount", 24),
    ]
    for body in same:
        status, again = await post(http, url, body)
        assert (status, again["event_id"], again["seq"]) == (200, first["event_id"], 1), body
    assert (await post(http, url, with_("lines.0.unit_price", "12.01")))[0] == 409
    assert (await post(http, url, with_("occurred_at", "2026-11-23T00:15:00Z")))[0] == 409


async def test_the_warning_says_what_decided_the_business_day(running_agent, http):
    _agent, url = await running_agent()  # its clock reads 11:00 UTC: the example is 1 h 45 off
    status, answer = await post(http, url, DOC_SALE)
    assert status == 201
    assert "1 h 45 min behind" in answer["warning"]
    assert "controller's clock" not in answer["warning"]
    undated = {k: v for k, v in DOC_SALE.items() if k != "business_day"}
    status, answer = await post(http, url, {**undated, "pos_txn_id": "000124"})
    assert "business_day 2026-11-23 was taken from the controller's clock" in answer["warning"]


async def test_a_transaction_not_found_names_the_field(running_agent, http):
    _agent, url = await running_agent()
    async with http.get(url + "/v1/transactions/R1/nope") as r:
        assert (r.status, (await r.json())["field"]) == (404, "pos_txn_id")
