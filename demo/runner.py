"""`retail-hub demo`: the hub with its embedded broker, real edge-agent processes, tills, and an ERP.

Everything runs on this machine: the hub in this process (demo.embedded) or, with --postgresql,
two hub workers on a PostgreSQL and a Mosquitto of the demo's own (demo.cluster); one
`edge-agent` process per store, simulated tills posting sales and returns to each agent's
capture API, and (when Tryton is installed) a real Tryton receiving the hub's postings. A
one-line summary is printed every second. The first Ctrl-C (or the end of --duration) closes the
business day: tills stop, each store sends its day-close, the daily summaries are posted and the
day is reconciled.
"""

import asyncio
import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from demo import erp as demo_erp
from demo import folder as demo_folder
from demo import processes
from demo.cluster import ClusterFailed, ClusterHub, Shares
from demo.embedded import EmbeddedHub
from demo.ports import port_or_free
from demo.progress import Counters, Progress
from hub.broker.credentials import new_password, write_secret
from hub.cli import postings as postings_cli
from runtime.clock import SYSTEM, Clock

CATALOG = [(f"SKU-{1000 + i}", Decimal(random.Random(i).randrange(99, 4999)) / 100) for i in range(50)]
DELIVERY_EVERY_S = 30.0


class HubSide(Protocol):
    """The demo's hub, whichever it is: what the demo starts, asks and stops."""

    config: Path  # a hub.toml for the operators' commands (`retail-hub postings list`)

    def stop_leftovers(self) -> None:
        """Stop what an earlier demo, killed, left running on the demo's folder."""

    def configure(self, stores: dict[str, str], erp_section: str) -> str:
        """Write its configs for these stores (id -> broker password); the stores' broker URL."""

    async def start(self) -> None: ...

    def addresses(self) -> list[str]:
        """What to open: one line each (dashboards, and the servers it started)."""

    async def stores(self) -> list[dict[str, Any]]:
        """The fleet, as `GET /v1/stores` lists it."""

    async def posting_counts(self) -> dict[str, int]: ...

    async def daily_summaries(self, day: dt.date) -> int: ...

    async def reconcile(self, day: dt.date) -> dict[str, Any]: ...

    async def shares(self, *, fresh: bool = False) -> Shares | None:
        """What each of several workers did; None for one hub. `fresh`: from heartbeats written
        after the call (the end's summary), not the last ones."""

    async def stop(self) -> None: ...


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


def return_body(sold: dict[str, Any], number: int) -> dict[str, Any]:
    """One unit of a sale's first line comes back, refunded in cash."""
    line = sold["lines"][0]
    price = Decimal(line["unit_price"])
    return {
        "register_id": sold["register_id"], "pos_txn_id": f"9{number:07d}",
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(), "currency": "EUR",
        "original": {"register_id": sold["register_id"], "pos_txn_id": sold["pos_txn_id"]},
        "lines": [{"sku": line["sku"], "qty": 1, "unit_price": str(price), "restock": True,
                   "tax": str((price / 6).quantize(Decimal("0.01")))}],
        "tenders": [{"method": "cash", "amount": str(price)}],
    }


class Books:
    """What a store's tills rang up, for its own day-close: counts, net, tax, tenders."""

    def __init__(self) -> None:
        self.sales = self.returns = 0
        self.net = self.tax = Decimal(0)
        self.tenders: dict[str, Decimal] = {}

    def add(self, body: dict[str, Any], sign: int) -> None:
        if sign > 0:
            self.sales += 1
        else:
            self.returns += 1
        for line in body["lines"]:
            gross = Decimal(line["unit_price"]) * line["qty"] - Decimal(line.get("discount", "0"))
            self.net += sign * (gross - Decimal(line["tax"]))
            self.tax += sign * Decimal(line["tax"])
        for t in body["tenders"]:
            self.tenders[t["method"]] = self.tenders.get(t["method"], Decimal(0)) + sign * Decimal(t["amount"])

    def day_close(self, day: dt.date) -> dict[str, Any]:
        return {"business_day": day.isoformat(), "sales_count": self.sales,
                "returns_count": self.returns, "net_total": str(self.net),
                "tax_total": str(self.tax), "currency": "EUR",
                "tenders": {m: str(a) for m, a in self.tenders.items()}}


