"""Run trytond on a copy of a built database (see `database.build`), for the demo and the tests."""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tryton_retail_sync.database import DB, config_text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TrytonServer:
    """`trytond -c <conf> -d <db>` on 127.0.0.1, its database copied from `template` into `workdir`.

    The copy is made only when `workdir` has no database yet, so a restarted demo keeps its data.
    """

    def __init__(self, template: Path, workdir: Path, port: int | None = None, db: str = DB) -> None:
        self.template = template
        self.workdir = workdir
        self.db = db
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def hub_password_file(self) -> Path:
        return self.workdir / "hub-password"

    def start(self, timeout: float = 60.0) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        target = self.workdir / f"{self.db}.sqlite"
        if not target.exists():
            # Only the main file: a stale -wal beside a copy would bring back old rows.
            shutil.copyfile(self.template / f"{self.db}.sqlite", target)
            shutil.copyfile(self.template / "hub-password", self.hub_password_file)
        self.hub_password_file.chmod(0o600)  # the hub refuses a secret file others can read
        conf = self.workdir / "trytond.conf"
        conf.write_text(config_text(self.workdir, self.port))
        log = (self.workdir / "trytond.log").open("ab")
        trytond = Path(sys.executable).parent / "trytond"
        # A session of its own: its owner stops it (stop()); a terminal's Ctrl-C to the whole
        # foreground group must not take it away first (the demo closes its day on Ctrl-C).
        self.proc = subprocess.Popen([str(trytond), "-c", str(conf), "-d", self.db],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"trytond exited ({self.proc.returncode}); see "
                                   f"{self.workdir / 'trytond.log'}")
            if self._answers():
                return self.url
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"trytond did not answer on {self.url} within {timeout:.0f}s")

    def _answers(self) -> bool:
        body = json.dumps({"id": 0, "method": "common.server.version", "params": []}).encode()
        request = urllib.request.Request(f"{self.url}/{self.db}/rpc/", body,
                                         {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers (401 without a session): the server is up
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
