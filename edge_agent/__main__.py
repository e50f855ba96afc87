"""Command line: `edge-agent run|check-config --config FILE`, `edge-agent --version`."""

import argparse
import sys

from edge_agent import __version__
from edge_agent.config import load_config
from runtime import logs
from runtime.config import ConfigError, render
from runtime.service import run_until_signal


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-agent", description="Store edge agent")
    p.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run the agent"), ("check-config", "validate and print config")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", required=True, help="path to the agent's TOML config")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"edge-agent: config error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        sys.stdout.write(render(config))
        return 0
    from edge_agent.app import Agent

    logs.setup(config.log_level)
    run_until_signal(Agent(config).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
