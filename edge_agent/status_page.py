"""The store status page (`GET /`): one HTML page, no external assets, refreshes itself.

Written for store staff on a back-office PC, a tablet or a phone: the headline in plain words
first, then the prices the tills sell at (version, next change), connection, backlog, disk, today's takings per register (per currency: amounts in
different currencies are never added), a transaction lookup and the latest transactions.
"""

import datetime as dt
from html import escape
from typing import Any

from runtime.mqtt_session import ConnectionState

REFRESH_S = 5
STATE_WORDS = {
    "waiting": "waiting to send",
    "at_head_office": "at head office",
    "posted": "posted to ERP",
    "dead": "problem at head office",
    "exception": "held at head office",
}
KIND_WORDS = {"sale": "sale", "return": "return", "inventory_adjustment": "stock change",
              "day_close": "day close"}
_CSS = """
body{font-family:system-ui,sans-serif;margin:0;padding:1rem;max-width:60rem;color:#222}
h1{font-size:1.1rem;margin:0 0 .5rem;color:#555}h2{font-size:1.2rem;margin:1.2rem 0 .3rem}
.headline{font-size:1.5rem;padding:1rem;border-radius:.5rem;margin-bottom:1rem}
.ok{background:#e3f5e1}.info{background:#e6effa}.warn{background:#fff2cc}.error{background:#fbe0e0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.5rem}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.6rem}
.card b{display:block;font-size:1.3rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.95rem}
td,th{text-align:left;padding:.3rem;border-bottom:1px solid #eee}
.num{text-align:right;white-space:nowrap}small{color:#666}
form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}
label{display:flex;flex-direction:column;font-size:.9rem}
input,button{font-size:1rem;padding:.4rem}input{width:9rem}
#found{padding:.6rem;border-radius:.5rem;margin:.5rem 0}
#prices,#prices-warning{padding:.5rem .8rem;border-radius:.5rem;margin:.3rem 0}
@media (max-width:30rem){body{padding:.6rem}.headline{font-size:1.25rem}
table{font-size:.85rem}td,th{padding:.25rem .2rem}.wide{display:none}
.card b{font-size:1.1rem}}
"""
# Reloads every REFRESH_S seconds, but not while someone types in the lookup form.
_SCRIPT = f"""
setInterval(() => {{ const a = document.activeElement;
  if (!a || a.tagName !== 'INPUT') location.reload(); }}, {REFRESH_S * 1000});
"""


def _t(iso: str | None, zone: dt.tzinfo, never: str = "never") -> str:
    if not iso:
        return never
    return dt.datetime.fromisoformat(iso).astimezone(zone).strftime("%H:%M:%S")


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return ""


