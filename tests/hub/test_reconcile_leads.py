"""Reconciliation's verdicts and leads, on a real hub database and a real HTTP ERP double:
when a closed store-day is matched, which differences are listed, and which transactions the hub
or the ERP lacks (register gaps, postings not in the ERP, documents only the ERP has)."""

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from hub.config import MappingConfig
from hub.erp.base import Catalog
from hub.erp.http_json import HttpJsonConnector
from hub.ingest.eventlog import Sequencer
from hub.postings import payloads, reconcile
from hub.postings import store as postings
from hub.postings.governance import to_erp
from hub.storage import reading
from protocol import identity
from protocol.messages import (
    AdjustmentLine,
    DayClose,
    Envelope,
    InventoryAdjustment,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
    Tender,
)
from runtime.net import free_port
from tests.erp_server import FakeErp
from tests.hub.helpers import NOW, apply, batch, database

DAY = NOW.date()


def txn(seq: int, number: str, *, register="R1", price="2.50", returned=False) -> Envelope:
    """A sale (or a return) of one item at `price`, tax (a fifth) included, paid in cash."""
    gross = Decimal(price)
    tenders = [Tender("cash", gross)]
    event: Sale | Return
    if returned:
        event = Return(register, number, "EUR", True,
                       [ReturnLine("SKU-1", 1, gross, Decimal(0), gross / 5)], tenders)
    else:
        event = Sale(register, number, "EUR", True,
                     [SaleLine("SKU-1", 1, gross, Decimal(0), gross / 5)], tenders)
    return Envelope("S001", "st-1", seq, identity.transaction_event_id("S001", register, number),
                    NOW, DAY, NOW, event)


def close(seq: int, sales: int, net: str, tax: str, tenders: dict[str, str],
          returns: int = 0) -> Envelope:
    """The store's own day-close for the whole store."""
    event = DayClose(None, sales, returns, Decimal(net), Decimal(tax),
                     {m: Decimal(a) for m, a in tenders.items()}, "EUR")
    return Envelope("S001", "st-1", seq, f"close-{seq}", NOW, DAY, NOW, event)


def hub_day(path, envs: list[Envelope]) -> dict[str, payloads.Payload]:
    """Apply `envs` to a new hub database; the postings made, by transaction number (or
    adjustment id)."""
    conn = database(path)
    apply(conn, Sequencer(), batch(envs))
    made = [payloads.decode(p) for (p,) in conn.execute("SELECT payload FROM postings")]
    conn.close()
    return {p.source[0].pos_txn_id if p.source else str(p.adjustment_id): p for p in made}


@pytest.fixture
async def erp():
    """(the ERP double, the hub's http-json connector to it)."""
    server = await FakeErp().start()
    connector = HttpJsonConnector(server.url, None, 5)
    await connector.start()
    yield server, connector
    await connector.close()
    await server.stop()


async def erp_holds(connector: HttpJsonConnector, *held: payloads.Payload) -> None:
    for payload in held:
        assert (await connector.post(payload)).outcome == "posted"


async def reconciled(path, connector, mapping: MappingConfig | None = None) -> dict:
    async with reading(path) as reader:
        result = await reconcile.run(reader, connector, mapping or MappingConfig(), DAY)
    (report,) = result["stores"]
    counts = {s: result[s] for s in ("matched", "mismatched", "incomplete")}
    assert counts == {s: int(report["status"] == s) for s in counts}
    return report


THREE_SALES = [txn(1, "000001"), txn(2, "000002"), txn(3, "000003"),
               close(4, 3, "6.00", "1.50", {"cash": "7.50"})]


async def test_a_closed_day_the_erp_holds_in_full_is_matched(tmp_path, erp):
    server, connector = erp
    made = hub_day(tmp_path / "hub.sqlite", THREE_SALES)
    await erp_holds(connector, *made.values())
    rep = await reconciled(tmp_path / "hub.sqlite", connector)
    assert rep["status"] == "matched", rep
    assert rep["differences"] == [] and rep["missing_in_erp"] == [] and rep["extra_in_erp"] == []
    assert rep["erp"] == {"configured": True, "available": True, "source": "erp", "postings": 3,
                          "documents": 3, "gross_total": "7.50"}
    assert rep["missing_in_hub"] == {"sales_short": 0, "returns_short": 0, "register_gaps": [],
                                     "last_seen": {"R1": "000003"}}


