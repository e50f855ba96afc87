"""JSON answers for both services' HTTP APIs: bodies, errors, and a middleware for aiohttp's own."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from runtime.secrets import scrub

_json = msgspec.json.Encoder()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def error(status: int, message: str, field: str | None = None, **extra: Any) -> web.Response:
    """`{"error": message, "field": path}`: what went wrong and where."""
    body: dict[str, Any] = {"error": scrub(message)}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return json_response(body, status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer is JSON, including aiohttp's own 404/405/413."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app._client_max_size
        return error(422, f"body larger than {limit} bytes", "$")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, exc.reason)
    except Exception as exc:  # a bug or an outage still answers in JSON
        # An error may name its own status (`http_status`: a write that lost a race, 503).
        status = getattr(exc, "http_status", 500)
        if status >= 500 and status != 503:
            logging.getLogger(__name__).exception("%s %s failed", request.method, request.path)
        return error(status, str(exc) if status == 503 else "internal error: see the log")


def bound_port(site: web.TCPSite, default: int) -> int:
    """The port a site really listens on (differs from the configured one when that was 0)."""
    server = getattr(site, "_server", None)
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else default
