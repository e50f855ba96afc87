"""Fixtures for whole-system tests: an HTTP client and a registry that stops what tests start."""

import aiohttp
import pytest


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def procs():
    """Every process a test starts goes here and is stopped afterwards, newest first."""
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
