"""Command line: `edge-agent run|check-config|status|outbox --config FILE`, `--version`.

Exit codes: 0 done; 1 `outbox check` found damage; 2 config error (names the file and key);
3 no outbox at the configured data_dir; 4 the asked-for seq is not in the outbox.
"""

import argparse
import json
import sys

from edge_agent import __version__, inspect
from edge_agent.config import load_config
from edge_agent.errors import OutboxError
from runtime import clock, logs
from runtime.config import ConfigError, render
from runtime.service import run_until_signal


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-agent", description="Store edge agent")
    p.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, text: str, json_flag: bool = False) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", required=True, help="path to the agent's TOML config")
        if json_flag:
            cmd.add_argument("--json", action="store_true", help="machine-readable output")
        return cmd

    command("run", "run the agent")
    command("check-config", "validate the config and print the effective values")
    command("status", "the same facts as the status page, for SSH sessions", json_flag=True)
    outbox = command("outbox", "list or show events in the outbox", json_flag=True)
    what = outbox.add_subparsers(dest="outbox_command", required=True)
    listing = what.add_parser("list", help="events in seq order")
    listing.add_argument("--after", type=int, default=0, help="start after this seq")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--unsent", action="store_true", help="only events the hub has not acked")
    show = what.add_parser("show", help="one event in full")
    show.add_argument("seq", type=int)
    what.add_parser("check", help="the integrity check the agent runs at start (changes nothing)")
    return p


def _print(data: object, as_json: bool, text: str) -> None:
    print(json.dumps(data, indent=2) if as_json else text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"edge-agent: config error: {exc}", file=sys.stderr)
        return inspect.EXIT_CONFIG
    if args.command == "check-config":
        sys.stdout.write(render(config))
        return inspect.EXIT_OK
    if args.command == "run":
        from edge_agent.app import Agent

        logs.setup(config.log_level)
        try:
            run_until_signal(Agent(config, clock.from_environment()).run())
        except OutboxError as exc:
            print(f"edge-agent: {exc}", file=sys.stderr)
            return inspect.EXIT_NO_OUTBOX
        return inspect.EXIT_OK
    try:
        if args.command == "status":
            facts = inspect.status(config)
            _print(facts, args.json, inspect.render_status(facts))
        elif args.outbox_command == "check":
            problems = inspect.check(config)
            _print({"outbox": str(config.outbox_path), "problems": problems}, args.json,
                   "\n".join(problems) or f"{config.outbox_path}: ok")
            return inspect.EXIT_DAMAGED if problems else inspect.EXIT_OK
        elif args.outbox_command == "list":
            rows = inspect.entries(config, args.after, args.limit, args.unsent)
            _print(rows, args.json, inspect.render_entries(rows))
        else:
            found = inspect.entry(config, args.seq)
            if found is None:
                print(f"edge-agent: seq {args.seq} is not in the outbox", file=sys.stderr)
                return inspect.EXIT_NOT_FOUND
            _print(found, args.json, json.dumps(found, indent=2))
    except OutboxError as exc:
        print(f"edge-agent: {exc}", file=sys.stderr)
        return inspect.EXIT_NO_OUTBOX
    return inspect.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
