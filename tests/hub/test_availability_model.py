"""Hypothesis: random interleavings of sales, returns, location adjustments, safety stock,
reservations, releases, fulfilments, click-and-collect sales, expiries (a frozen clock moved on)
and stores falling silent, run on a real database through the availability service. After
every step each location's on hand, reserved, safety stock and staleness, and each channel's
figure, equal what the rules compute from scratch here; reserved is never below 0 and nothing
counts twice. Each held reservation's short lines are never fewer than the rule (oldest first)
computes, and equal to it after a sweep (an older reservation lapsing frees stock without a
write: until the sweep marks it, a newer one may still read short)."""

import asyncio
import datetime as dt
import functools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hub.availability.requests import AdjustmentIn, AdjustmentLineIn, FulfilIn, LineIn, \
    ReservationIn, RuleIn
from hub.availability.service import Availability
from hub.config import AvailabilityConfig, ChannelConfig, HubConfig, LocationConfig
from hub.errors import AvailabilityError
from hub.ledger import click_collect, inventory
from hub.storage import Database, Transaction
from runtime.clock import FrozenClock, stamp

START = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
STORES = ["S001", "S002"]
LOCATIONS = {"S001": "store", "S002": "store", "DC1": "warehouse"}
SKUS = ["A", "B"]
CHANNELS = {"web": ChannelConfig(["S001", "S002", "DC1"], buffer=1, stale_after_s=300),
            "shop": ChannelConfig(["DC1", "S002"], allocation="in_order", stale_after_s=120)}
DEFAULT_SAFETY = 1

store = st.sampled_from(STORES)
sku = st.sampled_from(SKUS)
location = st.sampled_from(list(LOCATIONS))
operation = st.one_of(
    st.tuples(st.just("sale"), store, sku, st.integers(1, 3)),
    st.tuples(st.just("return"), store, sku, st.integers(1, 3)),
    st.tuples(st.just("adjust"), sku, st.integers(-3, 6)),
    st.tuples(st.just("reserve"), st.sampled_from(sorted(CHANNELS)),
              st.lists(st.tuples(sku, st.integers(1, 4)), min_size=1, max_size=2,
                       unique_by=lambda x: x[0]),
              st.none() | location, st.sampled_from([30, 120])),
    st.tuples(st.just("release"), st.integers(0, 50)),
    st.tuples(st.just("fulfil"), st.integers(0, 50), st.none() | location),
    # A till sale naming a reservation (or, with no reservations yet, one the hub never made).
    st.tuples(st.just("collect"), st.integers(0, 50), store, st.integers(1, 3)),
    # Steps that land exactly on an expiry or on stale_after_s, and just past them.
    st.tuples(st.just("advance"), st.sampled_from([1, 29, 30, 90, 120, 300])),
    st.tuples(st.just("seen"), store),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("safety"), st.none() | sku, st.none() | location,
              st.none() | st.integers(0, 3)),
)


@dataclass
class Model:
    """The rules of docs/availability.md, from scratch."""

    now: dt.datetime = START
    on_hand: dict[tuple[str, str], int] = field(default_factory=dict)
    rules: dict[tuple[str, str], int] = field(default_factory=dict)
    last_seen: dict[str, dt.datetime] = field(default_factory=dict)
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reserved(self, loc: str, item: str) -> int:
        return sum(q for r in self.reservations.values()
                   if r["state"] == "held" and r["expires"] > self.now
                   for s, at, q in r["lines"] if (s, at) == (item, loc))

    def safety(self, loc: str, item: str) -> int:
        for key in ((item, loc), (item, ""), ("", loc)):
            if key in self.rules:
                return self.rules[key]
        return DEFAULT_SAFETY

    def stale(self, loc: str, channel: str) -> bool:
        if LOCATIONS[loc] != "store":
            return False
        seen = self.last_seen.get(loc)
        return seen is None or (self.now - seen).total_seconds() > CHANNELS[channel].stale_after_s

    def ats(self, loc: str, item: str) -> int:
        return max(0, self.on_hand.get((loc, item), 0) - self.reserved(loc, item)
                   - self.safety(loc, item))

    def contributes(self, loc: str, item: str, channel: str) -> int:
        return 0 if self.stale(loc, channel) else self.ats(loc, item)

    def channel_ats(self, item: str, channel: str) -> int:
        ch = CHANNELS[channel]
        return max(0, sum(self.contributes(x, item, channel) for x in ch.locations) - ch.buffer)

    def short(self) -> dict[str, set[tuple[str, str, int]]]:
        """Each held, unexpired reservation's lines on hand does not cover, {(sku, location,
        units short)}: at each location, on hand covers the oldest reservations first."""
        held = sorted((r["created"], rid, n, s, at, q) for rid, r in self.reservations.items()
                      if r["state"] == "held" and r["expires"] > self.now
                      for n, (s, at, q) in enumerate(r["lines"]))
        left = {key: max(0, units) for key, units in self.on_hand.items()}
        out: dict[str, set[tuple[str, str, int]]] = {rid: set() for _, rid, *_ in held}
        for _, rid, _, item, at, qty in held:
            covered = min(qty, left.get((at, item), 0))
            left[(at, item)] = left.get((at, item), 0) - covered
            if qty > covered:
                out[rid].add((item, at, qty - covered))
        return out


