"""`retail-hub demo --postgresql`: the hub as two workers, `retail-hub run` processes w1 and w2,
sharing one PostgreSQL and one Mosquitto that the demo starts in its data folder
(docs/scale-out.md). The stores' events reach the workers through the broker's shared
subscription, each batch to one of them; whatever a worker applied, both answer for the whole
fleet, since the state is in the one database.

Files: `postgres/` (the server's), `mosquitto/`, `hub/` (admin-token, db-password) and
`hub/w1/`, `hub/w2/` (each worker's hub.toml, its MQTT password and its hub.log).
"""

import asyncio
import contextlib
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from demo import mosquitto, postgres, processes
from demo.mosquitto import Mosquitto
from demo.ports import port_or_free
from demo.postgres import PgServer
from hub.broker.credentials import new_password, write_secret
from protocol.topics import DEFAULT_PREFIX
from runtime.net import free_port

WORKERS = ("w1", "w2")
GROUP = "retail-hub"
DATABASE = "retail_hub"  # and its owner, the hub's role
PACKAGES = "apt-get install postgresql mosquitto"
APPLIED = re.compile(r"^hub_events_applied_total (\S+)$", re.MULTILINE)


def missing() -> str | None:
    """What this machine lacks for the demo (with the Debian packages to install), or None."""
    reasons = [r for r in (postgres.missing(), mosquitto.missing()) if r]
    if not reasons:
        return None
    return (f"--postgresql needs PostgreSQL and Mosquitto: {'; '.join(reasons)}. On Debian: "
            f"{PACKAGES}")


@dataclass(frozen=True)
class Shares:
    """What each worker did (ClusterHub.shares): events applied by worker id; batches taken in
    and the leader when the workers serve `GET /v1/workers`."""

    events: dict[str, int | None]
    batches: dict[str, int] = field(default_factory=dict)
    leader: str | None = None

    def brief(self) -> str:
        """For the line each second: " (w1 352, w2 348; w1 leads)"."""
        each = ", ".join(f"{name} {'?' if n is None else n}" for name, n in self.events.items())
        return f" ({each}{f'; {self.leader} leads' if self.leader else ''})"

    def summary(self) -> str:
        """For the end: the events each applied, and the batches each took in."""
        each = ", ".join(f"{name} {'?' if n is None else n}" for name, n in self.events.items())
        text = (f"the workers shared the fleet; events each applied: {each} "
                "(hub_events_applied_total in each one's /metrics)")
        if self.batches:
            took = ", ".join(f"{name} {n}" for name, n in self.batches.items())
            text += (f"; batches each took in: {took}, {self.leader or 'none'} leading "
                     "(GET /v1/workers)")
        return text


class ClusterFailed(Exception):
    """A part of the cluster did not start, or no worker answers; the message says which and
    where its log is."""


class Worker:
    """One `retail-hub run` process of the cluster."""

    def __init__(self, name: str, folder: Path, api_port: int) -> None:
        self.name = name
        self.folder = folder
        self.api_port = api_port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        with open(self.folder / "hub.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub", "run", "--config", str(self.folder / "hub.toml")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True)  # stopped by the demo, after the stores

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.folder / "hub.log").read_text(errors="replace")
                             .splitlines()[-lines:])
        except OSError:
            return ""

    def end(self) -> None:
        """SIGTERM (the hub stops cleanly), SIGKILL if it has not ended within 15 s."""
        processes.end(self.proc, 15)