async def test_a_sale_that_never_reached_the_hub_shows_as_a_gap_and_in_every_total(tmp_path, erp):
    _, connector = erp
    envs = [txn(1, "000001"), txn(2, "000002"), txn(3, "000004"), txn(4, "000005"),
            close(5, 5, "10.00", "2.50", {"cash": "12.50"})]
    made = hub_day(tmp_path / "hub.sqlite", envs)
    await erp_holds(connector, *made.values())
    rep = await reconciled(tmp_path / "hub.sqlite", connector)
    assert rep["status"] == "mismatched"
    assert [(d["field"], Decimal(d["store"]), Decimal(d["hub"])) for d in rep["differences"]] == [
        ("sales_count", 5, 4), ("net_total", Decimal("10.00"), Decimal("8.00")),
        ("tax_total", Decimal("2.50"), Decimal("2.00")),
        ("gross_total", Decimal("12.50"), Decimal("10.00")),
        ("tenders.cash", Decimal("12.50"), Decimal("10.00"))]
    assert rep["missing_in_hub"] == {
        "sales_short": 1, "returns_short": 0, "last_seen": {"R1": "000005"},
        "register_gaps": [{"register_id": "R1", "missing": ["000003"], "last_seen": "000005"}]}
    # The ERP holds all the hub sent: the ERP side agrees with the hub, nothing is missing there.
    assert rep["missing_in_erp"] == [] and rep["erp"]["gross_total"] == "10.00"


async def test_what_the_erp_lacks_and_what_only_the_erp_has_are_both_named(tmp_path, erp):
    """Equal totals do not hide it: a foreign document of the same amount as a missing posting."""
    _, connector = erp
    made = hub_day(tmp_path / "hub.sqlite", THREE_SALES)
    foreign = msgspec.structs.replace(made["000003"], posting_id="typed-in-at-head-office")
    await erp_holds(connector, made["000001"], made["000002"], foreign)
    rep = await reconciled(tmp_path / "hub.sqlite", connector)
    assert rep["status"] == "mismatched"
    assert rep["differences"] == []  # the ERP's gross is the hub's 7.50
    assert rep["missing_in_erp"] == [{
        "posting_id": made["000003"].posting_id, "kind": "sale", "state": "pending", "reason": None,
        "source": [{"register_id": "R1", "pos_txn_id": "000003"}]}]
    assert rep["extra_in_erp"] == [{"posting_id": "typed-in-at-head-office", "erp_ref": "DOC-3",
                                    "gross": "2.50"}]


async def test_an_erp_short_of_a_posting_differs_in_gross_and_names_it(tmp_path, erp):
    _, connector = erp
    made = hub_day(tmp_path / "hub.sqlite", THREE_SALES)
    await erp_holds(connector, made["000001"], made["000002"])
    rep = await reconciled(tmp_path / "hub.sqlite", connector)
    assert rep["status"] == "mismatched"
    assert [(d["field"], d.get("store"), Decimal(d["hub"]), Decimal(d["erp"]))
            for d in rep["differences"]] == [("gross_total", None, Decimal("7.50"),
                                              Decimal("5.00"))]
    assert [m["source"][0]["pos_txn_id"] for m in rep["missing_in_erp"]] == ["000003"]
    assert rep["missing_in_hub"]["register_gaps"] == []  # the hub has them all


async def test_a_return_in_the_erp_counts_against_the_days_gross(tmp_path, erp):
    _, connector = erp
    envs = [txn(1, "000001"), txn(2, "000002"), txn(3, "000003", returned=True),
            close(4, 2, "2.00", "0.50", {"cash": "2.50"}, returns=1)]
    made = hub_day(tmp_path / "hub.sqlite", envs)
    await erp_holds(connector, *made.values())
    rep = await reconciled(tmp_path / "hub.sqlite", connector)
    assert rep["status"] == "matched", rep["differences"]
    assert Decimal(rep["erp"]["gross_total"]) == Decimal("2.50")


async def test_stock_adjustments_are_not_expected_among_the_erps_sales_documents(tmp_path, erp):
    _, connector = erp
    damage = InventoryAdjustment("ADJ-1", "damage", [AdjustmentLine("SKU-1", -2)])
    adjusted = Envelope("S001", "st-1", 4, identity.adjustment_event_id("S001", "ADJ-1"),
                        NOW, DAY, NOW, damage)
    envs = [*THREE_SALES[:3], adjusted, close(5, 3, "6.00", "1.50", {"cash": "7.50"})]
    made = hub_day(tmp_path / "hub.sqlite", envs)
    assert made["ADJ-1"].kind == "inventory_adjustment"  # a posting of its own, for stock
    await erp_holds(connector, made["000001"], made["000002"], made["000003"])
    rep = await reconciled(tmp_path / "hub.sqlite", connector)
    assert rep["status"] == "matched" and rep["missing_in_erp"] == []
    assert rep["erp"]["postings"] == 3


