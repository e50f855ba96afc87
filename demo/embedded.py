"""The default demo's hub: one hub in the demo's own process, with its embedded broker and its
state in `hub.sqlite`, so `make demo` needs nothing but python3."""

import asyncio
import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

from demo.ports import port_or_free
from hub.app import Hub
from hub.broker.credentials import new_password, set_password, write_secret
from hub.config import load_config
from hub.ledger import fleet
from hub.postings import reconcile
from hub.postings import store as postings
from runtime.net import free_port


class EmbeddedHub:
    """The hub in this process; its files in `folder` (hub.toml, mqtt-users, admin-token)."""

    def __init__(self, folder: Path, api_port: int) -> None:
        self.folder = folder
        self.config = folder / "hub.toml"
        self.api_port = api_port
        self.hub: Hub | None = None
        self._task: asyncio.Task[None] | None = None

    def stop_leftovers(self) -> None:
        """Nothing outlives this hub: it ends with the demo's process."""

    def configure(self, stores: dict[str, str], erp_section: str) -> str:
        """Write the hub's config and its broker's users (store id -> password); the URL the
        stores reach the broker at."""
        broker_port = free_port()
        users = self.folder / "mqtt-users"
        self.folder.mkdir()
        write_secret(self.folder / "admin-token", new_password())
        (self.folder / "hub.toml").write_text(
            f'data_dir = "."\n[broker]\nembedded = true\nlisten = "127.0.0.1:{broker_port}"\n'
            f'users_file = "mqtt-users"\n[api]\nlisten = "127.0.0.1:{port_or_free(self.api_port)}"\n'
            'admin_token_file = "admin-token"\n' + erp_section
        )
        for store, password in stores.items():
            set_password(users, store, password)
        return f"mqtt://127.0.0.1:{broker_port}"

    async def start(self) -> None:
        self.hub = Hub(load_config(self.folder / "hub.toml"))
        self._task = asyncio.create_task(self.hub.run(), name="hub")
        await self.hub.started.wait()

    def addresses(self) -> list[str]:
        assert self.hub is not None
        return [(f"dashboard http://127.0.0.1:{self.hub.bound_port}/ (admin token in "
                 f"{self.folder / 'admin-token'})")]

    async def stores(self) -> list[dict[str, Any]]:
        assert self.hub is not None
        return await fleet.stores(self.hub.db.reads)

    async def posting_counts(self) -> dict[str, int]:
        assert self.hub is not None
        return await postings.counts(self.hub.db.reads)

    async def daily_summaries(self, day: dt.date) -> int:
        """How many stores' daily summaries of `day` the hub has made."""
        assert self.hub is not None
        made = await postings.listing(self.hub.db.reads, business_day=day.isoformat(),
                                      state=None, limit=1000)
        return sum(1 for p in made if p["kind"] == "daily_summary")

    async def reconcile(self, day: dt.date) -> dict[str, Any]:
        assert self.hub is not None and self.hub.relay is not None
        return await reconcile.run(self.hub.db.reads, self.hub.relay.connector,
                                   self.hub.config.erp.mapping, day)

    async def shares(self, *, fresh: bool = False) -> None:
        """What each of several workers did: one hub does everything."""

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
