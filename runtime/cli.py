"""Command-line plumbing both programs share: `--config` and `--json` wherever they are typed.

`edge-agent outbox --config F list --json` and `retail-hub stores add S042 --config F` both
work: the options are added to every level of sub-commands with a suppressed default, so a
later level never resets what an earlier one set. Without `--config` the installed path is used.
"""

import argparse
from typing import Any


def global_options(parser: argparse.ArgumentParser, default_config: str, *,
                   json_flag: bool = True) -> None:
    """Add --config (and --json) to `parser`; call it for the program and every sub-command."""
    parser.add_argument("--config", default=argparse.SUPPRESS, metavar="FILE",
                        help=f"the TOML config (default {default_config})")
    if json_flag:
        parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                            help="machine-readable output")


def config_path(args: argparse.Namespace, default_config: str) -> str:
    return str(getattr(args, "config", default_config))


def wants_json(args: Any) -> bool:
    return bool(getattr(args, "json", False))
