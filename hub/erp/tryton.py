"""The `tryton` connector: postings become `sale.point.sale` records in Tryton, over JSON-RPC.

Each posting is one POS sale (a daily summary is one sale per store-day) with its lines and
payments, then `process` (open → done) and `post` (done → posted: stock moves and an account
move). The sale carries the posting_id in `reference` (from the `retail_sync` module shipped in
`tryton_retail_sync/`), so a repeat looks it up first and resumes where it stopped: open →
process and post, done → post, posted → nothing to do. Names map to Tryton records by product
code, sale point name and payment method name.
"""

import base64
import datetime as dt
import itertools
import logging
from decimal import ROUND_DOWN, Decimal
from typing import Any

import aiohttp

from hub.erp.base import Catalog, ErpProduct, ErpProducts, PostedDoc, Result
from hub.errors import ErpUnavailable
from hub.postings.payloads import Line, Payload

log = logging.getLogger(__name__)
CENT = Decimal("0.01")
PRICE = Decimal("0.0001")
# Tryton's answers that say the posting itself is wrong (not that Tryton is unwell).
_REFUSALS = {"UserError", "UserWarning", "AccessError", "RequiredValidationError",
             "DomainValidationError", "SQLConstraintError", "SizeValidationError",
             "DigitsValidationError", "SelectionValidationError", "TimeFormatValidationError",
             "ForbiddenCharValidationError", "RequiredDependentValidationError"}


class _Refused(Exception):
    """Tryton refused the call for a reason a person must fix."""


