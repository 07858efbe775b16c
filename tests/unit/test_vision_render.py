"""Simulated downward camera: texture, pinhole geometry, image convention, mip choice."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest

from sim_hal.render import (
    GroundTexture,
    PinholeCamera,
    mip_level,
    render,
    rotation_from_euler,
)

LEVEL = rotation_from_euler(0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def tex() -> GroundTexture:
    return GroundTexture(seed=11)


@pytest.fixture(scope="module")
def cam() -> PinholeCamera:
    return PinholeCamera()


def reference_render(
    tex: GroundTexture,
    cam: PinholeCamera,
    pos: tuple[float, float, float],
    r_wb: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Straight float64 transcription of the contract: the pixel centres' ground points in
    texels of the mip level; each pixel the mean of 2x2 subpixels a quarter of the grid's
    step either side (the step to the nearer-valued neighbour, so the sky's edge does not
    count), each a bilinear lookup."""
    level = mip_level(tex, cam, -pos[2], float(r_wb[2, 2]))
    a = tex.levels[level].astype(np.float64)
    n = a.shape[0]
    texel = tex.texel_m * 2**level
    rows, cols = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float64)
    ray_b = np.stack(
        [-(rows - cam.cy) / cam.focal_px, (cols - cam.cx) / cam.focal_px, np.ones_like(rows)],
        axis=-1,
    )
    ray_w = ray_b @ r_wb.T
    ground = ray_w[..., 2] > 1e-3
    t = -pos[2] / np.where(ground, ray_w[..., 2], 1.0)  # the sky: any finite point
    u0 = (pos[0] + t * ray_w[..., 0]) / texel - 0.5
    v0 = (pos[1] + t * ray_w[..., 1]) / texel - 0.5

    def step(x: npt.NDArray[np.float64], axis: int) -> npt.NDArray[np.float64]:
        out = np.empty_like(x)
        m = x.shape[axis]
        for k in range(m):
            take = [np.take(x, min(k + 1, m - 1), axis) - np.take(x, k, axis) if k < m - 1
                    else np.take(x, k, axis) - np.take(x, k - 1, axis),
                    np.take(x, k, axis) - np.take(x, k - 1, axis) if k > 0
                    else np.take(x, 1, axis) - np.take(x, 0, axis)]
            best = np.where(np.abs(take[0]) < np.abs(take[1]), take[0], take[1])
            if axis == 0:
                out[k] = best
            else:
                out[:, k] = best
        return out

    du_r, du_c, dv_r, dv_c = step(u0, 0), step(u0, 1), step(v0, 0), step(v0, 1)
    total = np.zeros_like(rows)
    for s_row, s_col in itertools.product((-0.25, 0.25), repeat=2):
        u = u0 + s_row * du_r + s_col * du_c
        v = v0 + s_row * dv_r + s_col * dv_c
        i = np.floor(u).astype(np.int64)
        j = np.floor(v).astype(np.int64)
        fu, fv = u - i, v - j
        total += (
            (1 - fu) * (1 - fv) * a[i % n, j % n]
            + (1 - fu) * fv * a[i % n, (j + 1) % n]
            + fu * (1 - fv) * a[(i + 1) % n, j % n]
            + fu * fv * a[(i + 1) % n, (j + 1) % n]
        )
    return np.where(ground, np.floor(0.25 * total + 0.5), 0.0)


def test_texture_is_deterministic_per_seed() -> None:
    a = GroundTexture(seed=5, size=128)
    b = GroundTexture(seed=5, size=128)
    c = GroundTexture(seed=6, size=128)
    assert np.array_equal(a.levels[0], b.levels[0])
    assert not np.array_equal(a.levels[0], c.levels[0])
    cam = PinholeCamera()
    pose = ((0.3, -1.2, -2.0), rotation_from_euler(0.1, -0.05, 0.4))
    assert np.array_equal(render(a, cam, *pose), render(b, cam, *pose))


