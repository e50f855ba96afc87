"""`retail-hub catalog import items.csv`: items from a CSV file into the catalog's master data,
for sets larger than one `PUT /v1/items` (10,000). `retail-hub catalog sync-from-erp`: products
and list prices from the ERP (hub.catalog.erp_sync).

The file is read and checked whole first (every row an item, no SKU or barcode twice); then it
is written 10,000 items per transaction, so a running hub goes on applying sales meanwhile.
Items are replaced whole, so running an import again does no harm. What is imported reaches the
stores with the next publication (at once with `[catalog] auto_publish`).
"""

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from hub.catalog import master, publishing
from hub.catalog.requests import MAX_ITEMS, ItemIn, csv_items
from hub.cli import catalog_sync as sync_cli
from hub.config import HubConfig
from hub.errors import CatalogError
from hub.storage import Transaction, factory
from runtime import clock
from runtime.cli import global_options, wants_json

EXIT_USAGE = 2
EXIT_NO_DATABASE = 3
EXIT_REFUSED = 4


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
                default_config: str) -> None:
    p = sub.add_parser("catalog", help="import items into the catalog, or sync them from the ERP")
    global_options(p, default_config)
    actions = p.add_subparsers(dest="catalog_command", required=True)
    imp = actions.add_parser(
        "import", help="create or replace items from a CSV file with a header line "
                       "(sku, name, and optionally barcode, unit, tax_class, active)")
    global_options(imp, default_config)
    imp.add_argument("file", type=Path, help="the CSV file (UTF-8)")
    sync = actions.add_parser(
        "sync-from-erp", help="products and list prices from the ERP (tryton) into a price book")
    global_options(sync, default_config)
    sync.add_argument("--book", help="the price book (default: [catalog] erp_book)")


def run(config: HubConfig, args: argparse.Namespace) -> int:
    if not factory.exists(config):
        print(f"retail-hub: no hub database at {factory.where(config)}", file=sys.stderr)
        return EXIT_NO_DATABASE
    if args.catalog_command == "sync-from-erp":
        return sync_cli.run(config, args)
    try:
        with args.file.open(newline="", encoding="utf-8-sig") as f:
            items, lines = csv_items(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"retail-hub catalog import: {args.file}: cannot read it ({exc})", file=sys.stderr)
        return EXIT_USAGE
    except CatalogError as exc:
        return _refused(args.file, exc, "nothing was imported")
    try:
        result = _import(config, items, lines)
    except CatalogError as exc:
        return _refused(args.file, exc, "the lines before it were imported")
    if wants_json(args):
        print(json.dumps(result, indent=2))
    else:
        published = (f"; published as version {result['version']}" if result["version"]
                     else "; they reach the stores with the next publication")
        print(f"{result['items']} items from {args.file}: {result['created']} new, "
              f"{result['updated']} replaced{published}")
    return 0


def _import(config: HubConfig, items: list[ItemIn], lines: list[int]) -> dict[str, Any]:
    def where(i: int, field: str) -> str:
        return f"line {lines[i]}: {field}"

    master.check_unique(items, where)
    result: dict[str, Any] = {"items": len(items), "created": 0, "updated": 0, "version": None}
    now = clock.from_environment().now()
    for start in range(0, len(items), MAX_ITEMS):
        def write(tx: Transaction, start: int = start) -> dict[str, int]:
            return master.put_items(tx, items[start:start + MAX_ITEMS], now,
                                    lambda i, field: where(start + i, field))

        done = factory.transact(config, write)
        result["created"] += done["created"]
        result["updated"] += done["updated"]
    made = factory.transact(config, lambda tx: publishing.auto_publish(
        tx, now, config.catalog, f"catalog import of {len(items)} items"))
    result["version"] = made["version"] if made else None
    return result


def _refused(file: Path, exc: CatalogError, done: str) -> int:
    print(f"retail-hub catalog import: {file}: {exc.field}: {exc} ({done})", file=sys.stderr)
    return EXIT_REFUSED
