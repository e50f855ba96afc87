"""`retail-hub postings list|show|retry|resubmit` and `retail-hub reconcile`: finance's tools.

They work on the hub database directly, with or without the hub running (SQLite WAL, or
PostgreSQL's writer lock, lets the CLI write beside the hub's writer; a running hub picks changes
up within a second).
"""

import argparse
import asyncio
import datetime as dt
import getpass
import json
import socket
import sys
from pathlib import Path
from typing import Any

from hub.config import HubConfig
from hub.errors import PostingError, UnknownStore
from hub.postings import reconcile
from hub.postings import store as postings
from hub.postings.store import PostingState
from hub.storage import factory
from runtime import clock
from runtime.cli import global_options, wants_json

EXIT_MISMATCH = 1
EXIT_NO_DATABASE = 3
EXIT_REFUSED = 4  # also: `reconcile --store` of a store the hub does not know


def business_day(text: str) -> dt.date:
    """argparse type for --day: a usage error (exit 2) that names the option and the format."""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a date: {text!r} (write it as YYYY-MM-DD, e.g. 2026-11-23)")


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
                default_config: str) -> None:
    p = sub.add_parser("postings", help="list, show, retry or resubmit ERP postings")
    global_options(p, default_config)
    actions = p.add_subparsers(dest="postings_command", required=True)
    listing = actions.add_parser("list", help="postings, newest first")
    listing.add_argument("--state", choices=postings.STATES)
    listing.add_argument("--store", help="only this store")
    listing.add_argument("--day", type=business_day, help="only this business day (YYYY-MM-DD)")
    listing.add_argument("--limit", type=_limit, default=100, help="at most this many (1-1000)")
    listing.add_argument("--cursor", help="the next page: the cursor the previous page printed")
    show = actions.add_parser("show", help="one posting with its attempts and audit trail")
    show.add_argument("posting_id")
    for action in (listing, show):
        global_options(action, default_config)
    for name, text in (("retry", "send a dead or exception posting again, unchanged"),
                       ("resubmit", "send a corrected posting again (audited)")):
        action = actions.add_parser(name, help=text)
        global_options(action, default_config)
        action.add_argument("posting_id")
        action.add_argument("--actor", default=_whoami(), type=_actor,
                            help="who does this (for the audit trail)")
        if name == "resubmit":
            action.add_argument("--payload-file", type=Path,
                                help="the corrected posting as JSON (from `postings show --json`)")
    rec = sub.add_parser("reconcile", help="compare store day-close, hub and ERP totals")
    global_options(rec, default_config)
    rec.add_argument("--day", required=True, type=business_day, help="business day (YYYY-MM-DD)")
    rec.add_argument("--store", help="only this store")


def _limit(text: str) -> int:
    if text.isdigit() and 1 <= int(text) <= 1000:
        return int(text)
    raise argparse.ArgumentTypeError(f"not a whole number from 1 to 1000: {text!r}")


def run(config: HubConfig, args: argparse.Namespace) -> int:
    if not factory.exists(config):
        print(f"retail-hub: no hub database at {factory.where(config)}", file=sys.stderr)
        return EXIT_NO_DATABASE
    if args.command == "reconcile":
        return asyncio.run(_reconcile(config, args))
    if args.postings_command in ("retry", "resubmit"):
        return _act(config, args)
    return asyncio.run(_read(config, args))


def _whoami() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return "cli"


async def _read(config: HubConfig, args: argparse.Namespace) -> int:
    async with factory.reading(config) as reader:
        if args.postings_command == "show":
            found = await postings.show(reader, args.posting_id)
            if found is None:
                print(f"retail-hub: no posting {args.posting_id}", file=sys.stderr)
                return EXIT_REFUSED
            print(json.dumps(found, indent=2))
            return 0
        try:
            rows, next_cursor = await postings.page(
                reader, state=args.state, store_id=args.store,
                business_day=args.day.isoformat() if args.day else None, limit=args.limit,
                cursor=args.cursor)
        except ValueError as exc:
            print(f"retail-hub postings list: --cursor: {exc}", file=sys.stderr)
            return 2
    if wants_json(args):
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows))
    if next_cursor is not None:
        # On stderr, so that --json output stays one JSON document.
        print(f"more: --cursor {next_cursor}", file=sys.stderr)
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'POSTING':36}  {'KIND':20}  {'STORE':8}  {'DAY':10}  {'STATE':9}  {'TRIES':>5}  DETAIL"]
    for r in rows:
        detail = r["erp_ref"] if r["state"] == PostingState.POSTED else (r["reason"] or "")
        lines.append(f"{r['posting_id']:36}  {r['kind']:20}  {r['store_id']:8}  {r['business_day']:10}"
                     f"  {r['state']:9}  {r['attempts']:>5}  {detail}")
    return "\n".join(lines)


