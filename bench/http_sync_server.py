"""Baseline for the drain benchmark: the per-sale HTTP sync POS products commonly use.

One POST per sale to a hub endpoint that writes it to SQLite (WAL, synchronous=FULL, one
transaction per sale) and answers 201. Usage: python -m bench.http_sync_server PORT DB
"""

import sys

from aiohttp import web

from runtime.sqlite_writer import connect


def main(port: int, db: str) -> None:
    conn = connect(db)
    conn.execute("CREATE TABLE IF NOT EXISTS sales (id INTEGER PRIMARY KEY, body BLOB)")

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO sales (body) VALUES (?)", (body,))
        conn.execute("COMMIT")
        return web.json_response({"status": "stored"}, status=201)

    app = web.Application()
    app.router.add_post("/sales", handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
