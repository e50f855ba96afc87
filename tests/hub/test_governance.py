"""Governance rules, one by one: what a posting must pass before anything reaches the ERP."""

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from hub.config import MappingConfig
from hub.erp.base import Catalog
from hub.errors import Rejected
from hub.postings.governance import check, rounding_step, to_erp
from hub.postings.payloads import Line, Payload, PostingTender, Source, Totals

DAY = dt.date(2026, 11, 23)


def sale(net="20.00", tax="4.00", gross="24.00", paid=("24.00",), currency="EUR", **kw) -> Payload:
    return Payload(
        posting_id="P1", kind="sale", store_id="S001", business_day=DAY, currency=currency,
        source=[Source("R1", "000123")],
        lines=[Line("SKU-1001", 2, Decimal(net), Decimal(tax))],
        tenders=[PostingTender("cash", Decimal(a)) for a in paid],
        totals=Totals(Decimal(net), Decimal(tax), Decimal(gross)), **kw)


def passes(payload: Payload, rounding=None, closed_through=None, erp_closed=False) -> None:
    check(payload, rounding=rounding or {}, closed_through=closed_through, erp_closed=erp_closed)


def test_a_balanced_sale_passes():
    passes(sale())


@pytest.mark.parametrize("payload, reason", [
    (sale(net="19.00"), "do not add up"),  # a line says 20.00, the totals 19.00
    (sale(gross="25.00", paid=("25.00",)), "do not add up"),  # net + tax != gross
    (sale(paid=("23.99",)), "do not balance"),
    (sale(paid=("12.00", "12.01")), "off by 0.01"),
    (sale(currency=None), "no currency"),
])
def test_what_does_not_balance_is_rejected_with_a_reason(payload, reason):
    with pytest.raises(Rejected, match=reason):
        passes(payload)


def test_cash_rounding_allows_half_a_step_either_way():
    chf = {"CHF": Decimal("0.05")}
    passes(sale(paid=("24.02",), currency="CHF"), rounding=chf)
    passes(sale(paid=("23.975",), currency="CHF"), rounding=chf)
    with pytest.raises(Rejected):
        passes(sale(paid=("24.03",), currency="CHF"), rounding=chf)


def test_the_minor_unit_is_the_default_step():
    assert rounding_step("EUR", {}) == Decimal("0.01")
    assert rounding_step("JPY", {}) == Decimal("1")
    assert rounding_step("KWD", {}) == Decimal("0.001")
    assert rounding_step("CHF", {"CHF": Decimal("0.05")}) == Decimal("0.05")


def test_closed_days_are_refused_and_the_day_after_is_open():
    with pytest.raises(Rejected, match="closed for posting"):
        passes(sale(), closed_through=DAY)
    passes(sale(), closed_through=DAY - dt.timedelta(days=1))
    with pytest.raises(Rejected, match="closed period in the ERP"):
        passes(sale(), erp_closed=True)


def test_an_inventory_adjustment_needs_no_money():
    adj = msgspec.structs.replace(sale(currency=None, paid=()), kind="inventory_adjustment",
                                  totals=Totals())
    passes(adj)


def test_mapping_renames_and_passes_unmapped_names_through_without_a_table():
    mapped = to_erp(sale(), MappingConfig(stores={"S001": "SHOP-1"}), Catalog())
    assert mapped.store_id == "SHOP-1" and mapped.lines[0].sku == "SKU-1001"
    assert mapped.tenders[0].method == "cash"


def test_a_non_empty_table_must_name_everything_it_is_asked_for():
    with pytest.raises(Rejected, match="SKU 'SKU-1001' is not mapped"):
        to_erp(sale(), MappingConfig(skus={"SKU-9": "X"}), Catalog())


def test_the_erp_catalog_decides_when_the_connector_can_read_one():
    catalog = Catalog(stores=frozenset({"SHOP-1"}), skus=frozenset({"SKU-1001"}),
                      tenders=frozenset({"CASH"}))
    with pytest.raises(Rejected, match="tender method 'cash' is not known to the ERP"):
        to_erp(sale(), MappingConfig(stores={"S001": "SHOP-1"}), catalog)
    ok = to_erp(sale(), MappingConfig(stores={"S001": "SHOP-1"}, tenders={"cash": "CASH"}), catalog)
    assert (ok.store_id, ok.tenders[0].method) == ("SHOP-1", "CASH")
    with pytest.raises(Rejected, match=r"store 'S001' \(mapped to 'SHOP-2'\)"):
        to_erp(sale(), MappingConfig(stores={"S001": "SHOP-2"}), catalog)
