"""Dispersion files: which values of a flight are drawn at random, and from what.

```toml
description = "vehicle and sensors within their tolerances"

[[draw]]
key = "config.sim.vehicle.mass_kg"        # any key of the config or the scenario
dist = "truncnormal"                      # fixed, uniform, normal, truncnormal, integer, choice
mean = 1.8
std = 0.05
low = 1.65
high = 1.95

[[draw]]
key = "scenario.world.wind.speed_mps"
dist = "uniform"
low = 0.0
high = 10.0

[[fault_draw]]                            # each run picks one entry (by weight) and adds
kind = "camera.drop"                      # its fault to the scenario's [[faults]]
weight = 1.0
at_s = { dist = "uniform", low = 10, high = 30 }
count = { dist = "integer", low = 3, high = 12 }
```

``size = n`` draws a list of n independent values (vector keys such as a bias per axis);
``choice`` takes ``values`` and optional ``weights``; ``kind = "none"`` in ``[[fault_draw]]``
is a run without a fault. Every value gets its own random stream, derived from the run's
entropy and the key's name, so adding a key to a file leaves the other keys' draws alone.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.campaign.dotted import KeyPath, parse_key
from hal.tomlschema import ConfigError, describe, number, read_toml

DISTRIBUTIONS: dict[str, tuple[str, ...]] = {  # name: its required parameters
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "normal": ("mean", "std"),
    "truncnormal": ("mean", "std", "low", "high"),
    "integer": ("low", "high"),
    "choice": ("values",),
}
_OPTIONAL = {"size", "weights"}
_FILE_KEYS = {"description", "draw", "fault_draw"}
# a scenario's [world] and [[faults]] are raw tables the simulator validates; its other keys
# (plan, planet) are resolved by the scenario loader before any draw could reach them
SCENARIO_DISPERSIBLE = ("world", "faults")
MAX_MAGNITUDE = 1e12
MAX_SIZE = 64
MIN_TRUNCATED_MASS = 1e-4  # rejection sampling would crawl below this


@dataclass(frozen=True)
class Distribution:
    dist: str
    params: dict[str, Any]
    size: int | None = None

    def draw(self, rng: np.random.Generator) -> Any:
        if self.size is None:
            return self._one(rng)
        return [self._one(rng) for _ in range(self.size)]

    def _one(self, rng: np.random.Generator) -> Any:
        p = self.params
        if self.dist == "fixed":
            return p["value"]
        if self.dist == "uniform":
            return float(rng.uniform(p["low"], p["high"]))
        if self.dist == "normal":
            return float(rng.normal(p["mean"], p["std"]))
        if self.dist == "truncnormal":
            while True:  # rejection: exact, and cheap at the mass parse() guarantees
                x = float(rng.normal(p["mean"], p["std"]))
                if p["low"] <= x <= p["high"]:
                    return x
        if self.dist == "integer":
            return int(rng.integers(p["low"], p["high"], endpoint=True))
        values, weights = p["values"], p.get("weights")
        return values[int(rng.choice(len(values), p=weights))]


@dataclass(frozen=True)
class KeyDraw:
    key: KeyPath
    distribution: Distribution


@dataclass(frozen=True)
class FaultDraw:
    kind: str
    weight: float
    params: dict[str, Distribution]  # at_s, duration_s and the kind's parameters


@dataclass(frozen=True)
class Dispersion:
    path: Path
    description: str
    draws: tuple[KeyDraw, ...]
    fault_draws: tuple[FaultDraw, ...] = field(default_factory=tuple)

    def sample(self, entropy: tuple[int, ...]) -> tuple[list[tuple[KeyPath, Any]],
                                                        dict[str, Any] | None]:
        """The run's draws: (key, value) pairs and the fault to add (None: no fault)."""
        values = [(d.key, d.distribution.draw(_stream(entropy, d.key.text)))
                  for d in self.draws]
        fault: dict[str, Any] | None = None
        if self.fault_draws:
            weights = np.array([f.weight for f in self.fault_draws])
            pick = self.fault_draws[int(_stream(entropy, "fault_draw").choice(
                len(weights), p=weights / weights.sum()))]
            if pick.kind != "none":
                fault = {"kind": pick.kind}
                for name, dist in pick.params.items():
                    fault[name] = dist.draw(_stream(entropy, f"fault_draw.{pick.kind}.{name}"))
        return values, fault


