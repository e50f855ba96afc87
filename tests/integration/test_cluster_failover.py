"""A worker that dies with a store's batch in hand (hub.ingest.peers): the broker publishes its
last will, the other worker asks the store to send again at once, and the batch is applied
within seconds, long before the store's own ack timeout would have sent it again.

Worker w2 is frozen (SIGSTOP) so that what the broker hands it stays there; sales are made one
at a time until one does not reach the hub (it went to w2); then w2 is SIGKILLed. The store's
ack timeout is 60 s, so only the replay the last will sets off can bring that sale in within
the test's 20 s."""

import os
import signal
import time

import pytest

from tests.conftest import wait_for
from tests.integration.cluster import Cluster
from tests.integration.procs import AgentProc, Mosquitto
from tests.integration.tills import Till, hub_transactions

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not Mosquitto.available(),
                       reason="mosquitto is not installed (apt-get install mosquitto)"),
]

ACK_TIMEOUT_S = 60.0


async def test_a_killed_workers_batch_is_sent_again_at_its_last_will(tmp_path, http, pg_url,
                                                                      procs):
    cluster = Cluster(tmp_path, ["S001"], pg_url, workers=2)
    cluster.start(procs)
    await cluster.ready(http)
    agent = AgentProc(tmp_path / "S001", "S001", cluster,  # type: ignore[arg-type]
                      ack_timeout_s=ACK_TIMEOUT_S)
    agent.start()
    procs.append(agent)
    await agent.ready(http)
    till = Till(agent.url)
    await till.sell(http)

    async def in_hub(count: int) -> bool:
        return len(hub_transactions(pg_url, "S001")) >= count
    await wait_for(lambda: in_hub(1), 30, "the first sale to reach the hub")

    w1, w2 = cluster.workers
    assert w2.pid is not None
    os.kill(w2.pid, signal.SIGSTOP)  # what the broker hands w2 now stays with it
    stuck = None
    for _ in range(20):  # each sale goes to w1 or w2: one will go to w2
        await till.sell(http)
        want = len(till.accepted)
        try:
            await wait_for(lambda: in_hub(want), 1.5, "the sale at w1")
        except AssertionError:  # not applied: it is with the frozen w2
            stuck = want
            break
    assert stuck is not None, "no sale went to the frozen worker in 20 tries"
    killed_at = time.monotonic()
    os.kill(w2.pid, signal.SIGKILL)

    await wait_for(lambda: in_hub(stuck), 20, "the sale the dead worker had to be applied")
    took = time.monotonic() - killed_at
    print(f"applied {took:.2f} s after the kill (the store's ack timeout: {ACK_TIMEOUT_S:g} s)")
    assert took < ACK_TIMEOUT_S / 3
    assert sorted(hub_transactions(pg_url, "S001")) == sorted(
        f"R1/{n}" for n in till.accepted)
    assert "went away: asking 1 stores" in w1.tail(200)

