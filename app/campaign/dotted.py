"""Dotted key paths into the raw TOML of a flight: ``config.sim.vehicle.mass_kg``,
``scenario.world.wind.speed_mps``, ``scenario.faults[0].at_s``.

The first segment says which document (``config``: the flight configuration file,
``scenario``: the scenario file); the rest walks its tables by name and its arrays by index.
A value is set on the raw dictionaries *before* validation, so a drawn value is judged by the
same loaders, with the same one-line errors, as a value written in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hal.tomlschema import ConfigError

ROOTS = ("config", "scenario")
_SEGMENT = re.compile(r"([A-Za-z0-9_-]+)((?:\[\d{1,4}\])*)")
_INDEX = re.compile(r"\[(\d{1,4})\]")


@dataclass(frozen=True)
class KeyPath:
    """A parsed path: the document and the steps (a ``str`` is a table key, an ``int`` an
    array index)."""

    text: str
    root: str
    steps: tuple[str | int, ...]


def parse_key(text: str, source: str, where: str) -> KeyPath:
    """``text`` as a ``KeyPath``; ``source: where: problem`` on a malformed one."""
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{source}: {where}: expected a dotted key such as "
                          "\"config.sim.vehicle.mass_kg\"")
    steps: list[str | int] = []
    for part in text.split("."):
        m = _SEGMENT.fullmatch(part)
        if m is None:
            raise ConfigError(f"{source}: {where}: malformed key {text!r} at {part!r} "
                              "(names of letters, digits, _ and -, then optional [index])")
        steps.append(m.group(1))
        steps.extend(int(i) for i in _INDEX.findall(m.group(2)))
    root = steps[0]
    if root not in ROOTS or len(steps) < 2:
        raise ConfigError(f"{source}: {where}: key {text!r} must start with "
                          f"{' or '.join(r + '.' for r in ROOTS)} and name a value")
    return KeyPath(text, str(root), tuple(steps[1:]))


def set_value(doc: dict[str, Any], key: KeyPath, value: Any, source: str) -> None:
    """Set ``key`` in ``doc`` (the document its root names), creating missing tables: a file
    names only what it changes, so the table a key lives in may not be written yet."""
    node: Any = doc
    walked = key.root
    for step, nxt in zip(key.steps, key.steps[1:] + (None,), strict=True):
        last = nxt is None
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise ConfigError(f"{source}: {key.text}: {walked} has {size} entries, "
                                  f"no [{step}]")
            walked += f"[{step}]"
            if last:
                node[step] = value
                return
            node = node[step]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: {key.text}: {walked} is not a table")
        walked += f".{step}"
        if last:
            node[step] = value
            return
        if step not in node:
            if isinstance(nxt, int):
                raise ConfigError(f"{source}: {key.text}: {walked} is not in the file, "
                                  f"so it has no [{nxt}]")
            node[step] = {}
        node = node[step]
