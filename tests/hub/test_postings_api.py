"""GET /v1/postings over real HTTP on a real database: filtered counts, newest first, cursor paging;
POST .../resubmit with an edited payload and an actor."""

import datetime as dt
from decimal import Decimal

import aiohttp

from hub.postings import store as postings
from hub.config import PostingsConfig
from hub.storage import Transaction
from tests.hub.api_server import api_server, get
from tests.hub.helpers import NOW, database, sale_envelope


def busy_day(path, count=250, other_store=5):
    """`count` sales of S001 and `other_store` of S002, each posting a second after the last."""
    conn = database(path)
    envs = ([sale_envelope(i) for i in range(1, count + 1)]
            + [sale_envelope(i, store="S002") for i in range(1, other_store + 1)])
    conn.execute("BEGIN IMMEDIATE")
    for n, env in enumerate(envs):
        postings.on_applied(Transaction(conn), [env], PostingsConfig(), NOW + dt.timedelta(seconds=n))
    conn.execute("COMMIT")
    conn.close()
    return [postings.posting_id("sale", env.event_id) for env in envs]


async def test_counts_follow_the_filters(tmp_path):
    busy_day(tmp_path / "hub.sqlite")
    async with api_server(tmp_path / "hub.sqlite") as url, aiohttp.ClientSession() as http:
        _, body = await get(http, url + "/v1/postings", store_id="S002")
        assert body["counts"]["pending"] == 5 and len(body["postings"]) == 5
        _, body = await get(http, url + "/v1/postings", business_day="2026-11-24")
        assert body["counts"]["pending"] == 0 and body["postings"] == []
        _, body = await get(http, url + "/v1/postings")
        assert body["counts"]["pending"] == 255


async def test_every_posting_is_reachable_newest_first_through_the_cursor(tmp_path):
    made = busy_day(tmp_path / "hub.sqlite", count=2400, other_store=0)
    seen: list[str] = []
    async with api_server(tmp_path / "hub.sqlite") as url, aiohttp.ClientSession() as http:
        status, body = await get(http, url + "/v1/postings", limit="1000")
        assert status == 200
        while True:
            seen += [p["posting_id"] for p in body["postings"]]
            if body["next_cursor"] is None:
                break
            status, body = await get(http, url + "/v1/postings", limit="1000",
                                     cursor=body["next_cursor"])
            assert status == 200
        assert seen == made[::-1]  # newest first, none twice, none left out
        status, body = await get(http, url + "/v1/postings", cursor="not-a-cursor")
        assert status == 422 and body["field"] == "cursor"
        status, body = await get(http, url + "/v1/postings", limit="1001")
        assert status == 422 and body["field"] == "limit"


def held_as_exception(path) -> str:
    """One sale whose posting governance held: its tenders (9.00) do not balance 10.00."""
    import msgspec

    from protocol.messages import Sale, SaleLine, Tender

    conn = database(path)
    unbalanced = Sale("R1", "000900", "EUR", True, [SaleLine("SKU-1", 1, Decimal("10.00"))],
                      [Tender("cash", Decimal("9.00"))])
    env = msgspec.structs.replace(sale_envelope(900, txn="000900"), event=unbalanced)
    pid = postings.posting_id("sale", env.event_id)
    conn.execute("BEGIN IMMEDIATE")
    postings.on_applied(Transaction(conn), [env], PostingsConfig(), NOW)
    postings.finish(Transaction(conn), pid, "exception", NOW, reason="tenders do not balance")
    conn.execute("COMMIT")
    conn.close()
    return pid


async def test_resubmit_takes_an_edited_payload_checks_it_like_governance_and_audits_the_actor(tmp_path):
    pid = held_as_exception(tmp_path / "hub.sqlite")
    async with api_server(tmp_path / "hub.sqlite") as url, aiohttp.ClientSession() as http:
        _, shown = await get(http, f"{url}/v1/postings/{pid}")
        payload = shown["payload"]
        action = f"{url}/v1/postings/{pid}/resubmit"

        async def resubmit(edited):
            async with http.post(action, json={"payload": edited, "actor": "anna@finance"}) as r:
                return r.status, await r.json()

        status, body = await resubmit({**payload, "lines": [{**payload["lines"][0], "sku": 5}]})
        assert (status, body["field"]) == (422, "payload.lines[0].sku"), body
        status, body = await resubmit({**payload, "totals": {**payload["totals"], "gross": "x"}})
        assert (status, body["field"]) == (422, "payload.totals.gross"), body
        status, body = await resubmit(payload)  # still unbalanced: governance would hold it again
        assert (status, body["field"]) == (422, "payload.tenders"), body
        assert "off by -1.00 EUR" in body["error"]
        status, body = await resubmit({**payload, "kind": "return"})
        assert (status, body["field"]) == (422, "payload.kind"), body
        _, shown = await get(http, f"{url}/v1/postings/{pid}")
        assert shown["state"] == "exception" and shown["audit"] == []  # refusals change nothing

        fixed = {**payload, "tenders": [{"method": "cash", "amount": "10.00"}]}
        status, body = await resubmit(fixed)
        # This API has no relay (connector none): the corrected posting is kept, not pending.
        assert status == 200 and body == {"posting_id": pid, "state": "kept", "edited": True}
        _, shown = await get(http, f"{url}/v1/postings/{pid}")
    assert shown["state"] == "kept" and shown["payload"]["tenders"] == fixed["tenders"]
    (audit,) = shown["audit"]
    assert (audit["actor"], audit["action"]) == ("anna@finance", "resubmit")
    assert audit["before"]["payload"]["tenders"][0]["amount"] == "9.00"
    assert audit["after"]["payload"]["tenders"][0]["amount"] == "10.00"


async def test_an_actor_of_only_spaces_is_refused_and_a_name_is_trimmed(tmp_path):
    pid = held_as_exception(tmp_path / "hub.sqlite")
    async with api_server(tmp_path / "hub.sqlite") as url, aiohttp.ClientSession() as http:
        action = f"{url}/v1/postings/{pid}/retry"
        for actor in ("   ", "", "\t", 7, "x" * 201):
            async with http.post(action, json={"actor": actor}) as r:
                body = await r.json()
                assert (r.status, body["field"]) == (422, "actor"), (actor, body)
        _, shown = await get(http, f"{url}/v1/postings/{pid}")
        assert shown["state"] == "exception" and shown["audit"] == []  # refusals change nothing
        async with http.post(action, json={"actor": "  anna@finance \n"}) as r:
            assert r.status == 200, await r.json()
        _, shown = await get(http, f"{url}/v1/postings/{pid}")
    assert [a["actor"] for a in shown["audit"]] == ["anna@finance"]
