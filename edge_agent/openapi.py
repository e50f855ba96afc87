"""The capture API's OpenAPI 3.1 document (`GET /openapi.json`), for till integrators and tools.

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
        "info": {"title": "Store edge agent: capture API", "version": __version__,
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
