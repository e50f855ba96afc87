"""Catalog delivery on a real hub database, to real store catalogs (edge_agent.catalog on real
SQLite) through an outlet that hands each chunk to the store's catalog as its agent would: every
target store applies the version; lost chunks are sent again after the ack timeout; a corrupted
copy asked for again arrives whole; a silent store is sent only a window ahead; a store that went
offline mid-version gets the rest when it is back; a store that lost its catalog gets it again;
sales priced off the catalog are counted per store and SKU. On SQLite and on PostgreSQL
(`storage`)."""

import asyncio
import datetime as dt
import functools
from pathlib import Path

import pytest

from edge_agent.catalog import Catalog
from edge_agent.errors import CopyRefused
from hub.catalog import master, publishing
from hub.catalog.delivery import Delivery
from hub.catalog.requests import BookIn, ChangeIn, ChangeSetIn, ItemIn, Price, PublicationIn
from hub.config import CatalogConfig
from hub.ingest.eventlog import Sequencer
from hub.ledger import fleet, price_deviations
from hub.storage import Database
from protocol import codec
from protocol.chunking import PROGRESS_EVERY, WINDOW
from protocol.messages import CatalogAck, CatalogChunk, StoreState
from runtime.clock import FrozenClock, stamp
from tests.hub.helpers import NOW, apply, batch, database, hub_database, sale_envelope

STORES = ["S001", "S002", "S003"]


class Stores:
    """The broker and the stores' agents in one: each chunk is staged in the store's catalog,
    progress and the outcome acked back to the delivery, as edge_agent.catalog_link does.
    `lose` drops a store's chunks on the way; `corrupt` flips a byte in the next chunk."""

    connected = True

    def __init__(self, root: Path, clock: FrozenClock) -> None:
        self.root, self.clock = root, clock
        self.catalogs: dict[str, Catalog] = {}
        self.delivery: Delivery | None = None
        self.sent: list[tuple[str, int]] = []
        self.lose: set[str] = set()
        self.silent: set[str] = set()
        self.corrupt: set[str] = set()

    async def open(self, store: str) -> Catalog:
        self.catalogs[store] = Catalog(self.root / store / "catalog.sqlite", self.clock)
        await self.catalogs[store].open()
        return self.catalogs[store]

    async def catalog(self, store_id: str, payload: bytes) -> bool:
        chunk = codec.decode_catalog_chunk(payload)
        self.sent.append((store_id, chunk.part))
        if store_id in self.lose:
            return True
        if store_id in self.corrupt:
            self.corrupt.discard(store_id)
            chunk = CatalogChunk(chunk.version, chunk.part, chunk.parts, chunk.size,
                                 chunk.digest, bytes([chunk.data[0] ^ 1]) + chunk.data[1:])
        catalog = self.catalogs[store_id]
        staged = await catalog.stage(chunk)
        assert self.delivery is not None
        say = functools.partial(CatalogAck, store_id, chunk.version, at=self.clock.now())
        if store_id not in self.silent and (staged.held % PROGRESS_EVERY == 0
                                            or staged.complete):
            self.delivery.on_catalog_ack(say("receiving", part=staged.held,
                                             catalog_version=catalog.state.version))
        if staged.complete:
            try:
                state = await catalog.apply(staged.version, staged.digest)
            except CopyRefused as exc:
                self.delivery.on_catalog_ack(say("resend", reason=exc.reason,
                                                 catalog_version=catalog.state.version))
            else:
                self.delivery.on_catalog_ack(say("applied", catalog_version=state.version))
        return True

    async def close(self) -> None:
        for catalog in self.catalogs.values():
            await catalog.close()


@pytest.fixture
async def hub(tmp_path, storage):
    db = hub_database(tmp_path, storage)
    await db.start()
    clock = FrozenClock(NOW)
    stores = Stores(tmp_path, clock)
    delivery = Delivery(db, CatalogConfig(chunk_bytes=2048, ack_timeout_s=60), stores, clock)
    delivery.progress_timeout_s = 0.1
    stores.delivery = delivery
    await db.run(functools.partial(fleet.provisioned, store_ids=STORES))
    items = [ItemIn(f"SKU-{n:03d}", f"Item {n}", True) for n in range(300)]
    await db.run(functools.partial(master.put_items, items=items, now=NOW))
    await db.run(functools.partial(master.put_book, book="base", now=NOW,
                                   body=BookIn("EUR", 10, "all")))
    changes = ChangeSetIn([ChangeIn(i.sku, Price("1.00"), NOW) for i in items])
    await db.run(functools.partial(master.stage_prices, book="base", now=NOW,
                                   max_drop_percent=90, body=changes))
    yield db, delivery, stores, clock
    await delivery.drain()
    await stores.close()
    await db.close()


