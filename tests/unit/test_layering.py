"""DESIGN.md's layering rules, checked on the source tree: who may import whom, and no import
circles between the project's modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "firmware", "hal", "sim_hal", "ground")

# What each layer must never import (top-level package names).
FORBIDDEN = {
    # the flight software: the HAL contract and numpy only
    "firmware": {"smbus2", "serial", "sim_hal", "app", "ground", "pyulog", "matplotlib"},
    "hal": {"sim_hal", "firmware", "app", "ground"},
    # backends: the HAL and the world, never the flight software or the tools above it
    "sim_hal": {"firmware", "app", "ground"},
    # ground tools read logs (pyulog) and may re-run the flight software, never a backend
    "ground": {"sim_hal", "app", "smbus2", "serial"},
}
# Optional extras a module may only import where it is used (inside a function), so that the
# package imports without them: plots need matplotlib, the interactive page Plotly, nothing
# else does.
OPTIONAL_AT_USE = {"matplotlib", "plotly"}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            mods[name] = path
    return mods


MODULES = _modules()


def _absolute(node: ast.ImportFrom, module: str, path: Path) -> str:
    if node.level == 0:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imported_names(module: str, path: Path) -> set[str]:
    """Dotted names a module imports (``from a.b import c`` gives a.b and a.b.c)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, path)
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    return names


def imports_of(path: Path) -> set[str]:
    module = next(m for m, p in MODULES.items() if p == path)
    return {n.split(".")[0] for n in imported_names(module, path)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_layer_imports_what_it_must_not(package: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(imports_of(p) & FORBIDDEN[package])
                 for m, p in MODULES.items() if m.split(".")[0] == package}
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def test_optional_extras_are_imported_only_where_used() -> None:
    offenders = []
    for path in MODULES.values():
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""])
                if {n.split(".")[0] for n in names} & OPTIONAL_AT_USE:
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_layer_table_knows_every_package() -> None:
    assert set(FORBIDDEN) | {"app"} == set(PACKAGES)
    assert all((ROOT / pkg / "__init__.py").is_file() for pkg in PACKAGES)


def _graph() -> dict[str, set[str]]:
    """Imports between project modules, deferred ones (inside functions) included: a circle
    through a deferred import still means two modules that cannot be understood apart."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        names = imported_names(module, path)
        graph[module] = {n for n in names if n in MODULES and n != module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_circles() -> None:
    assert _cycle(_graph()) is None


def test_the_circle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
