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
