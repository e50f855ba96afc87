"""The till API's OpenAPI 3.1 document (`GET /openapi.json`): captures and the store's catalog,
for till integrators and tools.

The request schemas are generated from the very structs the agent decodes with
(edge_agent.requests), so the document cannot drift from what is accepted; amounts and instants
get the patterns docs/api.md describes.
"""

import functools
from typing import Any

import msgspec

from edge_agent import __version__
from edge_agent.requests import AdjustmentIn, Amount, DayCloseIn, ReturnIn, SaleIn
from protocol import rules

_AMOUNT = {"type": "string", "pattern": rules.AMOUNT_PATTERN,
           "description": "decimal string: ASCII digits, an optional point, at most 4 decimals,"
                          " less than 10^12 (a JSON number so written is read exactly too)",
           "examples": ["12.00"]}
_INSTANT = {"type": "string", "format": "date-time",
            "description": "RFC 3339 with an explicit offset", "examples": ["2026-11-23T10:15:00+01:00"]}
_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "string"}, "field": {"type": "string"},
                         "event_id": {"type": "string"}, "seq": {"type": "integer"}}}
_CAPTURED = {"type": "object", "required": ["event_id", "seq", "status"],
             "properties": {"event_id": {"type": "string"}, "seq": {"type": "integer"},
                            "status": {"const": "captured"}, "warning": {"type": "string"}}}
