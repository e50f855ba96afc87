"""The operations dashboard (`GET /` on the hub API): fleet, ERP relay, exceptions, reconciliation.

Server-rendered HTML, no external assets. Read views are open (the API listens on loopback by
default); the retry/resubmit buttons call the API with the admin token the operator types in
(kept in the browser tab's sessionStorage only). The fleet is filtered and paged in SQL, so 1,000
stores is 50 rows at a time.
"""

import datetime as dt
from html import escape
from typing import Any
from urllib.parse import urlencode

import aiosqlite

from hub import fleet, inventory, postings, quarantine

PAGE_SIZE = 50
_CSS = """
body{font-family:system-ui,sans-serif;margin:0;padding:1rem;color:#222}
h1{font-size:1.3rem;margin:0 0 .8rem}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.5rem}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.5rem}.card b{display:block;font-size:1.3rem}
.bad{background:#fbe0e0}.warn{background:#fff2cc}.good{background:#e3f5e1}
table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #eee;vertical-align:top}
form{display:inline}input{padding:.2rem}small{color:#666}#flash{font-weight:bold}
"""
_SCRIPT = """
const tokenBox = document.getElementById('token');
tokenBox.value = sessionStorage.getItem('adminToken') || '';
tokenBox.addEventListener('change', () => sessionStorage.setItem('adminToken', tokenBox.value));
async function act(id, action) {
  sessionStorage.setItem('adminToken', tokenBox.value);
  const r = await fetch(`/v1/postings/${id}/${action}`, {method: 'POST',
    headers: {'Authorization': 'Bearer ' + tokenBox.value, 'Content-Type': 'application/json'},
    body: JSON.stringify({actor: 'dashboard'})});
  const body = await r.json();
  document.getElementById('flash').textContent = r.ok ? `${id}: ${action} queued` :
    `${action} refused (${r.status}): ${body.error}`;
  if (r.ok) setTimeout(() => location.reload(), 1500);
}
setInterval(() => { if (!document.activeElement || document.activeElement.tagName !== 'INPUT')
  location.reload(); }, 15000);
"""


def _ago(iso: str | None, now: dt.datetime) -> str:
    if not iso:
        return "never"
    seconds = (now - dt.datetime.fromisoformat(iso)).total_seconds()
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