async def online(db: Database, delivery: Delivery, stores: Stores, store: str,
                 up: bool = True, settled: bool = True) -> None:
    """The store's retained state, as ingest hands it on: online, with the version it has."""
    catalog = stores.catalogs.get(store) or await stores.open(store)
    state = StoreState(store, up, at=stores.clock.now(),
                       catalog_version=(catalog.state.version or 0) if up else None)
    await db.run(functools.partial(fleet.record_state, state=state, now=stamp(stores.clock.now())))
    delivery.on_store_state(state)
    if settled:
        await settle(delivery)


async def settle(delivery: Delivery) -> None:
    """Let the jobs the acks started commit, then send what is due until nothing is."""
    for _ in range(5):
        await delivery.db.run(lambda tx: None)
        await delivery.dispatch()
        await delivery.drain()


async def publish(db: Database, delivery: Delivery, **body) -> int:
    made = await db.run(functools.partial(publishing.publish, body=PublicationIn(**body),
                                          now=NOW, config=delivery.config))
    await settle(delivery)
    return int(made["version"])


async def states(db: Database, version: int) -> dict[str, str]:
    found = await db.reads.publications.publications(before=None, limit=100)
    pid = next(p["id"] for p in found if p["version"] == version)
    return {t["store_id"]: t["state"] for t in await db.reads.publications.targets(pid)}


async def test_every_target_store_applies_the_version_and_equal_stores_share_one_copy(hub):
    db, delivery, stores, _clock = hub
    for store in STORES:
        await online(db, delivery, stores, store)
    version = await publish(db, delivery, stores="all")
    assert await states(db, version) == dict.fromkeys(STORES, "applied")
    assert {s: c.state.version for s, c in stores.catalogs.items()} == dict.fromkeys(STORES, 1)
    assert delivery.counters["copies_built"] == 1  # the same books: the same bytes for all
    applied = await db.reads.store_catalogs.applied()
    assert {s: a["version"] for s, a in applied.items()} == dict.fromkeys(STORES, 1)


async def test_lost_chunks_are_sent_again_after_the_ack_timeout(hub):
    db, delivery, stores, clock = hub
    await online(db, delivery, stores, "S001")
    stores.lose.add("S001")
    version = await publish(db, delivery, stores=["S001"])
    # The store said nothing of the first window: nothing more was sent, and it waits.
    assert len(stores.sent) == WINDOW and await states(db, version) == {"S001": "pending"}
    stores.lose.clear()
    clock.advance(seconds=59)
    await settle(delivery)
    assert len(stores.sent) == WINDOW
    clock.advance(seconds=2)
    await settle(delivery)
    assert await states(db, version) == {"S001": "applied"}


async def test_a_version_handed_over_but_never_acked_is_sent_again(hub):
    db, delivery, stores, clock = hub
    await online(db, delivery, stores, "S002")
    stores.lose.add("S002")
    await db.run(functools.partial(master.put_items, now=NOW,
                                   items=[ItemIn("SKU-NEW", "New", True)]))
    first = await publish(db, delivery, stores=["S002"])  # too big: the window holds it back
    stores.lose.clear()
    clock.advance(seconds=61)
    await settle(delivery)
    assert await states(db, first) == {"S002": "applied"}
    stores.lose.add("S002")
    await db.run(functools.partial(master.put_items, now=NOW,
                                   items=[ItemIn("SKU-NEW", "Renamed", True)]))
    second = await publish(db, delivery, stores=["S002"])  # a one-chunk delta: handed over
    assert await states(db, second) == {"S002": "delivered"}
    stores.lose.clear()
    clock.advance(seconds=59)
    await settle(delivery)
    assert await states(db, second) == {"S002": "delivered"}
    clock.advance(seconds=2)
    await settle(delivery)
    assert await states(db, second) == {"S002": "applied"}


