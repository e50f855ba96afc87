"""Real processes for whole-system tests: retail-hub, edge-agent, and a private Mosquitto."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from hub.broker.credentials import new_password, set_password, write_secret
from runtime.net import free_port
from tests.conftest import wait_for
from tests.integration.tls import TestCa

REPO = Path(__file__).resolve().parents[2]


class Proc:
    """A child process whose output goes to a log file we can show when a test fails."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}  # more environment for the child (RETAIL_SYNC_CLOCK_START)

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        out.close()

    def kill(self) -> None:
        """SIGKILL: no chance to flush or say goodbye, like a power cut for the process."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


class Mosquitto(Proc):
    """A private Mosquitto on a free port, configured like packaging/mosquitto/retail-hub.conf."""

    def __init__(self, root: Path, users: dict[str, str], tls: TestCa | None = None,
                 require_client_cert: bool = False) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        passwd = root / "passwd"
        # Plain "user:password" lines, then hashed in place by one mosquitto_passwd run.
        passwd.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
        subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True)
        template = (REPO / "packaging/mosquitto/retail-hub.conf").read_text()
        conf = (template.replace("/var/lib/mosquitto/", f"{root}/")
                .replace("/etc/mosquitto/retail-hub.passwd", str(passwd))
                .replace("/etc/mosquitto/retail-hub.acl", str(REPO / "packaging/mosquitto/retail-hub.acl"))
                .replace("listener 1883", f"listener {self.port} 127.0.0.1"))
        if tls is not None:
            # The shipped TLS listener, pointed at the test's CA and files.
            conf += "\n" + ((REPO / "packaging/mosquitto/retail-hub-tls.conf").read_text()
                            .replace("listener 8883", f"listener {self.tls_port} 127.0.0.1")
                            .replace("/etc/mosquitto/certs/broker.crt", str(tls.cert_file))
                            .replace("/etc/mosquitto/certs/broker.key", str(tls.key_file))
                            .replace("/etc/mosquitto/certs/ca.crt", str(tls.ca_file))
                            .replace("require_certificate false",
                                     f"require_certificate {str(require_client_cert).lower()}"))
        if os.geteuid() == 0:
            conf += "\nuser root\n"
        (root / "mosquitto.conf").write_text(conf)
        super().__init__(["mosquitto", "-c", str(root / "mosquitto.conf")], root / "mosquitto.log")

    @property
    def url(self) -> str:
        if self.tls_port:
            return f"mqtts://127.0.0.1:{self.tls_port}"
        return f"mqtt://127.0.0.1:{self.port}"

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("mosquitto") and shutil.which("mosquitto_passwd"))


class HubProc(Proc):
    def __init__(self, root: Path, stores: list[str], mosquitto_root: Path | None = None,
                 extra: str = "", store_password: str | None = None, tls: TestCa | None = None,
                 require_client_cert: bool = False, ingest: str = "",
                 storage: str | None = None) -> None:
        """`extra`: more TOML (whole sections) for the hub's config, e.g. `[erp]`;
        `ingest`: more keys (lines) for its `[ingest]` table;
        `store_password`: one password for every store (benchmarks with many stores);
        `tls`: stores reach the broker over mqtts:// with certificates from this CA;
        `storage`: a postgresql:// URL to keep the hub's state in (default: SQLite in data)."""
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.storage = storage
        self.tls = tls
        self.api_port = free_port()
        self.broker_port = free_port()
        self.tls_port = free_port() if tls else None
        self.passwords = {s: store_password or new_password() for s in stores}
        self.mosquitto: Mosquitto | None = None
        broker = (f'embedded = true\nlisten = "127.0.0.1:{self.broker_port}"\n'
                  'users_file = "mqtt-users"\n')
        if tls is not None:
            broker += (f'tls_listen = "127.0.0.1:{self.tls_port}"\n'
                       f'tls_cert_file = "{tls.cert_file}"\ntls_key_file = "{tls.key_file}"\n'
                       f'tls_client_ca_file = "{tls.ca_file}"\n'
                       f"tls_require_client_cert = {str(require_client_cert).lower()}\n")
        self.hub_password = ""
        if mosquitto_root is not None:
            hub_password = self.hub_password = new_password()
            write_secret(root / "hub-password", hub_password)
            self.mosquitto = Mosquitto(mosquitto_root, {"hub": hub_password, **self.passwords},
                                       tls=tls, require_client_cert=require_client_cert)
            self.broker_port = self.mosquitto.port
            broker = (f'embedded = false\nurl = "{self.mosquitto.url}"\n'
                      'password_file = "hub-password"\n')
            if tls is not None:
                broker += f'ca_file = "{tls.ca_file}"\n'
                if require_client_cert:
                    cert, key = tls.client("hub")
                    broker += f'cert_file = "{cert}"\nkey_file = "{key}"\n'
        else:
            for store, password in self.passwords.items():
                set_password(root / "mqtt-users", store, password)
        self.admin_token = new_password()
        write_secret(root / "admin-token", self.admin_token)
        (root / "hub.toml").write_text(
            f'data_dir = "data"\n[broker]\n{broker}[api]\nlisten = "127.0.0.1:{self.api_port}"\n'
            'admin_token_file = "admin-token"\n'
            "[ingest]\nreplay_min_interval_s = 0.5\n" + ingest + extra
            + (f'[storage]\nbackend = "postgresql"\nurl = "{storage}"\n' if storage else "")
        )
        super().__init__([sys.executable, "-m", "hub", "run", "--config", str(root / "hub.toml")],
                         root / "hub.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def admin(self) -> dict[str, str]:
        """Headers for the hub's actions (retry, resubmit)."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def broker_url(self) -> str:
        """Where stores connect."""
        if self.mosquitto:
            return self.mosquitto.url
        if self.tls_port:
            return f"mqtts://127.0.0.1:{self.tls_port}"
        return f"mqtt://127.0.0.1:{self.broker_port}"

    @property
    def db(self) -> Path:
        """The SQLite backend's file."""
        return self.root / "data" / "hub.sqlite"

    @property
    def database(self) -> Path | str:
        """Where the hub keeps its state: its SQLite file, or its PostgreSQL URL."""
        return self.storage or self.db

    async def get(self, http: aiohttp.ClientSession, path: str) -> Any:
        async with http.get(self.url + path) as r:
            return await r.json()

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 30) -> None:
        async def up() -> bool:
            if not self.running:
                raise AssertionError(f"hub exited:\n{self.tail()}")
            try:
                async with http.get(self.url + "/healthz") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(up, timeout, "hub /healthz")
        if not self.hub_password and (self.root / "data" / "hub-mqtt-password").exists():
            self.hub_password = (self.root / "data" / "hub-mqtt-password").read_text().strip()