async def gather(reader: aiosqlite.Connection, query: dict[str, str], gaps: dict[str, int],
                 relay: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    state = query.get("stores", "all")
    online = {"online": True, "offline": False}.get(state)
    page = max(1, int(query.get("page", "1") or 1))
    total, rows = await fleet.page(reader, online=online, query=query.get("q", ""),
                                   offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    for row in rows:
        row["gaps"] = gaps.get(row["store_id"], 0)
    async with reader.execute(
            "SELECT COUNT(*) FROM postings WHERE state = 'posted' AND posted_at >= ?",
            (postings.stamp(now - dt.timedelta(minutes=5)),)) as cur:
        posted_5min = (await cur.fetchone() or (0,))[0]
    async with reader.execute(
            "SELECT store_id, business_day, status, checked_at FROM reconciliations"
            " ORDER BY business_day DESC, status DESC, store_id LIMIT 20") as cur:
        recon = [dict(zip(("store_id", "business_day", "status", "checked_at"), r, strict=True))
                 for r in await cur.fetchall()]
    sku = query.get("sku", "").strip()
    return {
        "fleet": {**await fleet.counts(reader), "filter": state, "q": query.get("q", ""),
                  "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "matching": total,
                  "rows": rows},
        "postings": await postings.counts(reader),
        "posted_per_min": round(posted_5min / 5, 1),
        "relay": relay,
        "exceptions": await postings.listing(reader, state="exception", limit=20),
        "dead": await postings.listing(reader, state="dead", limit=20),
        "reconciliations": recon,
        "sku": sku,
        "inventory": await inventory.lookup(reader, sku) if sku else None,
        "quarantined": await quarantine.count(reader),
    }


def _link(data: dict[str, Any], **change: Any) -> str:
    f = data["fleet"]
    params = {"stores": f["filter"], "q": f["q"], "page": f["page"], **change}
    return "?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})


def _postings_table(rows: list[dict[str, Any]], title: str, anchor: str) -> str:
    if not rows:
        return f"<h2 id={anchor}>{title}</h2><p>None.</p>"
    body = "".join(
        f"<tr><td><code>{escape(r['posting_id'])}</code></td><td>{escape(r['kind'])}</td>"
        f"<td>{escape(r['store_id'])}</td><td>{escape(r['business_day'])}</td>"
        f"<td>{escape(r['reason'] or '')}</td><td>"
        f"<button onclick=\"act('{escape(r['posting_id'])}','retry')\">Retry</button> "
        f"<button onclick=\"act('{escape(r['posting_id'])}','resubmit')\">Resubmit</button></td></tr>"
        for r in rows)
    return (f"<h2 id={anchor}>{title}</h2><table><tr><th>Posting</th><th>Kind</th><th>Store</th>"
            f"<th>Day</th><th>Reason</th><th></th></tr>{body}</table>")


def render(data: dict[str, Any], now: dt.datetime, token_configured: bool) -> str:
    f, p, relay = data["fleet"], data["postings"], data["relay"]
    circuit = relay.get("circuit", "n/a")
    cards = [
        ("Stores online", f"{f['online']} / {f['stores']}", "bad" if f["offline"] else "good"),
        ("Quarantined payloads", str(data["quarantined"]), "warn" if data["quarantined"] else ""),
        ("ERP connector", str(relay.get("connector")), ""),
        ("ERP circuit", circuit, "bad" if circuit == "open" else ""),
        ("Postings pending", str(p["pending"] + p["posting"]), ""),
        ("Posted per minute", f"{data['posted_per_min']:g}", ""),
        ("Exceptions", str(p["exception"]), "warn" if p["exception"] else ""),
        ("Dead letters", str(p["dead"]), "bad" if p["dead"] else ""),
    ]
    card_html = "".join(f'<div class="card {cls}">{escape(a)}<b>{escape(b)}</b></div>'
                        for a, b, cls in cards)
    change = relay.get("window_changes_at")
    when = dt.datetime.fromisoformat(change).strftime("%a %H:%M UTC") if change else None
    if relay.get("maintenance_window"):
        pause = f"maintenance window {relay['maintenance_window']}; posting resumes {when}"
    elif relay.get("paused_for_s"):
        pause = f"paused {relay['paused_for_s']} s at the ERP's request"
    else:
        pause = f"next maintenance window {when}" if when else ""
    fleet_rows = "".join(
        f"<tr class={'' if r['online'] else 'bad'}><td>{escape(r['store_id'])}</td>"
        f"<td>{'online' if r['online'] else 'offline'}</td><td>{_ago(r['last_seen'], now)}</td>"
        f"<td>{_ago(r['last_applied_at'], now)}</td><td>{r['backlog'] if r['backlog'] is not None else ''}</td>"
        f"<td>{r['gaps']}</td><td>{r['quarantined']}</td><td>{escape(r['version'] or '')}</td></tr>"
        for r in f["rows"]) or "<tr><td colspan=8>No stores match.</td></tr>"
    filters = " · ".join(
        f"<a href='{_link(data, stores=s, page=1)}'>{'<b>' + s + '</b>' if f['filter'] == s else s}</a>"
        for s in ("all", "offline", "online"))
    pager = (f"page {f['page']} of {f['pages']} ({f['matching']} stores)"
             + (f" · <a href='{_link(data, page=f['page'] - 1)}'>previous</a>" if f["page"] > 1 else "")
             + (f" · <a href='{_link(data, page=f['page'] + 1)}'>next</a>" if f["page"] < f["pages"] else ""))
    recon = "".join(
        f"<tr class={'good' if r['status'] == 'matched' else 'bad' if r['status'] == 'mismatched' else ''}>"
        f"<td><a href='/v1/reconciliation?day={escape(r['business_day'])}&store_id={escape(r['store_id'])}'>"
        f"{escape(r['business_day'])}</a></td><td>{escape(r['store_id'])}</td>"
        f"<td>{escape(r['status'])}</td><td>{escape(r['checked_at'])}</td></tr>"
        for r in data["reconciliations"]) or "<tr><td colspan=4>No scheduled run yet.</td></tr>"
    inv = ""
    if data["sku"]:
        found = data["inventory"]
        inv = (f"<p>No stock recorded for {escape(data['sku'])}.</p>" if found is None else
               f"<p><b>{escape(found['sku'])}</b>: on hand {found['on_hand']}, reserved "
               f"{found['reserved']}, available to sell {found['available_to_sell']} "
               f"in {len(found['stores'])} stores</p>")
    token_note = ("" if token_configured else
                  "<p class=warn>Actions are disabled: set <code>[api] admin_token_file</code> "
                  "in the hub's config.</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Retail hub: {f['online']}/{f['stores']} stores online</title><style>{_CSS}</style></head>
<body><h1>Retail hub operations</h1>
<div class="grid">{card_html}</div>
<p><small>ERP relay: {relay.get('in_flight', 0)} in flight{'; ' + escape(pause) if pause else ''}.
Updated {now.isoformat(timespec='seconds')}; refreshes every 15 s.</small></p>
<h2 id=fleet>Stores</h2>
<form method=get><input type=hidden name=stores value="{escape(f['filter'])}">
<input name=q placeholder="store id" value="{escape(f['q'])}"> <button>Filter</button></form>
{filters} · {pager}
<table><tr><th>Store</th><th>State</th><th>Last seen</th><th>Last applied</th><th>Backlog</th>
<th>Gaps asked</th><th>Quarantined</th><th>Version</th></tr>{fleet_rows}</table>
<h2>Actions</h2>{token_note}
<label>Admin token <input id=token type=password autocomplete=off></label> <span id=flash></span>
{_postings_table(data['exceptions'], 'Exceptions (held by governance)', 'exceptions')}
{_postings_table(data['dead'], 'Dead letters (refused by the ERP)', 'dead')}
<h2 id=reconciliation>Reconciliation</h2>
<form method=get action="/v1/reconciliation"><input name=day type=date> <button>Check a day</button></form>
<table><tr><th>Business day</th><th>Store</th><th>Status</th><th>Checked</th></tr>{recon}</table>
<h2 id=inventory>Inventory</h2>
<form method=get><input name=sku placeholder="SKU" value="{escape(data['sku'])}"> <button>Look up</button></form>
{inv}
<script>{_SCRIPT}</script></body></html>"""
