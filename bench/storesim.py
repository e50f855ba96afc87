"""Simulated stores for the fleet and recovery benchmarks: the real wire protocol, many per process.

Each store is a real MQTT connection (aiomqtt, persistent session, its own credentials) that
behaves like the edge agent's forwarder: events get gapless seqs in one stream, are published
in batches at QoS 1, are kept until the hub's ack covers them, at most `window` unacked at a
time, and are sent again from the first unacked one after `ack_timeout_s` without progress.
There is no SQLite outbox here: the load generator measures the hub, not the store's disk.

Run as a worker: python -m bench.storesim --broker mqtt://127.0.0.1:P --stores S0001,S0002
--password-file F --rate 2 --seconds 30 (one JSON line with the counts is printed at the end).
"""

import argparse
import asyncio
import datetime as dt
import json
import random
import time
import uuid
from decimal import Decimal

import aiomqtt

from protocol import codec, identity
from protocol.messages import Batch, Envelope, Sale, SaleLine, Tender
from protocol.topics import Topics

PRICE = Decimal("12.00")


class SimStore:
    def __init__(self, store_id: str, password: str, host: str, port: int, *, window: int,
                 ack_timeout_s: float) -> None:
        self.store_id = store_id
        self.password = password
        self.host, self.port = host, port
        self.stream = uuid.uuid4().hex
        self.topics = Topics("retail/v1")
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.events: list[Envelope] = []  # index i holds seq i + 1
        self.acked = 0
        self.sent_through = 0
        self.last_progress = time.monotonic()
        self.wake = asyncio.Event()
        self.connected = False
        self.hub_online: bool | None = None

    def sell(self) -> None:
        seq = len(self.events) + 1
        now = dt.datetime.now(dt.UTC)
        txn = f"{seq:08d}"
        sale = Sale("R1", txn, "EUR", True, [SaleLine("SKU-1", 1, PRICE, Decimal(0), Decimal("2.00"))],
                    [Tender("cash", PRICE)])
        self.events.append(Envelope(self.store_id, self.stream, seq,
                                    identity.transaction_event_id(self.store_id, "R1", txn),
                                    now, now.date(), now, sale))
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with aiomqtt.Client(self.host, self.port, username=self.store_id,
                                          password=self.password, identifier=f"edge-{self.store_id}",
                                          clean_session=False, keepalive=30, timeout=30) as client:
                    await client.subscribe(self.topics.ack(self.store_id), qos=1)
                    await client.subscribe(self.topics.hub_state(), qos=1)
                    self.connected = True
                    self.sent_through = self.acked  # after a reconnect, send again what is unacked
                    async with asyncio.TaskGroup() as tasks:
                        tasks.create_task(self._receive(client))
                        await self._send(client, stop)
                        raise asyncio.CancelledError  # stop: leave the TaskGroup
            except aiomqtt.MqttError:
                self.connected = False
                await asyncio.sleep(random.uniform(0.5, 2.0))
            except asyncio.CancelledError:
                if stop.is_set():
                    return
                raise

    async def _send(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if time.monotonic() - self.last_progress > self.ack_timeout_s and self.sent_through > self.acked:
                self.sent_through = self.acked
                self.last_progress = time.monotonic()
            limit = min(len(self.events), self.acked + self.window)
            if self.hub_online is False:  # like the agent: keep sales while head office is away
                self.last_progress = time.monotonic()
            elif self.sent_through < limit:
                batch = self.events[self.sent_through:min(limit, self.sent_through + 500)]
                await client.publish(self.topics.events(self.store_id),
                                     codec.encode(Batch(self.store_id, self.stream, batch)), qos=1)
                self.sent_through += len(batch)
                continue
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), 1.0)
            except TimeoutError:
                pass

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                continue
            if message.topic.value == self.topics.hub_state():
                self.hub_online = codec.decode_hub_state(bytes(payload)).online
                self.last_progress = time.monotonic()
                self.wake.set()
                continue
            ack = codec.decode_ack(bytes(payload))
            if ack.stream == self.stream and ack.applied_seq > self.acked:
                self.acked = min(ack.applied_seq, len(self.events))
                self.last_progress = time.monotonic()
                self.wake.set()


async def sell_loop(stores: list[SimStore], rate: float, seconds: float, stop: asyncio.Event,
                    selling: asyncio.Event) -> None:
    """The stores together sell `rate` × stores per second (each sale at a random store), for
    `seconds` once `selling` is set."""
    await selling.wait()
    start = time.monotonic()
    total_rate = rate * len(stores)
    sold = 0
    while (now := time.monotonic()) < start + seconds and not stop.is_set():
        due = int(total_rate * (now - start)) - sold  # paced by the clock, not by sleep accuracy
        for _ in range(due):
            random.choice(stores).sell()
        sold += due
        await asyncio.sleep(0.01)
    for _ in range(int(total_rate * seconds) - sold):
        random.choice(stores).sell()


async def main(args: argparse.Namespace) -> dict[str, int]:
    host, port = args.broker.removeprefix("mqtt://").split(":")
    password = open(args.password_file).read().strip()
    stores = [SimStore(s, password, host, int(port), window=args.window,
                       ack_timeout_s=args.ack_timeout_s) for s in args.stores.split(",")]
    stop, selling = asyncio.Event(), asyncio.Event()
    runners = [asyncio.create_task(s.run(stop)) for s in stores]
    deadline = time.monotonic() + 120
    while not all(s.connected for s in stores) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    print(json.dumps({"connected": sum(s.connected for s in stores)}), flush=True)
    # The parent says "go" on stdin once every worker is connected.
    await asyncio.get_running_loop().run_in_executor(None, input)
    selling.set()
    await sell_loop(stores, args.rate, args.seconds, stop, selling)
    sold = sum(len(s.events) for s in stores)
    end = time.monotonic() + args.drain_timeout_s
    while any(s.acked < len(s.events) for s in stores) and time.monotonic() < end:
        await asyncio.sleep(0.2)
    stop.set()
    for s in stores:
        s.wake.set()
    await asyncio.wait(runners, timeout=10)
    result = {"sold": sold, "acked": sum(s.acked for s in stores)}
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("--stores", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--rate", type=float, default=2.0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--window", type=int, default=5000)
    p.add_argument("--ack-timeout-s", type=float, default=10.0)
    p.add_argument("--drain-timeout-s", type=float, default=300.0)
    asyncio.run(main(p.parse_args()))
