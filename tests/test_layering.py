"""protocol/ imports only msgspec and the standard library; edge_agent and hub never each other."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports(package: str, skip: tuple[str, ...] = ()) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        if path.name in skip:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_protocol_imports_only_msgspec_and_the_standard_library():
    assert imports("protocol") - set(sys.stdlib_module_names) - {"msgspec", "protocol"} == set()


def test_edge_agent_and_hub_do_not_import_each_other():
    assert "hub" not in imports("edge_agent")
    assert "edge_agent" not in imports("hub")


def test_runtime_imports_neither_side():
    assert not imports("runtime") & {"hub", "edge_agent"}


def test_the_tryton_module_stands_alone_and_the_hub_speaks_to_tryton_only_over_http():
    assert not imports("tryton_retail_sync") & {"hub", "edge_agent", "protocol", "runtime"}
    # Only the demo starts a Tryton; the connector talks JSON-RPC and imports nothing of it.
    assert "tryton_retail_sync" not in imports("hub", skip=("demo_erp.py",))
    assert "trytond" not in imports("hub")
