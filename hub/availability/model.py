"""The rules of available to sell, as pure functions: safety stock, a location's figure, a
channel's sum and how a reservation is spread over locations (docs/availability.md).

    available to sell at a location = max(0, on hand - reserved - safety stock)
    available to sell in a channel  = max(0, sum over its fresh locations - buffer)
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hub.config import ChannelConfig, HubConfig
from hub.storage.availability import Rules, Stock

# A rule's '' means "every": the most specific rule that exists wins.
EVERY = ""


@dataclass(frozen=True)
class Figure:
    """One SKU at one location of a channel, as the API shows it."""

    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    stale: bool
    as_of: str | None

    @property
    def available_to_sell(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)

    @property
    def contributes(self) -> int:
        """What this location adds to its channel: nothing while stale."""
        return 0 if self.stale else self.available_to_sell

    def view(self) -> dict[str, object]:
        return {"location": self.location, "on_hand": self.on_hand, "reserved": self.reserved,
                "safety_stock": self.safety_stock, "available_to_sell": self.available_to_sell,
                "as_of": self.as_of, "stale": self.stale}


def safety_stock(rules: Rules, sku: str, location: str, default: int) -> int:
    """The most specific rule: SKU at location, then SKU, then location, then the default."""
    for key in ((sku, location), (sku, EVERY), (EVERY, location)):
        found = rules.get(key)
        if found is not None:
            return found
    return default


def is_stale(kind: str, last_seen: str | None, now: dt.datetime, stale_after_s: float) -> bool:
    """A store not heard from for `stale_after_s` (or never) may be selling offline: stale. A
    warehouse or distribution centre is fed through the hub itself, so what the hub holds is
    all there is: never stale."""
    if kind != "store":
        return False
    if last_seen is None:
        return True
    return (now - dt.datetime.fromisoformat(last_seen)).total_seconds() > stale_after_s


def figures(config: HubConfig, channel: ChannelConfig, skus: Sequence[str], stock: Sequence[Stock],
            rules: Rules, last_seen: Mapping[str, str | None], now: dt.datetime,
            now_stamp: str) -> dict[str, list[Figure]]:
    """Each SKU's figure at every location of the channel, in the channel's order."""
    held = {(s.sku, s.location): s for s in stock}
    default = config.availability.default_safety_stock
    out: dict[str, list[Figure]] = {}
    for sku in skus:
        row: list[Figure] = []
        for location in channel.locations:
            kind = config.location_kind(location)
            found = held.get((sku, location))
            seen = last_seen.get(location) if kind == "store" else now_stamp
            row.append(Figure(
                location=location,
                on_hand=found.on_hand if found else 0,
                reserved=found.reserved if found else 0,
                safety_stock=safety_stock(rules, sku, location, default),
                stale=is_stale(kind, seen, now, channel.stale_after_s),
                as_of=seen))
        out[sku] = row
    return out


def channel_available(row: Sequence[Figure], buffer: int) -> int:
    return max(0, sum(f.contributes for f in row) - buffer)


def available_for(row: Sequence[Figure], buffer: int, location: str | None) -> int:
    """What one reservation line can take: the channel's figure, and when the reservation names
    a location, no more than that location contributes."""
    total = channel_available(row, buffer)
    if location is None:
        return total
    return min(total, next((f.contributes for f in row if f.location == location), 0))


def allocate(row: Sequence[Figure], qty: int, allocation: str,
             location: str | None) -> list[tuple[str, int]]:
    """Spread `qty` over the fresh locations: `in_order` takes from each in the channel's order,
    `most_available` from the location with the most first. The caller has checked that `qty`
    fits (`available_for`); returns [(location, units)]."""
    candidates = [f for f in row if f.contributes > 0 and location in (None, f.location)]
    if allocation == "most_available":
        candidates.sort(key=lambda f: -f.contributes)  # stable: ties keep the channel's order
    taken: list[tuple[str, int]] = []
    left = qty
    for f in candidates:
        if left == 0:
            break
        units = min(left, f.contributes)
        taken.append((f.location, units))
        left -= units
    assert left == 0, "allocate() was asked for more than available_for() allowed"
    return taken
