"""GET /v1/postings over real HTTP on a real database: filtered counts, newest first, cursor paging;
POST .../resubmit with an edited payload and an actor."""

import datetime as dt

import aiohttp

from hub import postings
from hub.config import PostingsConfig
from tests.hub.api_server import api_server, get
from tests.hub.helpers import NOW, database, sale_envelope


def busy_day(path, count=250, other_store=5):
    """`count` sales of S001 and `other_store` of S002, each posting a second after the last."""
    conn = database(path)
    envs = ([sale_envelope(i) for i in range(1, count + 1)]
            + [sale_envelope(i, store="S002") for i in range(1, other_store + 1)])
    conn.execute("BEGIN IMMEDIATE")
    for n, env in enumerate(envs):
        postings.on_applied(conn, [env], PostingsConfig(), NOW + dt.timedelta(seconds=n))
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
