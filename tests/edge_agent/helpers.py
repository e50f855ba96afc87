"""Sales and requests that several edge-agent test modules share: bodies as a till sends them,
prepared sales for the outbox, and a one-line POST."""

import copy
import datetime as dt

from edge_agent.requests import SaleIn, decode, prepare

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)

# A sale at a quarter past midnight in Berlin: business day the 23rd, though UTC says the 22nd.
SALE = {
    "register_id": "R1", "pos_txn_id": "000123",
    "occurred_at": "2026-11-23T00:15:00+01:00", "currency": "EUR",
    "lines": [{"sku": "SKU-1001", "qty": 2, "unit_price": "12.00", "discount": "0.00", "tax": "4.00"}],
    "tenders": [{"method": "cash", "amount": "24.00"}],
}

# A plain mid-morning sale.
MORNING_SALE = {"register_id": "R1", "pos_txn_id": "000123",
                "occurred_at": "2026-11-23T10:15:00+01:00",
                "currency": "EUR", "lines": [{"sku": "SKU-1", "qty": 2, "unit_price": "12.00",
                                              "tax": "4.00"}],
                "tenders": [{"method": "cash", "amount": "24.00"}]}


def with_(path: str, value, base=SALE):
    """A copy of `base` with the dotted `path` ("lines.0.qty") set to `value`, or removed for `...`."""
    body = copy.deepcopy(base)
    target = body
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    last = keys[-1]
    if value is ...:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return body


async def post(http, url, body, path="/v1/sales", **kw):
    """POST `body` as JSON; (status, decoded answer)."""
    async with http.post(url + path, json=body, **kw) as r:
        return r.status, await r.json()


def sale(n: int, qty: int = 1):
    """Sale number `n` of register R1 at store S001, prepared for Outbox.capture."""
    body = (b'{"register_id":"R1","pos_txn_id":"%d","occurred_at":"2026-11-23T10:00:00Z",'
            b'"currency":"EUR","lines":[{"sku":"A","qty":%d,"unit_price":"1.00"}],"tenders":[]}'
            % (n, qty))
    return prepare(decode(body, SaleIn), "S001", None, NOW)
