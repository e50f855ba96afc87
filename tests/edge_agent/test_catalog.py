"""The store's catalog file on real SQLite: versions staged chunk by chunk and applied whole,
deltas only onto their base, corrupted copies refused, prices resolved by the store's clock,
what changed since a version, and sale lines priced off the catalog flagged."""

import datetime as dt
import sqlite3
from decimal import Decimal

import pytest

from edge_agent.catalog import Catalog
from edge_agent.catalog_api import CatalogApi
from edge_agent.catalog_reads import CatalogReads
from edge_agent.errors import CopyRefused
from edge_agent.keys import digest
from edge_agent.requests import SaleIn, decode, prepare
from protocol.messages import (
    CatalogBook,
    CatalogChunk,
    CatalogDelta,
    CatalogItem,
    CatalogSnapshot,
)
from runtime.clock import FrozenClock
from tests.edge_agent.catalogs import MIDNIGHT, T0, chunks, first_version, item, price


async def deliver(catalog: Catalog, content, max_bytes: int = 1024):
    staged = None
    for chunk in chunks(content, max_bytes):
        staged = await catalog.stage(chunk)
    assert staged is not None and staged.complete
    return await catalog.apply(staged.version, staged.digest)


@pytest.fixture
async def store(tmp_path):
    clock = FrozenClock(T0 + dt.timedelta(hours=1))
    catalog = Catalog(tmp_path / "catalog.sqlite", clock)
    await catalog.open()
    reads = CatalogReads(catalog.path)
    reads.open()
    yield catalog, reads, clock
    reads.close()
    await catalog.close()


async def test_a_snapshot_applies_whole_and_prices_follow_the_stores_clock(store):
    catalog, reads, clock = store
    assert reads.item(clock.now(), sku="SKU-1") is None
    state = await deliver(catalog, first_version())
    assert (state.version, state.kind) == (1, "snapshot")
    found = reads.item(clock.now(), sku="SKU-1")
    assert found == {"sku": "SKU-1", "name": "Item 1", "barcode": "4000000000001", "unit": "pcs",
                     "tax_class": None, "catalog_version": 1,
                     "price": {"amount": "1.50", "currency": "EUR", "price_book": "base",
                               "effective_from": T0.isoformat(), "effective_to": None}}
    # Tonight's list price takes over at its instant, with no message.
    assert reads.item(MIDNIGHT, sku="SKU-1")["price"]["amount"] == "9.99"
    assert reads.item(MIDNIGHT - dt.timedelta(microseconds=1), sku="SKU-1")["price"]["amount"] == "1.50"
    # The promotion of the higher book wins while it runs, then the list price is back.
    assert reads.item(clock.now(), barcode="4000000000002")["price"]["price_book"] == "promo"
    assert reads.item(MIDNIGHT, sku="SKU-2")["price"]["amount"] == "2.50"
    summary = await reads.summary(clock.now())
    assert summary["version"] == 1 and summary["items"] == 50
    assert summary["next_change"] == {"at": MIDNIGHT.isoformat(), "items": 2}
    clock.set(MIDNIGHT)
    assert (await reads.summary(clock.now()))["next_change"] is None


async def test_a_delta_applies_onto_its_base_and_changes_since_follow(store):
    catalog, reads, clock = store
    await deliver(catalog, first_version())
    delta = CatalogDelta(2, 1, [CatalogBook("promo", "EUR", 5)], [],
                         [CatalogItem("SKU-3", "Item three"), item(99)], ["SKU-4"],
                         [price(2000, "SKU-99", "3.00")], [6])
    state = await deliver(catalog, delta)
    assert (state.version, state.kind) == (2, "delta")
    assert reads.item(clock.now(), sku="SKU-4") is None
    assert reads.item(clock.now(), sku="SKU-3")["name"] == "Item three"
    assert reads.item(clock.now(), sku="SKU-5")["price"] is None  # its only price was removed
    # The promo book dropped below base: base's price wins now.
    assert reads.item(clock.now(), sku="SKU-2")["price"]["price_book"] == "base"
    changes = await reads.changes(1, clock.now())
    # SKU-2 through its promo book, whose priority changed.
    assert [i["sku"] for i in changes["items"]] == ["SKU-2", "SKU-3", "SKU-5", "SKU-99"]
    assert changes["removed"] == ["SKU-4"] and changes["version"] == 2
    assert (await reads.changes(2, clock.now()))["items"] == []
    page = await reads.changes(0, clock.now(), limit=20)
    assert len(page["items"]) == 20 and page["next"] == page["items"][-1]["sku"]


async def test_a_snapshot_over_a_catalog_reports_only_what_differs(store):
    catalog, reads, clock = store
    await deliver(catalog, first_version())
    again = first_version()
    snap = CatalogSnapshot(3, again.books, [i for i in again.items if i.sku != "SKU-7"],
                           [p if p.id != 9 else price(9, "SKU-8", "8.75") for p in again.prices
                            if p.sku != "SKU-7"])
    await deliver(catalog, snap)
    changes = await reads.changes(1, clock.now())
    assert [i["sku"] for i in changes["items"]] == ["SKU-8"]
    assert changes["removed"] == ["SKU-7"]


