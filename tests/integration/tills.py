"""Simulated tills for whole-system tests: they retry each sale until it gets a 2xx, like real ones."""

import asyncio
import datetime as dt
import sqlite3
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

SKUS = ["SKU-1", "SKU-2", "SKU-3", "SKU-4"]


def sale(register: str, number: int) -> dict[str, Any]:
    sku = SKUS[number % len(SKUS)]
    qty = 1 + number % 3
    gross = Decimal("2.50") * qty
    return {
        "register_id": register, "pos_txn_id": f"{number:06d}",
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(), "currency": "EUR",
        "lines": [{"sku": sku, "qty": qty, "unit_price": "2.50", "tax": str(gross / 5)}],
        "tenders": [{"method": "cash", "amount": str(gross)}],
    }


class Till:
    """One register. `accepted` holds every sale the agent answered with a 2xx."""

    def __init__(self, agent_url: str, register: str = "R1", start: int = 1) -> None:
        self.agent_url = agent_url
        self.register = register
        self.next_number = start
        self.accepted: dict[str, dict[str, Any]] = {}
        self.statuses: Counter[int] = Counter()

    async def sell(self, http: aiohttp.ClientSession, stop: asyncio.Event | None = None) -> bool:
        """Post the next sale until it is accepted (or `stop` is set and the agent is gone)."""
        body = sale(self.register, self.next_number)
        while True:
            try:
                async with http.post(self.agent_url + "/v1/sales", json=body,
                                     timeout=aiohttp.ClientTimeout(total=5)) as r:
                    self.statuses[r.status] += 1
                    if r.status in (200, 201):
                        self.accepted[body["pos_txn_id"]] = body
                        self.next_number += 1
                        return True
                    raise AssertionError(f"agent refused a valid sale: {r.status} {await r.text()}")
            except (aiohttp.ClientError, TimeoutError):
                self.statuses[0] += 1
                if stop is not None and stop.is_set():
                    return False
                await asyncio.sleep(0.05)

    async def sell_many(self, http: aiohttp.ClientSession, count: int) -> None:
        for _ in range(count):
            await self.sell(http)

    async def sell_until(self, http: aiohttp.ClientSession, stop: asyncio.Event,
                         pause: float = 0.01) -> None:
        while not stop.is_set():
            await self.sell(http)
            await asyncio.sleep(pause)

    def expected_stock(self) -> Counter[str]:
        stock: Counter[str] = Counter()
        for body in self.accepted.values():
            for line in body["lines"]:
                stock[line["sku"]] -= line["qty"]
        return stock


def hub_transactions(db: Path | str, store_id: str) -> list[str]:
    """pos_txn_ids of the store's sales in the hub's event log (read-only, straight from its
    SQLite file, or from its PostgreSQL database given its URL)."""
    if str(db).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(db)) as pg:
            return [r[0] for r in pg.execute(
                "SELECT register_id || '/' || pos_txn_id FROM events"
                " WHERE store_id = %s AND kind = 'sale' ORDER BY stream, seq", (store_id,))]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT register_id || '/' || pos_txn_id FROM events"
            " WHERE store_id = ? AND kind = 'sale' ORDER BY stream, seq", (store_id,)
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def expected_transactions(*tills: Till) -> list[str]:
    return sorted(f"{t.register}/{n}" for t in tills for n in t.accepted)
