"""`retail-hub catalog sync-from-erp` against a real Tryton: products and list prices made in
Tryton become items and one staged change set; a second run restages nothing; a changed price
is one change."""

import json
import subprocess
import sys

from runtime.net import free_port
from tests.hub.helpers import database
from tests.integration.helpers import start
from tests.integration.procs import REPO, HubProc
from tests.integration.tryton_erp import TrytonClient, tryton_section


def decimal(text: str) -> dict[str, str]:
    return {"__class__": "Decimal", "decimal": text}


def make_product(client: TrytonClient, code: str, price: str, barcode: str | None) -> int:
    (unit,) = client.call("model.product.uom.search", [("name", "=", "Unit")], 0, 1, None)
    product: dict[str, object] = {}
    if barcode:
        product["identifiers"] = [["create", [{"type": "ean", "code": barcode}]]]
    (template,) = client.call("model.product.template.create", [{
        "name": f"Product {code}", "code": code, "type": "goods", "salable": True,
        "default_uom": unit, "sale_uom": unit, "list_price": decimal(price),
        "products": [["create", [product]]]}])
    return int(template)


def whole_cents(client: TrytonClient) -> None:
    """The template database's products have the net list price of a 1.00 gross price at 20 %
    (0.8333), which EUR cannot hold (the sync refuses it, as the price API would): 0.83."""
    found = client.call("model.product.template.search", [("code", "like", "SKU-%")], 0, None,
                        None)
    client.call("model.product.template.write", found, {"list_price": decimal("0.83")})


def sync(hub: HubProc) -> tuple[int, dict, str]:
    done = subprocess.run([sys.executable, "-m", "hub", "catalog", "sync-from-erp", "--json",
                           "--config", str(hub.root / "hub.toml")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout or "null"), done.stderr


async def store_price(http, hub, sku):
    async with http.get(f"{hub.url}/v1/stores/S001/prices/{sku}") as r:
        return r.status, await r.json()


async def test_sync_from_erp_stages_changed_list_prices_once(tmp_path, http, procs, tryton,
                                                             tryton_template):
    client = TrytonClient(tryton, tryton_template)
    whole_cents(client)
    make_product(client, "ERP-1", "12.50", "4006381333931")
    second = make_product(client, "ERP-2", "3.00", None)
    # The hub schedules the same sync (not due during the test): the CLI works beside it.
    hub = start(procs, HubProc(tmp_path / "hub", ["S001"], extra=tryton_section(
        tryton.url, tryton.hub_password_file) + '[catalog]\nerp_sync = "03:00"\n'))
    await hub.ready(http)

    code, first, err = sync(hub)
    assert code == 0, err
    assert first["book_created"] and first["currency"] == "EUR" and first["refused"] == []
    assert first["prices_staged"] >= 2 and first["unchanged"] == 0, first
    async with http.get(f"{hub.url}/v1/items/ERP-1") as r:
        item = await r.json()
    assert (item["name"], item["barcode"], item["active"]) == ("Product ERP-1", "4006381333931",
                                                               True)
    async with http.get(f"{hub.url}/v1/items/ERP-2") as r:
        assert (await r.json())["barcode"] is None
    async with http.get(f"{hub.url}/v1/price-books") as r:
        (book,) = [b for b in (await r.json())["books"] if b["book"] == "erp"]
    assert book["currency"] == "EUR" and book["stores"] == "all"

    code, again, err = sync(hub)
    assert code == 0, err
    assert again["prices_staged"] == 0 and again["unchanged"] == first["prices_staged"]

    client.call("model.product.template.write", [second], {"list_price": decimal("3.40")})
    code, changed, err = sync(hub)
    assert code == 0, err
    assert changed["prices_staged"] == 1 and changed["items"] == first["items"]

    async with http.post(f"{hub.url}/v1/publications", json={"stores": "all"},
                         headers=hub.admin) as r:
        assert r.status in (200, 201), await r.text()
    for sku, price in (("ERP-1", "12.50"), ("ERP-2", "3.40")):
        status, body = await store_price(http, hub, sku)
        assert status == 200, body
        assert (body["price"]["amount"], body["price"]["price_book"]) == (price, "erp"), body


async def test_sync_from_erp_refuses_a_deep_cut_and_exits_4(tmp_path, http, procs, tryton,
                                                            tryton_template):
    client = TrytonClient(tryton, tryton_template)
    template = make_product(client, "ERP-CUT", "100.00", None)
    hub = start(procs, HubProc(tmp_path / "hub", ["S001"], extra=tryton_section(
        tryton.url, tryton.hub_password_file) + '[catalog]\nmax_price_drop_percent = 50\n'))
    await hub.ready(http)
    assert sync(hub)[0] == 0
    client.call("model.product.template.write", [template], {"list_price": decimal("10.00")})
    code, result, err = sync(hub)
    assert code == 4
    assert result["prices_staged"] == 0 and len(result["refused"]) == 1
    assert "changes[0].price" in err and "max_price_drop_percent" in err


def test_an_unreachable_erp_exits_1_and_writes_nothing(tmp_path):
    (tmp_path / "pw").write_text("x\n")
    (tmp_path / "pw").chmod(0o600)
    config = tmp_path / "hub.toml"
    config.write_text('data_dir = "data"\n' + tryton_section(
        f"http://127.0.0.1:{free_port()}", tmp_path / "pw"))
    (tmp_path / "data").mkdir(mode=0o700)
    database(tmp_path / "data" / "hub.sqlite").close()
    done = subprocess.run([sys.executable, "-m", "hub", "catalog", "sync-from-erp",
                           "--config", str(config)], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stderr
    assert "cannot read the ERP" in done.stderr