async def test_tenders_are_compared_per_method_and_to_the_cent_not_as_text(tmp_path, erp):
    _, connector = erp
    envs = [*THREE_SALES[:3], close(4, 3, "6.0", "1.5", {"cash": "5.00", "card": "2.50"})]
    await erp_holds(connector, *hub_day(tmp_path / "hub.sqlite", envs).values())
    rep = await reconciled(tmp_path / "hub.sqlite", connector)
    assert [(d["field"], Decimal(d["store"]), Decimal(d["hub"])) for d in rep["differences"]] == [
        ("tenders.card", Decimal("2.50"), Decimal(0)),
        ("tenders.cash", Decimal("5.00"), Decimal("7.50"))]
    assert rep["status"] == "mismatched"


async def test_register_gaps_are_per_register_bounded_and_skip_new_numbering_series(tmp_path, erp):
    """A jump of up to 100 numbers is missing receipts (at most 50 named); a longer jump is a new
    series (a new roll, returns numbered apart), and ids that are not numbers are no series."""
    _, connector = erp
    envs = [txn(1, "000001"), txn(2, "000101"),                            # R1: 99 missing
            txn(3, "0001", register="R2"), txn(4, "0102", register="R2"),  # R2: a jump of 101
            txn(5, "A-7", register="R3"),
            close(6, 5, "10.00", "2.50", {"cash": "12.50"})]
    await erp_holds(connector, *hub_day(tmp_path / "hub.sqlite", envs).values())
    rep = await reconciled(tmp_path / "hub.sqlite", connector)
    leads = rep["missing_in_hub"]
    assert leads["sales_short"] == 0 and rep["status"] == "matched"
    (r1,) = leads["register_gaps"]
    assert r1["register_id"] == "R1" and r1["last_seen"] == "000101"
    assert r1["missing"] == [f"{n:06d}" for n in range(2, 52)]
    assert leads["last_seen"] == {"R1": "000101", "R2": "0102"}


async def test_the_erp_is_asked_under_the_stores_erp_name(tmp_path, erp):
    _, connector = erp
    made = hub_day(tmp_path / "hub.sqlite", THREE_SALES)
    mapping = MappingConfig(stores={"S001": "SHOP-BERLIN"})
    await erp_holds(connector, *(to_erp(p, mapping, Catalog()) for p in made.values()))
    rep = await reconciled(tmp_path / "hub.sqlite", connector, mapping)
    assert rep["status"] == "matched" and rep["erp"]["documents"] == 3
    unmapped = await reconciled(tmp_path / "hub.sqlite", connector)
    assert unmapped["erp"]["documents"] == 0 and len(unmapped["missing_in_erp"]) == 3


async def test_an_erp_that_cannot_be_asked_is_stood_in_for_by_what_it_accepted(tmp_path):
    """The hub's own ledger: postings it saw posted count as in the ERP, the others as missing."""
    made = hub_day(tmp_path / "hub.sqlite", THREE_SALES)
    conn = database(tmp_path / "hub.sqlite")
    for number in ("000001", "000002"):
        postings.finish(conn, made[number].posting_id, "posted", NOW, erp_ref=f"DOC-{number}")
    conn.commit()
    conn.close()
    gone = HttpJsonConnector(f"http://127.0.0.1:{free_port()}", None, 5)  # nothing listens
    await gone.start()
    try:
        rep = await reconciled(tmp_path / "hub.sqlite", gone)
    finally:
        await gone.close()
    assert rep["erp"] == {"configured": True, "available": False, "source": "hub_ledger",
                          "postings": 3, "documents": 2, "gross_total": "5.00"}
    assert [m["posting_id"] for m in rep["missing_in_erp"]] == [made["000003"].posting_id]
    assert rep["extra_in_erp"] == [] and rep["status"] == "mismatched"


async def test_without_the_day_close_disagreements_are_listed_but_the_day_is_incomplete(
        tmp_path, erp):
    _, connector = erp
    made = hub_day(tmp_path / "hub.sqlite", THREE_SALES[:3])
    await erp_holds(connector, made["000001"],
                    msgspec.structs.replace(made["000002"], posting_id="only-in-the-erp"))
    rep = await reconciled(tmp_path / "hub.sqlite", connector)
    assert rep["status"] == "incomplete"
    assert len(rep["missing_in_erp"]) == 2 and len(rep["extra_in_erp"]) == 1
    assert rep["store"] is None and "missing_in_hub" not in rep  # no store count to be short of


@pytest.mark.parametrize("day", [DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)])
async def test_another_day_of_a_known_store_has_nothing_to_reconcile(tmp_path, day):
    hub_day(tmp_path / "hub.sqlite", THREE_SALES)
    async with reading(tmp_path / "hub.sqlite") as reader:
        every = await reconcile.run(reader, None, MappingConfig(), day)
        one = await reconcile.run(reader, None, MappingConfig(), day, "S001")
    assert every["stores"] == []
    (rep,) = one["stores"]
    assert rep["status"] == "incomplete" and rep["hub"]["sales_count"] == 0