class ClusterHub:
    """PostgreSQL, Mosquitto and the workers, in the demo's folder `folder`."""

    def __init__(self, folder: Path, api_port: int) -> None:
        self.folder = folder
        self.hub_dir = folder / "hub"
        self.config = self.hub_dir / WORKERS[0] / "hub.toml"
        self.api_port = api_port
        self.pg: PgServer | None = None
        self.pg_elsewhere: Path | None = None  # the server's folder when not below `folder`
        self.broker: Mosquitto | None = None
        self.workers: list[Worker] = []
        self._starting: asyncio.Future[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def stop_leftovers(self) -> None:
        """Stop a server an earlier demo left running (it was killed before it could stop it),
        before its folder is deleted; delete its folder in /tmp (see `_server`)."""
        old = self.folder / "postgres"
        postgres.stop_left_running(old)
        if old.is_symlink():
            shutil.rmtree(old.resolve(), ignore_errors=True)

    def configure(self, stores: dict[str, str], erp_section: str) -> str:
        """Write every config and secret (store id -> password for the broker); the URL the
        stores reach the broker at."""
        self.hub_dir.mkdir()
        write_secret(self.hub_dir / "admin-token", new_password())
        db_password = new_password()
        write_secret(self.hub_dir / "db-password", db_password)
        self.db_password = db_password
        self.pg = self._server(new_password())
        passwords = {f"hub-{name}": new_password() for name in WORKERS}
        self.broker = Mosquitto(self.folder / "mosquitto", stores=stores, workers=passwords,
                                group=GROUP, prefix=DEFAULT_PREFIX)
        self.broker.write()
        for n, name in enumerate(WORKERS):
            # --api-port 0 (any free port) gives each worker one of its own.
            port = port_or_free(self.api_port + n) if self.api_port else free_port()
            worker = Worker(name, self.hub_dir / name, port)
            worker.folder.mkdir()
            write_secret(worker.folder / "mqtt-password", passwords[f"hub-{name}"])
            (worker.folder / "hub.toml").write_text(
                'data_dir = "."\n'
                f'[broker]\nembedded = false\nurl = "{self.broker.url}"\nusername = "hub-{name}"\n'
                'password_file = "mqtt-password"\n'
                f'[api]\nlisten = "127.0.0.1:{worker.api_port}"\n'
                'admin_token_file = "../admin-token"\n'
                f'[storage]\nbackend = "postgresql"\nurl = "{self.database_url}"\n'
                'password_file = "../db-password"\n'
                f'[cluster]\nworker_id = "{name}"\nshared_group = "{GROUP}"\n' + erp_section)
            self.workers.append(worker)
        return self.broker.url

    def _server(self, password: str) -> PgServer:
        """The server, in `postgres/` below the demo's folder; as root, when the `postgres` user
        cannot reach that folder (one of its parents is root's alone), in a folder of /tmp that
        `postgres/` links to and the demo deletes when it stops."""
        wanted = self.folder / "postgres"
        server = PgServer(wanted, password=password)
        if server.usable():
            return server
        wanted.rmdir()
        self.pg_elsewhere = Path(tempfile.mkdtemp(prefix="retail-hub-demo-postgres-"))
        wanted.symlink_to(self.pg_elsewhere)
        return PgServer(self.pg_elsewhere, password=password)

    @property
    def database_url(self) -> str:
        assert self.pg is not None
        return f"postgresql://{DATABASE}@127.0.0.1:{self.pg.port}/{DATABASE}"

    async def start(self) -> None:
        """PostgreSQL, the schema, Mosquitto, then the workers; back once each answers."""
        self._starting = asyncio.get_running_loop().run_in_executor(None, self._start_parts)
        # Shielded: stopped while starting, stop() lets this finish so that it can stop it all.
        await asyncio.shield(self._starting)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        await asyncio.gather(*(self._answering(w) for w in self.workers))

    def _start_parts(self) -> None:
        assert self.pg is not None and self.broker is not None
        try:
            self.pg.start()
            self.pg.make_database(DATABASE, owner=DATABASE, password=self.db_password)
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            raise ClusterFailed(f"PostgreSQL did not start ({exc}); its log "
                              f"{self.pg.root / 'server.log'}:\n{self.pg.log_tail()}") from exc
        try:
            self.broker.start()
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            raise ClusterFailed(f"Mosquitto did not start: {exc}") from exc
        # The schema once, before the workers (as `retail-hub migrate` before `run` in production).
        done = subprocess.run([sys.executable, "-m", "hub", "migrate", "--config",
                               str(self.workers[0].folder / "hub.toml")],
                              check=False, capture_output=True, text=True, timeout=120,
                              start_new_session=True)
        if done.returncode != 0:
            raise ClusterFailed(f"retail-hub migrate failed ({done.returncode}): "
                              f"{done.stdout}{done.stderr}")
        for worker in self.workers:
            worker.start()

    async def _answering(self, worker: Worker, timeout: float = 60.0) -> None:
        assert self._http is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if worker.proc is not None and worker.proc.poll() is not None:
                raise ClusterFailed(f"worker {worker.name} exited ({worker.proc.returncode}); "
                                  f"{worker.folder / 'hub.log'}:\n{worker.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self._http.get(worker.url + "/healthz") as r:
                    if r.status == 200:
                        return
            if asyncio.get_running_loop().time() > deadline:
                raise ClusterFailed(f"worker {worker.name} did not answer within {timeout:.0f} s; "
                                  f"{worker.folder / 'hub.log'}:\n{worker.log_tail()}")
            await asyncio.sleep(0.1)

    def addresses(self) -> list[str]:
        assert self.pg is not None and self.broker is not None
        lines = [(f"PostgreSQL {self.pg.version()} at {self.database_url} (password in "
                  f"{self.hub_dir / 'db-password'}; files in {self.pg.root})"),
                 f"Mosquitto at {self.broker.url} (files in {self.broker.folder})"]
        for w in self.workers:
            lines.append(f"worker {w.name} dashboard {w.url}/ (admin token in "
                         f"{self.hub_dir / 'admin-token'}; log {w.folder / 'hub.log'})")
        return lines

    async def _get(self, path: str) -> Any:
        """`path` from the first worker that answers: each answers for the whole hub."""
        assert self._http is not None
        error: Exception | None = None
        for worker in self.workers:
            try:
                async with self._http.get(worker.url + path) as r:
                    r.raise_for_status()
                    return await r.json()
            except aiohttp.ClientResponseError as exc:
                if exc.status == 404:  # the same on every worker
                    raise ClusterFailed(f"the workers do not serve {path}") from exc
                error = exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = exc
        raise ClusterFailed(f"no worker answers {path}: {error}")

    async def stores(self) -> list[dict[str, Any]]:
        return list((await self._get("/v1/stores"))["stores"])

    async def posting_counts(self) -> dict[str, int]:
        return dict((await self._get("/v1/postings?limit=1"))["counts"])

    async def daily_summaries(self, day: dt.date) -> int:
        """How many stores' daily summaries of `day` the hub has made."""
        made = (await self._get(f"/v1/postings?business_day={day.isoformat()}&limit=1000"))
        return sum(1 for p in made["postings"] if p["kind"] == "daily_summary")

    async def reconcile(self, day: dt.date) -> dict[str, Any]:
        return dict(await self._get(f"/v1/reconciliation?day={day.isoformat()}"))

    async def shares(self, *, fresh: bool = False) -> "Shares":
        """What each worker did: the events it applied since it started
        (`hub_events_applied_total` in its /metrics) and, from a hub with `GET /v1/workers`,
        the batches it took in and which one leads. `fresh`: the workers' rows as written by a
        heartbeat after this call (each writes one every `cluster.heartbeat_s`), waited for up
        to 10 s."""
        assert self._http is not None
        http = self._http
        asked = dt.datetime.now(dt.UTC)

        async def events(worker: Worker) -> int | None:
            try:
                async with http.get(worker.url + "/metrics") as r:
                    found = APPLIED.search(await r.text())
            except (aiohttp.ClientError, TimeoutError):
                return None
            return int(float(found[1])) if found else None

        counts = await asyncio.gather(*(events(w) for w in self.workers))
        shares = Shares({w.name: n for w, n in zip(self.workers, counts, strict=True)})
        deadline = time.monotonic() + 10
        while True:
            try:
                listing = await self._get("/v1/workers")
            except ClusterFailed:
                return shares  # a hub without the workers table
            rows = {w["worker_id"]: w for w in listing["workers"] if not w["gone"]}
            beats = [dt.datetime.fromisoformat(r["heartbeat_at"]) for r in rows.values()]
            if not fresh or time.monotonic() > deadline or (
                    beats and min(beats) >= asked):
                break
            await asyncio.sleep(0.2)
        return Shares(shares.events, {name: int(rows[name]["batches_applied"])
                                      for name in shares.events if name in rows},
                      next((name for name in shares.events if rows.get(name, {}).get("leading")),
                           None))

    async def stop(self) -> None:
        """The workers (SIGTERM, waited for), then Mosquitto, then PostgreSQL."""
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        await asyncio.gather(*(asyncio.to_thread(w.end) for w in self.workers))
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
        if self.pg is not None:
            await asyncio.to_thread(self.pg.stop)
        if self.pg_elsewhere is not None:
            await asyncio.to_thread(shutil.rmtree, self.pg_elsewhere, True)