def _stream(entropy: tuple[int, ...], name: str) -> np.random.Generator:
    """An independent generator for one named value of one run."""
    digest = hashlib.sha256(name.encode()).digest()[:16]
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([*entropy, *words]))


def load_dispersion(path: Path) -> Dispersion:
    """Read and check a dispersion file; a problem is one ``ConfigError`` line."""
    data = read_toml(path)
    src = str(path)
    for key in data:
        if key not in _FILE_KEYS:
            raise ConfigError(f"{src}: {key}: unknown key (known: {', '.join(sorted(_FILE_KEYS))})")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{src}: description: expected a string (got {describe(description)})")
    draws = [_key_draw(t, src, f"draw[{i}]") for i, t in enumerate(_tables(data, "draw", src))]
    seen: set[str] = set()
    for d in draws:
        if d.key.text in seen:
            raise ConfigError(f"{src}: draw: key {d.key.text!r} is drawn twice")
        seen.add(d.key.text)
    faults = [_fault_draw(t, src, f"fault_draw[{i}]")
              for i, t in enumerate(_tables(data, "fault_draw", src))]
    if faults and sum(f.weight for f in faults) <= 0:
        raise ConfigError(f"{src}: fault_draw: the weights must not all be 0")
    return Dispersion(path, description, tuple(draws), tuple(faults))


def _tables(data: dict[str, Any], name: str, src: str) -> list[dict[str, Any]]:
    tables = data.get(name, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{src}: {name}: expected an array of tables ([[{name}]])")
    return tables


def _key_draw(table: dict[str, Any], src: str, where: str) -> KeyDraw:
    key = parse_key(table.get("key", ""), src, f"{where}.key")
    if key.root == "scenario" and key.steps[0] not in SCENARIO_DISPERSIBLE:
        raise ConfigError(f"{src}: {where}.key: {key.text}: only "
                          f"{', '.join('scenario.' + k for k in SCENARIO_DISPERSIBLE)} "
                          "can be dispersed in a scenario")
    if key.root == "config" and key.steps[0] == "source":
        raise ConfigError(f"{src}: {where}.key: config.source is not a setting")
    rest = {k: v for k, v in table.items() if k != "key"}
    return KeyDraw(key, _distribution(rest, src, f"{where} ({key.text})"))


def _fault_draw(table: dict[str, Any], src: str, where: str) -> FaultDraw:
    kind = table.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"{src}: {where}.kind: expected a fault kind such as "
                          f"\"camera.drop\", or \"none\" (got {describe(kind)})")
    weight = number(table.get("weight", 1.0), src, f"{where}.weight")
    if not 0 <= weight <= MAX_MAGNITUDE:
        raise ConfigError(f"{src}: {where}.weight: must be >= 0 (got {weight:g})")
    params: dict[str, Distribution] = {}
    for name, spec in table.items():
        if name in ("kind", "weight"):
            continue
        # a plain value is a fixed one; the kind's own loader judges it with the others
        spec = spec if isinstance(spec, dict) else {"dist": "fixed", "value": spec}
        params[name] = _distribution(spec, src, f"{where}.{name}")
    if kind != "none" and "at_s" not in params:
        raise ConfigError(f"{src}: {where}.at_s: missing (when the fault starts)")
    return FaultDraw(kind, weight, params)


