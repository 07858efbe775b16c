"""DESIGN.md's layering rules, checked on the source tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "firmware").glob("*.py")), ids=lambda p: p.name)
def test_firmware_never_imports_a_backend_or_bus_library(path: Path):
    assert not imports_of(path) & {"smbus2", "serial", "sim_hal", "app"}


@pytest.mark.parametrize("path", sorted((ROOT / "hal").glob("*.py")), ids=lambda p: p.name)
def test_hal_never_imports_the_layers_above(path: Path):
    assert not imports_of(path) & {"sim_hal", "firmware"}
