"""Typed TOML: read a file with ``tomllib`` and validate it into dataclasses.

A bad file gets one ``ConfigError`` naming the file, the dotted key and the problem, e.g.
``config/sim.toml: loop.rate_hz: must be >= 1 (got 0)``. Ranges and choices live beside the
field as metadata: ``field(default=500.0, metadata=rng(1, 4000))``.

It lives in hal/ because the drivers' and the simulator's settings are validated the same way
as the flight software's, and hal/ is the one layer both sides may import.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")

# configs, plans and scenarios are a few kB; the cap keeps /dev/zero or a log named by
# mistake from being read whole
MAX_FILE_BYTES = 16 * 1024 * 1024
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(Exception):
    """A configuration, plan or scenario problem, reported as one line."""

    def __init__(self, message: str) -> None:
        # a quoted key, a path or a string value may hold a line break: escape it so the
        # report stays one line whatever the file holds
        super().__init__(one_line(message))


def one_line(text: str) -> str:
    """``text`` with every non-printable character (newlines included) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def rng(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    return {"min": lo, "max": hi}


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # a path with a NUL byte
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: too large for a TOML file (over {MAX_FILE_BYTES} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}: not UTF-8 text (TOML must be UTF-8): byte "
                          f"0x{raw[exc.start]:02x} on line {line}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    except ValueError as exc:  # a decimal integer past Python's 4300-digit conversion limit
        why = str(exc).split(";")[0]  # drop the advice to raise the interpreter's limit
        where = _line_of(text, lambda ln: max(map(len, _DIGIT_RUN.findall(ln)), default=0))
        raise ConfigError(f"{path}: {where}: a value is too large to read ({why})") from None
    except RecursionError:
        where = _line_of(text, lambda ln: ln.count("[") + ln.count("{"))
        raise ConfigError(f"{path}: {where}: arrays or inline tables nested too deeply") from None


_DIGIT_RUN = re.compile(r"[0-9_]+")


def _line_of(text: str, score: typing.Callable[[str], int]) -> str:
    """Where tomllib gives no position: the line (and its key) that scores highest."""
    lines = text.splitlines() or [""]
    i = max(range(len(lines)), key=lambda j: score(lines[j]))
    key = lines[i].split("=", 1)[0].strip() if "=" in lines[i] else ""
    return f"line {i + 1}" + (f" ({key[:40]})" if key else "")


def load(cls: type[T], data: dict[str, Any], source: str, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and bad values are errors."""
    return typing.cast(T, _build(cls, data, source, prefix))


def load_file(cls: type[T], path: Path) -> T:
    return load(cls, read_toml(path), str(path))


def key_path(prefix: str, name: str) -> str:
    """The dotted key of ``name`` inside ``prefix``, quoted as TOML would where not bare."""
    part = name if _BARE_KEY.fullmatch(name) else _quote(name)
    return f"{prefix}.{part}" if prefix else part


def _quote(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{one_line(escaped)}"'


def describe(value: Any) -> str:
    """A value as an error line shows it: in TOML's spelling, short, never a whole table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else
                ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value))
    if isinstance(value, int):
        if abs(value) < 10**30:
            return str(value)
        # str() of a huge int is refused past 4300 digits, and unreadable long before
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"{'a negative' if value < 0 else 'an'} integer of about {digits} digits"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        if len(value) > 8 or any(isinstance(v, list | dict) for v in value):
            return f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
        text = "[" + ", ".join(describe(v) for v in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def number(value: Any, source: str, key: str) -> float:
    """A TOML number as a finite float; NaN, infinities and unrepresentable ints refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{source}: {key}: expected a number (got {describe(value)})")
    try:
        x = float(value)
    except OverflowError:
        raise ConfigError(f"{source}: {key}: number out of range (got {describe(value)})") from None
    if not math.isfinite(x):
        raise ConfigError(f"{source}: {key}: must be a finite number (got {describe(value)})")
    return x


def _build(cls: Any, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or '(top level)'}: expected a table "
                          f"(got {describe(data)})")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: {key_path(prefix, key)}: unknown key (known: {known})")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = key_path(prefix, name)
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
        try:
            problem = check()
        except (ArithmeticError, ValueError) as exc:
            # a cross-field check that cannot even be computed judges the input, not the code
            problem = f"values that cannot work together ({exc})"
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
            raise ConfigError(
                f"{source}: {key}: must be one of {allowed} (got {describe(value)})")
        return value
    if origin is list:
        (item_tp,) = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key}: expected an array (got {describe(value)})")
        return [_convert(item_tp, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key}: expected an array (got {describe(value)})")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{source}: {key}: expected {len(args)} items (got {len(value)})")
        return tuple(_convert(a, v, source, f"{key}[{i}]") for i, (a, v) in
                     enumerate(zip(args, value, strict=True)))
    if origin is dict:
        _, val_tp = get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key}: expected a table (got {describe(value)})")
        return {k: _convert(val_tp, v, source, key_path(key, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, source, key)
    if tp is Any:
        return value
    if tp is float:
        return number(value, source, key)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key}: expected an integer (got {describe(value)})")
        if not INT64_MIN <= value <= INT64_MAX:
            # no setting needs more, and numpy, struct and the ns arithmetic all stop at 64 bits
            raise ConfigError(f"{source}: {key}: integer out of 64-bit range "
                              f"(got {describe(value)})")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key}: expected true or false (got {describe(value)})")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key}: expected a string (got {describe(value)})")
        return value
    raise ConfigError(f"{source}: {key}: unsupported type {_type_name(tp)}")


def _check_range(meta: Any, value: Any, source: str, key: str) -> None:
    """The field's ``rng`` bounds, applied to the value or to every number nested in it.

    An array's item is reported under the array's key (the value shown tells which)."""
    lo, hi = meta.get("min"), meta.get("max")
    if lo is None and hi is None:
        return
    if isinstance(value, tuple | list):
        for v in value:
            _check_range(meta, v, source, key)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_range(meta, v, source, key_path(key, k))
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    if lo is not None and value < lo:
        raise ConfigError(f"{source}: {key}: must be >= {lo} (got {describe(value)})")
    if hi is not None and value > hi:
        raise ConfigError(f"{source}: {key}: must be <= {hi} (got {describe(value)})")
