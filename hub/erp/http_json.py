"""The `http-json` connector: any ERP or iPaaS that takes a webhook (see docs/erp-http-json.md).

`POST {url}/postings` with `Idempotency-Key: <posting_id>`. 2xx = posted (the answer's `erp_ref`
is kept); 409 = already posted; 429/503 = retry after Retry-After; 408, other 5xx, timeouts and
connection errors = retry with backoff; any other 4xx = dead letter with the ERP's answer.
Reconciliation reads back `GET {url}/postings?store_id=S&business_day=D` when the ERP offers it.
"""

import datetime as dt
import email.utils
import json
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp

from hub.erp.base import Catalog, PostedDoc, Result
from hub.postings.payloads import Payload, encode

log = logging.getLogger(__name__)


def retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def classify(status: int, text: str, headers: Any) -> Result:
    answer = text[:4000]
    if 200 <= status < 300 or status == 409:
        ref = None
        try:
            body = json.loads(text) if text else {}
            if isinstance(body, dict) and body.get("erp_ref") is not None:
                ref = str(body["erp_ref"])
        except ValueError:
            pass
        return Result("posted", status, erp_ref=ref, answer=answer)
    if status in (429, 503):
        return Result("retry", status, reason=f"ERP asked to retry later ({status})", answer=answer,
                      retry_after=retry_after(headers.get("Retry-After")), failure=status == 503)
    if status == 408 or status >= 500:
        return Result("retry", status, reason=f"ERP answered {status}", answer=answer, failure=True)
    return Result("dead", status, reason=f"ERP refused the posting ({status}): {answer[:500]}",
                  answer=answer)


class HttpJsonConnector:
    name = "http-json"

    def __init__(self, url: str, token: str | None, timeout_s: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, payload: Payload) -> Result:
        assert self._session is not None
        headers = {**self._headers, "Idempotency-Key": payload.posting_id}
        try:
            async with self._session.post(f"{self.url}/postings", data=encode(payload),
                                          headers=headers) as resp:
                text = await resp.text(errors="replace")
                return classify(resp.status, text, resp.headers)
        except TimeoutError:
            return Result("retry", reason=f"ERP did not answer within {self.timeout.total} s",
                          failure=True)
        except aiohttp.ClientError as exc:
            return Result("retry", reason=f"cannot reach the ERP: {exc.__class__.__name__}: {exc}",
                          failure=True)

    async def catalog(self) -> Catalog:
        return Catalog()

    async def day_closed(self, day: dt.date) -> bool:
        return False

    async def posted(self, store: str, day: dt.date) -> list[PostedDoc] | None:
        assert self._session is not None
        try:
            async with self._session.get(f"{self.url}/postings", headers=self._headers,
                                         params={"store_id": store, "business_day": day.isoformat()}
                                         ) as resp:
                if resp.status != 200:
                    return None
                body = await resp.json()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            log.warning("cannot read postings back from the ERP: %s", exc)
            return None
        out = []
        try:
            for doc in body.get("postings", []):
                out.append(PostedDoc(doc["posting_id"], str(doc.get("erp_ref") or ""),
                                     Decimal(str(doc["totals"]["gross"]))))
        except (AttributeError, KeyError, TypeError, InvalidOperation):
            log.warning("the ERP's read-back of %s %s is not in the expected form", store, day)
            return None
        return out
