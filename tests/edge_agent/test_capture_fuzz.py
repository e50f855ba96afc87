"""Hostile input at the capture API: random and mutated bodies never get a 5xx or crash the agent,
and valid sales in between are still accepted with gapless seqs."""

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.edge_agent.helpers import MORNING_SALE as SALE

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ["register_id", "pos_txn_id", "occurred_at", "currency", "lines", "tenders",
          "business_day", "prices_include_tax"]


def mutations():
    """A valid sale with one field replaced, removed, or the whole body replaced or cut short."""
    replaced = st.tuples(st.sampled_from(FIELDS), json_values).map(
        lambda fv: json.dumps({**SALE, fv[0]: fv[1]}).encode())
    removed = st.sampled_from(FIELDS).map(
        lambda f: json.dumps({k: v for k, v in SALE.items() if k != f}).encode())
    line_field = st.tuples(st.sampled_from(["sku", "qty", "unit_price", "tax", "discount"]),
                           json_values).map(
        lambda fv: json.dumps({**SALE, "lines": [{**SALE["lines"][0], fv[0]: fv[1]}]}).encode())
    whole = json_values.map(lambda v: json.dumps(v).encode())
    cut = st.integers(0, 200).map(lambda n: json.dumps(SALE).encode()[:n])
    raw = st.binary(max_size=300)  # invalid UTF-8 and worse
    deep = st.integers(50, 5000).map(lambda n: b"[" * n + b"]" * n)
    return st.one_of(replaced, removed, line_field, whole, cut, raw, deep)


async def test_mutated_bodies_get_4xx_and_valid_sales_still_go_through(running_agent, http):
    agent, url = await running_agent()
    accepted: list[int] = []
    cases: list = []

    # Hypothesis draws the cases (it cannot await); they are then sent one by one.
    @settings(max_examples=400, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(body=mutations(), content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain", None]),
        # Mostly sales; the other capture endpoints get the same mutated bodies.
        path=st.sampled_from(["/v1/sales"] * 4 + ["/v1/returns", "/v1/inventory-adjustments",
                                                    "/v1/day-close"]))
    def draw(body, content_type, path):
        cases.append((body, content_type, path))

    draw()
    for n, (body, content_type, path) in enumerate(cases):
        headers = {"Content-Type": content_type} if content_type else {}
        async with http.post(url + path, data=body, headers=headers) as r:
            status = r.status
            answer = await r.json(content_type=None)
        assert status < 500, (body[:200], status, answer)
        if status >= 400:
            assert "error" in answer
        if n % 25 == 0:  # a valid sale in between is still accepted
            good = {**SALE, "pos_txn_id": f"fuzz-{n}"}
            async with http.post(url + "/v1/sales", json=good) as r:
                assert r.status == 201, await r.text()
                accepted.append((await r.json())["seq"])
    async with http.post(url + "/v1/sales", data=io.BytesIO(b"x" * (2 * 1024 * 1024)),
                         headers={"Content-Type": "application/json"}) as r:
        assert r.status == 422 and (await r.json())["field"] == "$"
    assert len(cases) >= 300
    seqs = [e.seq for e in await agent.outbox.entries(0, 100000)]
    assert seqs == list(range(1, len(seqs) + 1))  # gapless: nothing refused took a seq
    assert set(accepted) <= set(seqs)
