"""The hub's Prometheus metrics (`GET /metrics`): counters of ingest and the relay, fleet,
posting and availability gauges, the catalog's versions at the stores and price deviations
(catalog_board), the workers and this worker's lead (workers_board). docs/api.md lists them;
packaging/prometheus/alerts.yml uses them."""

import datetime as dt

from aiohttp import web

from hub.availability.webhooks import Webhooks
from hub.catalog.delivery import Delivery
from hub.ingest.receiver import Ingest
from hub.ledger import fleet
from hub.ledger.click_collect import NOT_HELD
from hub.postings import store as postings
from hub.postings.relay import Relay
from hub.storage import Reads
from hub.web import catalog_board
from hub.web.workers_board import WorkersBoard
from runtime import metrics
from runtime.circuit import CircuitState
from runtime.clock import stamp


async def response(reader: Reads, ingest: Ingest, relay: Relay | None,
                   now: dt.datetime, webhooks: Webhooks | None = None,
                   delivery: Delivery | None = None,
                   workers: WorkersBoard | None = None) -> web.Response:
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
        metrics.counter("hub_store_busy",
                        "batches tried again because another hub worker was applying their store",
                        c["store_busy"]),
        metrics.counter("hub_store_busy_dropped",
                        "batches left for the store to send again after 5 s of a busy store",
                        c["store_busy_dropped"]),
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
        *await _availability(reader, now, webhooks),
    ]
    families += await catalog_board.families(reader, delivery)
    if workers is not None:
        families += await workers.families()
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


async def _availability(reader: Reads, now: dt.datetime,
                        webhooks: Webhooks | None) -> list[metrics.Family]:
    """Reservations held and short (oversold: the location sold what was held), click and
    collect sales by outcome, the change feed's latest cursor, and its pushes."""
    held, short = await reader.reservations.holding(stamp(now))
    outcomes = await reader.reservations.sales_by_outcome()
    last = await reader.availability.last_cursor()
    pushes: list[metrics.Family] = []
    if webhooks is not None and webhooks.channels:
        names = webhooks.channels
        pushes = [
            metrics.counter("hub_availability_webhook_pushes", "feed pages a channel's "
                            "receiver acknowledged", labels={"channel": [
                                (n, float(webhooks.counters[n]["pushed"])) for n in names]}),
            metrics.counter("hub_availability_webhook_failures", "feed pushes that failed "
                            "and will be retried", labels={"channel": [
                                (n, float(webhooks.counters[n]["failed"])) for n in names]}),
            metrics.gauge("hub_availability_webhook_circuit_open", "1 while a channel's push "
                          "circuit breaker is open", labels={"channel": [
                              (n, 1.0 if webhooks.breakers[n].state == CircuitState.OPEN
                               else 0.0) for n in names]}),
            metrics.gauge("hub_availability_webhook_behind", "feed cursors a channel's push "
                          "has not had acknowledged", labels={"channel": [
                              (n, float(webhooks.behind(n, last))) for n in names]}),
        ]
    return [
        metrics.gauge("hub_reservations_held", "reservations held now (short ones included)",
                      float(held)),
        metrics.gauge("hub_reservations_short", "held reservations their location's on hand no "
                      "longer covers (it sold what was held)", float(short)),
        metrics.counter("hub_reservation_sales", "applied sales that named a reservation, by "
                        "what they found: collected, or why not",
                        labels={"outcome": [(k, float(outcomes.get(k, 0)))
                                            for k in ("collected", *NOT_HELD)]}),
        metrics.gauge("hub_availability_feed_cursor", "the change feed's latest cursor",
                      float(last)),
        *pushes,
    ]
