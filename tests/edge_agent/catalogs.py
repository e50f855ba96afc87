"""Catalog versions as the hub sends them, for the store-side catalog tests."""

import datetime as dt
from decimal import Decimal

from protocol import chunking, codec
from protocol.messages import CatalogBook, CatalogChunk, CatalogItem, CatalogPrice, CatalogSnapshot

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
MIDNIGHT = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)  # 00:00 in Berlin
BASE, PROMO = CatalogBook("base", "EUR", 10), CatalogBook("promo", "EUR", 20)


def item(n: int) -> CatalogItem:
    return CatalogItem(f"SKU-{n}", f"Item {n}", barcode=f"400{n:010d}", unit="pcs")


def price(pid: int, sku: str, amount: str, start=T0, end=None, book="base") -> CatalogPrice:
    return CatalogPrice(pid, book, sku, Decimal(amount), start, end)


def first_version(n: int = 50) -> CatalogSnapshot:
    return CatalogSnapshot(1, [BASE, PROMO], [item(i) for i in range(n)],
                           [price(i + 1, f"SKU-{i}", f"{i}.50") for i in range(n)]
                           + [price(1000, "SKU-1", "9.99", MIDNIGHT)]  # tonight's new list price
                           + [price(1001, "SKU-2", "1.00", T0, MIDNIGHT, "promo")])


def chunks(content, max_bytes: int = 1024) -> list[CatalogChunk]:
    return chunking.split(codec.encode_catalog(content), content.version, max_bytes)
