"""Password guessing at the embedded broker: throttled, logged once, and no store ids by timing."""

import statistics
import time

import aiomqtt
import pytest

from hub.broker.credentials import new_password
from tests.conftest import wait_for
from tests.integration.helpers import start
from tests.integration.procs import HubProc

pytestmark = pytest.mark.integration


@pytest.fixture
async def hub(tmp_path, http, procs):
    hub = start(procs, HubProc(tmp_path / "hub", ["S001", "S002", "S003"]))
    await hub.ready(http)
    return hub


async def login(hub: HubProc, user: str, password: str) -> float | None:
    """Seconds until a refusal, or None if the login succeeded."""
    began = time.perf_counter()
    try:
        async with aiomqtt.Client("127.0.0.1", hub.broker_port, username=user, password=password,
                                  identifier=user, timeout=10):
            return None
    except aiomqtt.MqttError:
        return time.perf_counter() - began


def broker_warnings(hub: HubProc) -> list[str]:
    return [line for line in hub.log.read_text().splitlines()
            if " WARNING " in line and "login" in line]


async def test_wrong_passwords_are_throttled_and_logged_once_per_state_change(hub):
    began = time.monotonic()
    for _ in range(300):
        assert await login(hub, "S001", "guess-" + new_password()) is not None
    guessing = time.monotonic() - began
    # Throttled, even the right password is refused for a while; then it gets in again.
    assert await login(hub, "S001", hub.passwords["S001"]) is not None

    async def right_password_works() -> bool:
        return await login(hub, "S001", hub.passwords["S001"]) is None

    await wait_for(right_password_works, 30, "the right password to work after the backoff",
                   interval=0.5)
    lines = broker_warnings(hub)
    assert 1 <= len(lines) <= 4, "\n".join(lines[:10])
    assert any("throttled" in line for line in lines), lines
    # Other stores are not locked out by S001's guesser once its address backoff has passed.
    assert await login(hub, "S002", hub.passwords["S002"]) is None
    print(f"300 wrong passwords in {guessing:.1f} s, {len(lines)} WARNING lines")


async def test_an_unknown_user_is_refused_as_slowly_as_a_wrong_password(hub):
    """Below every throttle (4 tries per store, 19 from the address), so each try is checked."""
    unknown: list[float] = []
    wrong: list[float] = []
    for n in range(4):
        for store in ("S002", "S003"):
            wrong.append(await login(hub, store, "guess-" + new_password()) or 0.0)
            unknown.append(await login(hub, f"Z{n}{store}", "guess-" + new_password()) or 0.0)
    ratio = statistics.median(unknown) / statistics.median(wrong)
    print(f"median refusal: unknown user {statistics.median(unknown) * 1000:.1f} ms, "
          f"wrong password {statistics.median(wrong) * 1000:.1f} ms")
    assert ratio > 0.6, f"unknown users are refused {1 / ratio:.1f}x faster: store ids leak"
