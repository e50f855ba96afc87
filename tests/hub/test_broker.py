"""The embedded broker (amqtt in the hub's process) and the amqtt defects it works around."""

import pytest

from hub.broker.embedded import _TlsBroker
from hub.config import load_config


@pytest.mark.parametrize("loop_over", ["items", "keys"])
async def test_a_client_subscribing_while_the_broker_loops_over_subscriptions_breaks_nothing(
        tmp_path, loop_over):
    (tmp_path / "hub.toml").write_text(
        'data_dir = "."\n[broker]\nembedded = true\nlisten = "127.0.0.1:0"\n'
        'users_file = "mqtt-users"\n')
    broker = _TlsBroker(load_config(tmp_path / "hub.toml"))
    subscriptions = broker._subscriptions
    subscriptions["retail/v1/stores/S001/acks"] = []
    seen = []
    # What amqtt's broadcast does: an await per subscription, during which a store subscribes.
    for entry in (subscriptions.items() if loop_over == "items" else subscriptions):
        seen.append(entry)
        subscriptions["retail/v1/stores/S002/acks"] = []
    assert len(seen) == 1 and len(subscriptions) == 2