async def check(service: Availability, model: Model, swept: bool) -> None:
    for channel, ch in CHANNELS.items():
        for view in await service.figures(channel, SKUS):
            item = view["sku"]
            assert view["available_to_sell"] == model.channel_ats(item, channel), view
            got = [(x["location"], x["on_hand"], x["reserved"], x["safety_stock"], x["stale"])
                   for x in view["locations"]]
            want = [(x, model.on_hand.get((x, item), 0), model.reserved(x, item),
                     model.safety(x, item), model.stale(x, channel)) for x in ch.locations]
            assert got == want, (channel, item)
            assert all(x["reserved"] >= 0 and x["available_to_sell"] >= 0
                       for x in view["locations"])
    for rid, want in model.short().items():
        got = await service.reservation(rid)
        short = {(x["sku"], x["location"], x["qty"]) for x in got["short"]}
        assert got["state"] == ("short" if short else "held"), (rid, got)
        if short:
            event("a reservation read short")
        if swept:
            assert short == want, rid
        else:  # never hides one: each line the rule finds short reads at least as short
            units = {(s, at): q for s, at, q in short}
            assert all(units.get((s, at), 0) >= q for s, at, q in want), (rid, short, want)


async def step(service: Availability, db: Database, clock: FrozenClock, model: Model,
               op: tuple[Any, ...], n: int) -> None:
    kind = op[0]
    at = stamp(clock.now())
    if kind in ("sale", "return"):
        _, where, item, qty = op
        delta = -qty if kind == "sale" else qty
        await db.run(functools.partial(inventory.apply, changes={(where, item): delta}, now=at))
        model.on_hand[(where, item)] = model.on_hand.get((where, item), 0) + delta
    elif kind == "adjust":
        _, item, delta = op
        await service.adjust("DC1", AdjustmentIn(f"ADJ-{n}", "count", clock.now(),
                                                 [AdjustmentLineIn(item, delta)]))
        model.on_hand[("DC1", item)] = model.on_hand.get(("DC1", item), 0) + delta
    elif kind == "reserve":
        await reserve(service, model, op, f"R-{n}")
    elif kind in ("release", "fulfil"):
        await end(service, model, op)
    elif kind == "collect":
        await collect(db, model, op, n, at)
    elif kind == "advance":
        model.now = clock.advance(seconds=op[1])
    elif kind == "seen":
        await db.run(lambda tx: tx.fleet.seen(op[1], "st-1", at))
        model.last_seen[op[1]] = model.now
    elif kind == "sweep":
        await service.sweep()
        for r in model.reservations.values():
            if r["state"] == "held" and r["expires"] <= model.now:
                r["state"] = "expired"
    elif kind == "safety":
        _, item, where, qty = op
        if item is None and where is None:
            return
        await service.set_safety_stock([RuleIn(qty, item, where)])
        key = (item or "", where or "")
        if qty is None:
            model.rules.pop(key, None)
        else:
            model.rules[key] = qty


async def reserve(service: Availability, model: Model, op: tuple[Any, ...], rid: str) -> None:
    _, channel, lines, where, ttl = op
    if where is not None and where not in CHANNELS[channel].locations:
        where = None
    available = {}
    for item, _qty in lines:
        total = model.channel_ats(item, channel)
        available[item] = total if where is None else min(total, model.contributes(where, item,
                                                                                   channel))
    fits = all(qty <= available[item] for item, qty in lines)
    body = ReservationIn(rid, channel, [LineIn(s, q) for s, q in lines], where, ttl)
    try:
        status, answer = await service.reserve(body, None)
    except AvailabilityError as exc:
        assert not fits and exc.status == 409
        assert exc.extra["lines"] == [{"sku": s, "requested": q, "available": available[s]}
                                      for s, q in lines if q > available[s]]
        return
    assert fits and status == 201
    got = [(a["sku"], a["location"], a["qty"]) for a in answer["allocations"]]
    for item, qty in lines:
        mine = [(at, q) for s, at, q in got if s == item]
        assert sum(q for _, q in mine) == qty
        for at, q in mine:
            assert at in CHANNELS[channel].locations and where in (None, at)
            assert 0 < q <= model.contributes(at, item, channel)
    model.reservations[rid] = {"channel": channel, "lines": got, "state": "held",
                               "expires": model.now + dt.timedelta(seconds=ttl), "from": None,
                               "created": (model.now, rid)}