class Stockroom:
    """A store's goods receipts: a full shelf of every SKU before the tills open, then a delivery
    every DELIVERY_EVERY_S of what was sold since, so the hub's on-hand never goes negative."""

    def __init__(self, rate: float, clock: Clock = SYSTEM) -> None:
        self.clock = clock
        # A SKU sells about rate/10 units a second per store (2.5 lines of 2 units out of 50).
        self.shelf = max(50, round(10 * rate))
        self.sold: Counter[str] = Counter()
        self.receipts = 0

    def took(self, body: dict[str, Any], sign: int) -> None:
        for line in body["lines"]:
            if sign > 0 or line.get("restock"):
                self.sold[line["sku"]] += sign * line["qty"]

    def receipt(self) -> dict[str, Any] | None:
        """The next goods receipt (an inventory adjustment), or None when nothing is due."""
        if self.receipts == 0:
            lines = [{"sku": sku, "qty_delta": self.shelf} for sku, _ in CATALOG]
        else:
            lines = [{"sku": sku, "qty_delta": n} for sku, n in sorted(self.sold.items()) if n > 0]
        if not lines:
            return None
        self.sold.clear()
        self.receipts += 1
        return {"adjustment_id": f"RECEIPT-{self.receipts:05d}", "reason": "receipt",
                "occurred_at": self.clock.now().isoformat(), "lines": lines}




