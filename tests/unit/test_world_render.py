"""The camera over terrain: parallax as the pinhole predicts, agreement with the flat-world
renderer on flat ground, sand lowers the image contrast, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from sim_hal.render import GroundTexture, PinholeCamera, render, rotation_from_euler
from sim_hal.render_terrain import TerrainScene
from sim_hal.terrain import HeightField, flat_field
from sim_hal.texture import SurfaceMaps, SurfaceSettings

LEVEL = rotation_from_euler(0.0, 0.0, 0.0)
SPACING = 0.1


@pytest.fixture(scope="module")
def cam() -> PinholeCamera:
    return PinholeCamera(160, 120, 100.0)


@pytest.fixture(scope="module")
def tex() -> GroundTexture:
    return GroundTexture(seed=3)


def hill_with_marker(top_n: float, hill_m: float) -> tuple[HeightField, SurfaceMaps]:
    """A smooth Gaussian hill ``hill_m`` tall centred ``top_n`` north of home, a bright
    0.6 m marker on its top, uniform grey elsewhere (no texture: contrast 0)."""
    g = np.arange(-200, 201) * SPACING
    gn, ge = g[:, None], g[None, :]
    h = hill_m * np.exp(-((gn - top_n) ** 2 + ge**2) / (2 * 4.0**2))
    hf = HeightField(h, SPACING, g[0], g[0])
    maps = SurfaceMaps(hf, SurfaceSettings(), seed=1)
    marker = (np.abs(gn - top_n) <= 0.3 + 1e-6) & (np.abs(ge) <= 0.3 + 1e-6)
    maps.albedo = np.where(marker, 1.9, 1.0).astype(np.float32).ravel()
    maps.contrast = np.zeros(h.size, dtype=np.float32)
    return hf, maps


def marker_row(img: np.ndarray) -> float:
    rows, _ = np.nonzero(img > 200)
    weights = img[img > 200].astype(np.float64)
    return float(np.sum(rows * weights) / np.sum(weights))


@pytest.mark.parametrize("alt", [6.0, 10.0, 14.0])
def test_a_hilltop_marker_shifts_with_altitude_as_the_pinhole_predicts(
        cam: PinholeCamera, tex: GroundTexture, alt: float) -> None:
    top_n, hill = 3.0, 2.0
    hf, maps = hill_with_marker(top_n, hill)
    scene = TerrainScene(hf, maps, cam, depth_step=1)
    img = scene.render(tex, (0.0, 0.0, -alt), LEVEL)
    predicted = cam.cy - cam.focal_px * top_n / (alt - hill)  # the top is closer: parallax
    flat_ground = cam.cy - cam.focal_px * top_n / alt
    assert marker_row(img) == pytest.approx(predicted, abs=0.5)
    assert abs(predicted - flat_ground) > 2.0  # the test could tell a plane from the hill


def test_coarse_depth_grid_keeps_the_marker_in_place(
        cam: PinholeCamera, tex: GroundTexture) -> None:
    hf, maps = hill_with_marker(3.0, 2.0)
    fine = TerrainScene(hf, maps, cam, depth_step=1).render(tex, (0.0, 0.0, -10.0), LEVEL)
    coarse = TerrainScene(hf, maps, cam, depth_step=2).render(tex, (0.0, 0.0, -10.0), LEVEL)
    # the maps are read on the coarse grid: an outline may move by up to half a step
    assert marker_row(coarse) == pytest.approx(marker_row(fine), abs=1.0)


def test_flat_ground_matches_the_flat_world_renderer(
        cam: PinholeCamera, tex: GroundTexture) -> None:
    hf = flat_field(200.0, 0.5)
    maps = SurfaceMaps(hf, SurfaceSettings(), seed=1)  # albedo 1, contrast 1 on the flat
    scene = TerrainScene(hf, maps, cam, depth_step=2)
    r = rotation_from_euler(0.1, -0.15, 0.7)
    for pos in [(3.0, -7.0, -5.0), (-20.0, 11.0, -12.0)]:
        a = scene.render(tex, pos, r).astype(int)
        b = render(tex, cam, pos, r).astype(int)
        assert np.max(np.abs(a - b)) <= 1


def test_sand_lowers_the_image_contrast(cam: PinholeCamera, tex: GroundTexture) -> None:
    hf = flat_field(200.0, 0.5)
    plain = SurfaceMaps(hf, SurfaceSettings(), seed=1)
    sand = SurfaceMaps(hf, SurfaceSettings(sand_fraction=1.0, sand_contrast=0.15), seed=1)
    a = TerrainScene(hf, plain, cam).render(tex, (0.0, 0.0, -8.0), LEVEL).astype(float)
    b = TerrainScene(hf, sand, cam).render(tex, (0.0, 0.0, -8.0), LEVEL).astype(float)
    assert np.std(b) == pytest.approx(0.15 * np.std(a), rel=0.1)


def test_sand_patches_cover_their_fraction() -> None:
    hf = flat_field(400.0, 0.5)
    maps = SurfaceMaps(hf, SurfaceSettings(sand_fraction=0.3, sand_contrast=0.1,
                                           patch_scale_m=10.0), seed=2)
    assert np.mean(maps.contrast < 0.55) == pytest.approx(0.3, abs=0.03)


def test_render_is_deterministic(cam: PinholeCamera, tex: GroundTexture) -> None:
    hf, maps = hill_with_marker(3.0, 2.0)
    scene = TerrainScene(hf, maps, cam)
    r = rotation_from_euler(0.2, 0.1, 1.0)
    assert np.array_equal(scene.render(tex, (1.0, 2.0, -7.0), r),
                          scene.render(tex, (1.0, 2.0, -7.0), r))
