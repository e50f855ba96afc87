"""`make bench`: every benchmark in one run (about 16 minutes here), then one table of results.

Each benchmark runs as its own process and writes bench/results/*.json; the table is read back
from those files. `python -m bench --only capture,drain` runs a subset; `--table` only prints.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

RUNS = {
    "capture": ["bench.capture", "--seconds", "6", "--rounds", "3"],
    "drain": ["bench.drain", "--events", "100000"],
    "storage": ["bench.storage", "--events", "20000", "--rounds", "3"],
    "drain-mosquitto": ["bench.drain", "--events", "100000", "--broker", "mosquitto"],
    "fleet": ["bench.fleet", "--stores", "1000", "--rate", "2000", "--seconds", "30"],
    "recovery": ["bench.recovery", "--outage", "60", "--after", "60"],
    "memory": ["bench.memory", "--events", "1000000"],
    "status-page": ["bench.status_page", "--events", "1000000"],
    "erp-fake": ["bench.erp_relay", "--erp", "fake"],
    "erp-limit": ["bench.erp_relay", "--erp", "limit"],
    "erp-tryton": ["bench.erp_relay", "--erp", "tryton", "--in-flight", "1"],
    "partition": ["bench.partition", "--outages", "10,30,60"],
    "chaos": ["bench.chaos", "--kills", "60"],
    "outbox-check": ["bench.outbox_check", "--events", "1000000"],
    "logins": ["bench.logins", "--stores", "200"],
    "availability-reads": ["bench.availability", "--part", "reads"],
    "reservations": ["bench.availability", "--part", "reservations"],
    "feed-lag": ["bench.availability", "--part", "feed"],
    "catalog-load": ["bench.catalog_load", "--items", "300000"],
    "catalog-fanout": ["bench.catalog_fanout", "--stores", "1000", "--changes", "1000"],
    "till-lookup": ["bench.till_lookup", "--items", "300000", "--rounds", "3"],
    "cluster": ["bench.cluster", "--events", "100000", "--rounds", "3"],
}


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def rows() -> list[tuple[str, str, str, str, str]]:
    out = []
    if c := _load("capture"):
        out.append(("capture", f"{c['agent_sales_per_s']} sales/s durable",
                    f"no-op handler {c['noop_requests_per_s']}/s", f"{c['ratio']}", ">= 0.7"))
        out.append(("capture latency @500/s", f"p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms", "",
                    "", "p99 <= 10 ms"))
    for broker in ("embedded", "mosquitto"):
        if d := _load(f"drain-{broker}"):
            out.append((f"drain 100k ({broker})", f"{d['events_per_s']} events/s",
                        f"raw SQLite {d['raw_sqlite_batch100_per_s']}/s", f"{d['ratio_to_raw']}",
                        ">= 0.5"))
            if "times_http_sync" in d:
                out.append((f"drain vs per-sale HTTP ({broker})", f"{d['events_per_s']} events/s",
                            f"HTTP sync {d['http_per_sale_sync_per_s']}/s",
                            f"{d['times_http_sync']}x", ">= 20x"))
    if st := _load("storage"):
        out.append(("storage hot path (in process)",
                    f"PostgreSQL {st.get('postgresql_events_per_s')} events/s",
                    f"SQLite {st['sqlite_events_per_s']}/s", f"{st.get('postgresql_to_sqlite')}",
                    ""))
    if c := _load("cluster"):
        if (d := c.get("drain")) and {"sqlite", "postgresql-1", "postgresql-2"} <= set(d):
            two, one = d["postgresql-2"], d["postgresql-1"]
            out.append((f"cluster drain {d['events'] // 1000}k, PostgreSQL 2 workers",
                        f"{two['events_per_s_median']} events/s",
                        f"1 worker {one['events_per_s_median']}/s, SQLite "
                        f"{d['sqlite']['events_per_s_median']}/s",
                        f"{two['events_per_s_median'] / one['events_per_s_median']:.2f}", ""))
        if f := c.get("failover"):
            out.append(("cluster failover, 1 of 2 workers SIGKILLed",
                        f"all applied {f['all_applied_after_kill_s']} s after the kill",
                        f"p99 before {f['before_p99_ms']} ms",
                        f"p99 after {f['failover_p99_ms']} ms", ""))
    if f := _load("fleet"):
        out.append((f"fleet {f['stores']} stores", f"{f['sold_per_s']} sales/s, all applied "
                    f"{f['applied'] == f['sold']}", "", f"p50 {f['p50_ms']} / p99 {f['p99_ms']} ms",
                    ">= 2000/s"))
    if r := _load("recovery"):
        out.append((f"recovery ({r['stores']} stores, {r['outage_s']:g} s down)",
                    f"drained {r['backlog_at_restart']} in {r['drain_s']} s",
                    f"10-min outage ~{r['drain_10min_outage_s_estimate']} s",
                    f"live p99 {r['live_p99_ms']} ms", "<= 30 s, p99 <= 2 s"))
    if p := _load("partition"):
        for part in p["partitions"]:
            out.append((f"partition: broker down {part['outage_s']:g} s",
                        f"{part['waiting_at_reconnect']} waiting, drained in {part['drain_s']} s",
                        "", "", ""))
        out.append(("partition: exactly once", f"{p['applied']} of {p['sold']} applied, "
                    f"once each: {p['exactly_once']}, till errors {p['till_errors']}", "", "", ""))
    if c := _load("chaos"):
        out.append((f"chaos: {sum((c['kills'] or {}).values())} SIGKILLs",
                    f"{sum((c['sales_accepted'] or {}).values())} sales, exactly once in hub and "
                    f"ERP: {c['exactly_once_hub_and_erp']}", f"seed {c['seed']}", "", ""))
    if o := _load("outbox-check"):
        out.append((f"outbox check at start, {o['events']:,} waiting",
                    f"{o['check_s']} s of {o['open_with_check_s']} s to open",
                    f"rebuild after damage {o['rebuild_s']} s", "", ""))
    if lg := _load("logins"):
        out.append((f"embedded broker, {lg['stores']} logins at once",
                    f"all in {lg['first']['all_connected_s']} s", f"again (remembered) "
                    f"{lg['again']['all_connected_s']} s", "", ""))
    if c := _load("catalog-load"):
        out.append((f"catalog full load, {c['items']:,} items", f"applied in "
                    f"{c['published_to_applied_s']} s (apply {c['apply_s']} s)",
                    "Odoo: 20-30 min", "", "<= 60 s"))
        out.append(("agent memory, catalog load", f"peak {c['agent_rss_peak_mb']} MB",
                    f"idle {c['agent_rss_idle_mb']} MB", "", "<= 50 MB"))
    if c := _load("catalog-fanout"):
        out.append((f"catalog: {c['changes']} changes to {c['stores']} stores",
                    f"all applied in {c['delta_s']} s", f"first version {c['snapshot_s']} s", "",
                    "<= 30 s"))
    if t := _load("till-lookup"):
        out.append((f"till lookups @{t['rate_per_s']:g}/s while capturing",
                    f"p50 {t['lookup_p50_ms']} ms, p99 {t['lookup_p99_ms']} ms",
                    f"capture p99 alone {t['capture_alone_p99_ms']} ms",
                    f"with lookups {t['capture_with_lookups_p99_ms']} ms", "p99 <= 5 ms"))
    if m := _load("memory"):
        out.append(("agent memory", f"idle {m['agent_idle_rss_mb']} MB, 1M waiting "
                    f"{m['agent_rss_mb_with_events']} MB", "", "", "<= 50 MB"))
    if f := _load("fleet"):
        out.append(("hub memory, 1000 stores", f"{f['hub_rss_mb']} MB (+ mosquitto "
                    f"{f['mosquitto_rss_mb']} MB)", "", "", "<= 300 MB"))
    if s := _load("status-page"):
        out.append(("store page, 1M waiting", f"p50 {s['/']['p50_ms']} ms", "", "", ""))
    for name, label in (("erp-relay-fake", "ERP relay (fake ERP)"),
                        ("erp-relay-limit", "ERP relay (10% 429, limit)"),
                        ("erp-relay-tryton", "ERP relay (Tryton)")):
        if e := _load(name):
            out.append((label, f"{e['relay_per_s']} postings/s", f"{e['baseline']}: "
                        f"{e['baseline_per_s']}/s", f"{e['ratio']}",
                        ">= 0.95" if name.endswith("limit") else ""))
    if a := _load("availability-reads"):
        out.append((f"availability reads @{a['rate']:g}/s during a {a['events'] // 1000}k drain",
                    f"p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms ({a['reads_per_s']}/s served)",
                    f"idle hub p99 {a['idle_p99_ms']} ms; drain {a['drain_s']} s alone",
                    f"drain x{a['slowdown']}",
                    "p99 <= 5 ms, x <= 1.2"))
    if r := _load("availability-reservations"):
        out.append((f"reservations, {r['clients']} clients", f"{r['per_s']} held/s, figure "
                    f"exact {r['figure_exact']}", "", f"p50 {r['p50_ms']} / p99 {r['p99_ms']} ms",
                    ""))
    if f := _load("availability-feed"):
        out.append((f"feed lag, {f['rate']:g} sales/s", f"applied -> feed p99 "
                    f"{f['from_apply_p99_ms']} ms", f"till 201 -> feed p99 "
                    f"{f['from_capture_p99_ms']} ms", "", "p99 <= 1 s"))
    if e := _load("erp-relay-fake"):
        calls = e["erp_calls_per_10k_sales"]
        out.append(("ERP calls / 10k sales", f"{calls['per_transaction']} per transaction",
                    f"{calls['daily_summary']} as daily summaries", "", ""))
    return out


def table() -> str:
    header = ("benchmark", "result", "baseline", "ratio", "target")
    data = [header, *rows()]
    widths = [max(len(r[i]) for r in data) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in data]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--only", help="comma-separated: " + ",".join(RUNS))
    p.add_argument("--table", action="store_true", help="only print the table of the last results")
    args = p.parse_args()
    failed = []
    if not args.table:
        for name in (args.only.split(",") if args.only else RUNS):
            print(f"== {name}", flush=True)
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", *RUNS[name]], cwd=ROOT, check=False)
            print(f"   ({time.perf_counter() - t:.0f} s)", flush=True)
            if done.returncode:
                failed.append(name)
    print(table())
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
