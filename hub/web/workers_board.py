"""The hub workers on the operations dashboard, in `GET /v1/workers` and in /metrics: each
worker's id, since when it runs, how long ago it was last heard, the batches it took in, which
one leads the cluster's once-only work, and the gone ones greyed (hub.cluster.workers)."""

import datetime as dt
from html import escape
from typing import Any

from aiohttp import web

from hub.cluster.workers import Workers
from runtime import metrics, timefmt
from runtime.http import json_response


class WorkersBoard:
    """`GET /v1/workers` (docs/api.md), the dashboard's section and the metrics' families."""

    def __init__(self, workers: Workers) -> None:
        self.workers = workers

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/workers", self.handle)]

    async def gather(self) -> dict[str, Any]:
        """This worker, whether it leads, and every worker known."""
        w = self.workers
        return {"worker_id": w.worker_id, "leading": w.leading(),
                "heartbeat_s": w.heartbeat_s, "gone_after_s": w.gone_after_s,
                "workers": await w.listing()}

    async def handle(self, request: web.Request) -> web.Response:
        return json_response(await self.gather())

    async def families(self) -> list[metrics.Family]:
        data = await self.gather()
        live = sum(1 for w in data["workers"] if not w["gone"])
        if not any(w["this"] for w in data["workers"]):
            live += 1  # before its first heartbeat
        return [
            metrics.gauge("hub_workers", "hub workers heard from within cluster.gone_after_s "
                          "(this one included)", float(live)),
            metrics.gauge("hub_leader", "1 while this worker leads the cluster's scheduled "
                          "jobs, ERP relay, catalog delivery and webhook pushes",
                          labels={"worker": [(data["worker_id"],
                                              1.0 if data["leading"] else 0.0)]}),
        ]


def render(data: dict[str, Any] | None, now: dt.datetime) -> str:
    """The dashboard's Workers section."""
    if data is None:
        return ""
    rows = []
    for w in data["workers"]:
        heard = dt.datetime.fromisoformat(w["heartbeat_at"])
        mark = "<b>leads</b>" if w["leading"] else ""
        this = " <small>(this page's)</small>" if w["this"] else ""
        state = "gone" if w["gone"] else "good" if w["leading"] else ""
        rows.append(
            f"<tr class='{state}'><td>{escape(w['worker_id'])}{this}</td>"
            f"<td>{escape(w['host'])} pid {w['pid']}</td>"
            f"<td>{escape(w['started_at'][:19].replace('T', ' '))} UTC</td>"
            f"<td>{timefmt.ago(heard, now)}{' (gone)' if w['gone'] else ''}</td>"
            f"<td class=num>{w['batches_applied']}</td><td>{mark}</td></tr>")
    body = "".join(rows) or "<tr><td colspan=6>No heartbeat written yet.</td></tr>"
    return ("<h2 id=workers>Workers</h2><p><small>Every worker takes in batches and serves the "
            "API and this page; the one that leads also runs the scheduled jobs, the ERP relay, "
            "catalog delivery and the webhook pushes. A worker not heard from for "
            f"{timefmt.duration(data['gone_after_s'])} is gone (greyed).</small></p>"
            "<div class=scroll><table><tr><th>Worker</th><th>Host</th><th>Since</th>"
            "<th>Last heartbeat</th><th>Batches</th><th>Leader</th></tr>"
            f"{body}</table></div>")