_INSTANT_FIELDS = {"occurred_at"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_PRICE = {"type": ["object", "null"],
          "required": ["amount", "currency", "price_book", "effective_from", "effective_to"],
          "properties": {"amount": {"type": "string"}, "currency": {"type": "string"},
                         "price_book": {"type": "string"}, "effective_from": {"type": "string"},
                         "effective_to": _TEXT_OR_NULL}}
_ITEM = {"type": "object",
         "required": ["sku", "name", "barcode", "unit", "tax_class", "price", "catalog_version"],
         "properties": {"sku": {"type": "string"}, "name": {"type": "string"},
                        "barcode": _TEXT_OR_NULL, "unit": _TEXT_OR_NULL,
                        "tax_class": _TEXT_OR_NULL, "price": _PRICE,
                        "catalog_version": {"type": ["integer", "null"]}}}
_AT = {"name": "at", "in": "query", "required": False,
       "description": "the instant to price at (default: now, by the store controller's clock)",
       "schema": {"type": "string", "format": "date-time"}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def _fix(node: Any, name: str | None = None) -> Any:
    """msgspec's schema, with amounts and instants as the API documents them."""
    if isinstance(node, list):
        return [_fix(v) for v in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "string" and node.get("format") == "decimal":
        return dict(_AMOUNT)
    if name in _INSTANT_FIELDS and node.get("type") == "string":
        return dict(_INSTANT)
    fixed: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            fixed[key] = {prop: _fix(schema, prop) for prop, schema in value.items()}
        elif key == "anyOf":
            fixed[key] = [_fix(schema, name) for schema in value]
        else:
            fixed[key] = _fix(value)
    return fixed


def _lookup(summary: str, operation: str, parameters: list[dict[str, Any]],
            answer: dict[str, Any], not_found: str | None) -> dict[str, Any]:
    responses = {"200": _json(answer, "answered from the store's own catalog, offline too"),
                 "401": _error("api.token_file is set and the bearer token is missing or wrong"),
                 "422": _error("a query parameter that cannot be read; `field` names it"),
                 "503": _error("the catalog cannot be read just now (a full disk)")}
    if not_found:
        responses["404"] = _error(not_found)
    return {"get": {"summary": summary, "operationId": operation, "parameters": parameters,
                    "responses": responses}}


def _catalog_paths() -> dict[str, Any]:
    """The till-facing catalog (edge_agent.catalog_api)."""
    whole = {"type": "string", "pattern": "^[0-9]+$"}
    return {
        "/v1/items/{sku}": _lookup(
            "an item and its price", "item",
            [{"name": "sku", "in": "path", "required": True, "schema": {"type": "string"}}, _AT],
            _ITEM, "no such item in the store's catalog"),
        "/v1/items": _lookup(
            "an item by barcode, and its price", "itemByBarcode",
            [{"name": "barcode", "in": "query", "required": True, "schema": {"type": "string"}},
             _AT], _ITEM, "no item with that barcode"),
        "/v1/catalog": _lookup(
            "the catalog's version and next price change", "catalog", [],
            {"type": "object", "required": ["version", "applied_at", "items", "next_change"],
             "properties": {"version": {"type": ["integer", "null"]},
                            "applied_at": _TEXT_OR_NULL, "items": {"type": "integer"},
                            "next_change": {"type": ["object", "null"]},
                            "applying": {"type": ["integer", "null"]}}}, None),
        "/v1/catalog/changes": _lookup(
            "what changed since a version", "catalogChanges",
            [{"name": "since", "in": "query", "required": True, "schema": whole},
             {"name": "after", "in": "query", "required": False, "schema": {"type": "string"}},
             {"name": "limit", "in": "query", "required": False, "schema": whole}, _AT],
            {"type": "object", "required": ["since", "version", "items", "removed", "next"],
             "properties": {"since": {"type": "integer"}, "version": {"type": ["integer", "null"]},
                            "items": {"type": "array", "items": _ITEM},
                            "removed": {"type": "array", "items": {"type": "string"}},
                            "next": _TEXT_OR_NULL}}, None),
    }


def _amount_schema(kind: type) -> dict[str, Any]:
    if kind is Amount:
        return dict(_AMOUNT)
    raise NotImplementedError(kind)


def _capture(name: str, summary: str, key: str) -> dict[str, Any]:
    return {"post": {
        "summary": summary,
        "operationId": f"capture{name}",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{name}"}}}},
        "responses": {
            "201": _json(_CAPTURED, "committed and fsync'd in the outbox"),
            "200": _json(_CAPTURED, f"the same {key} with the same content: nothing new recorded"),
            "401": _error("api.token_file is set and the bearer token is missing or wrong"),
            "409": _error(f"this {key} was already captured with different content"),
            "415": _error("a Content-Type other than application/json"),
            "422": _error("malformed; `field` names where"),
            "503": _error("the outbox could not commit; not recorded, retry"),
            "507": _error("the controller's disk is full; not recorded"),
        },
    }}


@functools.cache
def document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [SaleIn, ReturnIn, AdjustmentIn, DayCloseIn], ref_template="#/components/schemas/{name}",
        schema_hook=_amount_schema)
    schemas = {name: _fix(schema) for name, schema in components.items()}
    schemas["Error"] = _ERROR
    return {
        "openapi": "3.1.0",
        "info": {"title": "Store edge agent: till API", "version": __version__,
                 "description": "See docs/api.md. A 2xx means the event survives a power cut."},
        "paths": {
            "/v1/sales": _capture("SaleIn", "capture a sale", "(register_id, pos_txn_id)"),
            "/v1/returns": _capture("ReturnIn", "capture a return", "(register_id, pos_txn_id)"),
            "/v1/inventory-adjustments": _capture("AdjustmentIn", "capture a stock adjustment",
                                                  "adjustment_id"),
            "/v1/day-close": _capture("DayCloseIn", "a register's or the store's day-close totals",
                                      "(register_id, business_day)"),
            "/v1/transactions/{register_id}/{pos_txn_id}": {"get": {
                "summary": "where a captured sale or return is",
                "operationId": "transaction",
                "parameters": [
                    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                    for n in ("register_id", "pos_txn_id")],
                "responses": {
                    "200": _json({"type": "object", "required": ["event_id", "seq", "state"],
                                  "properties": {
                                      "event_id": {"type": "string"}, "seq": {"type": "integer"},
                                      "kind": {"type": "string"},
                                      "state": {"enum": ["captured", "delivered"]},
                                      "captured_at": {"type": "string"},
                                      "business_day": {"type": "string"}}},
                                 "the transaction and whether the hub has it"),
                    "401": _error("bearer token missing or wrong"),
                    "404": _error("not in this outbox"),
                }}},
            **_catalog_paths(),
            "/healthz": {"get": {
                "summary": "for systemd and monitoring", "operationId": "healthz",
                "responses": {"200": _json({"type": "object"}, "ok"),
                              "503": _json({"type": "object"}, "degraded, with a reason")}}},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"tillToken": {
                "type": "http", "scheme": "bearer",
                "description": "only when the agent's api.token_file is set"}},
        },
    }
