"""Terrain: bilinear height field against analytic surfaces, the altimeter's range along its
beam, touchdown on slopes, height maps from files, determinism."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hal.types import NS_PER_S
from sim_hal.faults import FaultSet
from sim_hal.render import rotation_from_euler
from sim_hal.sensors import Noise, RangeModel, SimRangefinder
from sim_hal.terrain import HeightField, TerrainSettings, procedural
from sim_hal.world import VehicleParams, World
from sim_hal.world_settings import build_world_parts, load_world_settings

SLOPE = math.tan(math.radians(10.0))


def east_slope(deg: float = 10.0, pad: float = 0.0) -> HeightField:
    """Ground falling toward the east at ``deg``, nothing else."""
    return procedural(TerrainSettings(kind="procedural", size_m=200.0, spacing_m=0.5,
                                      slope_deg=deg, slope_downhill_deg=90.0,
                                      pad_radius_m=pad), seed=1)


def test_height_and_gradient_match_an_analytic_slope() -> None:
    hf = east_slope()
    rng = np.random.default_rng(0)
    for n, e in rng.uniform(-90, 90, size=(50, 2)):
        assert hf.height(n, e) == pytest.approx(-SLOPE * e, abs=1e-9)
        gn, ge = hf.gradient(n, e)
        assert gn == pytest.approx(0.0, abs=1e-9)
        assert ge == pytest.approx(-SLOPE, abs=1e-9)
    ns, es = rng.uniform(-90, 90, size=(2, 100))
    assert np.allclose(hf.heights_at(ns, es), -SLOPE * es, atol=1e-9)


def test_bilinear_lookup_between_grid_points() -> None:
    h = np.array([[0.0, 1.0], [2.0, 5.0]])  # rows north, columns east
    hf = HeightField(h, 1.0, 0.0, 0.0)
    assert hf.height(0.5, 0.5) == pytest.approx(2.0)  # mean of the four corners
    assert hf.height(1.0, 0.25) == pytest.approx(2.75)
    assert hf.height(5.0, 5.0) == pytest.approx(5.0)  # beyond the grid: the edge continues


def test_pad_is_flat_and_home_is_the_datum() -> None:
    hf = procedural(TerrainSettings(kind="procedural", size_m=100.0, spacing_m=0.25,
                                    roughness_m=0.5, rock_density_per_m2=0.1,
                                    slope_deg=5.0, pad_radius_m=3.0), seed=4)
    assert hf.height(0.0, 0.0) == 0.0
    ring = [hf.height(2.6 * math.cos(a), 2.6 * math.sin(a)) for a in np.linspace(0, 6, 20)]
    assert max(abs(h) for h in ring) < 1e-12
    assert hf.h_max - hf.h_min > 1.0  # and beyond the pad it is not flat


@pytest.mark.parametrize("tilt_deg,direction", [(0.0, 1.0), (20.0, 1.0), (20.0, -1.0)])
def test_range_along_a_tilted_beam_over_a_slope(tilt_deg: float, direction: float) -> None:
    hf = east_slope()
    alt = 10.0
    th = math.radians(tilt_deg) * direction
    d = (0.0, math.sin(th), math.cos(th))  # tilted toward east (downhill) or west
    got = hf.range_along(0.0, 0.0, -alt, *d, max_range=40.0)
    # the ray's height alt - t cos(th) meets the plane -SLOPE * t sin(th)
    assert got == pytest.approx(alt / (math.cos(th) - SLOPE * math.sin(th)), abs=1e-4)


def test_range_beyond_max_range_is_no_return() -> None:
    hf = east_slope()
    assert math.isnan(hf.range_along(0.0, 0.0, -45.0, 0.0, 0.0, 1.0, max_range=41.0))


def test_range_finds_a_rock_a_fixed_point_would_jump_over() -> None:
    h = np.zeros((201, 201))
    h[100:103, 120:123] = 3.0  # a 1 m block, 3 m tall, 10 m east of home
    hf = HeightField(h, 0.5, -50.0, -50.0)
    th = math.atan2(10.5, 5.0)  # aimed at the middle of its top from 8 m up
    got = hf.range_along(0.5, 0.0, -8.0, 0.0, math.sin(th), math.cos(th), 40.0)
    # the plane under the ray would put the hit 16.8 m east, beyond the block
    assert got * math.sin(th) == pytest.approx(10.5, abs=0.01)
    assert 8.0 - got * math.cos(th) == pytest.approx(3.0, abs=0.01)


def _sim_altimeter(world: World) -> SimRangefinder:
    model = RangeModel(noise_m=0.0, latency_ms=0.0)
    noise = Noise(np.random.default_rng(0))
    return SimRangefinder(world, model, FaultSet([]), noise)


def test_sim_altimeter_measures_to_the_terrain_along_its_body_axis() -> None:
    world = World(VehicleParams(), 3.71, terrain=east_slope())
    world.on_ground = False
    world.pos = [0.0, 0.0, -10.0]
    world.q = list(_quat(rotation_from_euler(math.radians(20.0), 0.0, 0.0)))  # roll right
    world._update_r()
    alt = _sim_altimeter(world)
    period = int(NS_PER_S / 50.0)
    alt.tick(world.t_ns, world.t_ns + period)
    world.t_ns += period
    (sample,) = alt.poll()
    th = math.radians(20.0)  # rolling right tips body z toward west: uphill
    expect = 10.0 / (math.cos(th) + SLOPE * math.sin(th))
    assert sample.valid and sample.distance_m == pytest.approx(expect, abs=1e-3)


def _quat(r: np.ndarray) -> tuple[float, float, float, float]:
    w = math.sqrt(max(0.0, 1.0 + r[0, 0] + r[1, 1] + r[2, 2])) / 2.0
    return (w, (r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w),
            (r[1, 0] - r[0, 1]) / (4 * w))


def _drop_onto(hf: HeightField, n: float, e: float, vz: float) -> World:
    world = World(VehicleParams(), 3.71, terrain=hf)
    world.on_ground = False
    world.pos = [n, e, -0.15 - hf.height(n, e) - 0.05]
    world.vel = [0.0, 0.0, vz]
    for _ in range(1000):
        world.step(1_000_000)
        if world.touchdowns:
            break
    return world


def test_touchdown_on_a_slope_rests_on_it_and_a_steep_one_tips_over() -> None:
    gentle = _drop_onto(east_slope(10.0), 20.0, 20.0, 0.5)
    assert gentle.touchdowns == 1 and not gentle.crashed
    assert gentle.pos[2] == pytest.approx(-0.15 - (-SLOPE * 20.0), abs=0.02)
    assert math.degrees(gentle.tilt_rad()) == pytest.approx(10.0, abs=0.3)
    steep = _drop_onto(east_slope(35.0), 20.0, 20.0, 0.5)
    assert steep.crashed and "tipped over" in steep.crash_reason
    hard = _drop_onto(east_slope(10.0), 20.0, 20.0, 3.0)
    assert hard.crashed and "m/s" in hard.crash_reason


def test_flying_into_a_hillside_is_a_contact() -> None:
    world = World(VehicleParams(), 3.71, terrain=east_slope(20.0))
    world.on_ground = False
    world.pos = [0.0, 20.0, -0.15 - (-math.tan(math.radians(20.0)) * 20.0) - 0.3]
    world.vel = [0.0, -3.0, -0.2]  # climbing, but flying west into the rising ground
    for _ in range(1000):
        world.step(1_000_000)
        if world.touchdowns:
            break
    assert world.touchdowns == 1 and world.crashed


def test_heightmaps_load_from_png_and_npy_with_top_as_north(tmp_path: Path) -> None:
    from PIL import Image

    ramp = np.tile(np.arange(0, 65536, 4096, dtype=np.uint16)[:, None], (1, 16))  # 16 rows
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    np.save(tmp_path / "ramp.npy", ramp.astype(np.float64) / 65535.0)
    scenario = tmp_path / "scenarios" / "s.toml"
    scenario.parent.mkdir()
    for name in ("ramp.png", "ramp.npy"):
        ws = load_world_settings({"terrain": {
            "kind": "heightmap", "heightmap": name, "metres_per_pixel": 2.0,
            "height_scale_m": 30.0, "pad_radius_m": 0.0}}, scenario)
        hf = build_world_parts(ws, 1, 0).terrain
        assert hf is not None
        # image row 0 (top, grey 0) is the north edge: heights fall toward the north
        per_row = 4096 / 65535 * 30.0
        assert hf.height(2.0, 0.0) - hf.height(0.0, 0.0) == pytest.approx(-per_row, rel=1e-6)
        assert hf.rows == 16 and hf.spacing == 2.0


def test_terrain_is_deterministic_for_a_seed() -> None:
    s = TerrainSettings(kind="procedural", size_m=60.0, spacing_m=0.25, roughness_m=0.3,
                        ridges=2, rock_density_per_m2=0.05)
    a, b, c = procedural(s, 5), procedural(s, 5), procedural(s, 6)
    assert np.array_equal(a.heights, b.heights)
    assert not np.array_equal(a.heights, c.heights)


def test_hil_altimeter_and_camera_see_the_same_terrain() -> None:
    from sim_hal.hil import load_hil_settings
    from sim_hal.hil.assembly import make_frame_source
    from sim_hal.hil.world_link import HilWorld
    from sim_hal.world_settings import WorldSettings

    ws = WorldSettings()
    ws.terrain = TerrainSettings(kind="procedural", size_m=200.0, spacing_m=0.5,
                                 slope_deg=10.0, slope_downhill_deg=90.0, pad_radius_m=0.0)
    parts = build_world_parts(ws, 1, 0)
    world = World(VehicleParams(), 3.71, t0_ns=0, terrain=parts.terrain)
    world.on_ground = False
    world.pos = [0.0, 0.0, -10.0]
    world.q = list(_quat(rotation_from_euler(math.radians(20.0), 0.0, 0.0)))
    world._update_r()
    hw = HilWorld(world, live=False)
    th = math.radians(20.0)
    assert hw.range_m(0) == pytest.approx(10.0 / (math.cos(th) + SLOPE * math.sin(th)),
                                          abs=1e-3)
    settings = load_hil_settings({}, "test")
    image = make_frame_source(hw, settings, 1, parts)(0)
    assert image.shape == (settings.camera.height, settings.camera.width)
    assert image.min() > 0  # all ground, no sky