def test_texture_statistics_and_pyramid(tex: GroundTexture) -> None:
    base = tex.levels[0]
    assert base.shape == (1024, 1024) and base.dtype == np.float32
    assert abs(float(base.mean()) - 128.0) < 2.0
    assert 35.0 < float(base.std()) < 42.0
    assert float(base.min()) >= 1.0 and float(base.max()) <= 255.0
    assert [lvl.shape[0] for lvl in tex.levels] == [1024 >> k for k in range(len(tex.levels))]
    assert tex.levels[-1].shape == (8, 8)
    for k in (1, 4):
        fine = tex.levels[k - 1].astype(np.float64)
        box = fine.reshape(fine.shape[0] // 2, 2, fine.shape[1] // 2, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(tex.levels[k], box, atol=1e-3)


def test_bad_arguments_rejected() -> None:
    with pytest.raises(ValueError, match="power of two"):
        GroundTexture(seed=1, size=1000)
    with pytest.raises(ValueError, match="texel_m"):
        GroundTexture(seed=1, texel_m=0.0, size=64)
    with pytest.raises(ValueError, match="hfov_deg"):
        PinholeCamera(hfov_deg=180.0)


def test_camera_focal_length() -> None:
    cam = PinholeCamera(160, 120, 100.0)
    assert cam.focal_px == pytest.approx(80.0 / math.tan(math.radians(50.0)))
    assert (cam.cx, cam.cy) == (79.5, 59.5)
    # Edge pixel centres are half a pixel inside the 100 deg field of view.
    assert math.degrees(math.atan(float(cam.ray_right[0, -1]))) == pytest.approx(
        math.degrees(math.atan(79.5 / cam.focal_px))
    )
    assert cam.ray_fwd[0, 0] > 0 > cam.ray_fwd[-1, 0]  # top row looks forward


def test_shape_dtype_and_out_buffer(tex: GroundTexture, cam: PinholeCamera) -> None:
    img = render(tex, cam, (0.0, 0.0, -3.0), LEVEL)
    assert img.shape == (120, 160) and img.dtype == np.uint8
    buf = np.zeros((120, 160), dtype=np.uint8)
    same = render(tex, cam, (0.0, 0.0, -3.0), LEVEL, out=buf)
    assert same is buf
    assert np.array_equal(buf, img)
    with pytest.raises(ValueError, match="out must be"):
        render(tex, cam, (0.0, 0.0, -3.0), LEVEL, out=np.zeros((120, 160), dtype=np.float32))


@pytest.mark.parametrize(
    ("pos", "euler"),
    [
        ((1.3, 2.7, -5.0), (0.0, 0.0, 0.0)),
        ((100.3, -2000.7, -12.0), (0.3, -0.2, 1.0)),
        ((-7.0, 3.0, -0.7), (-0.4, 0.35, -2.5)),
        ((0.0, 0.0, -3.0), (1.2, 0.0, 0.0)),  # horizon in view
    ],
)
def test_matches_float64_reference(
    tex: GroundTexture,
    cam: PinholeCamera,
    pos: tuple[float, float, float],
    euler: tuple[float, float, float],
) -> None:
    r_wb = rotation_from_euler(*euler)
    img = render(tex, cam, pos, r_wb).astype(np.float64)
    ref = reference_render(tex, cam, pos, r_wb)
    # float32 coordinates against float64: a grey level of rounding at most.
    assert float(np.abs(img - ref).max()) <= 1.0
    assert np.array_equal(img == 0, ref == 0)  # the same sky


def test_image_convention_forward_moves_content_down(
    tex: GroundTexture, cam: PinholeCamera
) -> None:
    h = 4.0
    one_px_m = h / cam.focal_px
    img0 = render(tex, cam, (2.0, 3.0, -h), LEVEL).astype(np.int16)
    fwd = render(tex, cam, (2.0 + 3 * one_px_m, 3.0, -h), LEVEL).astype(np.int16)
    # Flying forward 3 pixel footprints: what was at row r is now at row r + 3.
    assert int(np.abs(fwd[3:, :] - img0[:-3, :]).max()) <= 1
    assert int(np.abs(fwd - img0).mean()) > 5  # and the image did change


def test_image_convention_right_moves_content_left(tex: GroundTexture, cam: PinholeCamera) -> None:
    h = 4.0
    one_px_m = h / cam.focal_px
    yaw = math.radians(30.0)  # body right is not world east: the motion is along body +y
    r_wb = rotation_from_euler(0.0, 0.0, yaw)
    step = 2 * one_px_m
    img0 = render(tex, cam, (2.0, 3.0, -h), r_wb).astype(np.int16)
    right = (2.0 - step * math.sin(yaw), 3.0 + step * math.cos(yaw), -h)
    img1 = render(tex, cam, right, r_wb).astype(np.int16)
    assert int(np.abs(img1[:, :-2] - img0[:, 2:]).max()) <= 1


def test_texture_tiles_periodically(tex: GroundTexture, cam: PinholeCamera) -> None:
    r_wb = rotation_from_euler(0.05, 0.1, 0.3)
    img = render(tex, cam, (1.1, 2.2, -6.0), r_wb).astype(np.int16)
    far = (1.1 + 25 * tex.period_m, 2.2 - 40 * tex.period_m, -6.0)
    img_far = render(tex, cam, far, r_wb).astype(np.int16)
    assert int(np.abs(img - img_far).max()) <= 1


def test_horizon_renders_zero(tex: GroundTexture, cam: PinholeCamera) -> None:
    # Rolled right 70 deg with a 100 deg field: the left part of the image sees sky.
    r_wb = rotation_from_euler(math.radians(70.0), 0.0, 0.0)
    img = render(tex, cam, (0.0, 0.0, -2.0), r_wb)
    down = cam.ray_fwd * r_wb[2, 0] + cam.ray_right * r_wb[2, 1] + r_wb[2, 2]
    assert np.all(img[down <= 0.0] == 0)
    assert np.all(img[down > 1e-3] >= 1)
    assert 0.05 < float((img == 0).mean()) < 0.5
    assert np.all(img[:, 0] == 0) and np.all(img[:, -1] > 0)


def test_camera_on_or_below_ground_is_black(tex: GroundTexture, cam: PinholeCamera) -> None:
    assert not render(tex, cam, (0.0, 0.0, 0.0), LEVEL).any()
    assert not render(tex, cam, (0.0, 0.0, 0.5), LEVEL).any()


def test_mip_level_follows_footprint(tex: GroundTexture, cam: PinholeCamera) -> None:
    def alt_for(texels_per_px: float) -> float:
        return texels_per_px * tex.texel_m * cam.focal_px

    # a pixel's footprint in texels; the level matches half of it (a subpixel's)
    assert mip_level(tex, cam, alt_for(0.3), 1.0) == 0  # magnified: finest level
    assert mip_level(tex, cam, alt_for(2.0), 1.0) == 0
    assert mip_level(tex, cam, alt_for(2.7), 1.0) == 0  # subpixel 1.35 texels: nearer 1 than 2
    assert mip_level(tex, cam, alt_for(3.0), 1.0) == 1  # 1.5: nearer 2 in log2
    assert mip_level(tex, cam, alt_for(9.0), 1.0) == 2  # 4.5
    assert mip_level(tex, cam, alt_for(12.0), 1.0) == 3  # 6
    assert mip_level(tex, cam, alt_for(1e6), 1.0) == len(tex.levels) - 1
    # Tilted 60 deg the optical axis is twice as long: one level coarser.
    assert mip_level(tex, cam, alt_for(3.0), 0.5) == 2
    assert mip_level(tex, cam, alt_for(3.0), 0.0) == len(tex.levels) - 1


def test_high_altitude_does_not_alias(tex: GroundTexture, cam: PinholeCamera) -> None:
    # From 200 m one pixel covers ~75 texels; point-sampling level 0 would give near-white
    # noise whose grey values are unrelated between neighbours. The mip image stays smooth.
    img = render(tex, cam, (0.0, 0.0, -200.0), LEVEL).astype(np.float64)
    neighbour_corr = np.corrcoef(img[:, :-1].ravel(), img[:, 1:].ravel())[0, 1]
    assert neighbour_corr > 0.5


def test_subpixel_motion_changes_image_smoothly(tex: GroundTexture, cam: PinholeCamera) -> None:
    h = 6.0
    px_m = h / cam.focal_px
    base = render(tex, cam, (0.0, 0.0, -h), LEVEL).astype(np.float64)
    diffs = []
    for k in range(1, 9):
        img = render(tex, cam, (0.05 * k * px_m, 0.0, -h), LEVEL).astype(np.float64)
        diffs.append(float(np.abs(img - base).mean()))
    # Nearest-texel sampling would leave the image unchanged for tiny steps and then jump;
    # bilinear makes the change grow steadily with every 1/20 pixel step.
    assert diffs[0] > 0.3
    assert all(b > a for a, b in itertools.pairwise(diffs))
    ratio = diffs[-1] / diffs[0]
    assert 5.0 < ratio < 11.0  # ~8x for 8x the step (quantisation bends it a little)
