import pytest

from protocol.errors import TopicError
from protocol.topics import Topics


def test_builds_and_parses_every_channel():
    t = Topics()
    assert t.events("S001") == "retail/v1/stores/S001/events"
    for channel in ("events", "ack", "control", "state"):
        assert t.parse(t.store("S001", channel)) == ("S001", channel)
    assert t.every_store("events") == "retail/v1/stores/+/events"


def test_custom_prefix():
    t = Topics("acme/retail/v1/")
    assert t.ack("S9") == "acme/retail/v1/stores/S9/ack"
    assert t.parse("acme/retail/v1/stores/S9/ack") == ("S9", "ack")


@pytest.mark.parametrize("topic", [
    "other/v1/stores/S1/events", "retail/v1/stores/S1/bogus", "retail/v1/stores/S1/events/x",
    "retail/v1/stores//events", "retail/v1/stores/S+1/events",
])
def test_rejects_foreign_topics(topic):
    with pytest.raises(TopicError):
        Topics().parse(topic)


@pytest.mark.parametrize("store", ["", "a/b", "#", "x" * 65, "S 1"])
def test_rejects_store_ids_that_would_break_topics(store):
    with pytest.raises(TopicError):
        Topics().events(store)
