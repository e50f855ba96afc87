"""The demo's own Mosquitto: a config it writes (as packaging/mosquitto/retail-hub.conf and
retail-hub.acl set up a real one, docs/mosquitto.md), on a free port of 127.0.0.1 only.

Every hub worker logs in with a username of its own: the listener keys each session by username
(`use_username_as_clientid`), so two workers sharing one would take each other's session over.
Each may use the hub's topics and its share of the stores' events (`$share/<group>/...`).
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from demo import processes
from runtime.net import free_port


def _program(name: str) -> str | None:
    # Debian puts the broker in /usr/sbin, which a user's PATH often leaves out.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def missing() -> str | None:
    """Why no Mosquitto can be started here (one sentence), or None when one can."""
    absent = [p for p in ("mosquitto", "mosquitto_passwd") if _program(p) is None]
    if absent:
        return f"{' and '.join(absent)} not found"
    return None


class Mosquitto:
    """Mosquitto in `folder` (config, password file, ACL, log, persistence): `stores` and
    `workers` are username -> password; `group` is the workers' shared subscription."""

    def __init__(self, folder: Path, *, stores: dict[str, str], workers: dict[str, str],
                 group: str, prefix: str) -> None:
        self.folder = folder
        self.port = free_port()
        self.stores = stores
        self.workers = workers
        self.group = group
        self.prefix = prefix
        self.conf = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write(self) -> None:
        """The password file (hashed by mosquitto_passwd), the ACL and the config."""
        self.folder.mkdir(parents=True, exist_ok=True)
        passwd = self.folder / "passwd"
        fd = os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:  # plain "user:password" lines, hashed in place below
            f.writelines(f"{user}:{password}\n"
                         for user, password in {**self.workers, **self.stores}.items())
        subprocess.run([_program("mosquitto_passwd") or "mosquitto_passwd", "-U", str(passwd)],
                       check=True, capture_output=True, timeout=60)
        p = self.prefix
        # Mosquitto 2.0.11 checks a shared subscription against its filter alone (the `#` line
        # lets the workers take it); the `$share` line is kept in case a broker checks that name.
        acl = "".join(f"user {worker}\ntopic readwrite {p}/#\n"
                      f"topic read $share/{self.group}/{p}/stores/+/events\n\n"
                      for worker in self.workers)
        acl += "".join(f"pattern {rule}\n" for rule in (
            f"write {p}/stores/%u/events", f"write {p}/stores/%u/state",
            f"write {p}/stores/%u/catalog-ack", f"read {p}/stores/%u/ack",
            f"read {p}/stores/%u/control", f"read {p}/stores/%u/catalog", f"read {p}/hub/state"))
        (self.folder / "acl").write_text(acl)
        self.conf.write_text(
            "per_listener_settings false\n"
            f"persistence true\npersistence_location {self.folder}/\nautosave_interval 30\n"
            # As packaging/mosquitto/retail-hub.conf: no silent drops to a slow subscriber.
            "max_queued_messages 0\nmax_queued_bytes 0\n"
            f"allow_anonymous false\npassword_file {passwd}\nacl_file {self.folder / 'acl'}\n"
            f"listener {self.port} 127.0.0.1\nuse_username_as_clientid true\n"
            # As root Mosquitto would drop to its own user, who cannot read these files.
            + ("user root\n" if os.geteuid() == 0 else ""))

    def start(self, timeout: float = 15.0) -> None:
        """Start it in a session of its own (its owner stops it, not a terminal's Ctrl-C) and
        wait until it takes connections."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([_program("mosquitto") or "mosquitto", "-c",
                                          str(self.conf)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start ({self.proc.returncode}); see "
                                   f"{self.log}:\n{self.log_tail()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not listen within {timeout:.0f} s; see {self.log}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (it saves its persistence file), SIGKILL if it has not ended within 10 s."""
        processes.end(self.proc, 10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
