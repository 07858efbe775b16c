"""The [world] table: presets, defaults, one-line errors naming file and key, determinism."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from firmware.config import load_scenario
from hal.tomlschema import ConfigError
from sim_hal import world_settings
from sim_hal.world_settings import WorldParts, build_world_parts, load_world_settings

ROOT = Path(__file__).resolve().parents[2]
SCEN = ROOT / "config" / "scenarios" / "x.toml"


def test_no_world_table_is_calm_and_flat() -> None:
    ws = load_world_settings({}, SCEN)
    parts = build_world_parts(ws, 1, 0)
    assert parts.wind is None and parts.terrain is None and parts.surface is None


def test_jezero_preset_has_wind_terrain_and_sand_and_keys_override_it() -> None:
    ws = load_world_settings({"preset": "jezero", "wind": {"speed_mps": 3.0}}, SCEN)
    assert ws.wind.speed_mps == 3.0
    assert ws.wind.gusts.amplitude_mps > 0 and ws.wind.turbulence.w20_mps > 0
    assert ws.terrain.kind == "procedural" and ws.surface.sand_fraction > 0


def test_shipped_world_scenarios_load() -> None:
    for path in sorted((ROOT / "config" / "scenarios").glob("*.toml")):
        sc = load_scenario(path)
        load_world_settings(sc.world_raw, path)
        if path.stem.startswith(("terrain_", "windy_")):
            assert sc.world_raw, path


@pytest.mark.parametrize("raw,key,problem", [
    ({"wind": {"speed_mps": -1.0}}, "world.wind.speed_mps", "must be >= 0"),
    ({"wind": {"speed_mps": math.nan}}, "world.wind.speed_mps", "finite"),
    ({"wind": {"gusts": {"at_s": [1.0, "x"]}}}, "world.wind.gusts.at_s[1]", "number"),
    ({"wind": {"gust": {}}}, "world.wind.gust", "unknown key"),
    ({"terrain": {"kind": "moon"}}, "world.terrain.kind", "must be one of"),
    ({"terrain": {"kind": "procedural", "rock_min_diameter_m": 2.0,
                  "rock_max_diameter_m": 1.0}}, "world.terrain", "larger than"),
    ({"terrain": {"kind": "heightmap"}}, "world.terrain", "needs heightmap"),
    ({"terrain": {"kind": "heightmap", "heightmap": "nope.png"}},
     "world.terrain.heightmap", "file not found"),
    ({"preset": "venus"}, "world.preset", "no preset"),
    ({"surface": {"sand_fraction": 1e300}}, "world.surface.sand_fraction", "<= 1"),
])
def test_bad_world_values_give_one_line_naming_file_and_key(
        raw: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_world_settings(raw, SCEN)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(SCEN)) and key in msg and problem in msg


def test_a_world_that_is_not_a_table_is_refused_by_the_scenario_loader(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "p.toml").write_text('name = "p"\ntakeoff_alt_m = 2.0\n')
    (tmp_path / "scenarios").mkdir()
    s = tmp_path / "scenarios" / "s.toml"
    s.write_text('plan = "plans/p.toml"\nworld = 3\n')
    with pytest.raises(ConfigError, match=r"s\.toml: world: expected a table"):
        load_scenario(s)


def test_world_parts_are_deterministic_for_a_seed() -> None:
    raw = {"terrain": {"kind": "procedural", "size_m": 60.0, "roughness_m": 0.3,
                       "rock_density_per_m2": 0.05},
           "surface": {"sand_fraction": 0.3},
           "wind": {"speed_mps": 3.0, "turbulence": {"w20_mps": 4.0}}}
    ws = load_world_settings(raw, SCEN)  # no seeds given: the ground follows the flight's

    def fresh(seed: int) -> WorldParts:
        world_settings._last_ground = None  # build, not the cached ground
        return build_world_parts(ws, seed, 0)

    a, b, c = fresh(3), fresh(3), fresh(4)
    assert a.terrain is not b.terrain
    assert a.terrain is not None and b.terrain is not None and c.terrain is not None
    assert np.array_equal(a.terrain.heights, b.terrain.heights)
    assert a.surface is not None and b.surface is not None
    assert np.array_equal(a.surface.albedo, b.surface.albedo)
    assert not np.array_equal(a.terrain.heights, c.terrain.heights)
    assert a.wind is not None and b.wind is not None
    va = [a.wind.velocity(k * 1_000_000, 5.0, 0, 0, 0) for k in range(5000)]
    vb = [b.wind.velocity(k * 1_000_000, 5.0, 0, 0, 0) for k in range(5000)]
    assert va == vb


def test_a_preset_with_its_own_seed_is_one_place_whatever_the_flight_seed() -> None:
    ws = load_world_settings({"preset": "jezero", "terrain": {"size_m": 60.0}}, SCEN)
    world_settings._last_ground = None
    a = build_world_parts(ws, 3, 0).terrain
    world_settings._last_ground = None
    b = build_world_parts(ws, 4, 0).terrain
    assert a is not None and b is not None and a is not b
    assert np.array_equal(a.heights, b.heights)
