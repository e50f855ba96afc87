"""The operations dashboard (`GET /` on the hub API): fleet, catalog, workers, ERP relay,
exceptions, reconciliation.

Server-rendered HTML, no external assets. Read views are open (the API listens on loopback by
default); the retry/resubmit buttons call the API with the admin token and the name the operator
types in (kept in the browser tab's sessionStorage only). The fleet is filtered and paged in SQL,
so 1,000 stores is 50 rows at a time. Also here: the search for a posting or a transaction
(`?find=`), the day check as a table (`?day=`), and the read-only queries these need.
"""

import datetime as dt
import json
from html import escape
from typing import Any
from urllib.parse import urlencode

from hub.errors import BadQuery
from hub.ingest import quarantine
from hub.ledger import fleet, inventory
from hub.postings import store as postings
from hub.postings.reconcile import ReconcileStatus
from hub.postings.store import PostingState
from hub.storage import Reads
from hub.web import catalog_board, workers_board
from protocol import identity
from runtime import timefmt
from runtime.circuit import CircuitState
from runtime.clock import stamp

PAGE_SIZE = 50
MAX_PAGE = 1_000_000  # far past any fleet; above it SQLite's OFFSET would overflow


_CSS = """
body{font-family:system-ui,sans-serif;margin:0;padding:1rem;color:#222}
h1{font-size:1.3rem;margin:0 0 .8rem}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.5rem}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.5rem}.card b{display:block;font-size:1.3rem}
.bad{background:#fbe0e0}.gone{color:#999}.warn{background:#fff2cc}.good{background:#e3f5e1}
table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #eee;vertical-align:top}
form{display:inline}input{padding:.2rem}small{color:#666}#flash{font-weight:bold}
.scroll{overflow-x:auto}input,textarea{box-sizing:border-box}textarea{width:100%;min-height:12rem;font-family:monospace;font-size:.8rem}
abbr{cursor:help}.num{text-align:right}.diff{min-width:14rem}
#search input{width:100%;max-width:28rem}figure{margin:.5rem 0}details{margin:.2rem 0}
@media (max-width:30rem){body{padding:.5rem}table{font-size:.8rem}td,th{padding:.2rem}}
"""
_SCRIPT = """
const tokenBox = document.getElementById('token'), actorBox = document.getElementById('actor');
const flash = (text) => { document.getElementById('flash').textContent = text; };
tokenBox.value = sessionStorage.getItem('adminToken') || '';
actorBox.value = sessionStorage.getItem('actor') || '';
tokenBox.addEventListener('change', () => sessionStorage.setItem('adminToken', tokenBox.value));
actorBox.addEventListener('change', () => sessionStorage.setItem('actor', actorBox.value));
async function act(id, action, payload) {
  const actor = actorBox.value.trim();
  if (!actor) { flash('Enter your name first: it goes into the audit trail.'); return; }
  sessionStorage.setItem('adminToken', tokenBox.value);
  sessionStorage.setItem('actor', actor);
  const body = {actor};
  if (payload !== undefined) body.payload = payload;
  const r = await fetch(`/v1/postings/${encodeURIComponent(id)}/${action}`, {method: 'POST',
    headers: {'Authorization': 'Bearer ' + tokenBox.value, 'Content-Type': 'application/json'},
    body: JSON.stringify(body)});
  const answer = await r.json();
  flash(r.ok ? `${id}: ${action} queued` : `${action} refused (${r.status}): ${answer.error}`);
  if (r.ok) setTimeout(() => location.reload(), 1500);
}
function resubmit(button) {
  const text = document.getElementById(button.dataset.editor).value;
  let payload;
  try { payload = JSON.parse(text); } catch (e) { flash(`payload is not JSON: ${e.message}`); return; }
  act(button.dataset.id, 'resubmit', payload);
}
// Reload every 15 s, but not while the operator types, edits a payload or reads a day check.
setInterval(() => {
  const a = document.activeElement;
  if (a && (a.tagName === 'INPUT' || a.tagName === 'TEXTAREA')) return;
  if (document.querySelector('details[open]') || document.getElementById('daycheck')) return;
  location.reload(); }, 15000);
"""


