"""The two backends of the storage port answer alike: the same writes through `Database.run` on
SQLite and on PostgreSQL, then every read repository asked the same questions, and the answers
(and what the writes returned) compared value for value (instants as stamp text, amounts as
decimal text, payloads as bytes): the pipeline, postings, availability with click and collect,
oversell and the feed's retention, and the catalog with its publications."""

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from hub.catalog import master, publishing
from hub.catalog.requests import BookIn, ChangeIn, ChangeSetIn, ItemIn, Price, PublicationIn
from hub.config import CatalogConfig, PostingsConfig
from hub.ingest.eventlog import Sequencer
from hub.postings import store as postings
from hub.storage import Database, Reads, Transaction
from hub.storage.postgres.connection import Target
from hub.storage.postgres.database import PostgresDatabase
from hub.storage.reservations import Line, ReservationSale
from hub.storage.store_catalogs import Deviation
from protocol.messages import (
    AdjustmentLine,
    DayClose,
    Envelope,
    InventoryAdjustment,
    Return,
    ReturnLine,
    StoreState,
    Tender,
)
from runtime.clock import FrozenClock, stamp
from tests.hub.helpers import NOW, batch, sale_envelope

LATER = NOW + dt.timedelta(minutes=5)
SOON = NOW + dt.timedelta(minutes=2)  # RES-1 is held, RES-2 has expired
DAY = dt.timedelta(days=1)
# Reads that promise no order (their callers key or sort them): compared as sorted lists.
UNORDERED = {"events", "matching", "books", "stock", "prices_of_ids"}
SUMMARY = PostingsConfig(returns="daily_summary")


def _events() -> list[list[Envelope]]:
    ret = Return("R1", "RT-1", "EUR", True,
                 [ReturnLine("SKU-1", 1, Decimal("2.50"), tax=Decimal("0.50"))],
                 [Tender("cash", Decimal("2.50"))])
    close = DayClose(None, 3, 1, Decimal("12.5"), Decimal("3.10"),
                     {"cash": Decimal("15.6"), "card": Decimal("0")}, "EUR")
    adjust = InventoryAdjustment("ADJ-1", "count", [AdjustmentLine("SKU-9", 7)])
    first = [sale_envelope(1, qty=2, price="2.50"), sale_envelope(2, sku="SKU-2", price="12.5"),
             sale_envelope(3, sku="SKU-2", price="0.10")]
    # seq 5 waits for seq 4 (held, then applied); 2 and 3 come again (duplicates).
    later = [Envelope("S001", "st-1", 5, "adj-1", NOW, NOW.date(), NOW, adjust),
             first[1], first[2]]
    gap = [Envelope("S001", "st-1", 4, "ret-1", NOW, NOW.date(), NOW, ret),
           Envelope("S001", "st-1", 6, "close-1", NOW, NOW.date(), NOW, close)]
    other = [sale_envelope(1, store="S002", stream="x", txn="A1", price="99.99")]
    return [first, later, gap, other]


def _writes(tx: Transaction, ids: list[str]) -> None:
    """What the relay, the operators, the fleet and availability write, at fixed instants."""
    claimed = postings.claim(tx, NOW, 3, "hub-a", SOON)
    postings.record_attempt(tx, claimed[0].posting_id, 1, NOW, "d1", 201, "posted", "ok", 12)
    assert postings.settle(tx, claimed[0], "hub-a", postings.PostingState.POSTED, LATER,
                           erp_ref="ERP-1", answer="{}")
    postings.record_attempt(tx, claimed[1].posting_id, 1, NOW, "d2", 422, "dead", "no", 3)
    postings.record_attempt(tx, claimed[1].posting_id, 1, LATER, "d2", 422, "dead", "again", 4)
    postings.finish(tx, claimed[1].posting_id, postings.PostingState.DEAD, LATER, reason="no")
    postings.retry(tx, claimed[1].posting_id, "olga@finance", LATER)
    tx.fleet.record_state(StoreState("S001", False, version="1.2", backlog=4, stream="st-1"),
                          now=stamp(LATER), state_at=stamp(NOW))
    tx.fleet.match_provisioned(["S001", "S003"])
    tx.quarantine.add("retail/v1/stores/S002/events", "S002", "bad", b"\x00\xffraw", stamp(NOW))
    tx.reconciliations.record("S001", NOW.date().isoformat(), "matched", {"n": 1}, LATER)
    tx.availability.set_safety_stock([("SKU-1", "", 2), ("", "S001", 1)], stamp(NOW))
    tx.availability.set_freshness("web", "S002", True, stamp(NOW))
    tx.availability.save_adjustment("DC1", "A-1", digest="x", reason="count",
                                    occurred_at=stamp(NOW), business_day="2026-11-23",
                                    lines="[]", now=stamp(NOW))
    tx.inventory.add_on_hand({("DC1", "SKU-1"): 40}, stamp(NOW))
    tx.availability.record_changes([("SKU-1", "DC1"), ("SKU-2", "")], stamp(NOW))
    tx.availability.record_location_changed("S001", stamp(LATER))
    tx.reservations.hold("RES-1", channel="web", digest="d", now=stamp(NOW),
                         expires_at=stamp(LATER), lines=[Line("SKU-1", "DC1", 3),
                                                         Line("SKU-2", "S001", 1)])
    tx.reservations.hold("RES-2", channel="web", digest="e", now=stamp(NOW),
                         expires_at=stamp(NOW), lines=[Line("SKU-1", "S001", 1)])
    tx.reservations.expire_due(stamp(NOW + dt.timedelta(minutes=1)))  # RES-2, not RES-1


