"""Catalog fan-out: a publication of 1,000 price changes to 1,000 simulated stores (Mosquitto).

Each simulated store is a real MQTT connection with its own credentials that does what the
agent's catalog link does on the wire: it says it is online and which version it has (retained
state), reassembles chunks and checks the digest (protocol.chunking), applies a snapshot or a
delta only onto its base (in memory: no SQLite per store, the hub is what is measured), says
"receiving" and "applied" (CatalogAck). Workers run hundreds of stores each.
First every store gets version 1 (a snapshot of `--items` items, not timed as the target);
timed: version 2, `--changes` price changes, from `POST /v1/publications` until the hub's
publication view says every store applied it (target: <= 30 s).
Usage: python -m bench.catalog_fanout [--stores 1000] [--changes 1000] [--workers 4]
"""

import argparse
import asyncio
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import aiomqtt

from bench import save
from bench.memory import rss_mb
from protocol import chunking, codec
from protocol.chunking import PROGRESS_EVERY
from protocol.errors import PayloadError
from protocol.messages import CatalogAck, CatalogDelta, StoreState
from protocol.topics import Topics

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class SimStore:
    """One store's catalog over its own connection (see the module docstring)."""

    def __init__(self, store_id: str, password: str, host: str, port: int) -> None:
        self.store_id, self.password, self.host, self.port = store_id, password, host, port
        self.topics = Topics("retail/v1")
        self.version: int | None = None
        self.parts = chunking.Reassembly()
        self.connected = False

    async def run(self) -> None:
        will = aiomqtt.Will(self.topics.state(self.store_id),
                            codec.encode_state(StoreState(self.store_id, False)), qos=1,
                            retain=True)
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port, username=self.store_id,
                                          password=self.password,
                                          identifier=f"edge-{self.store_id}", will=will,
                                          clean_session=False, keepalive=60,
                                          timeout=60) as client:
                    await client.subscribe(self.topics.catalog(self.store_id), qos=1)
                    await client.publish(self.topics.state(self.store_id), codec.encode_state(
                        StoreState(self.store_id, True, at=dt.datetime.now(dt.UTC),
                                   catalog_version=self.version or 0)), qos=1, retain=True)
                    self.connected = True
                    async for message in client.messages:
                        await self._chunk(client, bytes(message.payload))  # type: ignore[arg-type]
            except aiomqtt.MqttError:
                self.connected = False
                await asyncio.sleep(1)

    async def _chunk(self, client: aiomqtt.Client, payload: bytes) -> None:
        chunk = codec.decode_catalog_chunk(payload)
        if self.version is not None and chunk.version <= self.version:
            return
        try:
            whole = self.parts.add(chunk)
        except PayloadError as exc:
            await self._say(client, chunk.version, "resend", reason=str(exc))
            return
        held = next((n for v, n, _p in self.parts.pending if v == chunk.version), chunk.parts)
        if whole is None:
            if held % PROGRESS_EVERY == 0:
                await self._say(client, chunk.version, "receiving", part=held)
            return
        content = codec.decode_catalog_content(whole)
        if isinstance(content, CatalogDelta) and content.base_version != self.version:
            await self._say(client, chunk.version, "resend", reason="another base")
            return
        self.version = content.version
        self.parts.forget(self.version + 1)
        await self._say(client, chunk.version, "applied")

    async def _say(self, client: aiomqtt.Client, version: int, state: str,
                   **more: object) -> None:
        ack = CatalogAck(self.store_id, version, state, at=dt.datetime.now(dt.UTC),
                         catalog_version=self.version, **more)  # type: ignore[arg-type]
        await client.publish(self.topics.catalog_ack(self.store_id), codec.encode_catalog(ack),
                             qos=1)


