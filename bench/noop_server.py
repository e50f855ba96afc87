"""Baseline for the capture benchmark: an aiohttp handler that reads the body and answers 201."""

import sys

from aiohttp import web


async def handler(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"event_id": "x", "seq": 1, "status": "captured"}, status=201)


if __name__ == "__main__":
    app = web.Application()
    app.router.add_post("/v1/sales", handler)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
