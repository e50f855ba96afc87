"""The catalog on the operations dashboard and in /metrics: recent publications with their
progress (applied by N of M stores, who is behind and since when, failures), each store's
catalog version beside the fleet, and the price publication accuracy of the stores' sales.
"""

import datetime as dt
from html import escape
from typing import Any

from hub.catalog import publishing
from hub.catalog.delivery import Delivery
from hub.ledger import price_deviations
from hub.storage import Reads
from runtime import metrics, timefmt

PUBLICATIONS = 5  # the newest ones shown
BEHIND = 10       # stores named per publication
DEVIATIONS = 10


async def gather(reads: Reads) -> dict[str, Any]:
    """What the dashboard shows of the catalog."""
    found = await publishing.listing(reads, before=None, limit=PUBLICATIONS)
    behind = await reads.store_catalogs.behind([p["id"] for p in found], BEHIND)
    for publication in found:
        publication["behind"] = behind[publication["id"]]
    accuracy = await price_deviations.accuracy(reads)
    lines = sum(a["lines"] for a in accuracy.values())
    deviating = sum(a["deviations"] for a in accuracy.values())
    return {"head": await reads.publications.head(), "publications": found,
            "deviations": await price_deviations.worst(reads, DEVIATIONS),
            "accuracy": round(1 - deviating / lines, 4) if lines else None,
            "sale_lines": lines, "deviating_lines": deviating}


async def versions(reads: Reads, store_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each store's catalog version, and whether it is behind the version meant for it."""
    applied = await reads.store_catalogs.applied(store_ids)
    meant = await reads.store_catalogs.meant()
    return {s: {"version": applied.get(s, {}).get("version"),
                "behind": (meant.get(s) or 0) > (applied.get(s, {}).get("version") or 0)}
            for s in store_ids}


def cell(version: dict[str, Any] | None) -> str:
    """The fleet table's catalog cell: the version, marked when behind."""
    if not version or version["version"] is None:
        return "<td class=warn>none</td>" if version and version["behind"] else "<td></td>"
    mark = " class=warn title='behind the version meant for it'" if version["behind"] else ""
    return f"<td{mark}>{version['version']}</td>"


def _rollback(publication: dict[str, Any]) -> str:
    back = publication["rollback_to"]
    return f" (rollback to {back})" if back else ""


def render(data: dict[str, Any], now: dt.datetime) -> str:
    """The dashboard's catalog section."""
    rows = []
    for p in data["publications"]:
        counts = p["counts"]
        waiting = "; ".join(
            f"{escape(b['store_id'])} {escape(b['state'])} since "
            f"{timefmt.ago(dt.datetime.fromisoformat(b['since']), now)}"
            + (f" ({escape(b['reason'])})" if b["reason"] else "") for b in p["behind"])
        more = counts["pending"] + counts["delivered"] + counts["failed"] - len(p["behind"])
        if more > 0:
            waiting += f"; and {more} more"
        cls = "bad" if counts["failed"] else "good" if counts["applied"] == counts["total"] else ""
        rows.append(
            f"<tr class={cls}><td><a href='/v1/publications/{p['id']}'>{p['id']}</a></td>"
            f"<td>{p['version']}{_rollback(p)}</td><td>{escape(p['created_at'][:16])}</td><td>{escape(p['progress'])}</td>"
            f"<td class=num>{counts['failed']}</td><td class=num>{counts['cancelled']}</td>"
            f"<td>{waiting or 'none'}</td><td>{escape(p['note'] or '')}</td></tr>")
    table = "".join(rows) or "<tr><td colspan=8>Nothing published yet.</td></tr>"
    deviations = "".join(
        f"<tr><td>{escape(d['store_id'])}</td><td>{escape(d['sku'])}</td>"
        f"<td class=num>{d['lines']}</td><td class=num>{escape(d['price'])}</td>"
        f"<td class=num>{escape(d['catalog_price'])}</td><td>{escape(d['at'][:16])}</td></tr>"
        for d in data["deviations"]) or "<tr><td colspan=6>No sale priced otherwise.</td></tr>"
    accuracy = ("no sales yet" if data["accuracy"] is None else
                f"{data['accuracy'] * 100:.2f} % of {data['sale_lines']} sale lines priced as "
                f"published ({data['deviating_lines']} otherwise)")
    return f"""<h2 id=catalog>Catalog</h2>
<p>Head office's catalog: version {data['head'] or 'none yet'}. Price publication accuracy:
{escape(accuracy)}.</p>
<div class=scroll><table><tr><th>Publication</th><th>Version</th><th>Made</th><th>Progress</th>
<th>Failed</th><th>Cancelled</th><th>Behind (since)</th><th>Note</th></tr>{table}</table></div>
<h3>Prices sold otherwise than published</h3>
<div class=scroll><table><tr><th>Store</th><th>SKU</th><th>Lines</th><th>Last price</th>
<th>Catalog price</th><th>Last at</th></tr>{deviations}</table></div>"""


async def families(reads: Reads, delivery: Delivery | None) -> list[Any]:
    """The catalog's metrics (docs/api.md#metrics)."""
    head = await reads.publications.head()
    applied = await reads.store_catalogs.applied()
    meant = await reads.store_catalogs.meant()
    fleet = {r["store_id"] for r in await reads.fleet.stores()}
    stores = sorted(set(applied) | set(meant) | fleet)
    have = {s: applied.get(s, {}).get("version") or 0 for s in stores}
    lines = await reads.store_catalogs.sale_lines()
    worst = await reads.store_catalogs.deviations(limit=10_000)
    open_counts = await reads.store_catalogs.open_counts()
    out = [
        metrics.gauge("hub_catalog_version", "the newest catalog version published", head),
        metrics.gauge("hub_store_catalog_version", "the catalog version a store says it has",
                      labels={"store": [(s, float(have[s])) for s in stores]}),
        metrics.gauge("hub_store_catalog_versions_behind",
                      "versions between what a store has and what is meant for it",
                      labels={"store": [(s, float(max(0, (meant.get(s) or 0) - have[s])))
                                        for s in stores]}),
        metrics.gauge("hub_catalog_targets_open", "store targets still to apply a version",
                      labels={"state": [(k, float(open_counts.get(k, 0)))
                                        for k in ("pending", "delivered", "failed")]}),
        metrics.counters("hub_sale_lines", "sale lines received, per store", ("store",),
                         [((s,), float(n)) for s, (n, _d) in sorted(lines.items())]),
        metrics.counters("hub_price_deviations",
                         "sale lines priced otherwise than the store's catalog, per store and SKU",
                         ("store", "sku"), [((d.store_id, d.sku), float(d.lines)) for d in worst]),
    ]
    if delivery is not None:
        c = delivery.counters
        out += [metrics.counter("hub_catalog_versions_sent", "catalog versions handed over",
                                c["versions_sent"]),
                metrics.counter("hub_catalog_chunks_sent", "catalog chunks handed to the broker",
                                c["chunks_sent"]),
                metrics.counter("hub_catalog_resends_asked",
                                "catalog versions stores asked for again", c["resends_asked"])]
    return out
