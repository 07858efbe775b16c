"""Fault injection for the simulated backend: what each scenario fault kind means and takes.

A scenario's ``[[faults]]`` table has ``kind``, ``at_s``, optional ``duration_s`` (default: to
the end) and the kind's own parameters, validated here before anything flies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hal.tomlschema import ConfigError, describe, key_path, number
from hal.types import NS_PER_S

# kind -> {parameter: (default or None when required, min, max)}
FAULT_KINDS: dict[str, dict[str, tuple[float | None, float, float]]] = {
    "camera.drop": {"count": (1, 1, 10_000)},
    "camera.stamp_shift": {"shift_s": (None, -10.0, 10.0)},
    "camera.clock_skew": {"ppm": (None, -100_000.0, 100_000.0)},
    "camera.stall": {},
    "camera.disconnect": {},  # the line goes dead (the driver sees its port fail)
    "camera.burst_drop": {"drop_prob": (None, 0.0, 1.0)},
    "camera.latency": {"extra_s": (None, 0.0, 5.0)},
    "imu.stall": {},
    "imu.fifo_overflow": {"interval_s": (0.05, 0.002, 10.0)},
    "imu.bus_errors": {"rate": (None, 0.0, 1.0)},
    "imu.nan": {},
    "altimeter.stall": {},
    "altimeter.invalid": {},
    "loop.delay": {"delay_ms": (None, 0.0, 1000.0)},
    "loop.hang": {"hang_s": (None, 0.001, 60.0)},  # one real-time stall of the cycle
}

INTEGER_PARAMS = {"count", "motor"}


@dataclass(frozen=True)
class Fault:
    kind: str
    at_ns: int
    until_ns: int  # exclusive; a very large number for "to the end"
    params: dict[str, float]

    def active(self, t_ns: int) -> bool:
        return self.at_ns <= t_ns < self.until_ns

    def __getitem__(self, name: str) -> float:
        return self.params[name]


FOREVER_NS = 2**62
# ~32 years: past any flight (loop.max_flight_s <= 1 day), and at + duration + a host clock's
# start stay far below FOREVER_NS, so a time never overflows or wraps into "forever"
MAX_FAULT_S = 1e9


def parse_faults(raw: Any, source: str, t0_ns: int = 0) -> list[Fault]:
    """Validate a scenario's ``faults`` list; times become absolute sim-clock ns."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: faults: expected an array of tables ([[faults]])")
    faults = []
    for i, entry in enumerate(raw):
        where = f"faults[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {where}: expected a table (got {describe(entry)})")
        kind = entry.get("kind")
        if not isinstance(kind, str):
            raise ConfigError(f"{source}: {where}.kind: missing or not a string")
        if kind not in FAULT_KINDS:
            known = ", ".join(sorted(FAULT_KINDS))
            raise ConfigError(f"{source}: {where}.kind: unknown fault kind {describe(kind)} "
                              f"(known: {known})")
        spec = FAULT_KINDS[kind]
        at_s = _number(entry, "at_s", where, source, required=True)
        assert at_s is not None  # required=True raised otherwise
        if at_s < 0:
            raise ConfigError(f"{source}: {where}.at_s: must be >= 0 (got {describe(at_s)})")
        if at_s > MAX_FAULT_S:
            raise ConfigError(f"{source}: {where}.at_s: must be <= {MAX_FAULT_S:g} s "
                              f"(got {describe(at_s)})")
        dur = _number(entry, "duration_s", where, source, required=False)
        if dur is not None and dur <= 0:
            raise ConfigError(f"{source}: {where}.duration_s: must be > 0 (got {describe(dur)})")
        if dur is not None and dur > MAX_FAULT_S:
            raise ConfigError(f"{source}: {where}.duration_s: must be <= {MAX_FAULT_S:g} s "
                              f"(got {describe(dur)})")
        params: dict[str, float] = {}
        for key in entry:
            if key in ("kind", "at_s", "duration_s"):
                continue
            if key not in spec:
                allowed = ", ".join(["at_s", "duration_s", *spec])
                raise ConfigError(f"{source}: {key_path(where, key)}: unknown parameter for "
                                  f"{kind} (known: {allowed})")
        for key, (default, lo, hi) in spec.items():
            v = _number(entry, key, where, source, required=default is None)
            if v is None:
                v = default
            assert v is not None
            if key in INTEGER_PARAMS and v != int(v):
                raise ConfigError(
                    f"{source}: {where}.{key}: expected an integer (got {describe(v)})")
            if not lo <= v <= hi:
                raise ConfigError(
                    f"{source}: {where}.{key}: must be in [{lo}, {hi}] (got {describe(v)})")
            params[key] = float(v)
        at_ns = t0_ns + round(at_s * NS_PER_S)
        until = FOREVER_NS if dur is None else at_ns + round(dur * NS_PER_S)
        faults.append(Fault(kind, at_ns, until, params))
    return faults


def _number(entry: dict[str, Any], key: str, where: str, source: str,
            required: bool) -> float | None:
    if key not in entry:
        if required:
            raise ConfigError(f"{source}: {where}.{key}: missing required key")
        return None
    return number(entry[key], source, f"{where}.{key}")


class FaultSet:
    """The scenario's faults grouped by kind, for cheap per-step queries."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = faults
        self._by_kind: dict[str, list[Fault]] = {}
        for f in faults:
            self._by_kind.setdefault(f.kind, []).append(f)

    def active(self, kind: str, t_ns: int) -> Fault | None:
        for f in self._by_kind.get(kind, ()):
            if f.at_ns <= t_ns < f.until_ns:
                return f
        return None

    def of_kind(self, kind: str) -> list[Fault]:
        return self._by_kind.get(kind, [])

    def first_onset_ns(self) -> int | None:
        return min((f.at_ns for f in self.faults), default=None)
