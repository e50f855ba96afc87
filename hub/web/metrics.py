"""The hub's Prometheus metrics (`GET /metrics`): counters of ingest and the relay, fleet and
posting gauges, the catalog's versions at the stores and price deviations (catalog_board). docs/api.md lists them; packaging/prometheus/alerts.yml uses them."""

import datetime as dt

from aiohttp import web

from hub.catalog.delivery import Delivery
from hub.ingest.receiver import Ingest
from hub.ledger import fleet
from hub.postings import store as postings
from hub.postings.relay import Relay
from hub.storage import Reads
from hub.web import catalog_board
from runtime import metrics
from runtime.circuit import CircuitState


async def response(reader: Reads, ingest: Ingest, relay: Relay | None,
                   now: dt.datetime, delivery: Delivery | None = None) -> web.Response:
    c = ingest.counters
    stores = await fleet.stores(reader)
    families = [
        metrics.counter("hub_events_applied", "store events applied", c["events_applied"]),
        metrics.counter("hub_duplicates_dropped", "events received again and dropped",
                        c["duplicates"]),
        metrics.counter("hub_gaps", "replays asked for after a gap in a stream", c["gaps"]),
        metrics.counter("hub_quarantined", "payloads and events quarantined", c["quarantined"]),
        metrics.counter("hub_streams_diverged",
                        "batches with other events at seqs the log holds (restreamed)",
                        c["diverged"]),
        metrics.counter("hub_apply_failures", "batches whose transaction failed",
                        c["apply_failures"]),
        metrics.gauge("hub_broker_connected", "1 when connected to the MQTT broker",
                      1.0 if ingest.connected else 0.0),
        metrics.counter("hub_mqtt_deaf_reconnects",
                        "reconnects because the session heard nothing (its probe did not "
                        "come back)", ingest.hearing.reconnects),
        metrics.gauge("hub_stores_online", "stores whose state says online",
                      sum(1 for s in stores if s["online"])),
        metrics.gauge("hub_store_backlog_events", "events a store reported not yet acked",
                      labels={"store": [(s["store_id"], float(s["backlog"] or 0))
                                        for s in stores]}),
        metrics.gauge("hub_store_last_seen_age_seconds", "seconds since a store was last heard",
                      labels={"store": [(s["store_id"], (now - dt.datetime.fromisoformat(
                          s["last_seen"])).total_seconds()) for s in stores if s["last_seen"]]}),
        metrics.gauge("hub_postings", "ERP postings by state",
                      labels={"state": [(k, float(v)) for k, v in
                                        (await postings.counts(reader)).items()]}),
    ]
    families += await catalog_board.families(reader, delivery)
    if relay is not None:
        r = relay
        families += [
            metrics.gauge("hub_erp_circuit_open", "1 while the ERP circuit breaker is open",
                          1.0 if r.breaker.state == CircuitState.OPEN else 0.0),
            metrics.counter("hub_erp_requests", "ERP calls that ended posted, retry or dead",
                            r.counters["posted"] + r.counters["retry"] + r.counters["dead"]),
            metrics.counter("hub_erp_errors", "ERP calls that failed and will be retried",
                            r.counters["retry"]),
            metrics.summary("hub_erp_request_duration_seconds", "time spent in ERP calls",
                            r.latency_count, r.latency_sum),
        ]
    return metrics.response(families)

