"""`retail-hub demo`: the hub with its embedded broker, real edge-agent processes, and tills.

Everything runs on this machine: the hub in this process, one `edge-agent` process per store,
and simulated tills posting sales and returns to each agent's capture API. A one-line summary
is printed every second.
"""

import asyncio
import contextlib
import datetime as dt
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from hub.app import Hub
from hub.config import load_config
from hub.credentials import new_password, set_password, write_secret
from runtime.net import free_port

CATALOG = [(f"SKU-{1000 + i}", Decimal(random.Random(i).randrange(99, 4999)) / 100) for i in range(50)]


def _port_or_free(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def sale_body(register: str, number: int, rng: random.Random) -> dict[str, Any]:
    """A plausible sale: 1-4 lines, 20 % VAT included, paid in cash or card."""
    lines = []
    total = Decimal(0)
    for sku, price in rng.sample(CATALOG, rng.randint(1, 4)):
        qty = rng.randint(1, 3)
        gross = price * qty
        tax = (gross / 6).quantize(Decimal("0.01"))
        lines.append({"sku": sku, "qty": qty, "unit_price": str(price), "discount": "0.00",
                      "tax": str(tax)})
        total += gross
    return {
        "register_id": register, "pos_txn_id": f"{number:08d}",
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(), "currency": "EUR",
        "lines": lines, "tenders": [{"method": rng.choice(["cash", "card"]), "amount": str(total)}],
    }


class Demo:
    def __init__(self, data_dir: str, *, stores: int, rate: float, duration: float,
                 api_port: int) -> None:
        self.dir = Path(data_dir).resolve()
        self.store_ids = [f"S{i:03d}" for i in range(1, stores + 1)]
        self.rate = rate
        self.duration = duration
        self.api_port = api_port
        self.agent_ports: dict[str, int] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ok: bool | None = None  # None: stopped before the final delivery check

    def _write_configs(self) -> Path:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        broker_port = free_port()
        users = self.dir / "hub" / "mqtt-users"
        hub_conf = self.dir / "hub" / "hub.toml"
        (self.dir / "hub").mkdir()
        hub_conf.write_text(
            f'data_dir = "."\n[broker]\nembedded = true\nlisten = "127.0.0.1:{broker_port}"\n'
            f'users_file = "mqtt-users"\n[api]\nlisten = "127.0.0.1:{_port_or_free(self.api_port)}"\n'
        )
        for n, store in enumerate(self.store_ids):
            password = new_password()
            set_password(users, store, password)
            store_dir = self.dir / store
            write_secret(store_dir / "mqtt-password", password)
            port = _port_or_free(8701 + n)
            self.agent_ports[store] = port
            (store_dir / "agent.toml").write_text(
                f'store_id = "{store}"\ndata_dir = "."\n[api]\nlisten = "127.0.0.1:{port}"\n'
                f'[mqtt]\nurl = "mqtt://127.0.0.1:{broker_port}"\nusername = "{store}"\n'
                'password_file = "mqtt-password"\n[forwarder]\nack_timeout_s = 5\n'
            )
        return hub_conf

    def _start_agents(self) -> None:
        for store in self.store_ids:
            log = open(self.dir / store / "agent.log", "wb")  # noqa: SIM115 - owned by the child
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "run", "--config",
                 str(self.dir / store / "agent.toml")],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            ))

    async def _agent_health(self, http: aiohttp.ClientSession, store: str) -> dict[str, Any] | None:
        try:
            async with http.get(f"http://127.0.0.1:{self.agent_ports[store]}/healthz") as r:
                return dict(await r.json())
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _till(self, http: aiohttp.ClientSession, store: str, register: str) -> None:
        rng = random.Random(f"{store}/{register}")
        url = f"http://127.0.0.1:{self.agent_ports[store]}/v1/sales"
        number = 0
        interval = 2.0 / self.rate  # two registers per store
        while True:
            number += 1
            body = sale_body(register, number, rng)
            while True:
                try:
                    async with http.post(url, json=body) as r:
                        if r.status in (200, 201):
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.5)
            await asyncio.sleep(rng.expovariate(1 / interval))

    async def _totals(self, hub: Hub, http: aiohttp.ClientSession) -> tuple[int, int, int, int]:
        healths = await asyncio.gather(*(self._agent_health(http, s) for s in self.store_ids))
        backlog = sum(h["outbox"]["backlog"] for h in healths if h)
        captured = sum(h["outbox"]["last_seq"] for h in healths if h)
        async with hub.reader().execute(
            "SELECT (SELECT count(*) FROM stores WHERE online = 1),"
            " (SELECT COALESCE(SUM(events_applied), 0) FROM streams)"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0]), captured, int(row[1]), backlog

    async def run(self) -> None:
        hub = Hub(load_config(self._write_configs()))
        hub_task = asyncio.create_task(hub.run(), name="hub")
        await hub.started.wait()
        self._start_agents()
        print(f"demo: hub API http://127.0.0.1:{hub.bound_port}  "
              f"(try /v1/stores); {len(self.store_ids)} stores, {self.rate:g} sales/s each; "
              f"files in {self.dir}; Ctrl-C stops", flush=True)
        tills: list[asyncio.Task[None]] = []
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
                for store in self.store_ids:
                    for register in ("R1", "R2"):
                        tills.append(asyncio.create_task(self._till(http, store, register)))
                start = time.monotonic()
                last_applied, last_t = 0, start
                while not self.duration or time.monotonic() - start < self.duration:
                    await asyncio.sleep(1)
                    online, captured, applied, backlog = await self._totals(hub, http)
                    now = time.monotonic()
                    rate = (applied - last_applied) / (now - last_t)
                    last_applied, last_t = applied, now
                    print(f"{now - start:6.0f}s  stores online {online}/{len(self.store_ids)}  "
                          f"captured {captured}  applied {applied}  backlog {backlog}  "
                          f"{rate:.0f} events/s", flush=True)
                for t in tills:
                    t.cancel()
                deadline = time.monotonic() + 20
                self.ok = False
                while time.monotonic() < deadline:
                    online, captured, applied, backlog = await self._totals(hub, http)
                    if captured and applied == captured and backlog == 0:
                        self.ok = True
                        break
                    await asyncio.sleep(0.2)
                print(f"demo: {captured} events captured, {applied} applied at the hub, "
                      f"backlog {backlog}: {'all delivered' if self.ok else 'NOT all delivered'}",
                      flush=True)
        finally:
            for t in tills:
                t.cancel()
            for p in self.procs:
                p.terminate()
            for p in self.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(10)
            hub_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hub_task
