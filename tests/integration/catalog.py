"""Head office's catalog calls on a real hub, and a till's lookups on a real agent, for the
whole-system catalog tests and benchmarks."""

import datetime as dt
from typing import Any

import aiohttp

from tests.conftest import wait_for
from tests.integration.procs import AgentProc, HubProc


class HeadOffice:
    """The catalog API of one hub process, with its admin token."""

    def __init__(self, http: aiohttp.ClientSession, hub: HubProc) -> None:
        self.http = http
        self.hub = hub

    async def call(self, method: str, path: str, body: Any = None,
                   status: int = 200) -> Any:
        async with self.http.request(method, self.hub.url + path, json=body,
                                     headers=self.hub.admin,
                                     timeout=aiohttp.ClientTimeout(total=120)) as r:
            answer = await r.json()
            assert r.status == status, answer
            return answer

    async def items(self, skus: list[str], name: str = "Item") -> None:
        for i in range(0, len(skus), 10_000):
            await self.call("PUT", "/v1/items", [
                {"sku": s, "name": f"{name} {s}", "barcode": f"B{s}", "active": True}
                for s in skus[i:i + 10_000]])

    async def book(self, book: str, priority: int, **assigned: Any) -> None:
        await self.call("PUT", f"/v1/price-books/{book}",
                        {"currency": "EUR", "priority": priority, **assigned})

    async def prices(self, book: str, changes: list[dict[str, Any]], force: bool = True) -> None:
        for i in range(0, len(changes), 10_000):
            await self.call("POST", f"/v1/price-books/{book}/prices",
                            {"changes": changes[i:i + 10_000], "force": force}, status=201)

    async def publish(self, **body: Any) -> dict[str, Any]:
        return dict(await self.call("POST", "/v1/publications", body or {"stores": "all"},
                                    status=201))

    async def publication(self, pid: int) -> dict[str, Any]:
        return dict(await self.call("GET", f"/v1/publications/{pid}"))

    async def applied_by(self, pid: int, stores: list[str], timeout: float = 60) -> None:
        """Wait until every one of `stores` has applied publication `pid`."""

        async def done() -> bool:
            view = await self.publication(pid)
            states = {s["store_id"]: s["state"] for s in view["stores"]}
            return all(states.get(s) == "applied" for s in stores)

        await wait_for(done, timeout, f"publication {pid} applied by {stores}", interval=0.2)


def change(sku: str, price: str, start: dt.datetime, end: dt.datetime | None = None
           ) -> dict[str, Any]:
    body = {"sku": sku, "price": price, "effective_from": start.isoformat()}
    if end is not None:
        body["effective_to"] = end.isoformat()
    return body


async def till_item(http: aiohttp.ClientSession, agent: AgentProc, sku: str,
                    at: dt.datetime | None = None) -> tuple[int, Any]:
    """What a till gets for `sku` from the store's agent: (status, JSON)."""
    params = {"at": at.isoformat()} if at else {}
    async with http.get(f"{agent.url}/v1/items/{sku}", params=params) as r:
        return r.status, await r.json()


async def store_catalog(http: aiohttp.ClientSession, agent: AgentProc) -> dict[str, Any]:
    async with http.get(f"{agent.url}/v1/catalog") as r:
        assert r.status == 200
        return dict(await r.json())


async def store_has(http: aiohttp.ClientSession, agent: AgentProc, version: int,
                    timeout: float = 60) -> dict[str, Any]:
    """Wait until the store's catalog is at `version`; its /v1/catalog."""

    async def reached() -> dict[str, Any] | None:
        try:
            found = await store_catalog(http, agent)
        except aiohttp.ClientError:
            return None
        return found if found["version"] == version else None

    found = await wait_for(reached, timeout, f"store {agent.store_id} at catalog version {version}",
                           interval=0.1)
    assert found is not None
    return found
