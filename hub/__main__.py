"""Command line: `retail-hub run|check-config|stores|postings|reconcile|catalog|migrate|export|
import [--config FILE] [--json]`, `retail-hub demo`, `--version`.

Exit codes: 0 done; 1 a check failed (the demo did not deliver everything, a reconciliation found
a mismatch, `catalog sync-from-erp` could not read the ERP), or the hub database is of a newer
release; 2 config error (names the file and key), or a demo --data-dir the demo did not make; 3
no hub database at the configured data_dir, or the PostgreSQL database cannot be reached; 4 the
action was refused (e.g. retrying a posting that is not dead or an exception, reconciling a store
the hub does not know, a catalog import with a row that is not an item, a `catalog
sync-from-erp` price change a rule refuses, importing into a database that is not empty); 5
`run`: another hub holds the data_dir; 6 `run`: an address from the config cannot be listened on
(README.md has the table). Usage errors exit 2 (also a `catalog import` file that cannot be
read).
"""

import argparse
import json
import os
import sys

from hub import __version__
from hub.cli import catalog as catalog_cli
from hub.cli import postings as postings_cli
from hub.cli import storage as storage_cli
from hub.config import HubConfig, load_config
from hub.errors import DatabaseUnreachable
from runtime import clock, logs
from runtime.cli import config_path, global_options, wants_json
from runtime.config import ConfigError, render
from runtime.migrations import SchemaTooNew
from runtime.service import StartupError, run_until_signal

EXIT_NEWER_DATABASE = 1
EXIT_NO_DATABASE = 3

DEFAULT_CONFIG = "/etc/retail-hub/hub.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="retail-hub", description="Retail store-edge sync hub")
    p.add_argument("--version", action="version", version=f"retail-hub {__version__}")
    global_options(p, DEFAULT_CONFIG)
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run the hub"), ("check-config", "validate and print config")):
        cmd = sub.add_parser(name, help=text)
        global_options(cmd, DEFAULT_CONFIG, json_flag=name == "check-config")
    stores = sub.add_parser("stores", help="list, add, rotate or remove stores")
    global_options(stores, DEFAULT_CONFIG)
    actions = stores.add_subparsers(dest="stores_command")
    global_options(actions.add_parser("list", help="every store the hub knows (the default)"),
                   DEFAULT_CONFIG)
    for name, text in (("add", "create a store's broker credentials"),
                       ("rotate", "give a store a new password"),
                       ("remove", "revoke a store's credentials")):
        action = actions.add_parser(name, help=text)
        global_options(action, DEFAULT_CONFIG)
        action.add_argument("store_id")
        if name != "remove":
            action.add_argument("--password-file",
                                help="write the password here instead of printing it")
    postings_cli.add_parsers(sub, DEFAULT_CONFIG)
    catalog_cli.add_parsers(sub, DEFAULT_CONFIG)
    storage_cli.add_parsers(sub, DEFAULT_CONFIG)
    # The demo lives outside the product (demo/): `retail-hub demo ARGS` runs `python -m demo ARGS`.
    sub.add_parser("demo", add_help=False,
                   help="run the hub, its embedded broker, simulated stores and Tryton (demo --help)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:
        # Replaces this process (same pid and process group: a terminal's Ctrl-C reaches it).
        os.execv(sys.executable, [sys.executable, "-m", "demo", *argv[1:]])
    args = _parser().parse_args(argv)
    try:
        config = load_config(config_path(args, DEFAULT_CONFIG))
    except ConfigError as exc:
        print(f"retail-hub: config error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        sys.stdout.write(render(config, as_json=wants_json(args)))
        return 0
    try:
        return _command(config, args)
    except DatabaseUnreachable as exc:
        print(f"retail-hub: {exc}", file=sys.stderr)
        return EXIT_NO_DATABASE
    except SchemaTooNew as exc:
        print(f"retail-hub: {exc}: run the newer release", file=sys.stderr)
        return EXIT_NEWER_DATABASE


def _command(config: HubConfig, args: argparse.Namespace) -> int:
    if args.command in ("migrate", "export", "import"):
        return storage_cli.run(config, args)
    if args.command in ("postings", "reconcile"):
        return postings_cli.run(config, args)
    if args.command == "catalog":
        return catalog_cli.run(config, args)
    if args.command == "stores" and args.stores_command in ("add", "rotate", "remove"):
        return _provision(config, args)
    if args.command == "stores":
        from hub.ledger.fleet import list_stores_now, render_stores
        from hub.storage import factory

        if not factory.exists(config):
            print(f"retail-hub: no hub database at {factory.where(config)}", file=sys.stderr)
            return EXIT_NO_DATABASE
        rows = list_stores_now(config)
        print(json.dumps(rows, indent=2) if wants_json(args) else render_stores(rows))
        return 0
    from hub.app import Hub

    logs.setup(config.log_level)
    try:
        run_until_signal(Hub(config, clock.from_environment()).run())
    except ConfigError as exc:  # a secret file changed since the check at start
        print(f"retail-hub: config error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"retail-hub: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def _provision(config: HubConfig, args: argparse.Namespace) -> int:
    from hub.broker import provisioning
    from hub.errors import CredentialsError

    applies = ("the running hub applies it at the store's next login" if config.broker.embedded
               else "this hub uses an external broker: change the store there too "
                    "(docs/mosquitto.md)")
    try:
        if args.stores_command == "remove":
            provisioning.remove(config, args.store_id)
            result: dict[str, object] = {"store_id": args.store_id, "removed": True}
            text = f"removed {args.store_id}; {applies}"
        else:
            result = provisioning.add(config, args.store_id, args.password_file,
                                      rotate=args.stores_command == "rotate")
            secret = (f"password written to {result['password_file']}" if "password_file" in result
                      else f"password: {result['password']}")
            text = (f"# {args.stores_command}: {args.store_id} ({secret}); {applies}.\n"
                    f"# Agent config for the store:\n{result['agent_config']}")
    except CredentialsError as exc:
        print(f"retail-hub: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if wants_json(args) else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
