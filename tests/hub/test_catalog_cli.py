"""`retail-hub catalog import items.csv` on a real database (a file, or PostgreSQL through
[storage] where `storage` says), its exit codes, and the [catalog] config section's checks (each
error names the key and the file)."""

import asyncio
import json

import pytest

from hub.__main__ import main
from hub.config import load_config
from hub.ledger import fleet
from hub.storage import factory, transact
from hub.storage.catalog import ItemRow
from runtime.config import ConfigError
from tests.hub.helpers import NOW, database, reading

HEADER = "sku,name,barcode,unit,tax_class,active\n"


def hub_dir(tmp_path, catalog: str = "", with_db: bool = True, storage: str | None = None):
    """The hub's config (and its migrated database file, or the PostgreSQL one at `storage`)."""
    section = f'[storage]\nbackend = "postgresql"\nurl = "{storage}"\n' if storage else ""
    (tmp_path / "hub.toml").write_text(f'data_dir = "data"\n{catalog}{section}')
    (tmp_path / "data").mkdir()
    if with_db and not storage:
        database(tmp_path / "data" / "hub.sqlite").close()
    return str(tmp_path / "hub.toml")


def items_in(tmp_path, storage: str | None = None) -> dict[str, dict]:
    async def read():
        async with reading(storage or tmp_path / "data" / "hub.sqlite") as reads:
            return {i.sku: i._asdict() for i in await reads.catalog.items(limit=100_000)}
    return asyncio.run(read())


def test_a_large_file_is_imported_and_a_second_import_replaces_it(tmp_path, capsys, storage):
    config = hub_dir(tmp_path, storage=storage)
    rows = "".join(f"SKU-{n:05d},Item {n},{4000000000000 + n},pc,std,true\n" for n in range(25_000))
    (tmp_path / "items.csv").write_text(HEADER + rows)
    assert main(["catalog", "import", str(tmp_path / "items.csv"), "--config", config]) == 0
    assert "25000 items" in capsys.readouterr().out
    found = items_in(tmp_path, storage)
    assert len(found) == 25_000
    assert found["SKU-00007"] == {"sku": "SKU-00007", "name": "Item 7", "barcode": "4000000000007",
                                  "unit": "pc", "tax_class": "std", "active": True}
    # Only sku and name are required; active defaults to true; an empty cell is no value.
    (tmp_path / "again.csv").write_text('name,sku,active\n"Seven, renamed",SKU-00007,no\n'
                                        "Eight,SKU-00008,\n")
    assert main(["catalog", "import", str(tmp_path / "again.csv"), "--config", config,
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"items": 2, "created": 0, "updated": 2,
                                                   "version": None}
    found = items_in(tmp_path, storage)
    assert found["SKU-00007"] == {"sku": "SKU-00007", "name": "Seven, renamed", "barcode": None,
                                  "unit": None, "tax_class": None, "active": False}
    assert found["SKU-00008"]["active"] is True


@pytest.mark.parametrize("text, where", [
    (HEADER + "A,Apple,,,,true\nB,,,,,true\n", "line 3: name"),
    (HEADER + "A,Apple,1,,,true\nB,Bean,1,,,true\n", "line 3: barcode"),
    (HEADER + "A,Apple,,,,true\nA,Again,,,,true\n", "line 3: sku"),
    (HEADER + "A,Apple,,,,maybe\n", "line 2: active"),
    (HEADER + "A,Apple,,,,true,extra\n", "line 2"),
    ("sku,name,colour\nA,Apple,red\n", "line 1: colour"),
    ("sku,title\nA,Apple\n", "line 1"),
    (HEADER + 'A,"Apple\nwith a line break",,,,true\n', "line 2: name"),  # no control characters
    (HEADER + "OWNED-BY-Z,Apple,4711,,,true\n", "line 2: barcode"),
])
def test_a_file_with_a_row_that_is_not_an_item_is_refused_whole(tmp_path, capsys, text, where):
    config = hub_dir(tmp_path)
    transact(tmp_path / "data" / "hub.sqlite", lambda tx: tx.catalog.upsert_items(
        [ItemRow("Z", "Zed", "4711", None, None, True)], NOW))
    (tmp_path / "items.csv").write_text(text)
    assert main(["catalog", "import", str(tmp_path / "items.csv"), "--config", config]) == 4
    err = capsys.readouterr().err
    assert f": {where}: " in err, err
    assert set(items_in(tmp_path)) == {"Z"}


def test_no_database_and_an_unreadable_file(tmp_path, capsys):
    config = hub_dir(tmp_path, with_db=False)
    assert main(["catalog", "import", "items.csv", "--config", config]) == 3
    assert "no hub database" in capsys.readouterr().err
    database(tmp_path / "data" / "hub.sqlite").close()
    assert main(["catalog", "import", str(tmp_path / "missing.csv"), "--config", config]) == 2
    (tmp_path / "latin1.csv").write_bytes(HEADER.encode() + "A,Caf\xe9,,,,true\n".encode("latin-1"))
    assert main(["catalog", "import", str(tmp_path / "latin1.csv"), "--config", config]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_with_auto_publish_the_import_is_published(tmp_path, capsys, storage):
    config = hub_dir(tmp_path, "[catalog]\nauto_publish = true\n", storage=storage)
    factory.transact(load_config(config), lambda tx: fleet.provisioned(tx, ["S001"]))
    (tmp_path / "items.csv").write_text(HEADER + "A,Apple,,,,true\n")
    assert main(["catalog", "import", str(tmp_path / "items.csv"), "--config", config]) == 0
    assert "published as version 1" in capsys.readouterr().out


@pytest.mark.parametrize("text, key", [
    ("max_price_drop_percent = 101", "catalog.max_price_drop_percent"),
    ("max_price_drop_percent = -1", "catalog.max_price_drop_percent"),
    ("keep_versions = 0", "catalog.keep_versions"),
    ("chunk_bytes = 100", "catalog.chunk_bytes"),
    ("chunk_bytes = 2000000", "catalog.chunk_bytes"),
    ("auto_publish = \"yes\"", "catalog.auto_publish"),
    ("erp_sync = \"25:00\"", "catalog.erp_sync"),
    ("erp_sync = \"03:00\"", "catalog.erp_sync"),
    ("timezone = \"Mars/Base\"", "catalog.timezone"),
    ("colour = \"red\"", "catalog.colour"),
])
def test_catalog_config_errors_name_the_key_and_the_file(tmp_path, text, key):
    config = hub_dir(tmp_path, f"[catalog]\n{text}\n", with_db=False)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert (caught.value.key, caught.value.path) == (key, config)


def test_catalog_config_defaults(tmp_path):
    catalog = load_config(hub_dir(tmp_path, with_db=False)).catalog
    assert (catalog.max_price_drop_percent, catalog.auto_publish, catalog.keep_versions,
            catalog.chunk_bytes, catalog.erp_sync) == (90, False, 20, 262144, "")
