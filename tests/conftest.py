"""Shared test helpers: waiting on conditions with a deadline (never fixed sleeps); the private
PostgreSQL server and a database per test; `storage`, a test's hub database on either backend."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


async def wait_for(check: Callable[[], Awaitable[T]], timeout: float = 30.0,
                   message: str = "condition", interval: float = 0.05) -> T:
    """Poll `check` until it returns a truthy value; fail with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}; last: {last!r}")
        await asyncio.sleep(interval)


@pytest.fixture(scope="session")
def pg_server():
    """This test session's own PostgreSQL server (tests/postgres.py); skipped without one."""
    from tests.postgres import PgServer, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql, or set "
                    "PG_BIN to the folder holding initdb and pg_ctl)")
    server = PgServer()
    try:
        server.start()
        server.make_template()
    except Exception:
        print(server.log_tail())
        server.remove()
        raise
    yield server
    server.remove()


@pytest.fixture
def pg_url(pg_server):
    """The URL of a new database on the session's server, migrated to the newest schema."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request) -> str | None:
    """Parametrizes a test over both backends: None for SQLite (the hub's file in its data_dir),
    or the URL of a new PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return None
