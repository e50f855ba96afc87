"""`retail-hub catalog sync-from-erp [--book NAME]`: the ERP's saleable products become items and
their changed list prices one staged change set in a price book (hub.catalog.erp_sync), with
`[catalog] auto_publish` as for any change.

Exit codes: 0 done; 1 the ERP could not be read (nothing written); 4 a rule refused it (each
refused price change printed with its index and field; the items were written, no price was
staged), or the book is in another currency than the ERP's prices.
"""

import argparse
import asyncio
import json
import sys
from typing import Any

from hub.catalog import erp_sync
from hub.config import HubConfig
from hub.erp.factory import read_products
from hub.errors import CatalogError, ChangesRefused, ErpUnavailable
from hub.storage import factory
from runtime import clock
from runtime.cli import wants_json

EXIT_ERP = 1
EXIT_REFUSED = 4
PREFIX = "retail-hub catalog sync-from-erp"


def run(config: HubConfig, args: argparse.Namespace) -> int:
    try:
        found = asyncio.run(read_products(config))
    except ErpUnavailable as exc:
        print(f"{PREFIX}: cannot read the ERP: {exc} (nothing was written)", file=sys.stderr)
        return EXIT_ERP
    catalog = config.catalog
    book = args.book or catalog.erp_book
    currency = catalog.erp_currency or found.currency
    now = clock.from_environment().now()
    try:
        items = factory.transact(config, lambda tx: erp_sync.put_items(
            tx, found, book, currency, now))
    except CatalogError as exc:
        print(f"{PREFIX}: {exc.field}: {exc} (nothing was written)", file=sys.stderr)
        return EXIT_REFUSED
    refused: list[dict[str, object]] = []
    prices: dict[str, Any] | None = None
    try:
        prices = factory.transact(config, lambda tx: erp_sync.stage_prices(
            tx, found, book, now, catalog))
    except ChangesRefused as exc:
        refused = exc.refusals
    except CatalogError as exc:
        refused = [{"index": None, "field": exc.field, "error": f"{exc.field}: {exc}"}]
    result = erp_sync.summary(found, items, prices, refused)
    result["book"] = book
    if not refused:
        made = factory.transact(config, lambda tx: erp_sync.publish(tx, result, now, catalog))
        result["version"] = made["version"] if made else None
    if wants_json(args):
        print(json.dumps(result, indent=2))
    else:
        print(_render(result))
    for refusal in refused:
        print(f"{PREFIX}: refused: {refusal['error']}", file=sys.stderr)
    return EXIT_REFUSED if refused else 0


def _render(result: dict[str, Any]) -> str:
    book = f"book {result['book']!r}" + (" (made now, in " + result["currency"] + ")"
                                         if result["book_created"] else "")
    if result["refused"]:
        prices = (f"{len(result['refused'])} price changes refused, none staged "
                  "(the items were written)")
    else:
        prices = f"{result['prices_staged']} prices staged, {result['unchanged']} unchanged"
    published = (f"; published as version {result['version']}" if result["version"]
                 else "" if result["refused"] else
                 "; they reach the stores with the next publication")
    return (f"{result['items']} items from the ERP ({result['created']} new, "
            f"{result['updated']} replaced); {book}: {prices}{published}")
