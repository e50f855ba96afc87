"""`retail-hub migrate|export|import`: the hub database's schema, and its rows carried from one
database to another (a SQLite hub into PostgreSQL: docs/scale-out.md).

- `migrate`: bring the configured database to this release's schema (`run` does it too, at
  start; with several hub workers, migrate once before the new release starts).
- `export --output FILE`: every row, one snapshot, into FILE (written beside it, then renamed).
- `import --input FILE`: into the configured database, which must be new and empty; all or
  nothing.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from hub.config import HubConfig
from hub.errors import TransferRefused
from hub.storage import factory
from runtime import clock
from runtime.cli import global_options, wants_json

EXIT_NO_DATABASE = 3
EXIT_REFUSED = 4


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
                default_config: str) -> None:
    migrate = sub.add_parser("migrate", help="bring the hub database to this release's schema")
    global_options(migrate, default_config)
    export = sub.add_parser("export", help="write every row of the hub database to a file")
    global_options(export, default_config)
    export.add_argument("--output", type=Path, required=True, metavar="FILE")
    load = sub.add_parser("import", help="load an export into a new, empty hub database")
    global_options(load, default_config)
    load.add_argument("--input", type=Path, required=True, metavar="FILE")


def run(config: HubConfig, args: argparse.Namespace) -> int:
    where = factory.where(config)
    if args.command == "migrate":
        before, after = factory.migrate(config)
        _say(args, {"database": where, "schema_before": before, "schema": after},
             f"hub database {where}: schema {before} -> {after}" if before != after
             else f"hub database {where}: at schema {after}, nothing to do")
        return 0
    if args.command == "export":
        if not factory.exists(config):
            print(f"retail-hub: no hub database at {where}", file=sys.stderr)
            return EXIT_NO_DATABASE
        part = args.output.with_name(args.output.name + ".part")
        with open(part, "wb") as out:
            counts = factory.export(config, out, clock.from_environment().now())
            out.flush()
            os.fsync(out.fileno())
        part.replace(args.output)
        _say(args, {"database": where, "file": str(args.output), "rows": counts},
             f"exported {sum(counts.values())} rows of {len(counts)} tables from {where} "
             f"to {args.output}")
        return 0
    try:
        with open(args.input, "rb") as src:
            counts = factory.import_(config, src)
    except OSError as exc:
        print(f"retail-hub import: --input: cannot read {args.input} ({exc.strerror})",
              file=sys.stderr)
        return EXIT_REFUSED
    except TransferRefused as exc:
        print(f"retail-hub import: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    _say(args, {"database": where, "file": str(args.input), "rows": counts},
         f"imported {sum(counts.values())} rows of {len(counts)} tables from {args.input} "
         f"into {where}")
    return 0


def _say(args: argparse.Namespace, result: dict[str, object], text: str) -> None:
    print(json.dumps(result, indent=2) if wants_json(args) else text)