def _availability_writes(tx: Transaction) -> list[Any]:
    """Click and collect, oversell, the feed's retention and a webhook's cursor (migration 7);
    what each returned."""
    tx.reservations.hold("RES-3", channel="web", digest="f", now=stamp(LATER),
                         expires_at=stamp(LATER + DAY), lines=[Line("SKU-1", "DC1", 30)])
    tx.inventory.add_on_hand({("DC1", "SKU-1"): -20}, stamp(SOON))  # 20 left for 33 held
    short = tx.reservations.recheck_short([("SKU-1", "DC1"), ("SKU-2", "S001")], stamp(SOON))
    tx.reservations.record_sale(ReservationSale("ev-9", "S001", "collected", stamp(SOON)),
                                "RES-1")
    tx.reservations.record_sale(ReservationSale("ev-9", "S001", "collected", stamp(LATER)),
                                "RES-1")  # the same sale again: kept once
    tx.reservations.record_sale(ReservationSale("ev-10", "S002", "unknown", stamp(SOON)), "RES-X")
    tx.availability.record_changes([("SKU-1", "DC1")], stamp(SOON))
    tx.availability.set_webhook_cursor("web", 3, stamp(SOON))
    return [short, tx.fleet.last_seen(["S001", "DC1"]), tx.availability.freshness("web")]


def _compact(tx: Transaction) -> tuple[int, int]:
    """The feed's retention, in a transaction of its own as the sweep runs it (PostgreSQL
    appends to the feed only when a transaction commits)."""
    return tx.availability.compact_feed(stamp(NOW + dt.timedelta(seconds=1)), 100)


def _catalog_writes(tx: Transaction) -> list[Any]:
    """Items, a group, two books, staged prices, three publications (the last a rollback) and
    what the stores said of them; what each returned."""
    config = CatalogConfig()
    return [
        master.put_items(tx, [ItemIn("A", "Apple", True, barcode="400", unit="kg"),
                              ItemIn("B", "Bean", True, tax_class="reduced")], NOW),
        master.put_group(tx, "south", ["S002", "S003"], NOW),
        master.put_book(tx, "base", BookIn("EUR", 10, stores="all"), NOW),
        master.put_book(tx, "promo", BookIn("EUR", 20, stores=["S001"], groups=["south"]), NOW),
        master.stage_prices(tx, "base", ChangeSetIn([
            ChangeIn("A", Price("2.50"), NOW - DAY),
            ChangeIn("B", Price("1.10"), NOW, NOW + 7 * DAY)]), NOW, 90),
        publishing.publish(tx, PublicationIn(stores="all", note="first"), NOW, config),
        publishing.delivered(tx, "S001", 1, NOW),
        publishing.applied(tx, "S001", 1, NOW, LATER),
        master.put_items(tx, [ItemIn("A", "Apple, red", True, barcode="401")], LATER),
        master.stage_prices(tx, "promo", ChangeSetIn([ChangeIn("A", Price("1.99"), LATER)]),
                            LATER, 90),
        publishing.publish(tx, PublicationIn(groups=["south"]), LATER, config),
        publishing.failed(tx, "S002", 2, "disk full", LATER),
        publishing.publish(tx, PublicationIn(rollback_to=1, note="undo"), LATER, config),
        publishing.cancel(tx, 3, LATER),
        tx.catalog.known_stores(),
        # What the stores say back (migration 8): S002 reports version 1 (applied), an older
        # report comes late, S003 lost its catalog; sale lines priced off it.
        tx.store_catalogs.report("S002", 1, LATER, LATER, applied_at=LATER),
        tx.store_catalogs.report("S002", None, NOW, LATER),
        tx.store_catalogs.report("S001", None, LATER + DAY, LATER + DAY),
        tx.store_catalogs.reopen_above("S001", None, LATER + DAY, LATER + DAY),
        tx.store_catalogs.count_sale_lines(
            {"S001": (5, 2), "S002": (3, 0)},
            [Deviation("S001", "A", 2, "2026-11-23T10:15:00+01:00", "2.40", "2.50")]),
        tx.store_catalogs.count_sale_lines(
            {"S001": (1, 1)}, [Deviation("S001", "A", 1, stamp(LATER), "2.45", "2.50")]),
    ]


