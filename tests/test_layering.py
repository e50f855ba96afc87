"""protocol/ imports only msgspec and the standard library; edge_agent and hub never each other;
each hub room imports only what its row allows; no package has an import cycle."""

import ast
import re
import sys
from pathlib import Path

import pytest

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
    # Only the demo (outside hub/) starts a Tryton; the connector talks JSON-RPC.
    assert "tryton_retail_sync" not in imports("hub")
    assert "trytond" not in imports("hub")


# What each room of the hub may import of the hub (besides itself); docs/architecture.md has the
# same table. `hub` alone (for __version__) and `errors` (the hub's one error tree) are open to
# every room.
HUB_ROOMS = {
    "storage": {"config"},
    "ledger": {"config", "storage"},
    "erp": {"config", "postings.payloads"},
    "postings": {"config", "erp", "ledger", "storage"},
    "ingest": {"config", "ledger", "postings", "storage"},
    "broker": {"config", "errors", "ledger", "storage"},
    "availability": {"config", "storage"},
    "catalog": {"config", "storage"},
    "cluster": {"config", "erp", "postings.payloads", "storage"},
    "web": {"availability", "catalog", "cluster", "config", "ingest", "ledger", "postings",
            "storage"},
    "cli": {"catalog", "config", "erp", "postings", "storage"},
}


def hub_imports(room: str) -> set[str]:
    """The hub modules a room imports, as 'room' or 'room.module' below `hub.`."""
    found: set[str] = set()
    for path in (ROOT / "hub" / room).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     and node.level == 0 else [])
            found |= {n.removeprefix("hub.") for n in names if n.startswith("hub.")}
    return found


def allowed(name: str, room: str) -> bool:
    return any(name == a or name.startswith(a + ".")
               for a in HUB_ROOMS[room] | {room, "errors"})


def test_each_hub_room_imports_only_what_its_row_allows():
    wrong = {room: sorted(n for n in hub_imports(room) if not allowed(n, room))
             for room in HUB_ROOMS}
    assert {room: names for room, names in wrong.items() if names} == {}


def test_no_product_package_imports_the_demo():
    for package in ("protocol", "runtime", "edge_agent", "hub", "tryton_retail_sync"):
        assert "demo" not in imports(package), package


def module_graph(package: str) -> dict[str, set[str]]:
    """Which modules of `package` each of its modules imports, as written: imports under
    `if TYPE_CHECKING:` and inside functions count too (a cycle there is still a tangle)."""
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:  # `from pkg import module` names a module, else the package
                    target = f"{node.module}.{a.name}"
                    found.add(target if target in modules else node.module)
        found &= modules.keys() - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, each reported once, as the path that closes it."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            found.append(path[path.index(name):] + [name])
            return
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, path + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return found


@pytest.mark.parametrize("package", ["protocol", "runtime", "edge_agent", "hub"])
def test_no_import_cycle(package):
    assert cycles(module_graph(package)) == []


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def imported_test_modules(path: Path) -> set[str]:
    """The test modules (`tests...test_*`) a file imports, at any depth and however spelled."""
    package = path.relative_to(ROOT).parent.parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = [*package[:len(package) - node.level + 1]] if node.level else []
            base = ".".join([*parts, *filter(None, [node.module])])
            names = [base] if "test_" in base else [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith("tests.")
                  and any(p.startswith("test_") for p in n.split("."))}
    return found


def test_no_test_module_imports_another():
    """Shared helpers live in helper modules (helpers.py, procs.py, tills.py ...) or conftest
    fixtures, never in a test module another one imports."""
    wrong = {str(p.relative_to(ROOT)): sorted(names) for p in (ROOT / "tests").rglob("*.py")
             if (names := imported_test_modules(p))}
    assert wrong == {}


# SQL as this project writes it: keywords in capitals.
SQL = re.compile(r"\b(SELECT\s[^;]{0,400}?\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET"
                 r"|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|PRAGMA\s)")


def test_only_hub_storage_knows_the_database():
    """No hub module outside hub/storage/ imports a database driver or writes SQL: the storage
    port is the one place a second backend (PostgreSQL) has to implement."""
    drivers = {"sqlite3", "aiosqlite", "psycopg", "runtime.sqlite_writer"}
    wrong: dict[str, list[str]] = {}
    for path in (ROOT / "hub").rglob("*.py"):
        if path.relative_to(ROOT / "hub").parts[0] == "storage":
            continue
        tree = ast.parse(path.read_text())
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names if a.name in drivers]
            elif isinstance(node, ast.ImportFrom) and node.module in drivers:
                found.append(node.module)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and SQL.search(node.value):
                found.append(f"SQL at line {node.lineno}")
        if found:
            wrong[str(path.relative_to(ROOT))] = found
    assert wrong == {}


def test_the_sql_check_sees_sql():
    assert SQL.search("SELECT applied_seq FROM streams WHERE store_id = ?")
    assert SQL.search("INSERT OR IGNORE INTO stores (store_id) VALUES (?)")
    assert SQL.search("UPDATE postings SET state = 'pending'")
    assert not SQL.search("select a store from the list, then update the page")