async def test_a_delta_from_another_version_and_a_corrupted_copy_are_refused(store):
    catalog, reads, clock = store
    await deliver(catalog, first_version())
    wrong_base = CatalogDelta(5, 4, [], [], [item(77)], [], [], [])
    with pytest.raises(CopyRefused, match="delta from version 4") as refused:
        await deliver(catalog, wrong_base)
    assert refused.value.ask_again
    parts = chunks(CatalogDelta(2, 1, [], [], [item(88)], [], [], []), 1024)
    bad = parts[-1].data[:-1] + bytes([parts[-1].data[-1] ^ 1])
    parts[-1] = CatalogChunk(2, parts[-1].part, parts[-1].parts, parts[-1].size,
                             parts[-1].digest, bad)
    for chunk in parts:
        staged = await catalog.stage(chunk)
    with pytest.raises(CopyRefused, match="digest does not match"):
        await catalog.apply(staged.version, staged.digest)
    assert catalog.state.version == 1 and await catalog.staged() == []  # dropped: fetched anew
    assert reads.item(clock.now(), sku="SKU-88") is None


async def test_chunks_survive_a_restart_and_a_version_already_applied_is_stale(tmp_path):
    clock = FrozenClock(T0)
    catalog = Catalog(tmp_path / "catalog.sqlite", clock)
    await catalog.open()
    parts = chunks(first_version(200), 2048)
    for chunk in parts[:-1]:
        staged = await catalog.stage(chunk)
    assert staged.held == len(parts) - 1
    await catalog.close()
    catalog = Catalog(tmp_path / "catalog.sqlite", clock)
    await catalog.open()
    assert [(s.held, s.parts) for s in await catalog.staged()] == [(len(parts) - 1, len(parts))]
    staged = await catalog.stage(parts[-1])
    await catalog.apply(staged.version, staged.digest)
    assert (await catalog.stage(parts[0])).stale
    assert catalog.state.heard_version == 1
    await catalog.close()


async def test_a_file_sqlite_cannot_read_is_moved_aside_and_made_anew(tmp_path):
    (tmp_path / "catalog.sqlite").write_bytes(b"this is not a database" * 100)
    catalog = Catalog(tmp_path / "catalog.sqlite", FrozenClock(T0))
    await catalog.open()
    assert catalog.state.version is None
    assert [p.name for p in tmp_path.glob("catalog.sqlite.damaged-*")]
    await catalog.close()


def sale(unit_price: str, sku: str = "SKU-1", currency: str = "EUR",
         occurred_at: str = "2026-11-23T10:00:00Z"):
    body = ('{"register_id":"R1","pos_txn_id":"9","occurred_at":"%s","currency":"%s",'
            '"lines":[{"sku":"%s","qty":1,"unit_price":"%s"},{"sku":"NOPE","qty":1,'
            '"unit_price":"1.00"}],"tenders":[]}' % (occurred_at, currency, sku, unit_price))
    return prepare(decode(body.encode(), SaleIn), "S001", None, T0)


async def test_a_sale_priced_off_the_catalog_is_flagged_and_its_digest_is_unchanged(store):
    catalog, reads, clock = store
    api = CatalogApi(catalog, reads, clock)
    assert api.check_prices(sale("7.00")) == sale("7.00")  # no catalog yet: nothing checked
    await deliver(catalog, first_version())
    assert api.check_prices(sale("1.50")) == sale("1.50")
    assert api.check_prices(sale("1.5000")) == sale("1.5000")
    flagged = api.check_prices(sale("1.40"))
    assert [line.catalog_price for line in flagged.event.lines] == [Decimal("1.50"), None]
    assert flagged.digest == sale("1.40").digest
    assert digest(flagged.event, flagged.occurred_at, flagged.business_day) == flagged.digest
    # After midnight the new list price is the one sales are checked against.
    late = api.check_prices(sale("1.50", occurred_at="2026-11-24T01:00:00+01:00"))
    assert late.event.lines[0].catalog_price == Decimal("9.99")
    assert api.check_prices(sale("1.40", currency="CHF")) == sale("1.40", currency="CHF")
    assert api.deviations == 2


def test_the_digest_of_a_sale_is_what_it_was_before_catalogs():
    body = (b'{"register_id":"R1","pos_txn_id":"7","occurred_at":"2026-11-23T10:00:00Z",'
            b'"currency":"EUR","lines":[{"sku":"A","qty":2,"unit_price":"1.50",'
            b'"discount":"0.10"}],"tenders":[{"method":"cash","amount":"2.90"}]}')
    found = prepare(decode(body, SaleIn), "S001", None, dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC))
    # Computed by the agent before SaleLine.catalog_price existed.
    assert found.digest.hex() == "e91561e499af28d5a25d82579a623b2d75fec690d66d1b756ad1626fb99d4911"


async def test_the_file_has_the_tables_the_docs_name(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite", FrozenClock(T0))
    await catalog.open()
    await catalog.close()
    names = {r[0] for r in sqlite3.connect(tmp_path / "catalog.sqlite").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"catalog_state", "books", "items", "prices", "removed", "chunks"} <= names