async def collect(db: Database, model: Model, op: tuple[Any, ...], n: int, at: str) -> None:
    """A till at `where` sells `qty` of the reservation's first SKU naming it, applied as the
    hub applies a sale: the collection, then on hand, in one transaction."""
    _, pick, where, qty = op
    rid = sorted(model.reservations)[pick % len(model.reservations)] if model.reservations \
        else "NEVER-MADE"
    r = model.reservations.get(rid)
    item = r["lines"][0][0] if r else SKUS[0]

    def job(tx: Transaction) -> str:
        outcome = click_collect.collect(tx, store_id=where, event_id=f"E-{n}",
                                        reservation_id=rid, now=at)
        inventory.apply(tx, {(where, item): -qty}, at)
        return outcome

    outcome = await db.run(job)
    model.on_hand[(where, item)] = model.on_hand.get((where, item), 0) - qty
    if r is None:
        assert outcome == "unknown"
    elif r["state"] == "held":
        r["state"] = "collected" if r["expires"] > model.now else "expired"
        assert outcome == r["state"]
    else:
        assert outcome == {"collected": "already_collected"}.get(r["state"], r["state"])


async def end(service: Availability, model: Model, op: tuple[Any, ...]) -> None:
    if not model.reservations:
        return
    rid = sorted(model.reservations)[op[1] % len(model.reservations)]
    r = model.reservations[rid]
    lapsed = r["state"] == "held" and r["expires"] <= model.now
    if op[0] == "release":
        if r["state"] in ("fulfilled", "collected"):
            await refused(service.release(rid, None), 409)
            return
        answer = await service.release(rid, None)
        if r["state"] == "held":
            r["state"] = "expired" if lapsed else "released"
        assert answer["state"] == r["state"]
        return
    where = op[2]
    if where is not None and where not in CHANNELS[r["channel"]].locations:
        await refused(service.fulfil(rid, FulfilIn(where), None), 409 if r["state"] != "held"
                      or lapsed else 422)
        return
    if r["state"] == "fulfilled":
        if r["from"] == where:
            assert (await service.fulfil(rid, FulfilIn(where), None))["state"] == "fulfilled"
        else:
            await refused(service.fulfil(rid, FulfilIn(where), None), 409)
        return
    if r["state"] != "held" or lapsed:
        await refused(service.fulfil(rid, FulfilIn(where), None), 409)
        return
    await service.fulfil(rid, FulfilIn(where), None)
    for item, at, qty in r["lines"]:
        key = (where or at, item)
        model.on_hand[key] = model.on_hand.get(key, 0) - qty
    r["lines"] = [(s, where or at, q) for s, at, q in r["lines"]]
    r["state"], r["from"] = "fulfilled", where


async def refused(call: Any, status: int) -> None:
    try:
        await call
    except AvailabilityError as exc:
        assert exc.status == status, exc
    else:
        raise AssertionError(f"expected {status}")


async def scenario(folder: Path, ops: list[tuple[Any, ...]]) -> None:
    config = HubConfig(data_dir=str(folder),
                       locations={k: LocationConfig(v) for k, v in LOCATIONS.items()},  # type: ignore[arg-type]
                       availability=AvailabilityConfig(default_safety_stock=DEFAULT_SAFETY),
                       channels=CHANNELS)
    clock = FrozenClock(START)
    db = Database(folder / "hub.sqlite")
    await db.start()
    try:
        service = Availability(config, db, clock)
        model = Model()
        # Some stock everywhere and both stores heard from, so that reservations often fit.
        prelude: list[tuple[Any, ...]] = [("return", x, item, 5) for x in STORES for item in SKUS]
        prelude += [("adjust", item, 4) for item in SKUS] + [("seen", x) for x in STORES]
        # Something held at each store, so that a store's sales often leave it short.
        prelude += [("reserve", "web", [("A", 4)], "S001", 120),
                    ("reserve", "shop", [("B", 4)], "S002", 120)]
        swept = True  # nothing has lapsed since the sweep last marked what had
        for n, op in enumerate(prelude + ops):
            await step(service, db, clock, model, op, n)
            swept = op[0] == "sweep" or (swept and op[0] != "advance")
            await check(service, model, swept)
    finally:
        await db.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=40))
def test_available_to_sell_always_equals_the_rules_computed_from_scratch(ops):
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(scenario(Path(folder), ops))
