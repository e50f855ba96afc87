"""The admin token on the hub's API: every change (POST) needs it; reads are open."""

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from runtime.http import Handler, error


def admin_only_writes(token: str | None) -> Middleware:
    """aiohttp middleware: GET and HEAD pass; anything else needs `Authorization: Bearer token`,
    and is refused (403) while no `[api] admin_token_file` is configured."""

    @web.middleware
    async def require_admin(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in ("GET", "HEAD"):
            return await handler(request)
        if token is None:
            return error(403, "actions are disabled until [api] admin_token_file is set in the "
                              "hub's config", "Authorization")
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return error(401, "missing or wrong admin token (Authorization: Bearer ...)",
                         "Authorization")
        return await handler(request)

    return require_admin