def _ago(iso: str | None, now: dt.datetime) -> str:
    return timefmt.ago(dt.datetime.fromisoformat(iso) if iso else None, now)


def _page(query: dict[str, str]) -> int:
    text = query.get("page", "1") or "1"
    try:
        page = int(text)
    except ValueError:
        raise BadQuery("page must be a whole number", "page") from None
    if page > MAX_PAGE:
        raise BadQuery(f"page must be at most {MAX_PAGE}", "page")
    return max(1, page)


def check_day(query: dict[str, str]) -> dt.date | None:
    """The day of `?day=` (the "Check a day" form), or None when not asked."""
    text = query.get("day", "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise BadQuery("day must be a date as YYYY-MM-DD", "day")


async def gather(reader: Reads, query: dict[str, str], gaps: dict[str, int],
                 relay: dict[str, Any], now: dt.datetime, zone: dt.tzinfo = dt.UTC,
                 day_check: dict[str, Any] | None = None, chart: str = "") -> dict[str, Any]:
    state = query.get("stores", "all")
    online = {"online": True, "offline": False}.get(state)
    page = _page(query)
    total, rows = await fleet.page(reader, online=online, query=query.get("q", ""),
                                   offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    catalogs = await catalog_board.versions(reader, [r["store_id"] for r in rows])
    for row in rows:
        row["gaps"] = gaps.get(row["store_id"], 0)
        row["catalog"] = catalogs.get(row["store_id"])
    midnight = dt.datetime.combine(now.astimezone(zone).date(), dt.time(), zone)
    posted_5min, posted_today = await reader.postings.posted_since(
        now - dt.timedelta(minutes=5), midnight)
    recon = await reader.reconciliations.latest(20)
    sku = query.get("sku", "").strip()
    find = query.get("find", "").strip()
    exceptions = await postings.listing(reader, state=PostingState.EXCEPTION, limit=20)
    dead = await postings.listing(reader, state=PostingState.DEAD, limit=20)
    await _add_payloads(reader, exceptions + dead)
    return {
        "fleet": {**await fleet.counts(reader), "filter": state, "q": query.get("q", ""),
                  "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "matching": total,
                  "rows": rows},
        "postings": await postings.counts(reader),
        "posted_per_min": round(posted_5min / 5, 1),
        "posted_today": int(posted_today),
        "today": midnight.date().isoformat(),
        "relay": relay,
        "exceptions": exceptions,
        "dead": dead,
        "reconciliations": recon,
        "day_check": day_check,
        "sku": sku,
        "inventory": await inventory.lookup(reader, sku, stamp(now)) if sku else None,
        "find": find,
        "found": await search(reader, find) if find else None,
        "quarantined": await quarantine.count(reader),
        "chart": chart,
        "reservations": await _reservations(reader, now),
        "catalog": await catalog_board.gather(reader),
    }


async def _reservations(reader: Reads, now: dt.datetime) -> dict[str, Any]:
    """Reservations held now, and the lines short (a location sold what was held there)."""
    held, short = await reader.reservations.holding(stamp(now))
    return {"held": held, "short": short,
            "lines": [x._asdict() for x in await reader.reservations.short_lines(stamp(now), 20)]}


async def total_backlog(reader: Reads) -> int:
    """Events the stores last said they hold unacknowledged, all stores together (the chart)."""
    return await reader.fleet.total_backlog()


async def _add_payloads(reader: Reads, rows: list[dict[str, Any]]) -> None:
    """Each listed posting's current payload, pretty-printed for the resubmit editor."""
    if not rows:
        return
    found = await reader.postings.payloads([r["posting_id"] for r in rows])
    for r in rows:
        r["payload"] = json.dumps(json.loads(found.get(r["posting_id"], "{}")), indent=2)


async def search(reader: Reads, text: str) -> dict[str, Any]:
    """Postings and transactions matching what the operator typed: a posting id, an event id, a
    store id, or a transaction as `store/register/number` (the store page's reference with its
    store in front). Every lookup goes by a key or an index."""
    parts = [p for p in text.replace("/", " ").split() if p]
    event_ids = [text] if len(parts) == 1 else []
    if len(parts) == 3:
        event_ids.append(identity.transaction_event_id(*parts))
    events = await reader.events.find(event_ids)
    ids = {text} | {postings.posting_id(e["kind"], e["event_id"]) for e in events}
    ids |= await reader.postings.summaries_of([e["event_id"] for e in events])
    found = await reader.postings.matching(sorted(ids), text)
    found.sort(key=lambda r: (r["business_day"], r["updated_at"]), reverse=True)
    return {"events": events, "postings": found[:50]}


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
        f"<button data-id=\"{escape(r['posting_id'])}\" onclick=\"act(this.dataset.id,'retry')\">"
        "Retry</button>"
        f"<details><summary>Edit and resubmit</summary>"
        f"<textarea id={anchor}-payload-{n} spellcheck=false>{escape(r['payload'])}</textarea>"
        f"<button data-id=\"{escape(r['posting_id'])}\" data-editor={anchor}-payload-{n}"
        " onclick=\"resubmit(this)\">Resubmit this payload</button></details></td></tr>"
        for n, r in enumerate(rows))
    return (f"<h2 id={anchor}>{title}</h2><div class=scroll><table><tr><th>Posting</th>"
            f"<th>Kind</th><th>Store</th><th>Day</th><th>Reason</th><th></th></tr>{body}"
            "</table></div>")


def _day_check(result: dict[str, Any] | None) -> str:
    """The "Check a day" answer as a table: one row per store, differences spelled out."""
    if result is None:
        return ""

    def side(report: dict[str, Any], name: str, field: str) -> str:
        values = report.get(name) or {}
        return escape(str(values.get(field) if values.get(field) is not None else "–"))

    rows = []
    for rep in result["stores"]:
        diffs = [f"{d['field']}: " + ", ".join(f"{k} {d[k]}" for k in ("store", "hub", "erp")
                                              if k in d) for d in rep["differences"]]
        if rep.get("missing_in_erp"):
            diffs.append(f"{len(rep['missing_in_erp'])} postings missing in the ERP")
        if rep.get("extra_in_erp"):
            diffs.append(f"{len(rep['extra_in_erp'])} ERP documents unknown to the hub")
        status = rep["status"]
        cls = ("good" if status == ReconcileStatus.MATCHED
               else "bad" if status == ReconcileStatus.MISMATCHED else "warn")
        rows.append(
            f"<tr class={cls}><td>{escape(rep['store_id'])}</td><td>{escape(status)}</td>"
            f"<td>{escape(str(rep.get('currency') or ''))}</td>"
            + "".join(f"<td class=num>{side(rep, who, f)}</td>" for f in ("sales_count",
                                                                          "gross_total")
                      for who in ("store", "hub"))
            + f"<td class=num>{side(rep, 'erp', 'gross_total')}</td>"
            f"<td class=diff>{escape('; '.join(diffs)) or 'none'}</td></tr>")
    body = "".join(rows) or "<tr><td colspan=9>No store traded that day.</td></tr>"
    return (f"<div id=daycheck><p><b>{escape(result['business_day'])}</b>: {result['matched']}"
            f" matched, {result['mismatched']} mismatched, {result['incomplete']} incomplete "
            "(no day close from the store yet). <a href='/'>Close</a></p><div class=scroll>"
            "<table><tr><th>Store</th><th>Status</th><th>Currency</th><th>Sales (store)</th>"
            "<th>Sales (hub)</th><th>Gross (store)</th><th>Gross (hub)</th><th>Gross (ERP)</th>"
            f"<th>Differences</th></tr>{body}</table></div></div>")


def _search(data: dict[str, Any]) -> str:
    form = ("<form method=get id=search><input name=find size=40 placeholder='posting id, store, "
            f"event id or store/register/number' value=\"{escape(data['find'])}\">"
            " <button>Search</button></form>")
    found = data["found"]
    if found is None:
        return form
    events = "".join(
        f"<li>{escape(e['kind'])} <code>{escape(e['event_id'])}</code> from store "
        f"{escape(e['store_id'])}"
        + (f" register {escape(e['register_id'])} number {escape(e['pos_txn_id'])}"
           if e["register_id"] else "")
        + f", business day {escape(e['business_day'])}, applied {escape(e['applied_at'])}</li>"
        for e in found["events"])
    rows = "".join(
        f"<tr><td><a href='/v1/postings/{escape(r['posting_id'])}'><code>"
        f"{escape(r['posting_id'])}</code></a></td><td>{escape(r['kind'])}</td>"
        f"<td>{escape(r['store_id'])}</td><td>{escape(r['business_day'])}</td>"
        f"<td>{escape(r['state'])}</td><td>{escape(r['erp_ref'] or '')}</td>"
        f"<td>{escape(r['reason'] or '')}</td></tr>" for r in found["postings"])
    if not events and not rows:
        return form + f"<p id=found>Nothing found for “{escape(data['find'])}”.</p>"
    return (form + "<div id=found>" + (f"<ul>{events}</ul>" if events else "")
            + ("<div class=scroll><table><tr><th>Posting</th><th>Kind</th><th>Store</th>"
               "<th>Day</th><th>State</th><th>ERP document</th><th>Reason</th></tr>"
               f"{rows}</table></div>" if rows else "<p>No posting (yet) for this.</p>")
            + "</div>")


def _short(reservations: dict[str, Any]) -> str:
    """The reservations short: a location sold (offline, maybe) units a channel held there."""
    if not reservations["lines"]:
        return ""
    rows = "".join(
        f"<tr class=bad><td>{escape(x['reservation_id'])}</td><td>{escape(x['channel'])}</td>"
        f"<td>{escape(x['sku'])}</td><td>{escape(x['location'])}</td><td class=num>{x['qty']}</td>"
        f"<td class=num>{x['short']}</td><td>{escape(x['created_at'])}</td></tr>"
        for x in reservations["lines"])
    return ("<h2 id=reservations>Reservations short</h2><p><small>The location's on hand no "
            "longer covers these held units: it sold them (offline, maybe). The newest "
            "reservations there are short first; each reads held again once stock covers "
            "it, or release it and tell the customer.</small></p><div class=scroll><table><tr>"
            "<th>Reservation</th><th>Channel</th><th>SKU</th><th>Location</th><th>Held</th>"
            f"<th>Short</th><th>Reserved at</th></tr>{rows}</table></div>")


def render(data: dict[str, Any], now: dt.datetime, token_configured: bool) -> str:
    f, p, relay = data["fleet"], data["postings"], data["relay"]
    circuit = relay.get("circuit", "n/a")
    cards = [
        ("Stores online", f"{f['online']} / {f['stores']}", "bad" if f["offline"] else "good"),
        ("Quarantined payloads", str(data["quarantined"]), "warn" if data["quarantined"] else ""),
        ("ERP connector", str(relay.get("connector")), ""),
        ("ERP circuit", circuit, "bad" if circuit == CircuitState.OPEN else ""),
        ("Postings pending", str(p[PostingState.PENDING] + p[PostingState.POSTING]), ""),
        ("Posted per minute", f"{data['posted_per_min']:g}", ""),
        ("Posted today", str(data["posted_today"]), ""),
        ("Exceptions", str(p[PostingState.EXCEPTION]),
         "warn" if p[PostingState.EXCEPTION] else ""),
        ("Dead letters", str(p[PostingState.DEAD]), "bad" if p[PostingState.DEAD] else ""),
        ("Reservations held", str(data["reservations"]["held"]), ""),
        ("Reservations short", str(data["reservations"]["short"]),
         "bad" if data["reservations"]["short"] else ""),
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
        f"<td>{r['gaps']}</td><td>{r['quarantined']}</td><td>{escape(r['version'] or '')}</td>"
        f"{catalog_board.cell(r.get('catalog'))}</tr>"
        for r in f["rows"]) or "<tr><td colspan=9>No stores match.</td></tr>"
    filters = " · ".join(
        f"<a href='{_link(data, stores=s, page=1)}'>{'<b>' + s + '</b>' if f['filter'] == s else s}</a>"
        for s in ("all", "offline", "online"))
    pager = (f"page {f['page']} of {f['pages']} ({f['matching']} stores)"
             + (f" · <a href='{_link(data, page=f['page'] - 1)}'>previous</a>" if f["page"] > 1 else "")
             + (f" · <a href='{_link(data, page=f['page'] + 1)}'>next</a>" if f["page"] < f["pages"] else ""))
    recon = "".join(
        f"<tr class={'good' if r['status'] == 'matched' else 'bad' if r['status'] == 'mismatched' else ''}>"
        f"<td><a href='/?day={escape(r['business_day'])}&store_id={escape(r['store_id'])}#reconciliation'>"
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
    gaps_note = ("Gaps asked: how many times the hub found a hole in this store's numbered "
                 "events (one arrived before an earlier one) and asked the store to send the "
                 "missing ones again. A few after a reconnect are normal; a growing count means "
                 "events keep going missing on the way.")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Retail hub: {f['online']}/{f['stores']} stores online</title><style>{_CSS}</style></head>
<body><h1>Retail hub operations</h1>
<div class="grid">{card_html}</div>
<p><small>ERP relay: {relay.get('in_flight', 0)} in flight{'; ' + escape(pause) if pause else ''}.
Updated {now.isoformat(timespec='seconds')}; refreshes every 15 s.</small></p>
<h2>Last hour</h2>{data['chart']}
<h2 id=find>Find a posting or a transaction</h2>
{_search(data)}
<h2 id=fleet>Stores</h2>
<form method=get><input type=hidden name=stores value="{escape(f['filter'])}">
<input name=q placeholder="store id" value="{escape(f['q'])}"> <button>Filter</button></form>
{filters} · {pager}
<div class=scroll><table><tr><th>Store</th><th>State</th><th>Last seen</th><th>Last applied</th>
<th>Backlog</th><th><abbr title="{escape(gaps_note)}">Gaps asked</abbr></th><th>Quarantined</th>
<th>Version</th><th>Catalog</th></tr>{fleet_rows}</table></div>
<p><small>{escape(gaps_note)}</small></p>
{catalog_board.render(data['catalog'], now)}
{workers_board.render(data.get('workers'), now)}
<h2>Actions</h2>{token_note}
<p><label>Admin token <input id=token type=password autocomplete=off></label>
<label>Your name <input id=actor autocomplete=name placeholder="for the audit trail"></label>
<span id=flash></span><br><small>The admin token is the content of the file named by
<code>[api] admin_token_file</code> in the hub's <code>hub.toml</code> (in the demo:
<code>demo-data/hub/admin-token</code>). It stays in this browser tab only.</small></p>
{_postings_table(data['exceptions'], 'Exceptions (held by governance)', 'exceptions')}
{_postings_table(data['dead'], 'Dead letters (refused by the ERP)', 'dead')}
{_short(data['reservations'])}
<h2 id=reconciliation>Reconciliation</h2>
<form method=get action="/#reconciliation"><input name=day type=date>
<button>Check a day</button></form>
{_day_check(data['day_check'])}
<div class=scroll><table><tr><th>Business day</th><th>Store</th><th>Status</th><th>Checked</th></tr>
{recon}</table></div>
<h2 id=inventory>Inventory</h2>
<form method=get><input name=sku placeholder="SKU" value="{escape(data['sku'])}"> <button>Look up</button></form>
{inv}
<script>{_SCRIPT}</script></body></html>"""
