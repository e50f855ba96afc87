"""Several `retail-hub run` workers forming one hub (issue 16 phase B): one PostgreSQL database,
one private Mosquitto, `[cluster] shared_group` in every worker's config. For whole-system tests
(test_cluster_chaos.py) and benchmarks (bench.cluster).

Each worker has its own data_dir, API port, `worker_id` and MQTT username `hub-<worker_id>`:
the shipped Mosquitto config (packaging/mosquitto/retail-hub.conf) sets
`use_username_as_clientid true`, so workers logging in under one username would take each
other's connection over ("Client hub already connected, closing old connection") and never hold
the shared subscription together. The ACL gives each worker's username what the shipped ACL
gives `hub`.
"""

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from hub.broker.credentials import new_password, write_secret
from runtime.net import free_port
from tests.conftest import wait_for
from tests.integration.procs import REPO, Mosquitto, Proc
from tests.integration.tills import Till


def username(worker_id: str) -> str:
    """A worker's MQTT username (its own: see the module's docstring)."""
    return f"hub-{worker_id}"


class ClusterMosquitto(Mosquitto):
    """procs.Mosquitto as shipped, with the shipped ACL plus one `user` block per worker."""

    def __init__(self, root: Path, users: dict[str, str], workers: list[str]) -> None:
        super().__init__(root, users)
        shipped = REPO / "packaging/mosquitto/retail-hub.acl"
        acl = root / "retail-hub.acl"
        acl.write_text(shipped.read_text() + "".join(
            f"\nuser {user}\ntopic readwrite retail/v1/#\n" for user in workers))
        conf = root / "mosquitto.conf"
        conf.write_text(conf.read_text().replace(str(shipped), str(acl)))


class WorkerProc(Proc):
    """One hub worker: `retail-hub run` with `[cluster] worker_id` and `shared_group`."""

    def __init__(self, root: Path, worker_id: str, *, broker_url: str, password: str,
                 storage: str, group: str, extra: str = "", ingest: str = "") -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.worker_id = worker_id
        self.username = username(worker_id)
        write_secret(root / "hub-password", password)
        self.admin_token = new_password()
        write_secret(root / "admin-token", self.admin_token)
        self.api_port = free_port()
        (root / "hub.toml").write_text(
            f'data_dir = "data"\n[broker]\nembedded = false\nurl = "{broker_url}"\n'
            f'username = "{self.username}"\npassword_file = "hub-password"\n'
            f'[api]\nlisten = "127.0.0.1:{self.api_port}"\nadmin_token_file = "admin-token"\n'
            "[ingest]\nreplay_min_interval_s = 0.5\n" + ingest
            + f'[storage]\nbackend = "postgresql"\nurl = "{storage}"\n'
            f'[cluster]\nworker_id = "{worker_id}"\nshared_group = "{group}"\n' + extra)
        super().__init__([sys.executable, "-m", "hub", "run", "--config", str(root / "hub.toml")],
                         root / "hub.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 30) -> None:
        async def up() -> bool:
            if not self.running:
                raise AssertionError(f"worker {self.worker_id} exited:\n{self.tail()}")
            try:
                async with http.get(self.url + "/healthz") as r:
                    return r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        await wait_for(up, timeout, f"worker {self.worker_id} /healthz")


class Cluster:
    """`workers` hub workers on the database at `storage`, one Mosquitto, knowing `stores`.

    It offers what AgentProc needs of a hub (`broker_url`, `passwords`, `tls`), so agents are
    made as for one hub: `AgentProc(root, store, cluster)`. `extra`: more TOML sections for
    every worker (e.g. `[erp]`)."""

    def __init__(self, root: Path, stores: list[str], storage: str, workers: int = 3,
                 extra: str = "", group: str = "hub", ingest: str = "",
                 store_password: str | None = None) -> None:
        self.root = root
        self.storage = storage
        self.tls = None
        self.passwords = {s: store_password or new_password() for s in stores}
        ids = [f"w{n}" for n in range(1, workers + 1)]
        hub_passwords = {username(w): new_password() for w in ids}
        self.mosquitto = ClusterMosquitto(root / "mosquitto", {**self.passwords, **hub_passwords},
                                          list(hub_passwords))
        self.workers = [WorkerProc(root / w, w, broker_url=self.mosquitto.url,
                                   password=hub_passwords[username(w)], storage=storage,
                                   group=group, extra=extra, ingest=ingest) for w in ids]

    @property
    def broker_url(self) -> str:
        return self.mosquitto.url

    @property
    def database(self) -> str:
        return self.storage

    def start(self, procs: list) -> None:  # type: ignore[type-arg]
        """Start the broker and every worker, each into `procs` (stopped by the fixture)."""
        for p in (self.mosquitto, *self.workers):
            p.start()
            procs.append(p)

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 30) -> None:
        for w in self.workers:
            await w.ready(http, timeout)

    def running(self) -> list[WorkerProc]:
        return [w for w in self.workers if w.running]

    async def get(self, http: aiohttp.ClientSession, path: str) -> Any:
        """GET `path` from the first worker that answers (any worker reads the one database)."""
        last: BaseException | None = None
        for w in self.running():
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(w.url + path) as r:
                    if r.status == 200:
                        return await r.json()
                    last = AssertionError(f"{w.worker_id} {path}: {r.status} {await r.text()}")
        raise AssertionError(f"no worker answered {path}: {last!r}")

    def tails(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.log.name} of {p.log.parent.name}\n{p.tail(lines)}"
                         for p in (*self.workers, self.mosquitto))


async def sell_paced(till: Till, http: aiohttp.ClientSession, stop: asyncio.Event,
                     per_s: float) -> None:
    """Sell at about `per_s` sales a second until `stop` (each sale retried until a 2xx)."""
    start = time.monotonic()
    n = 0
    while not stop.is_set():
        await till.sell(http, stop)
        n += 1
        await asyncio.sleep(max(0.0, start + n / per_s - time.monotonic()))
