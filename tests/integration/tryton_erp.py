"""A real Tryton for tests: the template database is built once per run and copied per module."""

import base64
import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.integration.tills import SKUS
from tryton_retail_sync import database
from tryton_retail_sync.server import TrytonServer

STORES = ["S001", "S002", "S003"]


def tryton_section(url: str, password_file, more: str = "") -> str:
    return (f'[erp]\nconnector = "tryton"\nurl = "{url}"\ndatabase = "retail"\nusername = "hub"\n'
            f'password_file = "{password_file}"\nrate_limit_per_s = 10\nretry_initial_s = 0.2\n'
            f"retry_max_s = 1\n{more}")


def build_template(directory: Path) -> Path:
    return database.build(directory, STORES, [*SKUS, "SKU-9"])


class TrytonClient:
    """Plain JSON-RPC as the admin, to check what the hub made in Tryton."""

    def __init__(self, server: TrytonServer, template: Path) -> None:
        self.url = f"{server.url}/{server.db}/rpc/"
        self.password = (template / "admin-password").read_text().strip()
        self.auth = ""
        self.context: dict[str, Any] = {}

    def _send(self, method: str, params: list[Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.auth:
            headers["Authorization"] = self.auth
        body = json.dumps({"id": 1, "method": method, "params": params}).encode()
        request = urllib.request.Request(self.url, body, headers)
        with urllib.request.urlopen(request, timeout=30) as resp:
            answer = json.loads(resp.read())
        if answer.get("error"):
            raise AssertionError(f"Tryton error on {method}: {answer['error']}")
        return answer["result"]

    def call(self, method: str, *args: Any) -> Any:
        if not self.auth:
            user_id, token, *_ = self._send("common.db.login",
                                            ["admin", {"password": self.password}, "en"])
            self.auth = "Session " + base64.b64encode(f"admin:{user_id}:{token}".encode()).decode()
            prefs = self._send("model.res.user.get_preferences", [True, {}])
            self.context = {"company": prefs["company"]}
        return self._send(method, [*args, self.context])

    def sales(self, references: list[str] | None = None) -> list[dict[str, Any]]:
        domain: list[Any] = [("reference", "!=", None)]
        if references is not None:
            domain = [("reference", "in", references)]
        return list(self.call("model.sale.point.sale.search_read", domain, 0, None, None,
                              ["reference", "state", "number", "total", "move.state", "lines"]))

    def stock_moves(self, sale_line_ids: list[int]) -> list[dict[str, Any]]:
        origins = [f"sale.point.sale.line,{i}" for i in sale_line_ids]
        return list(self.call("model.stock.move.search_read", [("origin", "in", origins)], 0, None,
                              None, ["product.code", "quantity", "state"]))


def money(value: Any) -> str:
    return value["decimal"] if isinstance(value, dict) else str(value)