class AgentProc(Proc):
    def __init__(self, root: Path, store_id: str, hub: HubProc, ack_timeout_s: float = 2.0,
                 mqtt_extra: str | None = None) -> None:
        """`mqtt_extra`: TOML lines for [mqtt]; by default, with a TLS hub, the test CA's file."""
        root.mkdir(parents=True, exist_ok=True)
        if mqtt_extra is None:
            mqtt_extra = f'ca_file = "{hub.tls.ca_file}"\n' if hub.tls else ""
        self.root = root
        self.store_id = store_id
        self.api_port = free_port()
        write_secret(root / "mqtt-password", hub.passwords[store_id])
        (root / "agent.toml").write_text(
            f'store_id = "{store_id}"\ndata_dir = "data"\n'
            f'[api]\nlisten = "127.0.0.1:{self.api_port}"\n'
            f'[mqtt]\nurl = "{hub.broker_url}"\nusername = "{store_id}"\n'
            'password_file = "mqtt-password"\n' + mqtt_extra +
            f"[forwarder]\nack_timeout_s = {ack_timeout_s}\nreconnect_max_s = 1.0\n"
            "state_interval_s = 1.0\n"
        )
        super().__init__([sys.executable, "-m", "edge_agent", "run", "--config",
                          str(root / "agent.toml")], root / "agent.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def outbox(self) -> Path:
        return self.root / "data" / "outbox.sqlite"

    async def health(self, http: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with http.get(self.url + "/healthz") as r:
                return dict(await r.json())
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 30) -> None:
        async def up() -> bool:
            if not self.running:
                raise AssertionError(f"agent exited:\n{self.tail()}")
            return await self.health(http) is not None

        await wait_for(up, timeout, f"agent {self.store_id} /healthz")
