"""Reconciliation's verdicts: a day without the store's day-close is incomplete, never mismatched;
an unknown store is an error naming it, not an empty 'incomplete'."""

from decimal import Decimal

import aiohttp
import pytest

from hub.errors import UnknownStore
from hub.postings import reconcile
from hub.config import MappingConfig
from hub.ingest.eventlog import Sequencer
from hub.cli.postings import render
from hub.storage import reading
from protocol.messages import DayClose, Envelope
from tests.hub.api_server import api_server, get
from tests.hub.helpers import NOW, apply, batch, database, sale_envelope


def mid_day(path):
    """Three sales applied, their postings not yet in the ERP, no day-close yet."""
    conn = database(path)
    apply(conn, Sequencer(), batch([sale_envelope(i) for i in range(1, 4)]))
    conn.close()


async def test_a_day_without_a_day_close_is_incomplete_even_when_the_erp_is_behind(tmp_path):
    mid_day(tmp_path / "hub.sqlite")
    async with reading(tmp_path / "hub.sqlite") as reader:
        result = await reconcile.run(reader, None, MappingConfig(), NOW.date())
    (rep,) = result["stores"]
    assert rep["store"] is None and rep["hub"]["gross_total"] == "7.50"
    assert rep["erp"]["configured"] is False  # no connector: no ERP side to be behind
    assert rep["status"] == "incomplete"
    assert (result["matched"], result["mismatched"], result["incomplete"]) == (0, 0, 1)


async def test_an_unknown_store_is_an_error_naming_it(tmp_path):
    mid_day(tmp_path / "hub.sqlite")
    async with reading(tmp_path / "hub.sqlite") as reader:
        with pytest.raises(UnknownStore, match="NOPE"):
            await reconcile.run(reader, None, MappingConfig(), NOW.date(), "NOPE")
        known = await reconcile.run(reader, None, MappingConfig(), NOW.date(), "S001")
    assert known["incomplete"] == 1


async def test_the_http_answers_name_the_field(tmp_path):
    mid_day(tmp_path / "hub.sqlite")
    async with api_server(tmp_path / "hub.sqlite") as url, aiohttp.ClientSession() as http:
        status, body = await get(http, url + "/v1/reconciliation", day=NOW.date().isoformat(),
                                 store_id="NOPE")
        assert status == 422 and body["field"] == "store_id" and "NOPE" in body["error"]
        status, body = await get(http, url + "/v1/reconciliation", day="2026-13-45")
        assert status == 422 and body["field"] == "day"
        status, body = await get(http, url + "/v1/reconciliation", day=NOW.date().isoformat())
        assert status == 200 and body["stores"][0]["status"] == "incomplete"


async def test_without_an_erp_a_closed_day_compares_store_and_hub_only(tmp_path):
    """`connector = "none"`: postings are kept, never sent, so the ERP side is not configured,
    not a list of postings "not in ERP" that would make every closed day mismatched."""
    conn = database(tmp_path / "hub.sqlite")
    seq = Sequencer(posting_state="kept")
    apply(conn, seq, batch([sale_envelope(i) for i in range(1, 4)]))
    close = DayClose(None, 3, 0, Decimal("6.00"), Decimal("1.50"), {"cash": Decimal("7.50")}, "EUR")
    apply(conn, seq, batch([Envelope("S001", "st-1", 4, "close-4", NOW, NOW.date(), NOW, close)]))
    assert {r[0] for r in conn.execute("SELECT state FROM postings")} == {"kept"}
    conn.close()
    async with reading(tmp_path / "hub.sqlite") as reader:
        result = await reconcile.run(reader, None, MappingConfig(), NOW.date())
    (rep,) = result["stores"]
    assert rep["status"] == "matched", rep
    assert rep["erp"]["configured"] is False and rep["erp"]["available"] is False
    assert rep["missing_in_erp"] == [] and rep["extra_in_erp"] == []
    assert "not configured" in render(result) and "not in ERP" not in render(result)
    async with api_server(tmp_path / "hub.sqlite") as url, aiohttp.ClientSession() as http:
        status, body = await get(http, url + "/v1/reconciliation", day=NOW.date().isoformat())
    assert status == 200 and body["matched"] == 1 and body["stores"][0]["erp"]["configured"] is False
