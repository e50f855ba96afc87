"""The store status page (`GET /`): one HTML page, no external assets, refreshes itself.

Written for store staff on a back-office PC or a tablet: the headline in plain words first, then
connection, backlog, disk, today's takings per register and the latest transactions.
"""

import datetime as dt
from html import escape
from typing import Any

REFRESH_S = 5
STATE_WORDS = {
    "waiting": "waiting to send",
    "at_head_office": "at head office",
    "posted": "posted to ERP",
    "dead": "problem at head office",
    "exception": "held at head office",
}
_CSS = """
body{font-family:system-ui,sans-serif;margin:0;padding:1rem;max-width:60rem;color:#222}
h1{font-size:1.1rem;margin:0 0 .5rem;color:#555}
.headline{font-size:1.5rem;padding:1rem;border-radius:.5rem;margin-bottom:1rem}
.ok{background:#e3f5e1}.info{background:#e6effa}.warn{background:#fff2cc}.error{background:#fbe0e0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:.5rem}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.6rem}
.card b{display:block;font-size:1.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.95rem}
td,th{text-align:left;padding:.3rem;border-bottom:1px solid #eee}
.num{text-align:right}small{color:#666}
"""


def _t(iso: str | None, zone: dt.tzinfo) -> str:
    if not iso:
        return "never"
    return dt.datetime.fromisoformat(iso).astimezone(zone).strftime("%H:%M:%S")


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return ""


def render(status: dict[str, Any]) -> str:
    zone = dt.datetime.fromisoformat(status["at"]).tzinfo or dt.UTC
    head = status["headline"]
    conn = status["connection"]
    backlog = status["backlog"]
    disk = status["disk"]
    connected = "connected" if conn["state"] == "connected" else "not connected"
    hours = disk["hours_left"]
    if hours is None:
        room = "no recent sales to estimate from"
    elif hours > 24 * 365:
        room = "room for over a year of sales"
    else:
        room = f"about {hours:g} hours of sales"
    cards = [
        ("Head office", connected, f"since {_t(conn['since'], zone)}"),
        ("Waiting to send", f"{backlog['sales']} sale{'' if backlog['sales'] == 1 else 's'}",
         f"{backlog['events']} records in all; oldest from {_t(backlog['oldest_unsent_at'], zone)}"),
        ("Last confirmation", _t(status["last_ack_at"], zone), "from head office"),
        ("Sales per hour", str(status["throughput"]["per_hour"]), "over the last 15 minutes"),
        ("Disk space", _bytes(disk["free_bytes"]) + " free", room),
    ]
    card_html = "".join(f'<div class="card">{escape(a)}<b>{escape(b)}</b><small>{escape(c)}</small></div>'
                        for a, b, c in cards)
    registers = "".join(
        f"<tr><td>{escape(r['register_id'])}</td><td class=num>{r['sales']}</td>"
        f"<td class=num>{r['returns']}</td><td class=num>{escape(r['gross'])}</td>"
        f"<td class=num>{r['at_head_office']['sales']}</td>"
        f"<td class=num>{r['at_head_office']['returns']}</td>"
        f"<td class=num>{escape(r['at_head_office']['gross'])}</td></tr>"
        for r in status["today"]["registers"]) or "<tr><td colspan=7>No sales yet today</td></tr>"
    recent = "".join(
        f"<tr><td>{_t(t['captured_at'], zone)}</td><td>{escape(t['kind'].replace('_', ' '))}</td>"
        f"<td>{escape(t['reference'])}</td><td class=num>{escape(t['gross'] or '')}</td>"
        f"<td>{escape(STATE_WORDS.get(t['state'], t['state']))}"
        f"{' ' + escape(t['erp_ref']) if t['erp_ref'] else ''}</td></tr>"
        for t in status["recent"]) or "<tr><td colspan=5>Nothing recorded yet</td></tr>"
    error = (f"<p><small>Last connection problem: {escape(conn['last_error'])}</small></p>"
             if conn["last_error"] and conn["state"] != "connected" else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_S}">
<title>Store {escape(status['store_id'])}: {escape(head['text'])}</title>
<style>{_CSS}</style></head><body>
<h1>Store {escape(status['store_id'])} · till connection to head office</h1>
<div class="headline {escape(head['level'])}" id="headline">{escape(head['text'])}</div>
<div class="grid">{card_html}</div>{error}
<h2>Today ({escape(status['today']['business_day'])}) by register</h2>
<table id="today"><tr><th>Register</th><th class=num>Sales</th><th class=num>Returns</th>
<th class=num>Takings</th><th class=num>Sales at head office</th>
<th class=num>Returns at head office</th><th class=num>Takings at head office</th></tr>
{registers}</table>
<h2>Latest transactions</h2>
<table id="recent"><tr><th>Time</th><th>What</th><th>Register / number</th><th class=num>Amount</th>
<th>State</th></tr>{recent}</table>
<p><small>Updated {escape(status['at'])} · refreshes every {REFRESH_S} s · agent
{escape(status['version'])} · the same as JSON: <a href="/v1/status">/v1/status</a></small></p>
</body></html>"""
