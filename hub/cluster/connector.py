"""The ERP connector as the relay and reconciliation share it across leadership terms.

The relay (hub.postings.relay) starts its connector when it runs and closes it when it stops,
which on a worker of a cluster is each time it starts or stops leading. Reconciliation asks the
ERP through the same connector on every worker (`GET /v1/reconciliation`, the dashboard's day
check), leader or not. So the hub opens the connector once for its whole life (`open`, `shut`)
and hands the relay this wrapper, whose `start` and `close` leave it open.
"""

import datetime as dt

from hub.erp.base import Catalog, Connector, PostedDoc, Result
from hub.postings.payloads import Payload


class KeptOpen:
    """A Connector (hub.erp.base) whose start and close are the hub's, not its users'."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.name = connector.name

    async def open(self) -> None:
        await self.connector.start()

    async def shut(self) -> None:
        await self.connector.close()

    async def start(self) -> None:
        """Already open."""

    async def close(self) -> None:
        """Left open for the next term and for reconciliation."""

    async def post(self, payload: Payload) -> Result:
        return await self.connector.post(payload)

    async def catalog(self) -> Catalog:
        return await self.connector.catalog()

    async def day_closed(self, day: dt.date) -> bool:
        return await self.connector.day_closed(day)

    async def posted(self, store: str, day: dt.date) -> list[PostedDoc] | None:
        return await self.connector.posted(store, day)
