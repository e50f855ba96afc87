"""The test session's PostgreSQL server (and the benchmarks'): demo.postgres's private server in
a temporary folder, without fsync, with a migrated template every test's database is copied from
(a few tens of milliseconds each). Never the machine's own server on 5432.
"""

import itertools
import os
import shutil
import tempfile
from pathlib import Path

from demo import postgres
from demo.postgres import binaries
from hub.storage.postgres.connection import PgConnection, Target
from hub.storage.postgres.schema import migrate

__all__ = ["PgServer", "binaries"]

TEMPLATE = "hub_template"
_names = itertools.count(1)


class PgServer(postgres.PgServer):
    """A server of the tests' own, in a temporary folder `remove()` deletes; anyone on this
    machine may log in over 127.0.0.1 (trust)."""

    def __init__(self, *, fsync: bool = False) -> None:
        if binaries() is None:
            raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
        super().__init__(Path(tempfile.mkdtemp(prefix="retail-pg-")), fsync=fsync)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

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
