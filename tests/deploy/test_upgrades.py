"""Databases written by an earlier schema version open with this code and lose nothing;
a database from a newer version is refused, not damaged."""

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from edge_agent.errors import OutboxError
from edge_agent.outbox import Outbox
from edge_agent.requests import SaleIn, decode, prepare
from hub.storage.schema import MIGRATIONS, migrate
from runtime.sqlite_writer import connect

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def restore(name: str, path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / name).read_text())
    conn.close()


async def test_outbox_from_schema_v1_keeps_its_stream_events_and_acks(tmp_path):
    restore("outbox-v1.sql", tmp_path / "outbox.sqlite")
    box = Outbox(tmp_path / "outbox.sqlite", "S001")
    await box.open()
    stats = await box.stats()
    assert (stats.last_seq, stats.acked_through, stats.backlog) == (3, 2, 1)
    assert [r.seq for r in await box.next_batch(2, 10, 1 << 20)] == [3]
    # Schema 5 keeps each sale's currency (status page takings per currency): read from the body.
    async with box.reader.execute("SELECT DISTINCT currency FROM events") as cur:
        assert await cur.fetchall() == [("EUR",)]
    now = dt.datetime.now(dt.UTC)
    body = (b'{"register_id":"R1","pos_txn_id":"4","occurred_at":"2026-11-23T10:00:00Z",'
            b'"currency":"EUR","lines":[{"sku":"SKU-1","qty":1,"unit_price":"1"}],"tenders":[]}')
    assert (await box.capture(prepare(decode(body, SaleIn), "S001", None, now), now)).seq == 4
    await box.close()


def test_hub_database_from_schema_v1_migrates_forward_and_keeps_its_log(tmp_path):
    restore("hub-v1.sql", tmp_path / "hub.sqlite")
    conn = connect(tmp_path / "hub.sqlite")
    migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT count(*), max(seq) FROM events").fetchone() == (2, 2)
    assert conn.execute("SELECT on_hand FROM inventory WHERE sku = 'SKU-1'").fetchone()[0] == -3
    assert conn.execute("SELECT sales_count FROM day_totals").fetchone()[0] == 2


async def test_databases_from_a_newer_version_are_refused(tmp_path):
    restore("outbox-v1.sql", tmp_path / "outbox.sqlite")
    sqlite3.connect(tmp_path / "outbox.sqlite").execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(OutboxError, match="newer"):
        await Outbox(tmp_path / "outbox.sqlite", "S001").open()
    conn = connect(tmp_path / "hub.sqlite")
    conn.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="newer"):
        migrate(conn)
