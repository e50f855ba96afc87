"""The catalog from the ERP: its saleable products become items and their list prices one price
change set in a price book (`retail-hub catalog sync-from-erp`, and daily at `[catalog]
erp_sync`). See docs/catalog.md ("From the ERP").

One sync, in three writer jobs:
1. the items are created or replaced whole (name, active, barcode; unit and tax class are the
   ERP's business, so an item keeps none), and the book is created if it is missing: in
   `[catalog] erp_currency` (else the ERP company's), for every store, at a priority below every
   other book's, so any other book overrides it;
2. each list price that differs from the book's list price in force now (published or staged) is
   staged, effective now, through the same rules as `POST /v1/price-books/{book}/prices`
   (hub.catalog.master.stage_prices): all of them or, with a refusal, none;
3. `[catalog] auto_publish` publishes what was accepted.
"""

import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hub.catalog import master, pricing, publishing
from hub.catalog.requests import BookIn, ChangeIn, ChangeSetIn, ItemIn, Price
from hub.config import CatalogConfig, HubConfig
from hub.errors import CatalogError, ChangesRefused, ErpUnavailable
from hub.storage import Database, Transaction
from runtime.clock import Clock

log = logging.getLogger(__name__)


class Product(Protocol):
    """A saleable product as the ERP has it (hub.erp.base.ErpProduct): its code is the SKU;
    `list_price` in the products' currency, None when the ERP has none."""

    @property
    def sku(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def barcode(self) -> str | None: ...
    @property
    def list_price(self) -> Decimal | None: ...


class Products(Protocol):
    """What the ERP gave (hub.erp.base.Products): the currency of its prices, the products."""

    @property
    def currency(self) -> str: ...
    @property
    def products(self) -> Sequence[Product]: ...


def put_items(tx: Transaction, found: Products, book: str, currency: str,
              now: dt.datetime) -> dict[str, Any]:
    """Writer job 1: the ERP's products as items, and the book made if missing. CatalogError
    when an existing book has another currency (the ERP's prices would be read as that one)."""
    existing = tx.catalog.book(book)
    if existing is not None and existing.currency != currency:
        raise CatalogError(f"book {book!r} is in {existing.currency}, the ERP's list prices in "
                           f"{currency}: name another book ([catalog] erp_book or --book)", "book")
    items = [ItemIn(sku=p.sku, name=p.name, active=p.active, barcode=p.barcode)
             for p in found.products]
    result = master.put_items(tx, items, now, lambda i, field: f"{items[i].sku}: {field}")
    if existing is None:
        priority = 0
        while tx.catalog.book_with_priority(priority, book) is not None:
            priority -= 1
        master.put_book(tx, book, BookIn(currency=currency, priority=priority, stores="all"), now)
        result["book_created"] = True
    return result


def stage_prices(tx: Transaction, found: Products, book: str, now: dt.datetime,
                 config: CatalogConfig) -> dict[str, Any]:
    """Writer job 2: the list prices that changed, as one change set effective `now`.
    ChangesRefused (nothing staged) when one breaks a rule."""
    priced = {p.sku: p.list_price for p in found.products
              if p.list_price is not None and p.active}
    rows = [*tx.publications.head_prices(book, priced), *tx.catalog.staged_prices(book, priced)]
    current: dict[str, Decimal] = {}
    for sku in priced:
        listed = pricing.in_book([r for r in rows if r.sku == sku and r.effective_to is None], now)
        if listed is not None:
            current[sku] = listed.price
    changes = [ChangeIn(sku=sku, price=Price(price), effective_from=now)
               for sku, price in priced.items() if current.get(sku) != price]
    result: dict[str, Any] = {"prices_staged": len(changes),
                              "unchanged": len(priced) - len(changes), "change_set": None}
    if changes:
        staged = master.stage_prices(tx, book, ChangeSetIn(changes=changes), now,
                                     config.max_price_drop_percent)
        result["change_set"] = staged["change_set"]
    return result


def publish(tx: Transaction, result: dict[str, Any], now: dt.datetime,
            config: CatalogConfig) -> dict[str, Any] | None:
    """Writer job 3: `[catalog] auto_publish`."""
    return publishing.auto_publish(tx, now, config, f"sync from the ERP: {result['items']} items, "
                                   f"{result['prices_staged']} prices")


def summary(found: Products, items: dict[str, Any], prices: dict[str, Any] | None,
            refused: list[dict[str, object]]) -> dict[str, Any]:
    """{items, prices_staged, unchanged, refused} and what else the sync did."""
    return {"items": len(found.products), "created": items["created"],
            "updated": items["updated"], "book_created": items.get("book_created", False),
            "currency": found.currency,
            "prices_staged": prices["prices_staged"] if prices else 0,
            "unchanged": prices["unchanged"] if prices else 0,
            "change_set": prices["change_set"] if prices else None,
            "refused": refused, "version": None}


class ErpSync:
    """The daily sync `[catalog] erp_sync` schedules, inside the running hub."""

    def __init__(self, config: HubConfig, db: Database, clock: Clock,
                 read: Callable[[], Awaitable[Products]],
                 on_published: Callable[[], None] | None = None) -> None:
        """`read`: the ERP's products (hub.erp.factory.read_products), ErpUnavailable when it
        cannot be read."""
        self.config = config
        self.read = read
        self.db = db
        self.clock = clock
        self.on_published = on_published

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add the sync daily at `[catalog] erp_sync` in `[catalog] timezone`, when it is set."""
        at = self.config.catalog.erp_sync
        if at:
            hour, minute = at.split(":")
            scheduler.add_job(self.run_once, "cron", hour=int(hour), minute=int(minute),
                              timezone=self.config.catalog.timezone, misfire_grace_time=3600,
                              coalesce=True, max_instances=1)

    async def run_once(self) -> dict[str, Any] | None:
        """One sync into `[catalog] erp_book`; its summary, or None when the ERP could not be
        read or a rule refused it (logged as a WARNING: the next day's run tries again)."""
        try:
            found = await self.read()
        except ErpUnavailable as exc:
            log.warning("catalog sync from the ERP: cannot read it: %s", exc)
            return None
        catalog = self.config.catalog
        book = catalog.erp_book
        now = self.clock.now()
        currency = catalog.erp_currency or found.currency
        try:
            items = await self.db.run(functools.partial(
                put_items, found=found, book=book, currency=currency, now=now))
            prices = await self.db.run(functools.partial(
                stage_prices, found=found, book=book, now=now, config=catalog))
        except ChangesRefused as exc:
            log.warning("catalog sync from the ERP: %s", exc)
            return None
        except CatalogError as exc:
            log.warning("catalog sync from the ERP: %s: %s", exc.field, exc)
            return None
        result = summary(found, items, prices, [])
        made = await self.db.run(functools.partial(publish, result=result, now=now,
                                                   config=catalog))
        result["version"] = made["version"] if made else None
        if made and self.on_published is not None:
            self.on_published()
        log.info("catalog sync from the ERP: %d items, %d prices staged, %d unchanged%s",
                 result["items"], result["prices_staged"], result["unchanged"],
                 f", published as version {made['version']}" if made else "")
        return result
