"""Typed TOML: read a file with ``tomllib`` and validate it into dataclasses.

A bad file gets one ``ConfigError`` naming the file, the dotted key and the problem, e.g.
``config/sim.toml: loop.rate_hz: must be >= 1 (got 0)``. Ranges and choices live beside the
field as metadata: ``field(default=500.0, metadata=rng(1, 4000))``.

It lives in hal/ because the drivers' and the simulator's settings are validated the same way
as the flight software's, and hal/ is the one layer both sides may import.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration, plan or scenario problem, reported as one line."""


def rng(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    return {"min": lo, "max": hi}


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load(cls: type[T], data: dict[str, Any], source: str, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and bad values are errors."""
    return typing.cast(T, _build(cls, data, source, prefix))


def load_file(cls: type[T], path: Path) -> T:
    return load(cls, read_toml(path), str(path))


def _where(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _build(cls: Any, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or '(top level)'}: expected a table")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: {_where(prefix, key)}: unknown key (known: {known})")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = _where(prefix, name)
        if name not in data:
            no_default = (
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            )
            if no_default:
                raise ConfigError(f"{source}: {key}: missing required key")
            continue
        value = _convert(hints[name], data[name], source, key)
        _check_range(f.metadata, value, source, key)
        kwargs[name] = value
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if callable(check):
        problem = check()
        if problem:
            raise ConfigError(f"{source}: {prefix or '(top level)'}: {problem}")
    return obj


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return {"float": "a number", "int": "an integer", "str": "a string",
                "bool": "true or false"}.get(tp.__name__, tp.__name__)
    return str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        last: ConfigError | None = None
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _convert(opt, value, source, key)
            except ConfigError as exc:
                last = exc
        assert last is not None
        raise last
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{source}: {key}: must be one of {allowed} (got {value!r})")
        return value
    if origin is list:
        (item_tp,) = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key}: expected a list (got {value!r})")
        return [_convert(item_tp, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key}: expected a list (got {value!r})")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{source}: {key}: expected {len(args)} items (got {len(value)})")
        return tuple(_convert(a, v, source, f"{key}[{i}]") for i, (a, v) in
                     enumerate(zip(args, value, strict=True)))
    if origin is dict:
        _, val_tp = get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key}: expected a table")
        return {k: _convert(val_tp, v, source, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, source, key)
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: {key}: expected a number (got {value!r})")
        if value != value:
            raise ConfigError(f"{source}: {key}: must be a number, not nan")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key}: expected an integer (got {value!r})")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key}: expected true or false (got {value!r})")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key}: expected a string (got {value!r})")
        return value
    raise ConfigError(f"{source}: {key}: unsupported type {_type_name(tp)}")


def _check_range(meta: Any, value: Any, source: str, key: str) -> None:
    lo, hi = meta.get("min"), meta.get("max")
    items = value if isinstance(value, tuple | list) else [value]
    for v in items:
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        if lo is not None and v < lo:
            raise ConfigError(f"{source}: {key}: must be >= {lo} (got {v})")
        if hi is not None and v > hi:
            raise ConfigError(f"{source}: {key}: must be <= {hi} (got {v})")
