"""Each package has one root error, and its docstring tree names every public error under it."""

import importlib
import inspect
import pkgutil

import pytest

ROOTS = {
    "hub": ("hub.errors", "HubError"),
    "runtime": ("runtime.errors", "PlumbingError"),
    "edge_agent": ("edge_agent.errors", "AgentError"),
    "protocol": ("protocol.errors", "ProtocolError"),
}


def public_errors(package: str) -> dict[str, type[BaseException]]:
    """Every public exception class defined in the package, by qualified name."""
    pkg = importlib.import_module(package)
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == info.name and not name.startswith("_")):
                found[f"{info.name}.{name}"] = obj
    return found


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_public_error_is_under_the_package_root_and_drawn_in_its_tree(package: str) -> None:
    module_name, root_name = ROOTS[package]
    module = importlib.import_module(module_name)
    root = getattr(module, root_name)
    errors = public_errors(package)
    assert {name for name, cls in errors.items() if not issubclass(cls, root)} == set()
    tree = module.__doc__ or ""
    assert {name for name, cls in errors.items() if cls.__name__ not in tree} == set()
