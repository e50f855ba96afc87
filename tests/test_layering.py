"""protocol/ imports only msgspec and the standard library; edge_agent and hub never each other."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
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