async def test_a_corrupted_copy_is_refused_and_asked_for_again(hub):
    db, delivery, stores, _clock = hub
    await online(db, delivery, stores, "S002")
    stores.corrupt.add("S002")
    version = await publish(db, delivery, stores=["S002"])
    assert delivery.counters["resends_asked"] == 1
    assert await states(db, version) == {"S002": "applied"}
    assert stores.catalogs["S002"].state.version == version


async def test_a_silent_store_is_sent_only_a_window_ahead(hub):
    db, delivery, stores, _clock = hub
    await online(db, delivery, stores, "S003")
    stores.silent.add("S003")
    version = await publish(db, delivery, stores=["S003"])
    assert len(stores.sent) == WINDOW
    assert await states(db, version) == {"S003": "pending"}
    stores.silent.clear()
    await online(db, delivery, stores, "S003", up=False)
    await online(db, delivery, stores, "S003")
    assert await states(db, version) == {"S003": "applied"}


async def test_a_store_offline_mid_version_gets_the_rest_when_it_is_back(hub):
    db, delivery, stores, _clock = hub
    await online(db, delivery, stores, "S001")
    parts: list[int] = []

    async def leave_after_some(store_id: str, payload: bytes) -> bool:
        part = codec.decode_catalog_chunk(payload).part
        parts.append(part)
        if part == 2 * WINDOW:
            await online(db, delivery, stores, "S001", up=False, settled=False)
        return await Stores.catalog(stores, store_id, payload)

    stores.catalog = leave_after_some  # type: ignore[method-assign]
    version = await publish(db, delivery, stores=["S001"])
    assert await states(db, version) == {"S001": "pending"}
    first = len(parts)
    await online(db, delivery, stores, "S001")
    assert await states(db, version) == {"S001": "applied"}
    # It went on from what the store said it holds: no part was sent twice.
    assert parts[first] == parts[first - 1] + 1 and len(parts) == len(set(parts))


async def test_a_store_that_lost_its_catalog_gets_it_again(hub):
    db, delivery, stores, clock = hub
    await online(db, delivery, stores, "S001")
    version = await publish(db, delivery, stores="all")
    await stores.catalogs["S001"].close()
    (stores.root / "S001" / "catalog.sqlite").unlink()
    await stores.open("S001")
    clock.advance(seconds=5)
    await online(db, delivery, stores, "S001", up=False)
    await online(db, delivery, stores, "S001")
    assert await states(db, version) == {"S001": "applied", "S002": "pending",
                                         "S003": "pending"}
    assert stores.catalogs["S001"].state.version == version


def test_sale_lines_priced_off_the_catalog_are_counted_once_per_store_and_sku(tmp_path, storage):
    conn = database(storage or tmp_path / "hub.sqlite")
    seq = Sequencer(replay_min_interval_s=0)
    envs = [sale_envelope(n, sku="SKU-1" if n % 2 else "SKU-2") for n in range(1, 7)]
    flagged = [env if env.seq > 3 else _flag(env, "3.00") for env in envs]
    apply(conn, seq, batch(flagged))
    apply(conn, seq, batch(flagged[:4]))  # sent again: counted once
    rows = conn.execute("SELECT store_id, sku, lines, last_price, catalog_price"
                        " FROM price_deviations ORDER BY sku").fetchall()
    assert rows == [("S001", "SKU-1", 2, "2.50", "3.00"), ("S001", "SKU-2", 1, "2.50", "3.00")]
    assert conn.execute("SELECT lines, deviations FROM price_lines").fetchall() == [(6, 3)]


def _flag(env, catalog_price: str):
    import msgspec
    from decimal import Decimal

    lines = [msgspec.structs.replace(line, catalog_price=Decimal(catalog_price))
             for line in env.event.lines]
    return msgspec.structs.replace(env, event=msgspec.structs.replace(env.event, lines=lines))


async def test_accuracy_reads_per_store(hub):
    db, _delivery, _stores, _clock = hub
    await db.run(lambda tx: price_deviations.count(tx, [_flag(sale_envelope(1), "2.00"),
                                                        sale_envelope(2)]))
    assert await price_deviations.accuracy(db.reads) == {
        "S001": {"lines": 2, "deviations": 1, "accuracy": 0.5}}
    worst = await price_deviations.worst(db.reads)
    assert [(w["store_id"], w["sku"], w["lines"]) for w in worst] == [("S001", "SKU-1", 1)]
    assert dt.datetime.fromisoformat(worst[0]["at"]) == NOW
    await asyncio.sleep(0)