def _plain(value: Any) -> Any:
    """Rows of either backend as tuples of their values, with their column names."""
    if hasattr(value, "keys") and not isinstance(value, dict):
        return (tuple(value.keys()), tuple(value))
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):  # a pair of answers, or a NamedTuple of a repository
        return type(value)(*map(_plain, value)) if hasattr(value, "_fields") else tuple(
            map(_plain, value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


async def _answers(reads: Reads, ids: list[str]) -> dict[str, Any]:
    day, d = NOW.date(), NOW.date().isoformat()
    event_ids = [sale_envelope(n).event_id for n in (1, 2, 3)] + ["ret-1", "nope"]
    newest = await reads.postings.newest(limit=3)
    asked = {
        "events": reads.events.find(event_ids),
        "quarantine": reads.quarantine.recent(5), "quarantined": reads.quarantine.count(),
        "inventory": reads.inventory.by_store("SKU-2", stamp(NOW)),
        "inventory9": reads.inventory.by_store("SKU-9", stamp(NOW)),
        "totals": reads.days.totals("S001", d), "tenders": reads.days.tenders("S001", d),
        "closes": reads.days.closes("S001", d),
        "stores": reads.fleet.stores(), "counts": reads.fleet.counts(),
        "backlog": reads.fleet.total_backlog(),
        "page": reads.fleet.page(online=None, query="s00", offset=0, limit=10),
        "offline": reads.fleet.page(online=False, query="", offset=1, limit=1),
        "due": reads.postings.due(LATER, 10),
        "page2": reads.postings.newest(before=(newest[-1]["created_at"], newest[-1]["posting_id"])),
        "by_state": reads.postings.count_by_state(), "of_day": reads.postings.count_by_state(
            store_id="S001", business_day=d),
        "one": reads.postings.one(ids[0]), "attempts": reads.postings.attempts(ids[1]),
        "made_from": reads.postings.made_from(ids[0]),
        "summaries": reads.postings.summaries_of(["ret-1"]),
        "matching": reads.postings.matching(ids[:2], "S001"),
        "payloads": reads.postings.payloads(ids), "posted": reads.postings.posted_since(NOW, NOW),
        "books": reads.postings.for_the_erp_books("S001", day),
        "audit": reads.audit.trail(ids[1]),
        "reconciled": reads.reconciliations.latest(5),
        "known": reads.reconciliations.store_known("S003"),
        "unknown": reads.reconciliations.store_known("S999"),
        "of_the_day": reads.reconciliations.stores_of_day(day),
        "txns": reads.reconciliations.transaction_numbers("S001", day),
        "stock": reads.availability.stock(["SKU-1", "SKU-2"], ["S001", "DC1"], stamp(NOW)),
        "rules": reads.availability.safety_rules(["SKU-1"]),
        "all_rules": reads.availability.all_safety_rules(),
        "seen": reads.fleet.last_seen(["S001", "S002", "DC1"]),
        "changes": reads.availability.changes(0, ["S001", "DC1"], 50),
        "cursor": reads.availability.last_cursor(),
        "reservation": reads.reservations.find("RES-1"),
        "expired": reads.reservations.find("RES-2"),
        "short_one": reads.reservations.find("RES-3"),
        "sales": reads.reservations.sales("RES-1"),
        "holding": reads.reservations.holding(stamp(SOON)),
        "short": reads.reservations.short_lines(stamp(SOON)),
        "outcomes": reads.reservations.sales_by_outcome(),
        "webhook": reads.availability.webhook_cursor("web"),
        "no_webhook": reads.availability.webhook_cursor("shop"),
        "items": reads.catalog.items(), "item": reads.catalog.item("A"),
        "catalog_counts": reads.catalog.counts(), "catalog_books": reads.catalog.books(),
        "groups": reads.catalog.groups(), "change_sets": reads.catalog.change_sets(2),
        "head": reads.publications.head(), "v1": reads.publications.version(1),
        "v3": reads.publications.version(3), "items_at": reads.publications.items_at(2),
        "items_of": reads.publications.items_at(1, ["A", "C"]),
        "prices_at": reads.publications.prices_at(2, ["base", "promo"]),
        "prices_of_ids": reads.publications.prices_at(3, ["base"], ids=[1, 2, 3]),
        "prices_of_sku": reads.publications.prices_at(2, ["promo"], sku="A"),
        "changed_skus": reads.publications.changed_skus(1, 3),
        "changed_ids": reads.publications.changed_price_ids(0, 3, ["base", "promo"]),
        "publications": reads.publications.publications(before=None, limit=10),
        "publication": reads.publications.publication(2),
        "targets": reads.publications.targets(1),
        "target_counts": reads.publications.counts([1, 2, 3]),
        "applied": reads.publications.store("S002"), "never": reads.publications.store("S009"),
        "open_targets": reads.store_catalogs.open_targets(),
        "store_versions": reads.store_catalogs.applied(),
        "some_versions": reads.store_catalogs.applied(["S002", "S009"]),
        "behind": reads.store_catalogs.behind([1, 2, 3], 10),
        "meant": reads.store_catalogs.meant(), "open_counts": reads.store_catalogs.open_counts(),
        "deviations": reads.store_catalogs.deviations(limit=5),
        "sale_lines": reads.store_catalogs.sale_lines(),
    }
    answers = {name: _plain(await question) for name, question in asked.items()}
    return {name: sorted(answer, key=repr) if name in UNORDERED else answer
            for name, answer in answers.items()}


async def _run(db: Database) -> dict[str, Any]:
    await db.start()
    try:
        sequencer = Sequencer(clock=FrozenClock(NOW), policy=SUMMARY, replay_min_interval_s=0)
        for events in _events():
            await db.run(functools.partial(sequencer.apply, batch=batch(events), topic="t"))
        ids = [postings.posting_id("sale", sale_envelope(n).event_id) for n in (1, 2, 3)]
        await db.run(functools.partial(postings.sweep, policy=SUMMARY, now=LATER))
        await db.run(functools.partial(_writes, ids=ids))
        written = {"availability": _plain(await db.run(_availability_writes)),
                   "compacted": _plain(await db.run(_compact)),
                   "catalog": _plain(await db.run(_catalog_writes))}
        return {**await _answers(db.reads, ids), "written": written}
    finally:
        await db.close()


async def test_both_backends_answer_every_read_alike(tmp_path, pg_url):
    on_sqlite = await _run(Database(tmp_path / "hub.sqlite"))
    on_postgresql = await _run(PostgresDatabase(Target(pg_url)))
    assert on_sqlite["totals"] == [(
        ("currency", "sales_count", "returns_count", "net_total", "tax_total", "gross_total"),
        ("EUR", 3, 1, "12.08", "3.02", "15.10"))]
    assert on_sqlite["quarantine"][0]["bytes"] == 5
    assert ("SKU-1", "DC1", 20, 33) in on_sqlite["stock"]  # RES-1 holds 3, RES-3 30
    # Both held ones are short: RES-1's SKU-2 at S001 (sold below zero there), 13 of RES-3's 30.
    assert on_sqlite["holding"] == (2, 2)
    assert on_sqlite["outcomes"] == {"collected": 1, "unknown": 1}
    assert on_sqlite["written"]["catalog"][5] == {"id": 1, "version": 1, "stores": 3}
    differ = {k: (on_sqlite[k], on_postgresql[k]) for k in on_sqlite
              if on_sqlite[k] != on_postgresql[k]}
    assert differ == {}