def _distribution(spec: dict[str, Any], src: str, where: str) -> Distribution:
    dist = spec.get("dist")
    if not isinstance(dist, str) or dist not in DISTRIBUTIONS:
        raise ConfigError(f"{src}: {where}.dist: must be one of {', '.join(DISTRIBUTIONS)} "
                          f"(got {describe(dist)})")
    needed = DISTRIBUTIONS[dist]
    for name in spec:
        if name != "dist" and name not in needed and name not in _OPTIONAL:
            raise ConfigError(f"{src}: {where}.{name}: unknown parameter for {dist} "
                              f"(takes {', '.join(needed)})")
    for name in needed:
        if name not in spec:
            raise ConfigError(f"{src}: {where}.{name}: missing (a {dist} needs "
                              f"{', '.join(needed)})")
    if dist == "fixed":
        params: dict[str, Any] = {"value": spec["value"]}
    elif dist == "choice":
        params = _choice(spec, src, where)
    elif dist == "integer":
        params = {n: _integer(spec[n], src, f"{where}.{n}") for n in needed}
    else:
        params = {n: _finite(spec[n], src, f"{where}.{n}") for n in needed}
    if "weights" in spec and dist != "choice":
        raise ConfigError(f"{src}: {where}.weights: only a choice takes weights")
    _check_shape(dist, params, src, where)
    size = spec.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                             or not 1 <= size <= MAX_SIZE):
        raise ConfigError(f"{src}: {where}.size: must be an integer 1..{MAX_SIZE} "
                          f"(got {describe(size)})")
    return Distribution(dist, params, size)


def _finite(value: Any, src: str, key: str) -> float:
    x = number(value, src, key)
    if abs(x) > MAX_MAGNITUDE:
        raise ConfigError(f"{src}: {key}: too large (|x| <= {MAX_MAGNITUDE:g}; got {x:g})")
    return x


def _integer(value: Any, src: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**62:
        raise ConfigError(f"{src}: {key}: expected an integer (got {describe(value)})")
    return value


def _choice(spec: dict[str, Any], src: str, where: str) -> dict[str, Any]:
    values = spec["values"]
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{src}: {where}.values: expected a non-empty array "
                          f"(got {describe(values)})")
    if "weights" not in spec:
        return {"values": values, "weights": None}
    raw = spec["weights"]
    if not isinstance(raw, list) or len(raw) != len(values):
        raise ConfigError(f"{src}: {where}.weights: expected {len(values)} numbers, one per "
                          f"value (got {describe(raw)})")
    weights = [_finite(w, src, f"{where}.weights[{i}]") for i, w in enumerate(raw)]
    if min(weights) < 0 or sum(weights) <= 0:
        raise ConfigError(f"{src}: {where}.weights: must be >= 0 and not all 0")
    total = sum(weights)
    return {"values": values, "weights": [w / total for w in weights]}


def _check_shape(dist: str, p: dict[str, Any], src: str, where: str) -> None:
    if "low" in p and p["low"] > p["high"]:
        raise ConfigError(f"{src}: {where}: low must be <= high (got {p['low']:g} > "
                          f"{p['high']:g})")
    if "std" in p and p["std"] < 0:
        raise ConfigError(f"{src}: {where}.std: must be >= 0 (got {p['std']:g})")
    if dist == "truncnormal":
        if p["std"] == 0:
            raise ConfigError(f"{src}: {where}.std: a truncated normal needs std > 0")
        mass = _normal_mass(p["mean"], p["std"], p["low"], p["high"])
        if mass < MIN_TRUNCATED_MASS:
            raise ConfigError(f"{src}: {where}: [low, high] holds only {mass:.2g} of the "
                              f"normal's probability (at least {MIN_TRUNCATED_MASS:g})")


def _normal_mass(mean: float, std: float, low: float, high: float) -> float:
    """P(low <= X <= high) for X ~ N(mean, std^2)."""
    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-(x - mean) / (std * math.sqrt(2.0)))
    return cdf(high) - cdf(low)
