"""A private PostgreSQL server for tests (and benchmarks), the way tests start their Mosquitto:
initdb into a temporary folder, pg_ctl on a free port of 127.0.0.1, its socket in that folder.
Never the machine's own server on 5432.

As root, initdb refuses to run: the folder then belongs to the `postgres` user and every server
command runs as it (`runuser -u postgres --`). Databases for tests are made from a template that
is already migrated, which takes a few tens of milliseconds.
"""

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from hub.storage.postgres.connection import PgConnection, Target
from hub.storage.postgres.schema import migrate
from runtime.net import free_port

TEMPLATE = "hub_template"
_names = itertools.count(1)


def binaries() -> Path | None:
    """The folder with initdb and pg_ctl: $PG_BIN, Debian's newest /usr/lib/postgresql/N/bin,
    or the PATH's."""
    candidates = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted((p for p in debian.iterdir() if p.name.isdigit()),
                          key=lambda p: int(p.name), reverse=True)
        candidates += [v / "bin" for v in versions]
    if shutil.which("pg_ctl"):
        candidates.append(Path(shutil.which("pg_ctl") or "").resolve().parent)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


class PgServer:
    """One PostgreSQL server of our own. `fsync=False` (tests): a stopped or killed server loses
    nothing it committed (only a crash of the machine would), and runs faster."""

    def __init__(self, *, fsync: bool = False) -> None:
        found = binaries()
        if found is None:
            raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
        self.bin = found
        self.root = Path(tempfile.mkdtemp(prefix="retail-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.fsync = fsync
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        return subprocess.run([*prefix, *argv], check=True, capture_output=True, text=True,
                              timeout=120)

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")

    def start(self) -> None:
        """Start the server (initdb first, the first time) and wait until it answers."""
        if not self.data.exists():
            self.init()
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
                   f" -c fsync={'on' if self.fsync else 'off'} -c max_connections=300")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                  "-l", str(self.root / "server.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` rolls back open transactions and stops cleanly; `immediate` is a crash."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        return subprocess.run([*prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
                              capture_output=True, timeout=60).returncode == 0

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self) -> "psycopg.Connection[tuple[object, ...]]":
        return psycopg.connect(self.url(), autocommit=True)

    def make_template(self) -> None:
        """The database every test's database is copied from: migrated to the newest schema."""
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        hub = PgConnection(Target(self.url(TEMPLATE)))
        hub.ensure()
        try:
            migrate(hub)
        finally:
            hub.close()

    def create_database(self, *, migrated: bool = True) -> str:
        """A new database (from the migrated template, or empty); its name."""
        name = f"t{os.getpid()}_{next(_names)}"
        template = TEMPLATE if migrated else "template0"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "server.log").read_text(errors="replace")
                             .splitlines()[-lines:])
        return ""
