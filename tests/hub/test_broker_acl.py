"""The embedded broker's topic ACL, rule by rule: what a store may publish and read, its own
topics only; the hub may use every topic under the prefix. (tests/integration/test_acl.py runs
the same against both brokers with real clients.)"""

import pytest
from amqtt.contexts import Action

from hub.broker.plugins import allowed
from protocol.topics import Topics

T = Topics("retail/v1")
PUB, SUB = Action.PUBLISH, Action.SUBSCRIBE


@pytest.mark.parametrize("topic, action, ok", [
    ("retail/v1/stores/S001/events", PUB, True),
    ("retail/v1/stores/S001/state", PUB, True),
    ("retail/v1/stores/S001/catalog-ack", PUB, True),
    ("retail/v1/stores/S001/ack", SUB, True),
    ("retail/v1/stores/S001/control", SUB, True),
    ("retail/v1/stores/S001/catalog", SUB, True),
    ("retail/v1/hub/state", SUB, True),
    # Never what head office says, nor anything of another store.
    ("retail/v1/stores/S001/catalog", PUB, False),
    ("retail/v1/stores/S001/ack", PUB, False),
    ("retail/v1/stores/S001/catalog-ack", SUB, False),
    ("retail/v1/stores/S002/catalog", SUB, False),
    ("retail/v1/stores/S002/catalog-ack", PUB, False),
    ("retail/v1/stores/+/catalog", SUB, False),
    ("retail/v1/#", SUB, False),
    ("retail/v1/hub/state", PUB, False),
])
def test_a_store_uses_only_its_own_topics(topic, action, ok):
    assert allowed(T, "hub", "S001", topic, action) is ok


def test_the_hub_uses_every_topic_under_the_prefix_only():
    assert allowed(T, "hub", "hub", "retail/v1/stores/S001/catalog", PUB)
    assert allowed(T, "hub", "hub", "retail/v1/stores/+/catalog-ack", SUB)
    assert not allowed(T, "hub", "hub", "other/topic", PUB)