def _plural(n: int | str, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _room(hours: float | None) -> str:
    """How long the free disk lasts at the current rate, in the unit a person would use."""
    if hours is None:
        return "no recent sales to estimate from"
    if hours < 1:
        return "less than an hour of sales"
    if hours < 10:
        return f"about {round(hours, 1):g} hours of sales"
    if hours < 48:
        return f"about {round(hours)} hours of sales"
    if hours < 24 * 60:
        return f"about {round(hours / 24)} days of sales"
    if hours < 24 * 365:
        return "room for months of sales"
    return "room for over a year of sales"


def _money(currency: str | None, amount: str | None) -> str:
    if amount is None:
        return ""
    return f"{currency} {amount}" if currency and currency != "?" else amount


def _sent(done: dict[str, Any], part: dict[str, Any]) -> str:
    total = part["sales"] + part["returns"]
    sent = done["sales"] + done["returns"]
    return "all" if sent == total else f"{sent} of {total}"


def _registers(registers: list[dict[str, Any]], totals: list[dict[str, Any]]) -> str:
    rows = []
    for r in registers:
        # Older agents' JSON has no by_currency: one part without a currency.
        parts = r.get("by_currency") or [{**r, "currency": r.get("currency")}]
        for part in parts:
            rows.append(
                f"<tr><td>{escape(r['register_id'])}</td><td class=num>{part['sales']}</td>"
                f"<td class=num>{part['returns']}</td>"
                f"<td class=num>{escape(_money(part['currency'], part['gross']))}</td>"
                f"<td class=num>{escape(_sent(part['at_head_office'], part))}</td></tr>")
    if len(registers) > 1:
        rows += [f"<tr><th>All registers</th><th class=num>{t['sales']}</th>"
                 f"<th class=num>{t['returns']}</th>"
                 f"<th class=num>{escape(_money(t['currency'], t['gross']))}</th><th></th></tr>"
                 for t in totals]
    return "".join(rows) or "<tr><td colspan=5>No sales yet today</td></tr>"


def _txn_state(t: dict[str, Any]) -> str:
    words = str(STATE_WORDS.get(t["state"], t["state"]))
    return words + (" " + t["erp_ref"] if t.get("erp_ref") else "")


def _lookup(found: dict[str, Any] | None, zone: dt.tzinfo) -> str:
    form_reg = escape(found["register_id"]) if found else ""
    form_num = escape(found["pos_txn_id"]) if found else ""
    form = (f"<form method=get action='/' id=lookup><label>Register<input name=register "
            f"value='{form_reg}' autocomplete=off></label><label>Transaction number"
            f"<input name=number value='{form_num}' autocomplete=off inputmode=numeric></label>"
            "<button>Find</button></form>")
    if found is None:
        return form
    t = found["found"]
    if t is None:
        return (form + f"<div id=found class=warn>No transaction {form_num} from register "
                f"{form_reg} is in this store's records. Check the register and number on the "
                "receipt; a sale the till could not send is not here yet.</div>")
    return (form + f"<div id=found class={'ok' if t['state'] != 'waiting' else 'info'}>"
            f"<b>{escape(KIND_WORDS.get(t['kind'], t['kind']))} {escape(t['reference'])}</b>"
            f" {escape(_money(t.get('currency'), t['gross']))}: recorded "
            f"{escape(t.get('business_day') or '')} {_t(t['captured_at'], zone)}, "
            f"<b>{escape(_txn_state(t))}</b></div>")


def _prices(prices: dict[str, Any] | None) -> str:
    """The prices line under the headline, and its warning when there is one."""
    if not prices:
        return ""
    line = f"<p id=prices class={escape(prices['level'])}>{escape(prices['text'])}</p>"
    if prices.get("warning"):
        line += f"<p id=prices-warning class=warn>{escape(prices['warning'])}</p>"
    return line


def render(status: dict[str, Any], lookup: dict[str, Any] | None = None) -> str:
    zone = dt.datetime.fromisoformat(status["at"]).tzinfo or dt.UTC
    head = status["headline"]
    conn = status["connection"]
    backlog = status["backlog"]
    disk = status["disk"]
    throughput = status["throughput"]
    connected = "connected" if conn["state"] == ConnectionState.CONNECTED else "not connected"
    if backlog["events"]:
        oldest = backlog["oldest_unsent_at"]
        waiting_note = (_plural(backlog["events"], "record") + " in all"
                        + (f"; oldest from {_t(oldest, zone)}" if oldest else ""))
    else:
        waiting_note = "nothing waiting"
    sales_hour = throughput.get("sales_per_hour", throughput["per_hour"])
    cards = [
        ("Head office", connected, f"since {_t(conn['since'], zone)}"),
        ("Waiting to send", _plural(backlog["sales"], "sale"), waiting_note),
        ("Last confirmation", _t(status["last_ack_at"], zone, "none yet"), "from head office"),
        ("Sales per hour", str(sales_hour), "sales only, over the last 15 minutes"),
        ("Disk space", _bytes(disk["free_bytes"]) + " free", _room(disk["hours_left"])),
    ]
    card_html = "".join(f'<div class="card">{escape(a)}<b>{escape(b)}</b><small>{escape(c)}</small></div>'
                        for a, b, c in cards)
    recent = "".join(
        f"<tr><td>{_t(t['captured_at'], zone)}</td>"
        f"<td>{escape(KIND_WORDS.get(t['kind'], t['kind']))}</td>"
        f"<td>{escape(t['reference'])}</td>"
        f"<td class=num>{escape(_money(t.get('currency'), t['gross']))}</td>"
        f"<td>{escape(_txn_state(t))}</td></tr>"
        for t in status["recent"]) or "<tr><td colspan=5>Nothing recorded yet</td></tr>"
    problem = conn.get("problem") or conn["last_error"]
    error = (f"<p id=problem><small>Last connection problem: {escape(problem)}</small></p>"
             if problem and conn["state"] != ConnectionState.CONNECTED else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="{REFRESH_S}"></noscript>
<title>Store {escape(status['store_id'])}: {escape(head['text'])}</title>
<style>{_CSS}</style></head><body>
<h1>Store {escape(status['store_id'])} · till connection to head office</h1>
<div class="headline {escape(head['level'])}" id="headline">{escape(head['text'])}</div>
{_prices(status.get('prices'))}
<div class="grid">{card_html}</div>{error}
<h2>Today ({escape(status['today']['business_day'])}) by register</h2>
<div class=scroll><table id="today"><tr><th>Register</th><th class=num>Sales</th>
<th class=num>Returns</th><th class=num>Takings</th><th class=num>Sent<span class=wide> to head office</span></th></tr>
{_registers(status['today']['registers'], status['today'].get('totals', []))}</table></div>
<h2>Find a transaction</h2>
{_lookup(lookup, zone)}
<h2>Latest transactions</h2>
<div class=scroll><table id="recent"><tr><th>Time</th><th>What</th><th>Register / number</th>
<th class=num>Amount</th><th>State</th></tr>{recent}</table></div>
<p><small>Updated {escape(status['at'])} · refreshes every {REFRESH_S} s · agent
{escape(status['version'])} · the same as JSON: <a href="/v1/status">/v1/status</a></small></p>
<script>{_SCRIPT}</script>
</body></html>"""
