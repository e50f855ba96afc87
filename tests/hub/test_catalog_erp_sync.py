"""The catalog sync from the ERP without an ERP: its config, its schedule, and which list prices
it stages (a real SQLite; tests/integration/test_tryton_catalog.py runs it against Tryton)."""

import datetime as dt
from decimal import Decimal

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hub.catalog import erp_sync
from hub.config import load_config
from hub.erp.base import ErpProduct, ErpProducts
from hub.errors import CatalogError, ChangesRefused
from hub.storage import transact
from runtime.clock import FrozenClock
from runtime.config import ConfigError
from tests.hub.helpers import NOW, database


def hub_config(tmp_path, catalog: str, connector: str = "tryton"):
    (tmp_path / "pw").write_text("secret\n")
    (tmp_path / "pw").chmod(0o600)
    erp = ('[erp]\nconnector = "tryton"\nurl = "http://127.0.0.1:8000"\ndatabase = "retail"\n'
           'username = "hub"\npassword_file = "pw"\n' if connector == "tryton" else
           '[erp]\nconnector = "http-json"\nurl = "http://127.0.0.1:8000"\n'
           if connector == "http-json" else "")
    (tmp_path / "hub.toml").write_text(f'data_dir = "data"\n{erp}[catalog]\n{catalog}\n')
    (tmp_path / "data").mkdir(exist_ok=True)
    return tmp_path / "hub.toml"


async def no_erp() -> ErpProducts:
    raise AssertionError("not read: only scheduled")


def test_erp_sync_is_a_daily_job_in_the_catalog_timezone_with_tryton(tmp_path):
    config = load_config(hub_config(tmp_path, 'erp_sync = "03:30"\ntimezone = "Europe/Paris"'))
    assert (config.catalog.erp_sync, config.catalog.erp_book, config.catalog.erp_currency) == (
        "03:30", "erp", "")
    scheduler = AsyncIOScheduler(timezone=dt.UTC)
    erp_sync.ErpSync(config, None, FrozenClock(NOW), no_erp).schedule(scheduler)  # type: ignore[arg-type]
    (job,) = scheduler.get_jobs()
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"], str(job.trigger.timezone)) == (
        "3", "30", "Europe/Paris")
    none = load_config(hub_config(tmp_path, 'erp_book = "base"'))
    scheduler = AsyncIOScheduler(timezone=dt.UTC)
    erp_sync.ErpSync(none, None, FrozenClock(NOW), no_erp).schedule(scheduler)  # type: ignore[arg-type]
    assert scheduler.get_jobs() == []


@pytest.mark.parametrize("connector, catalog, key", [
    ("http-json", 'erp_sync = "03:00"', "catalog.erp_sync"),
    ("none", 'erp_sync = "03:00"', "catalog.erp_sync"),
    ("tryton", 'erp_sync = "3:00"', "catalog.erp_sync"),
    ("tryton", 'erp_book = "a/b"', "catalog.erp_book"),
    ("tryton", 'erp_currency = "eur"', "catalog.erp_currency"),
])
def test_erp_sync_config_errors_name_the_key(tmp_path, connector, catalog, key):
    path = hub_config(tmp_path, catalog, connector)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.key, caught.value.path) == (key, str(path))


def products(**prices: str | None) -> ErpProducts:
    return ErpProducts(currency="EUR", products=[
        ErpProduct(sku=sku, name=f"Item {sku}", active=True, barcode=None,
                   list_price=None if price is None else Decimal(price))
        for sku, price in prices.items()])


def sync(path, found: ErpProducts, now: dt.datetime, book: str = "erp"):
    config = load_config(path).catalog
    items = transact(path.parent / "data" / "hub.sqlite",
                     lambda tx: erp_sync.put_items(tx, found, book, found.currency, now))
    prices = transact(path.parent / "data" / "hub.sqlite",
                      lambda tx: erp_sync.stage_prices(tx, found, book, now, config))
    return items, prices


def test_only_changed_list_prices_are_staged_and_a_refusal_stages_none(tmp_path):
    path = hub_config(tmp_path, "max_price_drop_percent = 50")
    database(tmp_path / "data" / "hub.sqlite").close()
    items, prices = sync(path, products(A="2.50", B="1.0000", C=None), NOW)
    assert items["created"] == 3 and items["book_created"]
    assert (prices["prices_staged"], prices["unchanged"]) == (2, 0)
    later = NOW + dt.timedelta(hours=1)
    items, prices = sync(path, products(A="2.5", B="1.20", C=None), later)
    assert items["updated"] == 3 and "book_created" not in items
    assert (prices["prices_staged"], prices["unchanged"]) == (1, 1)
    with pytest.raises(ChangesRefused) as caught:
        sync(path, products(A="0.10", B="1.20", C=None), later + dt.timedelta(hours=1))
    assert [r["field"] for r in caught.value.refusals] == ["changes[0].price"]


def test_a_book_in_another_currency_is_refused_naming_it(tmp_path):
    path = hub_config(tmp_path, "")
    database(tmp_path / "data" / "hub.sqlite").close()
    sync(path, products(A="2.50"), NOW, book="base")
    with pytest.raises(CatalogError) as caught:
        sync(path, ErpProducts(currency="USD", products=[]), NOW, book="base")
    assert caught.value.field == "book" and "EUR" in str(caught.value)


async def test_the_scheduled_run_stages_then_logs_what_it_cannot_do(tmp_path, caplog):
    from hub.errors import ErpUnavailable
    from hub.storage import Database

    config = load_config(hub_config(tmp_path, 'erp_sync = "03:00"\nerp_book = "base"'))
    answers: list[ErpProducts | Exception] = [
        products(A="2.50"), products(A="2.50"), ErpUnavailable("connection refused")]

    async def read() -> ErpProducts:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    db = Database(tmp_path / "data" / "hub.sqlite")
    await db.start()
    try:
        job = erp_sync.ErpSync(config, db, FrozenClock(NOW), read)
        first = await job.run_once()
        assert first is not None and (first["prices_staged"], first["book_created"]) == (1, True)
        job.clock = FrozenClock(NOW + dt.timedelta(days=1))
        again = await job.run_once()
        assert again is not None and (again["prices_staged"], again["unchanged"]) == (0, 1)
        assert await job.run_once() is None
        assert "cannot read it: connection refused" in caplog.text
    finally:
        await db.close()
