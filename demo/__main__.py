"""`retail-hub demo` (or `python -m demo`): parse the options, run the demo until Ctrl-C.

Exit codes: 0 everything delivered, posted and reconciled; 1 it was not (or, with --postgresql,
a server did not start); 2 bad options, a --data-dir the demo did not make, or --postgresql on a
machine without PostgreSQL or Mosquitto.
"""

import argparse
import sys

from demo import cluster
from demo.folder import NotTheDemos
from demo.runner import Demo
from runtime import logs
from runtime.service import run_until_signal


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="retail-hub demo",
        description="the hub, its embedded broker, simulated stores with tills, and a Tryton ERP")
    p.add_argument("--stores", type=int, default=3, help="simulated stores (default 3)")
    p.add_argument("--rate", type=float, default=20.0,
                   help="sales per second per store (default 20)")
    p.add_argument("--duration", type=float, default=0,
                   help="stop after this many seconds (default: run until Ctrl-C)")
    p.add_argument("--data-dir", default="demo-data", help="where the demo keeps its files")
    p.add_argument("--api-port", type=int, default=8800, help="hub API port (default 8800)")
    p.add_argument("--no-erp", action="store_true",
                   help="do not start Tryton even if it is installed (connector none)")
    p.add_argument("--postgresql", action="store_true",
                   help="two hub workers (APIs on --api-port and the next) sharing the stores, "
                        "on a PostgreSQL and a Mosquitto the demo starts in --data-dir "
                        f"(needs `{cluster.PACKAGES}`)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.setup("WARNING")
    lacking = cluster.missing() if args.postgresql else None
    if lacking:
        print(f"retail-hub demo: {lacking}", file=sys.stderr)
        return 2
    demo = Demo(args.data_dir, stores=args.stores, rate=args.rate, duration=args.duration,
                api_port=args.api_port, erp=not args.no_erp, postgresql=args.postgresql)
    try:
        demo.check_folders()
    except NotTheDemos as exc:
        print(f"retail-hub demo: {exc}", file=sys.stderr)
        return 2
    run_until_signal(demo.run())
    return 1 if demo.ok is False else 0


if __name__ == "__main__":
    sys.exit(main())
