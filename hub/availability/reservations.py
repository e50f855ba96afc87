"""Reservations: units a channel holds at checkout until it fulfils or releases them, or they
expire. Each function here is one writer job (`Database.run`), so a reservation's check and its
hold happen in one transaction with no other job between them: correct under any number of
concurrent requests by construction (the assumption is written on hub.storage.reservations).

States: `held` -> `released` | `fulfilled` | `collected` | `expired`. A held reservation past
its `expires_at` stops counting at that instant, whether or not the sweep has marked it
`expired` yet. `collected` is reached through a till sale naming the reservation
(hub.ledger.click_collect). A held reservation reads `short` while one of its lines is not
covered by on hand where it is held (the location sold it, offline maybe): it still counts,
and every transition of `held` applies to it; it reads `held` again once stock covers it.
Every job here that changes what is held somewhere re-checks which reservations there are short.
"""

import datetime as dt
from collections import Counter
from typing import Any

from hub.availability import model, stock
from hub.availability.requests import ReservationIn, reservation_digest
from hub.config import HubConfig
from hub.errors import AvailabilityError, Insufficient
from hub.storage import Transaction
from hub.storage.reservations import Line, Reservation, ReservationSale
from runtime.clock import stamp


def view(res: Reservation, lines: list[Line], now: str, *,
         sales: list[ReservationSale] | None = None) -> dict[str, Any]:
    """The answer of reserve, release and fulfil; with `sales` (the till sales that named it),
    what `GET` shows besides: its channel, instants, short lines and those sales."""
    lapsed = res.state == "held" and res.expires_at <= now
    short = [x for x in lines if x.short] if res.state == "held" and not lapsed else []
    body: dict[str, Any] = {
        "reservation_id": res.reservation_id,
        "state": "expired" if lapsed else "short" if short else res.state,
        "allocations": [{"sku": x.sku, "location": x.location, "qty": x.qty} for x in lines],
        "expires_at": res.expires_at,
    }
    if sales is not None:
        body.update(channel=res.channel, created_at=res.created_at,
                    ended_at=res.expires_at if lapsed else res.ended_at,
                    short=[{"sku": x.sku, "location": x.location, "qty": x.short}
                           for x in short],
                    sales=[{"event_id": x.event_id, "store_id": x.store_id,
                            "outcome": x.outcome, "applied_at": x.applied_at} for x in sales])
    return body


def reserve(tx: Transaction, *, config: HubConfig, body: ReservationIn,
            now: dt.datetime) -> tuple[int, dict[str, Any]]:
    """Hold every line or none: (201, the reservation); (200, it) for a retry of the same
    request; AvailabilityError 409 for another request under the same id; Insufficient."""
    at = stamp(now)
    expires_in_s = body.expires_in_s or config.availability.reservation_ttl_s
    digest = reservation_digest(body, expires_in_s)
    found = tx.reservations.find(body.reservation_id)
    if found is not None:
        if found[0].digest != digest:
            raise AvailabilityError("this reservation_id was already used for another "
                                    "reservation (channel, location, lines or expires_in_s "
                                    "differ)", "reservation_id", 409)
        return 200, view(*found, at)
    channel = config.channels[body.channel]
    rows = stock.read_in(tx, config, body.channel, [x.sku for x in body.lines], now)
    short = []
    for x in body.lines:
        available = model.available_for(rows[x.sku], channel.buffer, body.location)
        if x.qty > available:
            short.append({"sku": x.sku, "requested": x.qty, "available": available})
    if short:
        raise Insufficient(short)
    lines = [Line(x.sku, location, units) for x in body.lines
             for location, units in model.allocate(rows[x.sku], x.qty, channel.allocation,
                                                    body.location)]
    expires_at = stamp(now + dt.timedelta(seconds=expires_in_s))
    tx.reservations.hold(body.reservation_id, channel=body.channel, digest=digest, now=at,
                         expires_at=expires_at, lines=lines)
    tx.availability.record_changes(((x.sku, x.location) for x in lines), at)
    made = tx.reservations.find(body.reservation_id)
    assert made is not None
    return 201, view(*made, at)


