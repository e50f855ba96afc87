"""What the hub refuses of a batch before any of it is applied: a batch that claims another store
than its topic's, mixes streams, or is not in strictly rising seq order; and an empty batch. Such a
message is quarantined whole, with its reason, and nothing of it reaches the event log."""

import sqlite3

import pytest

from hub.config import HubConfig
from hub.ingest.receiver import Ingest, check_batch
from hub.storage import Database
from protocol import codec
from protocol.errors import PayloadError
from protocol.messages import Batch
from tests.conftest import wait_for
from tests.hub.helpers import batch, sale_envelope


def test_a_batch_of_the_topics_store_in_rising_seq_order_passes():
    check_batch(batch([sale_envelope(1), sale_envelope(2), sale_envelope(3)]), "S001")
    # Gaps are the event log's business (held, then a replay is asked for), not a malformed batch.
    check_batch(batch([sale_envelope(5), sale_envelope(9)]), "S001")


@pytest.mark.parametrize(("name", "sent", "reason"), [
    ("batch claims another store",
     Batch("S002", "st-1", [sale_envelope(1, store="S002")]), "batch store_id 'S002'"),
    ("one event claims another store",
     Batch("S001", "st-1", [sale_envelope(1), sale_envelope(2, store="S002")]),
     "event store_id 'S002'"),
    ("mixed streams",
     Batch("S001", "st-1", [sale_envelope(1), sale_envelope(2, stream="st-2")]),
     "event stream 'st-2' differs from batch's 'st-1'"),
    ("seqs out of order",
     batch([sale_envelope(1), sale_envelope(3), sale_envelope(2)]), "seq 2 is not after 3"),
    ("a seq twice", batch([sale_envelope(1), sale_envelope(1)]), "seq 1 is not after 1"),
    ("seq 0", batch([sale_envelope(0)]), "seq 0 is not after 0"),
])
def test_a_batch_is_refused_naming_what_is_wrong(name, sent, reason):
    with pytest.raises(PayloadError, match=reason):
        check_batch(sent, "S001")


def test_an_empty_batch_is_refused_on_the_wire():
    """check_batch has nothing to contradict in an empty batch; the wire contract refuses it."""
    empty = Batch("S001", "st-1", [])
    check_batch(empty, "S001")
    with pytest.raises(PayloadError, match="events"):
        codec.decode_batch(codec.encode(empty))


@pytest.fixture
async def ingest(tmp_path):
    """The hub's receiver on a real database, fed messages directly (no broker needed)."""
    db = Database(tmp_path / "hub.sqlite")
    await db.start()
    yield Ingest(HubConfig(data_dir=str(tmp_path)), db, "mqtt://127.0.0.1:1883"), db
    await db.close()


async def rows(db, sql):
    """What the database holds, through a connection of the test's own (committed rows only)."""
    conn = sqlite3.connect(db.path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(("sent", "reason"), [
    (Batch("S002", "st-1", [sale_envelope(1, store="S002")]), "batch store_id 'S002'"),
    (Batch("S001", "st-1", [sale_envelope(1), sale_envelope(2, stream="st-2")]), "stream 'st-2'"),
    (batch([sale_envelope(2), sale_envelope(1)]), "seq 1 is not after 2"),
    (Batch("S001", "st-1", []), "events"),
])
async def test_a_refused_batch_is_quarantined_whole_and_nothing_of_it_applied(ingest, sent, reason):
    receiver, writer = ingest
    await receiver.handle("retail/v1/stores/S001/events", codec.encode(sent))
    quarantined = await rows(writer, "SELECT store_id, reason FROM quarantine")
    assert len(quarantined) == 1 and quarantined[0][0] == "S001", quarantined
    assert reason in quarantined[0][1]
    assert await rows(writer, "SELECT * FROM events") == []
    assert await rows(writer, "SELECT * FROM streams") == []
    assert receiver.counters["quarantined"] == 1 and receiver.counters["batches"] == 0


async def test_a_good_batch_on_its_stores_topic_is_applied(ingest):
    """The same path as above, so the refusals are not an artefact of feeding messages directly."""
    receiver, writer = ingest
    await receiver.handle("retail/v1/stores/S001/events",
                          codec.encode(batch([sale_envelope(1), sale_envelope(2)])))

    async def applied() -> bool:
        return (await rows(writer, "SELECT count(*) FROM events"))[0][0] == 2

    await wait_for(applied, 10, "the batch to be applied")
    assert await rows(writer, "SELECT * FROM quarantine") == []