class _Unwell(Exception):
    """Tryton could not be reached or failed in a way a retry may cure."""


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("__class__") == "Decimal":
            return Decimal(value["decimal"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def sale_lines(line: Line, product: int) -> list[dict[str, Any]]:
    """Tryton lines for one posting line, with unit prices that give its amounts to the cent.

    Tryton keeps 4 decimals per unit and multiplies; when net/qty or gross/qty does not divide
    exactly, the last unit gets its own line at the remainder.
    """
    qty = Decimal(line.qty)
    net, gross = line.net, line.net + line.tax
    if qty == 0:
        if net or gross:
            raise _Refused(f"SKU {line.sku}: quantity 0 with an amount of {gross} cannot be posted")
        return []
    unit_net, unit_gross = (net / qty).quantize(PRICE), (gross / qty).quantize(PRICE)
    if unit_net * qty == net and unit_gross * qty == gross:
        return [_line(product, qty, unit_net, unit_gross)]
    one = Decimal(1 if qty > 0 else -1)
    rest = qty - one
    unit_net = (net / qty).quantize(CENT, ROUND_DOWN)
    unit_gross = (gross / qty).quantize(CENT, ROUND_DOWN)
    return [_line(product, rest, unit_net, unit_gross),
            _line(product, one, (net - unit_net * rest) * one, (gross - unit_gross * rest) * one)]


def _line(product: int, qty: Decimal, unit_net: Decimal, unit_gross: Decimal) -> dict[str, Any]:
    return {"product": product, "quantity": float(qty), "unit_list_price": unit_net,
            "unit_gross_price": unit_gross}


class TrytonConnector:
    name = "tryton"

    def __init__(self, url: str, database: str, username: str, password: str,
                 timeout_s: float) -> None:
        self.rpc = f"{url.rstrip('/')}/{database}/rpc/"
        self.username = username
        self._password = password
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._auth: str | None = None
        self._context: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._products: dict[str, int] = {}
        self._points: dict[str, int] = {}
        self._methods: dict[str, int] = {}
        self._cash: set[str] = set()
        self._currency: str | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # --- JSON-RPC ---

    async def _login(self) -> None:
        result = await self._send("common.db.login",
                                  [self.username, {"password": self._password}, "en"], auth=False)
        if not isinstance(result, list) or len(result) < 2:
            raise _Refused(f"Tryton refused the login of {self.username!r}")
        user_id, token = result[0], result[1]
        self._auth = "Session " + base64.b64encode(
            f"{self.username}:{user_id}:{token}".encode()).decode()
        prefs = await self._send("model.res.user.get_preferences", [True, {}])
        self._context = {k: prefs[k] for k in ("company", "language") if prefs.get(k) is not None}
        log.info("Tryton: logged in as %s (company %s)", self.username, self._context.get("company"))

    async def _call(self, method: str, *args: Any, context: dict[str, Any] | None = None) -> Any:
        if self._auth is None:
            await self._login()
        try:
            return await self._send(method, [*args, {**self._context, **(context or {})}])
        except _SessionExpired:
            await self._login()
            return await self._send(method, [*args, {**self._context, **(context or {})}])

    async def _send(self, method: str, params: list[Any], auth: bool = True) -> Any:
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if auth and self._auth:
            headers["Authorization"] = self._auth
        body = {"id": next(self._ids), "method": method, "params": _encode(params)}
        try:
            async with self._session.post(self.rpc, json=body, headers=headers) as resp:
                if resp.status in (401, 403):
                    self._auth = None
                    raise _SessionExpired()
                if resp.status != 200:
                    raise _Unwell(f"Tryton answered HTTP {resp.status} to {method}")
                answer = await resp.json(content_type=None)
        except TimeoutError as exc:
            raise _Unwell(f"Tryton did not answer {method} within {self.timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise _Unwell(f"cannot reach Tryton: {exc.__class__.__name__}: {exc}") from exc
        if answer.get("error"):
            kind, detail = answer["error"][0], answer["error"][1:]
            message = _message(detail)
            if kind in _REFUSALS:
                raise _Refused(f"Tryton: {message}")
            raise _Unwell(f"Tryton {kind} on {method}: {message}")
        return _decode(answer.get("result"))

    # --- the connector ---

    async def catalog(self) -> Catalog:
        try:
            products = await self._call("model.product.product.search_read",
                                        [("code", "!=", None)], 0, None, None, ["code"])
            points = await self._call("model.sale.point.search_read", [], 0, None, None, ["name"])
            methods = await self._call("model.sale.point.payment.method.search_read", [], 0, None,
                                       None, ["name", "cash"])
            company = await self._call("model.company.company.read", [self._context["company"]],
                                       ["currency.code"])
        except (_Unwell, _Refused) as exc:
            raise ErpUnavailable(str(exc)) from exc
        self._products = {p["code"]: p["id"] for p in products}
        self._points = {p["name"]: p["id"] for p in points}
        self._methods = {m["name"]: m["id"] for m in methods}
        self._cash = {m["name"] for m in methods if m["cash"]}
        self._currency = company[0]["currency."]["code"]
        return Catalog(stores=frozenset(self._points), skus=frozenset(self._products),
                       tenders=frozenset(self._methods))

    async def products(self) -> ErpProducts:
        """The saleable products that have a code, inactive ones too (so the hub retires them),
        with the company's list price (the variant's, else its template's) and the product's first EAN/UPC identifier as barcode.
        ErpUnavailable when Tryton cannot be read."""
        try:
            found = await self._call(
                "model.product.product.search_read",
                [("code", "!=", None), ("template.salable", "=", True)], 0, None, [("code", "ASC")],
                ["code", "name", "active", "list_price_used"], context={"active_test": False})
            codes = await self._call(
                "model.product.identifier.search_read",
                [("product", "in", [p["id"] for p in found]), ("type", "in", ["ean", "upc"])],
                0, None, [("sequence", "ASC"), ("id", "ASC")], ["product", "code"])
            company = await self._call("model.company.company.read", [self._context["company"]],
                                       ["currency.code"])
        except (_Unwell, _Refused) as exc:
            raise ErpUnavailable(str(exc)) from exc
        barcodes: dict[int, str] = {}
        for code in codes:
            barcodes.setdefault(code["product"], code["code"])
        return ErpProducts(currency=company[0]["currency."]["code"], products=[
            ErpProduct(sku=p["code"], name=p["name"], active=bool(p["active"]),
                       barcode=barcodes.get(p["id"]), list_price=p["list_price_used"])
            for p in found])

    async def day_closed(self, day: dt.date) -> bool:
        try:
            periods = await self._call(
                "model.account.period.search_read",
                [("start_date", "<=", day), ("end_date", ">=", day), ("type", "=", "standard")],
                0, None, None, ["state"])
        except (_Unwell, _Refused) as exc:
            raise ErpUnavailable(str(exc)) from exc
        return not periods or any(p["state"] != "open" for p in periods)

    async def post(self, payload: Payload) -> Result:
        try:
            return await self._post(payload)
        except _Refused as exc:
            return Result("dead", reason=str(exc), answer=str(exc))
        except _Unwell as exc:
            return Result("retry", reason=str(exc), failure=True)

    async def _post(self, payload: Payload) -> Result:
        pid = payload.posting_id
        found = await self._call("model.sale.point.sale.search_read", [("reference", "=", pid)],
                                 0, 1, None, ["state"])
        if found:
            sale_id, state = found[0]["id"], found[0]["state"]
            log.info("Tryton: posting %s found as sale %s (%s); resuming", pid, sale_id, state)
        else:
            sale_id = (await self._call("model.sale.point.sale.create", [self._sale(payload)]))[0]
            state = "open"
        if state == "cancelled":
            raise _Refused(f"the Tryton sale for posting {pid} was cancelled in Tryton")
        if state == "open":
            await self._call("model.sale.point.sale.process", [sale_id])
            state = (await self._read(sale_id))["state"]
            if state == "open":
                raise _Refused(f"Tryton left the sale open: payments do not cover its total "
                               f"(posting {pid})")
        if state == "done":
            try:
                await self._call("model.sale.point.sale.post", [sale_id])
            except _Refused:
                # An earlier attempt's post, given up on here, may have been still running in
                # Tryton and posted the sale first: then Tryton refuses this one, and all is done.
                if (await self._read(sale_id))["state"] != "posted":
                    raise
                log.info("Tryton: posting %s was already posted as sale %s", pid, sale_id)
        sale = await self._read(sale_id)
        return Result("posted", erp_ref=sale["number"], answer=f"sale.point.sale {sale_id} "
                      f"{sale['number']} {sale['state']} total {sale['total']}")

    async def _read(self, sale_id: int) -> dict[str, Any]:
        (sale,) = await self._call("model.sale.point.sale.read", [sale_id],
                                   ["state", "number", "total"])
        return dict(sale)

    def _sale(self, payload: Payload) -> dict[str, Any]:
        if self._currency and payload.currency != self._currency:
            raise _Refused(f"currency {payload.currency} is not the Tryton company's "
                           f"({self._currency})")
        sign = -1 if payload.kind == "return" else 1
        lines = []
        for line in payload.lines:
            if line.sku not in self._products:
                raise _Refused(f"SKU {line.sku} has no product in Tryton")
            signed = Line(line.sku, sign * line.qty, sign * line.net, sign * line.tax)
            lines.extend(sale_lines(signed, self._products[line.sku]))
        payments = []
        for tender in payload.tenders:
            if tender.amount:
                if tender.method not in self._methods:
                    raise _Refused(f"tender method {tender.method} has no payment method in Tryton")
                if sign * tender.amount < 0 and tender.method not in self._cash:
                    raise _Refused(f"Tryton's POS refunds only through a cash payment method; "
                                   f"this posting refunds {tender.amount} by {tender.method}")
                payments.append({"method": self._methods[tender.method],
                                 "amount": sign * tender.amount})
        if payload.store_id not in self._points:
            raise _Refused(f"store {payload.store_id} has no sale point in Tryton")
        return {"point": self._points[payload.store_id], "date": payload.business_day,
                "reference": payload.posting_id, "lines": [["create", lines]],
                "payments": [["create", payments]]}

    async def posted(self, store: str, day: dt.date) -> list[PostedDoc] | None:
        try:
            if store not in self._points:
                await self.catalog()
            point = self._points.get(store)
            if point is None:
                return []
            sales = await self._call(
                "model.sale.point.sale.search_read",
                [("point", "=", point), ("date", "=", day), ("reference", "!=", None),
                 ("state", "=", "posted")], 0, None, None, ["reference", "number", "total"])
        except (_Unwell, _Refused, ErpUnavailable) as exc:
            log.warning("cannot read sales back from Tryton: %s", exc)
            return None
        return [PostedDoc(s["reference"], s["number"], s["total"]) for s in sales]


class _SessionExpired(Exception):
    pass


def _message(detail: list[Any]) -> str:
    first = detail[0] if detail else ""
    while isinstance(first, list) and first:
        first = first[0]  # [message, description, domain...]: the message is for people
    return str(first)
