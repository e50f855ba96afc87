"""The till-facing catalog on a real agent over real HTTP, offline: an item and its price by SKU
or barcode, now or `?at=`; 404 and 422 naming the field; the catalog's version and next change;
what changed since a version; a sale priced off the catalog is captured and flagged."""


import pytest

from edge_agent.catalog_link import CatalogLink
from protocol import chunking, codec
from protocol.messages import CatalogDelta, CatalogItem
from tests.edge_agent.catalogs import MIDNIGHT, T0, first_version
from tests.edge_agent.helpers import post


async def deliver(link: CatalogLink, content) -> None:
    """As if the hub had sent `content`: every chunk through the link, then the apply."""
    for chunk in chunking.split(codec.encode_catalog(content), content.version, 4096):
        await link.on_chunk(codec.encode_catalog(chunk))
    copy = link._complete.get_nowait()
    await link._apply(copy)


async def get(http, url, path, **params):
    async with http.get(url + path, params=params) as r:
        return r.status, await r.json()


@pytest.fixture
async def store(running_agent, http):
    agent, url = await running_agent()
    return agent, url


async def test_an_item_and_its_price_now_and_at_another_instant(store, http):
    agent, url = store
    status, body = await get(http, url, "/v1/items/SKU-1")
    assert status == 404 and body["field"] == "sku" and "none yet" in body["error"]
    await deliver(agent.catalog_link, first_version())
    status, body = await get(http, url, "/v1/items/SKU-1")
    assert status == 200, body
    assert set(body) == {"sku", "name", "barcode", "unit", "tax_class", "price",
                         "catalog_version"}
    assert body["price"] == {"amount": "1.50", "currency": "EUR", "price_book": "base",
                             "effective_from": T0.isoformat(), "effective_to": None}
    assert body["catalog_version"] == 1
    status, body = await get(http, url, "/v1/items/SKU-1", at=MIDNIGHT.isoformat())
    assert body["price"]["amount"] == "9.99"
    status, body = await get(http, url, "/v1/items", barcode="4000000000001",
                             at="2026-11-24T00:00:00+01:00")
    assert status == 200 and body["sku"] == "SKU-1" and body["price"]["amount"] == "9.99"
    status, body = await get(http, url, "/v1/items/NOPE")
    assert status == 404 and body["field"] == "sku" and "version 1" in body["error"]
    assert (await get(http, url, "/v1/items", barcode="999"))[1]["field"] == "barcode"


@pytest.mark.parametrize("path, params, field", [
    ("/v1/items/SKU-1", {"at": "tomorrow"}, "at"),
    ("/v1/items/SKU-1", {"at": "2026-11-24T00:00:00"}, "at"),
    ("/v1/items/SKU-1", {"at": "1999-01-01T00:00:00Z"}, "at"),
    ("/v1/items", {}, "barcode"),
    ("/v1/catalog/changes", {}, "since"),
    ("/v1/catalog/changes", {"since": "-1"}, "since"),
    ("/v1/catalog/changes", {"since": "1", "limit": "100000"}, "limit"),
])
async def test_a_query_that_cannot_be_read_is_422_naming_it(store, http, path, params, field):
    _agent, url = store
    status, body = await get(http, url, path, **params)
    assert status == 422 and body["field"] == field, body


async def test_the_catalog_its_next_change_and_what_changed_since(store, http):
    agent, url = store
    status, body = await get(http, url, "/v1/catalog")
    assert status == 200 and body["version"] is None and body["items"] == 0
    await deliver(agent.catalog_link, first_version())
    body = (await get(http, url, "/v1/catalog"))[1]
    assert body["version"] == 1 and body["items"] == 50 and body["applying"] is None
    assert body["next_change"] == {"at": MIDNIGHT.isoformat(), "items": 2}
    await deliver(agent.catalog_link, CatalogDelta(2, 1, [], [], [CatalogItem("SKU-7", "Seven")],
                                                   ["SKU-8"], [], []))
    status, body = await get(http, url, "/v1/catalog/changes", since="1")
    assert status == 200
    assert [i["sku"] for i in body["items"]] == ["SKU-7"] and body["removed"] == ["SKU-8"]
    assert body["items"][0]["name"] == "Seven" and body["version"] == 2
    body = (await get(http, url, "/v1/catalog/changes", since="0", limit="30"))[1]
    assert len(body["items"]) == 30 and body["next"] == body["items"][-1]["sku"]
    rest = (await get(http, url, "/v1/catalog/changes", since="0", after=body["next"]))[1]
    assert len(body["items"]) + len(rest["items"]) == 49 and rest["next"] is None


async def test_a_sale_priced_off_the_catalog_is_captured_and_flagged(store, http):
    agent, url = store
    await deliver(agent.catalog_link, first_version())
    body = {"register_id": "R1", "pos_txn_id": "1", "occurred_at": "2026-11-23T10:00:00Z",
            "currency": "EUR", "lines": [{"sku": "SKU-3", "qty": 1, "unit_price": "3.00"},
                                         {"sku": "SKU-4", "qty": 1, "unit_price": "4.50"}],
            "tenders": [{"method": "cash", "amount": "7.50"}]}
    status, answer = await post(http, url, body)
    assert status == 201, answer
    rows = await agent.outbox.next_batch(0, 10, 100_000)
    lines = codec.decode_event(rows[0].body).lines
    assert [str(line.catalog_price) if line.catalog_price else None for line in lines] == \
        ["3.50", None]
    assert (await post(http, url, body))[0] == 200  # the till's retry: the same capture
    async with http.get(url + "/metrics") as r:
        assert "edge_price_deviations_total 2.0" in await r.text()  # once more: the retry


async def test_the_status_page_says_which_prices_and_warns_a_day_behind(running_agent, http):
    from runtime.clock import FrozenClock
    from tests.edge_agent.conftest import STARTS_AT

    clock = FrozenClock(STARTS_AT)  # noon in Berlin, where the store is
    agent, url = await running_agent(clock=clock)
    assert (await get(http, url, "/v1/status"))[1]["prices"]["text"] == \
        "Prices: none from head office yet."
    await deliver(agent.catalog_link, first_version())
    prices = (await get(http, url, "/v1/status"))[1]["prices"]
    assert prices["text"] == ("Prices: version 1, applied 12:00. "
                              "Next change tonight 00:00 (2 items).")
    assert prices["level"] == "ok" and prices["warning"] is None
    async with http.get(url + "/") as r:
        assert "Next change tonight 00:00 (2 items)." in await r.text()
    clock.advance(hours=25)  # and the broker still out of reach, as since the start
    prices = (await get(http, url, "/v1/status"))[1]["prices"]
    assert prices["text"] == "Prices: version 1, applied 2026-11-23 12:00."
    assert prices["level"] == "warn"
    assert prices["warning"].startswith("Prices may be more than a day behind head office")
    async with http.get(url + "/") as r:
        assert "id=prices-warning" in await r.text()
