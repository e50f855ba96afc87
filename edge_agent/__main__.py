"""Command line: `edge-agent run|check-config|status|outbox [--config FILE] [--json]`, `--version`.

Exit codes: 0 done; 1 `outbox check` found damage; 2 config error (names the file and key);
3 no outbox at the configured data_dir; 4 the asked-for seq is not in the outbox; 5 `run`: another
agent holds the data_dir; 6 `run`: the API address cannot be listened on (README.md has the table).
"""

import argparse
import json
import sys

from edge_agent import __version__, inspect
from edge_agent.config import load_config
from edge_agent.errors import OutboxError
from runtime import clock, logs, memory
from runtime.cli import config_path, global_options, wants_json
from runtime.config import ConfigError, render
from runtime.service import StartupError, run_until_signal

DEFAULT_CONFIG = "/etc/edge-agent/agent.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-agent", description="Store edge agent")
    p.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    global_options(p, DEFAULT_CONFIG)
    sub = p.add_subparsers(dest="command", required=True)

    def command(parent: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str,
                text: str, json_flag: bool = True) -> argparse.ArgumentParser:
        cmd = parent.add_parser(name, help=text)
        global_options(cmd, DEFAULT_CONFIG, json_flag=json_flag)
        return cmd

    command(sub, "run", "run the agent", json_flag=False)
    command(sub, "check-config", "validate the config and print the effective values")
    command(sub, "status", "the same facts as the status page, for SSH sessions")
    outbox = command(sub, "outbox", "list or show events in the outbox")
    what = outbox.add_subparsers(dest="outbox_command", required=True)
    listing = command(what, "list", "events in seq order")
    listing.add_argument("--after", type=int, default=0, help="start after this seq")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--unsent", action="store_true", help="only events the hub has not acked")
    show = command(what, "show", "one event in full")
    show.add_argument("seq", type=int)
    command(what, "check", "the integrity check the agent runs at start (changes nothing)")
    return p


def _print(data: object, as_json: bool, text: str) -> None:
    print(json.dumps(data, indent=2) if as_json else text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    as_json = wants_json(args)
    try:
        config = load_config(config_path(args, DEFAULT_CONFIG))
    except ConfigError as exc:
        print(f"edge-agent: config error: {exc}", file=sys.stderr)
        return inspect.EXIT_CONFIG
    if args.command == "check-config":
        sys.stdout.write(render(config, as_json=as_json))
        return inspect.EXIT_OK
    if args.command == "run":
        from edge_agent.app import Agent

        logs.setup(config.log_level)
        memory.map_large_blocks()  # catalog chunks go back to the system once applied
        try:
            run_until_signal(Agent(config, clock.from_environment()).run())
        except ConfigError as exc:  # a secret file changed since the check at start
            print(f"edge-agent: config error: {exc}", file=sys.stderr)
            return inspect.EXIT_CONFIG
        except StartupError as exc:
            print(f"edge-agent: {exc}", file=sys.stderr)
            return exc.exit_code
        except OutboxError as exc:
            print(f"edge-agent: {exc}", file=sys.stderr)
            return inspect.EXIT_NO_OUTBOX
        return inspect.EXIT_OK
    try:
        if args.command == "status":
            facts = inspect.status(config)
            _print(facts, as_json, inspect.render_status(facts))
        elif args.outbox_command == "check":
            problems = inspect.check(config)
            _print({"outbox": str(config.outbox_path), "problems": problems}, as_json,
                   "\n".join(problems) or f"{config.outbox_path}: ok")
            return inspect.EXIT_DAMAGED if problems else inspect.EXIT_OK
        elif args.outbox_command == "list":
            rows = inspect.entries(config, args.after, args.limit, args.unsent)
            _print(rows, as_json, inspect.render_entries(rows))
        else:
            found = inspect.entry(config, args.seq)
            if found is None:
                print(f"edge-agent: seq {args.seq} is not in the outbox", file=sys.stderr)
                return inspect.EXIT_NOT_FOUND
            _print(found, as_json, json.dumps(found, indent=2))
    except OutboxError as exc:
        print(f"edge-agent: {exc}", file=sys.stderr)
        return inspect.EXIT_NO_OUTBOX
    return inspect.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
