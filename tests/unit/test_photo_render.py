"""The colour photo renderer and the objects it draws: the rover lands where
``hal.photo_geometry.project`` puts it, the sky sits above the horizon, the ground is Mars
coloured, the ray march finds the ground the altimeter finds, and [[world.objects]] errors
name the file and key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hal.geometry import euler_to_quat
from hal.photo_geometry import PhotoCameraModel, pixel_ray_ned
from hal.tomlschema import ConfigError
from sim_hal import mars_colours
from sim_hal.ray_march import march
from sim_hal.render_photo import PhotoRenderer
from sim_hal.scene_objects import ROVER_SIZE_M
from sim_hal.world_settings import WorldParts, build_world_parts, load_world_settings
from tests.photo_find import Box, found_box, grey_mask, projected_box

SCEN = Path(__file__).resolve().parents[2] / "config" / "scenarios" / "x.toml"
MODEL = PhotoCameraModel.from_hfov(640, 480, 60.0, 22.0)
ROVER = {"kind": "rover", "north_m": 85.0, "east_m": 10.0, "heading_deg": 30.0}
# gentle procedural ground, small enough to build in a blink
TERRAIN = {"kind": "procedural", "seed": 3, "size_m": 240.0, "spacing_m": 0.4,
           "slope_deg": 2.0, "slope_downhill_deg": 200.0, "roughness_m": 0.15, "ridges": 2,
           "ridge_height_m": 1.0}
SURFACE = {"seed": 3, "sand_fraction": 0.2, "dust_albedo": 0.15, "sun_elevation_deg": 40.0,
           "sun_azimuth_deg": 100.0}


def _parts(raw: dict[str, Any]) -> WorldParts:
    return build_world_parts(load_world_settings(raw, SCEN), 1, 0)


@pytest.fixture(scope="module")
def flat() -> tuple[WorldParts, PhotoRenderer]:
    parts = _parts({"objects": [ROVER]})
    return parts, PhotoRenderer(parts, MODEL, 1)


@pytest.fixture(scope="module")
def hilly() -> tuple[WorldParts, PhotoRenderer]:
    parts = _parts({"terrain": TERRAIN, "surface": SURFACE, "objects": [ROVER]})
    return parts, PhotoRenderer(parts, MODEL, 1)


def _aim_at(target: tuple[float, float], cam: tuple[float, float, float], roll_deg: float = 0.0,
            pitch_deg: float = 0.0, yaw_off_deg: float = 0.0) -> tuple[float, ...]:
    yaw = math.atan2(target[1] - cam[1], target[0] - cam[0]) + math.radians(yaw_off_deg)
    return euler_to_quat(math.radians(roll_deg), math.radians(pitch_deg), yaw)


def _close(found: Box | None, want: Box, tol_px: float) -> None:
    assert found is not None, f"no rover in the photo (expected at {want})"
    err = [abs(a - b) for a, b in zip(found, want, strict=True)]
    assert max(err) <= tol_px, f"rover found at {found}, projected at {want}"


# (camera north, east, height over the ground; roll, pitch (nose up), yaw offset from the
# rover): flight 3's view from 5 m, 85 m away (the rover near the top), a rolled, pitched view
# from 12 m, and one from close above
VIEWS = [((0.0, 0.0, 5.0), 0.0, 0.0, 0.0),
         ((60.0, 0.0, 12.0), 8.0, 6.0, 12.0),
         ((75.0, 5.0, 7.0), -5.0, -10.0, -8.0)]


def _over_ground(parts: WorldParts, n: float, e: float, up: float
                 ) -> tuple[float, float, float]:
    h = parts.terrain.height(n, e) if parts.terrain is not None else 0.0
    return n, e, -(h + up)


@pytest.mark.parametrize("world", ["flat", "hilly"])
@pytest.mark.parametrize("view", VIEWS)
def test_the_rover_is_where_project_puts_its_corners(
        world: str, view: tuple[Any, ...], request: pytest.FixtureRequest) -> None:
    parts, renderer = request.getfixturevalue(world)
    where, roll, pitch, yaw_off = view
    cam = _over_ground(parts, *where)
    rover = parts.objects[0]
    q = _aim_at((ROVER["north_m"], ROVER["east_m"]), cam, roll, pitch, yaw_off)
    img = renderer.render(cam, q)
    want = projected_box(rover.corners_ned(), cam, q, MODEL)
    assert want[0] > 0 and want[1] < MODEL.width and want[2] > 0 and want[3] < MODEL.height
    _close(found_box(img), want, 1.0)


@pytest.mark.parametrize("world", ["flat", "hilly"])
def test_no_rover_in_a_photo_looking_away(world: str, request: pytest.FixtureRequest) -> None:
    _, renderer = request.getfixturevalue(world)
    cam = (0.0, 0.0, -5.0)
    img = renderer.render(cam, _aim_at((85.0, 10.0), cam, yaw_off_deg=180.0))
    assert not grey_mask(img).any()


def test_the_sky_is_above_the_horizon_and_the_ground_below_is_mars_coloured(
        flat: tuple[WorldParts, PhotoRenderer]) -> None:
    parts, renderer = flat
    cam = (0.0, 0.0, -5.0)
    q = euler_to_quat(math.radians(9.0), math.radians(8.0), math.radians(200.0))
    img = renderer.render(cam, q).astype(np.float64)
    sun = np.asarray(parts.sun_ned)
    f = MODEL.focal_px
    sky_n = ground_n = 0
    ground_rgb = []
    for r in range(0, MODEL.height, 6):
        for c in range(0, MODEL.width, 6):
            d = np.asarray(pixel_ray_ned(c + 0.5, r + 0.5, q, MODEL))
            if d[2] < -2.0 / f:  # clearly above the horizon of the plane down = 0
                want = mars_colours.sky(np.float32(-d[2]), np.float32(d @ sun))
                assert np.abs(img[r, c] - want).max() <= 1.0, (r, c)
                sky_n += 1
            elif d[2] > 15.0 / f:  # well below it (out of the horizon's haze)
                px = img[r, c]
                want = mars_colours.sky(np.float32(0.0), np.float32(d @ sun))
                assert np.abs(px - want).max() > 10.0, (r, c)
                ground_rgb.append(px)
                ground_n += 1
    assert sky_n > 200 and ground_n > 2000  # the horizon crosses the picture
    rgb = np.array(ground_rgb)
    mean = rgb.mean(axis=0)
    # reddish brown: red over green over blue, red well above blue, mid brightness
    assert mean[0] > mean[1] > mean[2] and mean[0] > 1.6 * mean[2] and 90 < mean[0] < 220
    assert (rgb[:, 0] > rgb[:, 2]).all()
    assert rgb[:, 0].std() > 5.0  # texture, not a flat fill


def test_varied_ground_has_darker_and_brighter_parts(
        hilly: tuple[WorldParts, PhotoRenderer]) -> None:
    _, renderer = hilly
    img = renderer.render((0.0, 0.0, -30.0), euler_to_quat(0.0, math.radians(-50.0), 0.3))
    lum = img.astype(np.float64).mean(axis=2)
    # looking 72 deg down from 30 m: all ground, 0.2 of it sand, dust and slopes shaded
    assert np.percentile(lum, 95) - np.percentile(lum, 5) > 30.0
    assert (img[..., 0] >= img[..., 2]).mean() > 0.99


def test_rendering_is_deterministic_for_a_seed(flat: tuple[WorldParts, PhotoRenderer]) -> None:
    parts, renderer = flat
    cam = (10.0, 2.0, -6.0)
    q = _aim_at((85.0, 10.0), cam, 3.0, 2.0, 5.0)
    a = renderer.render(cam, q)
    assert a.shape == (480, 640, 3) and a.dtype == np.uint8
    assert np.array_equal(a, PhotoRenderer(parts, MODEL, 1).render(cam, q))
    assert not np.array_equal(a, PhotoRenderer(parts, MODEL, 2).render(cam, q))


def test_the_march_finds_the_ground_the_altimeter_finds(
        hilly: tuple[WorldParts, PhotoRenderer]) -> None:
    parts, _ = hilly
    hf = parts.terrain
    assert hf is not None
    rng = np.random.default_rng(5)
    dep = np.radians(rng.uniform(2.0, 85.0, 400))  # below the horizontal
    az = rng.uniform(0.0, 2 * math.pi, 400)
    dn, de, dd = np.cos(dep) * np.cos(az), np.cos(dep) * np.sin(az), np.sin(dep)
    cam = (3.0, -4.0, -6.0)
    got = march(hf, cam, dn, de, dd, 500.0)
    want = np.array([hf.range_along(*cam, float(a), float(b), float(c), 500.0)
                     for a, b, c in zip(dn, de, dd, strict=True)])
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    both = np.isfinite(want)
    assert both.sum() > 300
    err = np.abs(got[both] - want[both])
    assert np.median(err) < 0.005 and (err < 0.02 + 0.002 * want[both]).all()


def test_the_rover_is_perseverance_sized_and_stands_on_the_ground(
        hilly: tuple[WorldParts, PhotoRenderer]) -> None:
    parts, _ = hilly
    hf = parts.terrain
    assert hf is not None
    rover = parts.objects[0]
    local = (rover.corners_ned() - rover.origin_ned) @ rover.axes  # forward, right, down
    assert np.allclose(local.max(axis=0) - local.min(axis=0), ROVER_SIZE_M)
    assert np.allclose(local.min(axis=0), [-1.5, -1.35, -2.2])
    assert np.isclose(local[:, 2].max(), 0.0)
    # the wheels' lowest corners rest on the ground (a plane fit through six contacts)
    low = rover.corners_ned()[np.isclose(local[:, 2], 0.0)]
    ground = np.array([-hf.height(n, e) for n, e, _ in low])
    assert np.abs(low[:, 2] - ground).max() < 0.1
    # tilted with the slope: its down axis leans from the vertical by about the ground's
    tilt = math.degrees(math.acos(rover.axes[2, 2]))
    assert 0.5 < tilt < 6.0
    assert np.allclose(rover.centre_ned(), rover.origin_ned - rover.axes[:, 2] * 1.1)


def test_scenarios_without_objects_have_none() -> None:
    assert _parts({}).objects == []


@pytest.mark.parametrize("raw,key,problem", [
    ({"objects": [{"kind": "tank", "north_m": 1.0, "east_m": 2.0}]},
     "world.objects[0].kind", "must be one of"),
    ({"objects": [ROVER, {"east_m": 2.0}]}, "world.objects[1].north_m", "missing required"),
    ({"objects": [{"north_m": math.nan, "east_m": 2.0}]}, "world.objects[0].north_m", "finite"),
    ({"objects": [{"north_m": 1.0, "east_m": "x"}]}, "world.objects[0].east_m", "number"),
    ({"objects": [{**ROVER, "heading_deg": 720.0}]}, "world.objects[0].heading_deg", "<= 360"),
    ({"objects": [{**ROVER, "colour": "red"}]}, "world.objects[0].colour", "unknown key"),
    ({"objects": 3}, "world.objects", "expected an array"),
    ({"objects": [3]}, "world.objects[0]", "expected a table"),
])
def test_bad_objects_give_one_line_naming_file_and_key(
        raw: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_world_settings(raw, SCEN)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(SCEN)) and key in msg and problem in msg