def _act(config: HubConfig, args: argparse.Namespace) -> int:
    now = clock.from_environment().now()
    edited = None
    if args.postings_command == "resubmit" and args.payload_file:
        try:
            edited = args.payload_file.read_text(encoding="utf-8")
            body = json.loads(edited)
        except (OSError, ValueError) as exc:
            print(f"retail-hub: cannot read {args.payload_file}: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        if isinstance(body, dict) and "payload" in body and "posting_id" in body.get("payload", {}):
            edited = json.dumps(body["payload"])  # the whole `postings show --json` output
    to = postings.waiting_state(config.erp.connector)
    try:
        if args.postings_command == "retry":
            result = factory.transact(config, lambda tx: postings.retry(
                tx, args.posting_id, args.actor, now, to))
        else:
            result = factory.transact(config, lambda tx: postings.resubmit(
                tx, args.posting_id, args.actor, now, edited, config.postings,
                config.erp.mapping, to))
    except PostingError as exc:
        print(f"retail-hub: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(result) if wants_json(args) else
          f"{args.posting_id}: {args.postings_command} queued (state {result['state']})")
    return 0


async def _reconcile(config: HubConfig, args: argparse.Namespace) -> int:
    from hub.erp.factory import make_connector

    connector = make_connector(config)
    async with factory.reading(config) as reader:
        try:
            if connector is not None:
                await connector.start()
            result = await reconcile.run(reader, connector, config.erp.mapping, args.day,
                                         args.store)
        except UnknownStore as exc:
            print(f"retail-hub reconcile: --store: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        finally:
            if connector is not None:
                await connector.close()
    if wants_json(args):
        print(json.dumps(result, indent=2))
    else:
        print(render(result))
    return EXIT_MISMATCH if result["mismatched"] else 0


def _actor(text: str) -> str:
    try:
        return postings.actor_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def render(result: dict[str, Any]) -> str:
    out = [(f"business day {result['business_day']}: {result['matched']} matched, "
           f"{result['mismatched']} mismatched, {result['incomplete']} incomplete")]
    for rep in result["stores"]:
        hub = rep["hub"]
        erp = rep["erp"].get("gross_total", "n/a")
        if not rep["erp"].get("configured", True):
            erp = "not configured (connector = \"none\": store and hub compared)"
        elif not rep["erp"]["available"]:
            erp = f"{erp} (ERP not readable: the hub's record of what it accepted)"
        store = rep["store"]["gross_total"] if rep["store"] else "no day-close"
        out.append(f"  {rep['store_id']:8} {rep['status']:10} gross: store {store}, "
                   f"hub {hub['gross_total']}, erp {erp}")
        for d in rep["differences"]:
            sides = ", ".join(f"{k} {v}" for k, v in d.items() if k != "field")
            out.append(f"      {d['field']}: {sides}")
        leads = rep.get("missing_in_hub") or {}
        if leads.get("sales_short"):
            out.append(f"      hub has {leads['sales_short']} sales fewer than the store counted")
        for gap in leads.get("register_gaps", []):
            out.append(f"      register {gap['register_id']}: no transaction "
                       f"{', '.join(gap['missing'])}")
        for m in rep["missing_in_erp"]:
            txns = ", ".join(f"{s['register_id']}/{s['pos_txn_id']}" for s in m["source"][:5])
            out.append(f"      not in ERP: {m['kind']} {m['posting_id']} ({m['state']}) {txns}")
        for x in rep["extra_in_erp"]:
            out.append(f"      only in ERP: {x['posting_id']} {x['erp_ref']} {x['gross']}")
    return "\n".join(out)