async def worker(args: argparse.Namespace) -> None:
    host, port = args.broker.removeprefix("mqtt://").split(":")
    password = Path(args.password_file).read_text().strip()
    stores = [SimStore(s, password, host, int(port)) for s in args.stores.split(",")]
    tasks = [asyncio.create_task(s.run()) for s in stores]
    deadline = time.monotonic() + 120
    while not all(s.connected for s in stores) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    print(json.dumps({"connected": sum(s.connected for s in stores)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "stop"
    for task in tasks:
        task.cancel()


async def publish_and_wait(http: aiohttp.ClientSession, office, stores: int,
                           timeout: float) -> float:
    began = time.perf_counter()
    made = await office.publish()
    while True:
        view = await office.call("GET", f"/v1/publications/{made['id']}")
        if view["counts"]["applied"] == stores:
            return time.perf_counter() - began
        if time.perf_counter() - began > timeout:
            raise RuntimeError(f"after {timeout} s: {view['counts']}")
        await asyncio.sleep(0.2)


async def main(args: argparse.Namespace) -> dict:
    from hub.broker.credentials import new_password
    from tests.integration.catalog import HeadOffice, change
    from tests.integration.procs import HubProc

    tmp = Path(tempfile.mkdtemp(prefix="bench-catalog-fanout-"))
    stores = [f"C{n:04d}" for n in range(1, args.stores + 1)]
    password = new_password()
    (tmp / "store-password").write_text(password)
    hub = HubProc(tmp / "hub", stores, mosquitto_root=tmp / "mosquitto", store_password=password)
    assert hub.mosquitto is not None
    workers: list[subprocess.Popen[str]] = []
    result: dict = {"stores": args.stores, "changes": args.changes, "items": args.items}
    try:
        hub.mosquitto.start()
        hub.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
            await hub.ready(http)
            office = HeadOffice(http, hub)
            skus = [f"SKU-{n:05d}" for n in range(args.items)]
            await office.items(skus)
            await office.book("base", 10, stores="all")
            await office.prices("base", [change(s, "5.00", T0) for s in skus])
            for w in range(args.workers):
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "bench.catalog_fanout", "--worker", "--broker",
                     hub.mosquitto.url, "--stores", ",".join(stores[w::args.workers]),
                     "--password-file", str(tmp / "store-password")],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT))
            result["connected"] = sum(json.loads(p.stdout.readline())["connected"]  # type: ignore[union-attr]
                                      for p in workers)

            async def all_known() -> bool:
                rows = (await hub.get(http, "/v1/stores"))["stores"]
                return sum(1 for r in rows if r["online"]) >= args.stores

            while not await all_known():
                await asyncio.sleep(0.5)
            result["snapshot_s"] = round(await publish_and_wait(http, office, args.stores, 300), 1)
            await office.prices("base", [change(s, "4.50", T0 + dt.timedelta(days=1))
                                         for s in skus[:args.changes]])
            result["delta_s"] = round(await publish_and_wait(http, office, args.stores, 300), 1)
            assert hub.proc is not None
            result["hub_rss_mb"] = rss_mb(hub.proc.pid)
    finally:
        for p in workers:
            if p.stdin:
                p.stdin.write("stop\n")
                p.stdin.flush()
        for p in workers:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        hub.stop()
        hub.mosquitto.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result["target_s"] = 30
    return result


if __name__ == "__main__":
    if "--worker" in sys.argv:
        w = argparse.ArgumentParser()
        w.add_argument("--worker", action="store_true")
        w.add_argument("--broker", required=True)
        w.add_argument("--stores", required=True)
        w.add_argument("--password-file", required=True)
        asyncio.run(worker(w.parse_args()))
        sys.exit(0)
    p = argparse.ArgumentParser()
    p.add_argument("--stores", type=int, default=1000)
    p.add_argument("--changes", type=int, default=1000)
    p.add_argument("--items", type=int, default=1000)
    p.add_argument("--workers", type=int, default=4)
    r = asyncio.run(main(p.parse_args()))
    save("catalog-fanout", r)
    print(f"catalog fan-out: {r['changes']} price changes to {r['stores']} stores applied by all "
          f"in {r['delta_s']} s (target <= 30 s: {'MET' if r['delta_s'] <= 30 else 'NOT MET'}); "
          f"the first version ({r['items']} items, snapshots) in {r['snapshot_s']} s; hub RSS "
          f"{r['hub_rss_mb']} MB")
