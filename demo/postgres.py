"""A private PostgreSQL server in a folder of its own: `initdb` there, then `pg_ctl` on a free port
of 127.0.0.1 only. `retail-hub demo --postgresql` starts one, and so do the tests (tests/postgres.py);
never the machine's own server on 5432.

As root, initdb refuses to run: the folder then belongs to the `postgres` user (the Debian
package makes it) and every server command runs as it (`runuser -u postgres --`). The server
makes no Unix socket (clients come over TCP), so a long folder path cannot stop it.
"""

import contextlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from runtime.net import free_port

SUPERUSER = "postgres"


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


def missing() -> str | None:
    """Why no server can be started here (one sentence), or None when one can."""
    if binaries() is None:
        return ("no PostgreSQL server programs (initdb, pg_ctl) found (PG_BIN may name the "
                "folder holding them)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return (f"as root the server must run as the `{SUPERUSER}` user, and there is none "
                    "(the postgresql package makes it)")
        if shutil.which("runuser") is None:
            return "as root the server is started with runuser, which is not installed"
    return None


def server_env() -> dict[str, str]:
    """Our environment without a faked clock (libfaketime's LD_PRELOAD and FAKETIME, with which
    the tests run on another day): a database server keeps its own clock, as it would on its
    own machine, and under a faked one its timers (deadlock_timeout) never fire."""
    return {k: v for k, v in os.environ.items()
            if k != "LD_PRELOAD" and not k.startswith(("FAKETIME", "DONT_FAKE", "FAKE_"))}


def stop_left_running(root: Path) -> None:
    """Stop a server still running in `root` (its owner was killed before it could stop it),
    as a crash would: for a folder about to be deleted."""
    found = binaries()
    data = root.resolve() / "data"  # the server's user may not pass where a link to it is
    if found is None or not (data / "postmaster.pid").exists():
        return
    prefix = ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, str(found / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                    "stop"], check=False, capture_output=True, timeout=120, start_new_session=True,
                   env=server_env())


class PgServer:
    """One PostgreSQL server of our own in `root`: its files in `root/data`, its log in
    `root/server.log`. With `password`, the superuser `postgres` logs in with it (scram);
    without, anyone on this machine may log in over 127.0.0.1 (tests). `fsync=False` (tests):
    a stopped or killed server loses nothing it committed, only a crash of the machine would."""

    def __init__(self, root: Path, *, port: int | None = None, fsync: bool = True,
                 password: str | None = None) -> None:
        found = binaries()
        if found is None:
            raise RuntimeError(missing())
        self.bin = found
        self.root = root
        self.data = root / "data"
        self.port = port or free_port()
        self.fsync = fsync
        self.password = password
        self._as_postgres = os.geteuid() == 0
        root.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(root, SUPERUSER, SUPERUSER)

    def _prefix(self) -> list[str]:
        return ["runuser", "-u", SUPERUSER, "--"] if self._as_postgres else []

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        # A session of its own: the server pg_ctl leaves running is stopped by its owner, not by
        # a terminal's Ctrl-C to the whole foreground group.
        return subprocess.run([*self._prefix(), *argv], check=True, capture_output=True,
                              text=True, timeout=120, start_new_session=True, env=server_env())

    def usable(self) -> bool:
        """Whether the server's user can write `root` (as root: a folder below one only root
        may enter, such as pytest's, is not)."""
        if not self._as_postgres:
            return True
        return subprocess.run([*self._prefix(), "test", "-w", str(self.root), "-a", "-x",
                               str(self.root)], check=False, capture_output=True,
                              timeout=60).returncode == 0

    def init(self) -> None:
        argv = [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8",
                "--locale=C"]
        if not self.fsync:
            argv.append("--no-sync")
        if self.password is None:
            self._run(*argv, "-A", "trust")
            return
        pwfile = self.root / "initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, SUPERUSER, SUPERUSER)
        try:
            self._run(*argv, "-A", "scram-sha-256", f"--pwfile={pwfile}")
        finally:
            pwfile.unlink()

    def start(self) -> None:
        """Start the server (initdb first, the first time) and wait until it answers."""
        if not self.data.exists():
            self.init()
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
                   f" -c fsync={'on' if self.fsync else 'off'} -c max_connections=300")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                  "-l", str(self.root / "server.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` rolls back open transactions and stops cleanly; `immediate` is a crash."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return subprocess.run([*self._prefix(), str(self.bin / "pg_ctl"), "-D", str(self.data),
                               "status"], check=False, capture_output=True,
                              timeout=60).returncode == 0

    def version(self) -> str:
        """The server's major version, as its data folder records it."""
        with contextlib.suppress(OSError):
            return (self.data / "PG_VERSION").read_text().strip()
        return "?"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> "psycopg.Connection[tuple[object, ...]]":
        """A connection as the superuser to the `postgres` database, each statement its own."""
        return psycopg.connect(self.url(), password=self.password, autocommit=True)

    def make_database(self, name: str, *, owner: str, password: str) -> None:
        """An empty database owned by a new role `owner` that logs in with `password`, sorting
        text as SQLite does (docs/scale-out.md: createuser, createdb)."""
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' LC_COLLATE 'C' "
                                 "LC_CTYPE 'C' TEMPLATE template0").format(
                sql.Identifier(name), sql.Identifier(owner)))

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "server.log").read_text(errors="replace")
                             .splitlines()[-lines:])
        return ""
