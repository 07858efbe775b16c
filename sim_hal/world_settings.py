"""A scenario's ``[world]`` table: wind, terrain, ground appearance, objects standing on the
ground (``[[world.objects]]``, seen by the still camera only), and named presets.

The default is a calm, flat world with the uniform texture (what every scenario without a
``[world]`` table flies, bit for bit as before). ``preset = "jezero"`` starts from
``config/worlds/jezero.toml`` (looked up beside the scenario's config directory, then in this
checkout's ``config/worlds``); the scenario's own keys override the preset's, table by table.
The flight software never reads any of this (``firmware.config.Scenario.world_raw`` is opaque).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hal.tomlschema import ConfigError, describe, load, read_toml, rng
from sim_hal.scene_objects import PlacedObject, SceneObjectSettings, place_objects
from sim_hal.terrain import HeightField, TerrainSettings, build_terrain, flat_field
from sim_hal.texture import SurfaceMaps, SurfaceSettings
from sim_hal.wind import Wind, WindSettings

PRESET_DIR = Path(__file__).resolve().parent.parent / "config" / "worlds"


@dataclass
class WorldSettings:
    description: str = ""
    wind: WindSettings = field(default_factory=WindSettings)
    terrain: TerrainSettings = field(default_factory=TerrainSettings)
    surface: SurfaceSettings = field(default_factory=SurfaceSettings)
    objects: list[SceneObjectSettings] = field(default_factory=list)
    # ray grid of the terrain renderer: hit heights solved every this many pixels
    depth_step_px: int = field(default=2, metadata=rng(1, 16))
    # where relative heightmap paths are found, and the file errors name (not TOML keys)
    base: Path | None = field(default=None, init=False)
    source: str = field(default="(defaults)", init=False)

    def flat_and_plain(self) -> bool:
        return self.terrain.kind == "flat" and not self.surface.varies()


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _preset_path(name: str, scenario: Path | None) -> Path | None:
    roots = [] if scenario is None else [scenario.parent / "worlds",
                                         scenario.parent.parent / "worlds"]
    roots.append(PRESET_DIR)
    for root in roots:
        p = root / f"{name}.toml"
        if p.is_file():
            return p
    return None


def load_world_settings(raw: dict[str, Any] | None, scenario: Path | None) -> WorldSettings:
    """Validate ``raw`` (a scenario's ``[world]``), over its preset if it names one."""
    src = str(scenario) if scenario is not None else "(world)"
    data = dict(raw or {})
    base = scenario.parent if scenario is not None else None
    preset = data.pop("preset", None)
    if preset is not None:
        if not isinstance(preset, str) or not preset.replace("_", "").isalnum():
            raise ConfigError(f"{src}: world.preset: expected a preset name such as \"jezero\" "
                              f"(got {describe(preset)})")
        path = _preset_path(preset, scenario)
        if path is None:
            known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.toml")))
            raise ConfigError(f"{src}: world.preset: no preset {preset!r} (known: {known})")
        pdata = read_toml(path)
        load(WorldSettings, pdata, str(path), prefix="world")  # its own errors name its file
        data = _merge(pdata, data)
        base = base or path.parent
    ws = load(WorldSettings, data, src, prefix="world")
    ws.base = base
    ws.source = src
    if ws.terrain.kind == "heightmap":
        build_terrain(ws.terrain, 0, base, src)  # a missing or bad map fails before flight
    return ws


def world_seed(seed: int, part: int) -> int:
    """A seed for one part of the world, apart from the sensors' streams of ``seed``."""
    return int(np.random.SeedSequence([seed, 0x574F524C, part]).generate_state(1)[0])


@dataclass
class WorldParts:
    """The built world: wind (None when calm), terrain (None when flat), appearance maps
    (None for the flat world's uniform texture), the objects set on that ground, and the unit
    vector toward the sun in NED (the one that shades the ground's appearance)."""

    wind: Wind | None
    terrain: HeightField | None
    surface: SurfaceMaps | None
    objects: list[PlacedObject] = field(default_factory=list)
    sun_ned: tuple[float, float, float] = (0.0, 0.0, -1.0)


def sun_direction(s: SurfaceSettings) -> tuple[float, float, float]:
    """Toward the sun, NED, from the surface's sun elevation and azimuth (from north, east)."""
    el, az = math.radians(s.sun_elevation_deg), math.radians(s.sun_azimuth_deg)
    return (math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), -math.sin(el))


# The last ground built, keyed by everything it depends on: a process flying the same ground
# again (fault sweeps, repeated seeds) skips the second of generation. The parts are never
# written after they are built, so sharing them between flights is safe.
_last_ground: tuple[str, tuple[HeightField | None, SurfaceMaps | None]] | None = None


def _ground(ws: WorldSettings, seed: int) -> tuple[HeightField | None, SurfaceMaps | None]:
    global _last_ground
    t = ws.terrain
    tseed = world_seed(seed, 2) if t.seed is None else t.seed
    sseed = world_seed(seed, 3) if ws.surface.seed is None else ws.surface.seed
    key = repr((t, ws.surface, ws.base, tseed, sseed))
    if _last_ground is not None and _last_ground[0] == key:
        return _last_ground[1]
    terrain = build_terrain(t, tseed, ws.base, ws.source)
    surface = None
    if terrain is not None or ws.surface.varies():
        grid = terrain if terrain is not None else flat_field(t.size_m, max(t.spacing_m, 0.5))
        surface = SurfaceMaps(grid, ws.surface, sseed)
    if terrain is not None:
        terrain.rock_cover = None  # only the appearance needed it
    _last_ground = (key, (terrain, surface))
    return terrain, surface


def build_world_parts(ws: WorldSettings, seed: int, t0_ns: int) -> WorldParts:
    wind = None if ws.wind.calm() else Wind(ws.wind, world_seed(seed, 1), t0_ns)
    terrain, surface = _ground(ws, seed)
    return WorldParts(wind, terrain, surface, place_objects(ws.objects, terrain),
                      sun_direction(ws.surface))
