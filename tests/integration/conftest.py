"""Fixtures for whole-system tests: an HTTP client, a registry that stops what tests start, a hub
on either broker, an HTTP ERP, a Tryton."""

import aiohttp
import pytest

from tests.integration.helpers import start
from tests.integration.procs import HubProc, Mosquitto


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def procs(request):
    """Every process a test starts goes here and is stopped afterwards, newest first (and before
    the test's PostgreSQL database, if it has one, is dropped)."""
    if "storage" in request.fixturenames:
        request.getfixturevalue("storage")
    started: list = []
    yield started
    for p in reversed(started):
        p.stop()


@pytest.fixture(scope="session")
def tryton_template(tmp_path_factory):
    """A Tryton database ready to post to (about 20 s, once per test run)."""
    from tests.integration.tryton_erp import build_template

    return build_template(tmp_path_factory.mktemp("tryton-template"))


@pytest.fixture(scope="module")
def tryton(tryton_template, tmp_path_factory):
    """A running trytond on a fresh copy of the template, shared by one test module."""
    from tryton_retail_sync.server import TrytonServer

    server = TrytonServer(tryton_template, tmp_path_factory.mktemp("tryton"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def erp():
    """A fault-injecting HTTP ERP (tests.erp_server.FakeErp) in this process."""
    from tests.erp_server import FakeErp

    server = await FakeErp().start()
    yield server
    await server.stop()


@pytest.fixture(params=["embedded", "mosquitto"])
async def hub(request, tmp_path, http, procs):
    """A running hub knowing S001-S003, once on its embedded broker and once on Mosquitto
    (skipped where Mosquitto is absent). A module may define its own `hub` instead."""
    if request.param == "mosquitto" and not Mosquitto.available():
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    mosq = tmp_path / "mosquitto" if request.param == "mosquitto" else None
    hub = HubProc(tmp_path / "hub", ["S001", "S002", "S003"], mosquitto_root=mosq)
    if hub.mosquitto:
        start(procs, hub.mosquitto)
    start(procs, hub)
    await hub.ready(http)
    return hub
