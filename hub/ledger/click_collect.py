"""Click and collect: a till sale that names a reservation (`Sale.reservation_id`) collects it,
in the transaction that applies the sale (docs/availability.md#click-and-collect).

On hand goes down once, by the sale itself (hub.ledger.inventory.apply); the reservation ends
`collected`, so its lines stop counting as reserved at every location they were held. The
figure does not move at the store where it was held: on hand and reserved went down together.
A sale is a fact (the customer has paid), so a reservation that is not held any more (released,
expired, fulfilled, collected by an earlier sale) or that the hub does not know never stops
it: the sale is applied as any other, and what it found is kept with the reservation
(`reservation_sales`, counted in `hub_reservation_sales_total{outcome}`).

Each sale is applied once (the event log drops what it already has), so a replay or a resend
changes nothing here.
"""

import logging

from hub.storage import Transaction
from hub.storage.reservations import ReservationSale

log = logging.getLogger(__name__)

COLLECTED = "collected"
# What a sale found when the reservation it named was not held: its state then, or unknown.
NOT_HELD = ("released", "expired", "fulfilled", "already_collected", "unknown")


def collect(tx: Transaction, *, store_id: str, event_id: str, reservation_id: str,
            now: str) -> str:
    """Let the sale `event_id` at `store_id` collect `reservation_id`; its outcome: `collected`,
    or one of NOT_HELD."""
    found = tx.reservations.find(reservation_id)
    if found is None:
        outcome = "unknown"
    else:
        res, lines = found
        if res.state == "held" and res.expires_at > now:
            tx.reservations.end(reservation_id, COLLECTED, now, store_id)
            outcome = COLLECTED
        elif res.state == "held":  # past its expiry: it stopped counting then
            tx.reservations.end(reservation_id, "expired", res.expires_at)
            outcome = "expired"
        else:
            outcome = "already_collected" if res.state == COLLECTED else res.state
        if res.state == "held":
            keys = [(x.sku, x.location) for x in lines]
            tx.availability.record_changes(keys, now)
            tx.reservations.recheck_short(keys, now)  # others held there may be covered again
        elsewhere = sorted({x.location for x in lines} - {store_id})
        if outcome == COLLECTED and elsewhere:
            log.info("reservation %s collected at %s; its units held at %s are free again",
                     reservation_id, store_id, ", ".join(elsewhere))
    tx.reservations.record_sale(ReservationSale(event_id, store_id, outcome, now),
                                reservation_id)
    if outcome != COLLECTED:
        log.warning("store %s sold against reservation %s, which was %s: the sale is applied "
                    "as any other", store_id, reservation_id,
                    "unknown to the hub" if outcome == "unknown" else outcome.replace("_", " "))
    return outcome