def release(tx: Transaction, *, reservation_id: str, caller: str | None,
            now: dt.datetime) -> dict[str, Any]:
    """Give the units back: `released` (a retry, or a reservation that has already expired,
    answers as it stands); AvailabilityError 409 once fulfilled."""
    at = stamp(now)
    res, lines = _find(tx, reservation_id, caller)
    if res.state in ("fulfilled", "collected"):
        raise AvailabilityError(f"this reservation was {res.state}: its units have left the "
                                "location and cannot be released", "reservation_id", 409,
                                state=res.state)
    if res.state == "held":
        if res.expires_at <= at:
            tx.reservations.end(reservation_id, "expired", res.expires_at)
        else:
            tx.reservations.end(reservation_id, "released", at)
        keys = [(x.sku, x.location) for x in lines]
        tx.availability.record_changes(keys, at)
        tx.reservations.recheck_short(keys, at)
    return view(*_find(tx, reservation_id, caller), at)


def fulfil(tx: Transaction, *, config: HubConfig, reservation_id: str, location: str | None,
           caller: str | None, now: dt.datetime) -> dict[str, Any]:
    """The units leave their locations (or all of them `location`) and the reservation ends,
    in this one transaction. A retry answers as it stands; 409 when the reservation is no
    longer held (released, expired) or was fulfilled from another location."""
    at = stamp(now)
    res, lines = _find(tx, reservation_id, caller)
    if res.state == "fulfilled":
        if res.fulfilled_from != location:
            raise AvailabilityError(f"this reservation was already fulfilled from "
                                    f"{res.fulfilled_from or 'its allocations'}", "location", 409)
        return view(res, lines, at)
    state = "expired" if res.state == "held" and res.expires_at <= at else res.state
    if state == "collected":
        raise AvailabilityError("this reservation was collected: a till sale took its units",
                                "reservation_id", 409, state=state)
    if state != "held":
        raise AvailabilityError(f"this reservation is {state}: nothing is held for it any more; "
                                "reserve again", "reservation_id", 409, state=state)
    channel = config.channels.get(res.channel)
    allowed = channel.locations if channel is not None else config.known_locations()
    if location is not None and location not in allowed:
        raise AvailabilityError(f"location {location!r} does not sell into channel "
                                f"{res.channel!r}", "location", 422)
    leaving: Counter[tuple[str, str]] = Counter()
    for x in lines:
        leaving[(location or x.location, x.sku)] -= x.qty
    if location is not None:
        tx.reservations.move(reservation_id, location)
    tx.reservations.end(reservation_id, "fulfilled", at, location)
    tx.inventory.add_on_hand(leaving, at)
    keys = [(x.sku, x.location) for x in lines] + [(sku, loc) for loc, sku in leaving]
    tx.availability.record_changes(keys, at)
    tx.reservations.recheck_short(keys, at)
    return view(*_find(tx, reservation_id, caller), at)


def expire(tx: Transaction, *, now: dt.datetime) -> int:
    """Mark held reservations past their expiry `expired`; how many. (They stopped counting at
    their expiry already; this ends them and tells the change feed.)"""
    at = stamp(now)
    count, lines = tx.reservations.expire_due(at)
    keys = [(x.sku, x.location) for x in lines]
    tx.availability.record_changes(keys, at)
    tx.reservations.recheck_short(keys, at)
    return count


def _find(tx: Transaction, reservation_id: str,
          caller: str | None) -> tuple[Reservation, list[Line]]:
    found = tx.reservations.find(reservation_id)
    if found is None:
        raise AvailabilityError("no such reservation", "reservation_id", 404)
    if caller is not None and found[0].channel != caller:
        raise AvailabilityError(f"this reservation belongs to channel {found[0].channel!r}; "
                                "the token given is another channel's", "Authorization", 403)
    return found
