"""The tokens on the hub's API: every change (POST, PUT) needs the admin token, or for a
channel's reservations that channel's token; reads are open."""

import hmac
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Middleware

from runtime.http import Handler, error

# The channel whose token a request carried; absent when it carried the admin token.
CHANNEL = web.RequestKey("channel", str)
# Where a channel's own token is enough: its reservations (the handlers check the channel).
CHANNEL_PATHS = ("/v1/reservations",)
# A read that takes a body (up to 1,000 SKUs), so it is a POST: open like the other reads.
OPEN_POSTS = frozenset({"/v1/availability/query"})


def caller_channel(request: web.Request) -> str | None:
    """The channel a write acts for when a channel's token authorised it; None for the admin."""
    return request.get(CHANNEL)


def admin_only_writes(token: str | None,
                      channel_tokens: Mapping[str, str] | None = None) -> Middleware:
    """aiohttp middleware: GET and HEAD pass, and so does the availability query (a read).
    Anything else needs `Authorization: Bearer token` with the admin token, or with a channel's
    token (`[channels.X] token_file`) on the reservation routes, which then see the channel as
    `caller_channel(request)`. Writes are refused (403) while no token at all is configured."""
    channels = dict(channel_tokens or {})

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in ("GET", "HEAD") or (request.method == "POST"
                                                 and request.path in OPEN_POSTS):
            return await handler(request)
        if token is None and not channels:
            return error(403, "actions are disabled until [api] admin_token_file is set in the "
                              "hub's config", "Authorization")
        given = request.headers.get("Authorization", "").encode()
        if token is not None and hmac.compare_digest(given, f"Bearer {token}".encode()):
            return await handler(request)
        # Every channel's token is compared, so the time taken does not tell which one matched.
        matched = [name for name, secret in channels.items()
                   if hmac.compare_digest(given, f"Bearer {secret}".encode())]
        if matched:
            if not request.path.startswith(CHANNEL_PATHS):
                return error(403, "a channel's token may only reserve, release and fulfil; "
                                  "this needs the admin token", "Authorization")
            request[CHANNEL] = matched[0]
            return await handler(request)
        which = "admin or channel token" if channels else "admin token"
        return error(401, f"missing or wrong {which} (Authorization: Bearer ...)", "Authorization")

    return require_token