class Demo:
    def __init__(self, data_dir: str, *, stores: int, rate: float, duration: float,
                 api_port: int, erp: bool = True, postgresql: bool = False) -> None:
        self.dir = Path(data_dir).resolve()
        self.hub: HubSide = (ClusterHub(self.dir, api_port) if postgresql
                             else EmbeddedHub(self.dir / "hub", api_port))
        self.erp = demo_erp.DemoErp(self.dir.parent / f"{self.dir.name}-erp-template",
                                    self.dir / "tryton", [sku for sku, _ in CATALOG]
                                    ) if erp and demo_erp.available() else None
        self.store_ids = [f"S{i:03d}" for i in range(1, stores + 1)]
        self.books: dict[str, Books] = {}
        self.stockrooms = {store: Stockroom(rate) for store in self.store_ids}
        self.counters = Counters(self.store_ids)
        self.closing = asyncio.Event()
        self.rate = rate
        self.duration = duration
        self.agent_ports: dict[str, int] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ok: bool | None = None  # None: stopped before the final delivery check
        self.open = False  # the tills are selling: a Ctrl-C now closes the day
        self.stopping = False

    def _write_configs(self, erp_section: str) -> None:
        passwords = {store: new_password() for store in self.store_ids}
        broker_url = self.hub.configure(passwords, erp_section)
        for n, store in enumerate(self.store_ids):
            store_dir = self.dir / store
            write_secret(store_dir / "mqtt-password", passwords[store])
            port = port_or_free(8701 + n)
            self.agent_ports[store] = port
            (store_dir / "agent.toml").write_text(
                f'store_id = "{store}"\ndata_dir = "."\n[api]\nlisten = "127.0.0.1:{port}"\n'
                f'[mqtt]\nurl = "{broker_url}"\nusername = "{store}"\n'
                'password_file = "mqtt-password"\n[forwarder]\nack_timeout_s = 5\n'
            )

    def _start_agents(self) -> None:
        for store in self.store_ids:
            log = open(self.dir / store / "agent.log", "wb")  # noqa: SIM115 - handed to the child
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "run", "--config",
                 str(self.dir / store / "agent.toml")],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # see run(): the terminal's Ctrl-C is not for them
            ))
            log.close()

    async def _agent_health(self, http: aiohttp.ClientSession, store: str) -> dict[str, Any] | None:
        try:
            async with http.get(f"http://127.0.0.1:{self.agent_ports[store]}/healthz") as r:
                return dict(await r.json())
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _till(self, http: aiohttp.ClientSession, store: str, register: str) -> None:
        rng = random.Random(f"{store}/{register}")
        agent = f"http://127.0.0.1:{self.agent_ports[store]}"
        books = self.books.setdefault(store, Books())
        number = 0
        interval = 2.0 / self.rate  # two registers per store
        while not self.closing.is_set():
            number += 1
            body = sale_body(register, number, rng)
            await self._post(http, agent + "/v1/sales", body)
            books.add(body, 1)
            self.stockrooms[store].took(body, 1)
            if number % 50 == 0:  # now and then a customer brings something back
                refund = return_body(body, number)
                await self._post(http, agent + "/v1/returns", refund)
                books.add(refund, -1)
                self.stockrooms[store].took(refund, -1)
            await self._closed_within(rng.expovariate(1 / interval))

    async def _closed_within(self, seconds: float) -> bool:
        """Wait up to `seconds` for the day to close; True once it is closing.

        asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation (the
        second Ctrl-C) that arrives just as the first Ctrl-C has set `closing`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.closing.wait()
        return self.closing.is_set()

    async def _receive(self, http: aiohttp.ClientSession, store: str) -> None:
        """Post the store's next goods receipt, if one is due, through its capture API."""
        receipt = self.stockrooms[store].receipt()
        if receipt is not None:
            await self._post(http, f"http://127.0.0.1:{self.agent_ports[store]}"
                             "/v1/inventory-adjustments", receipt)

    async def _deliveries(self, http: aiohttp.ClientSession) -> None:
        while not await self._closed_within(DELIVERY_EVERY_S):
            await asyncio.gather(*(self._receive(http, store) for store in self.store_ids))

    async def _post(self, http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
        """Like a till: try again until the agent says it has it."""
        while True:
            try:
                async with http.post(url, json=body) as r:
                    if r.status in (200, 201):
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.5)

    async def _progress(self, http: aiohttp.ClientSession) -> Progress:
        hub_stores = await self.hub.stores()  # first: see demo.progress
        healths = await asyncio.gather(*(self._agent_health(http, s) for s in self.store_ids))
        return self.counters.progress(hub_stores, dict(zip(self.store_ids, healths, strict=True)))

    def check_folders(self) -> None:
        """Raise demo_folder.NotTheDemos before anything starts if a folder is not the demo's."""
        demo_folder.check(self.dir)
        if self.erp is not None:
            self.erp.check_template()

    async def run(self) -> None:
        self.hub.stop_leftovers()
        demo_folder.remake(self.dir)
        main = asyncio.current_task()
        assert main is not None
        loop = asyncio.get_running_loop()
        # The terminal's Ctrl-C reaches only this process: the agents and Tryton run in sessions
        # of their own, so they keep going until the day is closed and are then stopped in order.
        loop.add_signal_handler(signal.SIGINT, self._interrupt, main)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._stop_now, main)
        erp_start: asyncio.Future[str] | None = None
        tills: list[asyncio.Task[None]] = []
        try:
            erp_section, erp_url = "", None
            if self.erp is not None:
                erp_start = loop.run_in_executor(None, self.erp.start)
                erp_url = await asyncio.shield(erp_start)
                erp_section = self.erp.config()
            self._write_configs(erp_section)
            await self.hub.start()
            self._start_agents()
            erp = (f"ERP: Tryton at {erp_url} (database {self.dir / 'tryton'})" if erp_url else
                   "ERP: none (install Tryton with `pip install -e .[erp]` to post to it)")
            for line in self.hub.addresses():
                print(f"demo: {line}", flush=True)
            for store in self.store_ids:
                print(f"demo: store {store}  http://127.0.0.1:{self.agent_ports[store]}/",
                      flush=True)
            print(f"demo: {len(self.store_ids)} stores, {self.rate:g} sales/s each; {erp}; "
                  f"files in {self.dir}; Ctrl-C closes the day and stops", flush=True)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
                # Stock arrives before the tills open.
                await asyncio.gather(*(self._receive(http, store) for store in self.store_ids))
                tills.append(asyncio.create_task(self._deliveries(http)))
                for store in self.store_ids:
                    for register in ("R1", "R2"):
                        tills.append(asyncio.create_task(self._till(http, store, register)))
                self.open = True
                await self._report_until_closing(http)
                self.closing.set()
                # Each till finishes the sale in hand, so its books match what the store captured.
                await asyncio.wait(tills, timeout=15)
                delivered = await self._check_delivery(http)
                self.ok = delivered and (self.erp is None or await self._close_day(http))
        except ClusterFailed as exc:
            print(f"demo: {exc}", flush=True)
            self.ok = False
        finally:
            self.stopping = True
            await self._stop(tills, erp_start)

    async def _stop(self, tills: list[asyncio.Task[None]],
                    erp_start: asyncio.Future[str] | None) -> None:
        """Tills, then the agents (SIGTERM, waited for), then the hub, then Tryton."""
        self.closing.set()
        for t in tills:
            t.cancel()
        await asyncio.gather(*tills, return_exceptions=True)
        await asyncio.gather(*(asyncio.to_thread(processes.end, p) for p in self.procs))
        await self.hub.stop()
        if self.erp is not None:
            if erp_start is not None:
                # Stopped while Tryton was starting: let that finish, so it can be stopped.
                await asyncio.gather(erp_start, return_exceptions=True)
            await asyncio.to_thread(self.erp.stop)

    def _interrupt(self, main: "asyncio.Task[None]") -> None:
        if self.stopping:
            return  # already stopping everything, in order
        if not self.open or self.closing.is_set():
            print("\ndemo: stopping", flush=True)
            self._stop_now(main)  # before the stores opened, or a second Ctrl-C: stop now
            return
        print("\ndemo: closing the business day (Ctrl-C again to stop at once)...", flush=True)
        self.closing.set()

    def _stop_now(self, main: "asyncio.Task[None]") -> None:
        if not self.stopping:
            self.stopping = True
            main.cancel()

    async def _report_until_closing(self, http: aiohttp.ClientSession) -> None:
        start = time.monotonic()
        last_applied, last_t = 0, start
        while not self.duration or time.monotonic() - start < self.duration:
            if await self._closed_within(1):
                return
            p = await self._progress(http)
            now = time.monotonic()
            rate = (p.applied - last_applied) / (now - last_t)
            last_applied, last_t = p.applied, now
            erp = ""
            if self.erp is not None:
                counts = await self.hub.posting_counts()
                erp = (f"  erp posted {counts['posted']} pending "
                       f"{counts['pending'] + counts['posting']}")
            shares = await self.hub.shares()
            workers = shares.brief() if shares else ""
            print(f"{now - start:6.0f}s  stores online {p.online}/{p.stores}  "
                  f"captured {p.captured}  applied {p.applied}{workers}  backlog {p.backlog}  "
                  f"{rate:.0f} events/s{erp}", flush=True)

    async def _check_delivery(self, http: aiohttp.ClientSession) -> bool:
        deadline = time.monotonic() + 20
        p = await self._progress(http)
        while not p.delivered and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            p = await self._progress(http)
        silent = "" if p.answered == p.stores else f" ({p.stores - p.answered} stores not answering)"
        print(f"demo: {p.captured} events captured, {p.applied} applied at the hub, "
              f"backlog {p.backlog}{silent}: {'all delivered' if p.delivered else 'NOT all delivered'}",
              flush=True)
        shares = await self.hub.shares(fresh=True)
        if shares:
            print(f"demo: {shares.summary()}", flush=True)
        return p.delivered

    async def _close_day(self, http: aiohttp.ClientSession) -> bool:
        """Each store sends its day-close; wait for the ERP postings; reconcile the day."""
        day = dt.datetime.now(dt.UTC).date()
        for store in self.store_ids:
            body = self.books.setdefault(store, Books()).day_close(day)
            await self._post(http, f"http://127.0.0.1:{self.agent_ports[store]}/v1/day-close", body)
        deadline = time.monotonic() + 120
        counts = await self.hub.posting_counts()
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            counts = await self.hub.posting_counts()
            released = await self.hub.daily_summaries(day)
            if released >= len(self.store_ids) and not counts["pending"] + counts["posting"]:
                break
            print(f"demo: ERP postings: {counts['posted']} posted, "
                  f"{counts['pending'] + counts['posting']} to go", flush=True)
        print(f"demo: ERP postings: {counts['posted']} posted in Tryton, "
              f"{counts['exception']} exceptions, {counts['dead']} dead "
              f"(see `retail-hub postings list --config {self.hub.config}`)",
              flush=True)
        result = await self.hub.reconcile(day)
        print(f"demo: reconciliation of {day}: {result['matched']} matched, "
              f"{result['mismatched']} mismatched (store day-close vs hub vs Tryton)", flush=True)
        if result["mismatched"]:
            print(postings_cli.render(result), flush=True)
        return bool(result["mismatched"] == 0 and counts["exception"] + counts["dead"] == 0
                    and not counts["pending"] + counts["posting"])
