"""The fleet table: a store's last_seen has one text form whichever message wrote it, on either
backend (`storage`)."""

from hub.config import HubConfig
from hub.ingest.receiver import Ingest
from protocol import codec
from protocol.messages import StoreState
from runtime.clock import FrozenClock, stamp
from tests.conftest import wait_for
from tests.hub.helpers import NOW, batch, database, hub_database, sale_envelope


async def test_last_seen_has_the_same_form_from_the_state_path_and_from_the_event_path(tmp_path, storage):
    # On the whole second, where `isoformat()` would drop the microseconds that `stamp` keeps.
    clock = FrozenClock(NOW)
    writer = hub_database(tmp_path, storage)
    await writer.start()
    ingest = Ingest(HubConfig(data_dir=str(tmp_path)), writer, "mqtt://127.0.0.1:1", clock)

    def last_seen() -> list[str]:
        conn = database(storage or tmp_path / "hub.sqlite")
        try:
            return [r[0] for r in conn.execute(
                "SELECT last_seen FROM stores WHERE store_id = 'S001' AND last_seen IS NOT NULL")]
        finally:
            conn.close()

    async def changed_from(old: list[str]) -> list[str] | None:
        now = last_seen()
        return now if now and now != old else None

    try:
        await ingest.handle("retail/v1/stores/S001/state",
                            codec.encode_state(StoreState("S001", True, at=NOW)))
        from_state = await wait_for(lambda: changed_from([]), 10, "the state's last_seen")
        clock.advance(seconds=1)
        await ingest.handle("retail/v1/stores/S001/events",
                            codec.encode(batch([sale_envelope(1)])))
        from_event = await wait_for(lambda: changed_from(from_state), 10, "the event's last_seen")
    finally:
        await writer.close()
    assert from_state == [stamp(NOW)]
    assert from_event == [stamp(clock.now())]
