"""Vision displacement: phase correlation accuracy, quality, and signs proved with the renderer.

Tolerances. Synthetic shifts (exact Fourier shifts, then uint8) come back within 0.02 px. On
rendered pairs the texture sampling adds error: a sweep of 0-2.5 px translations at 1-20 m
measured at most 0.06 px (worst at 1 m, where bilinear magnification leaves kinks). After
de-rotation a roll or pitch leaves at most 0.06 px + 2.6 % of its centre shift f*dtheta, and a
yaw (which spins the image, smearing the correlation peak) 0.06 px + 10 % of f*dtheta_z, over
16 texture seeds at 1-2 rad/s. So rendered cases allow 0.06 px + 4 % of the roll/pitch shift
+ 12 % of the yaw shift, converted to velocity with h / (f * dt): at 5 m and 30 Hz, 0.06 px is
0.13 m/s, and 2 rad/s of yaw adds 0.6 m/s.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from firmware.vision import (
    MIN_QUALITY,
    WINDOW_HOLD_PX,
    FlowEstimator,
    FlowResult,
    VisionFlowEngine,
    body_velocity,
    derotation_gain,
    nadir_pixel,
    rotation_shift,
)
from hal.types import Frame
from sim_hal.render import GroundTexture, PinholeCamera, render, rotation_from_euler

W, H = 160, 120
DT = 1.0 / 30.0
TRANSLATION_TOL_PX = 0.06
ROLL_PITCH_TOL_FRACTION = 0.04
YAW_TOL_FRACTION = 0.12

Mat = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def tex() -> GroundTexture:
    return GroundTexture(seed=21)


@pytest.fixture(scope="module")
def cam() -> PinholeCamera:
    return PinholeCamera(W, H, 100.0)


@pytest.fixture(scope="module")
def big_image(tex: GroundTexture) -> npt.NDArray[np.complex128]:
    """Spectrum of a 512x512 periodic texture, to cut exactly shifted crops from."""
    return np.fft.fft2(tex.levels[1].astype(np.float64))


def shifted_crop(
    spec: npt.NDArray[np.complex128], drow: float, dcol: float
) -> npt.NDArray[np.uint8]:
    """A 120x160 view whose content is moved by (drow, dcol) pixels, exactly (Fourier)."""
    n = spec.shape[0]
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.fftfreq(n)[None, :]
    img = np.real(np.fft.ifft2(spec * np.exp(-2j * np.pi * (ky * drow + kx * dcol))))
    return np.clip(np.round(img[100 : 100 + H, 200 : 200 + W]), 0, 255).astype(np.uint8)


def rotvec(r0: Mat, r1: Mat) -> tuple[float, float, float]:
    """Body-frame rotation vector taking attitude r0 to r1: the integrated gyro delta-angle."""
    m = r0.T @ r1
    angle = math.acos(max(-1.0, min(1.0, (float(np.trace(m)) - 1.0) / 2.0)))
    if angle < 1e-12:
        return (0.0, 0.0, 0.0)
    k = angle / (2.0 * math.sin(angle))
    return (
        k * float(m[2, 1] - m[1, 2]),
        k * float(m[0, 2] - m[2, 0]),
        k * float(m[1, 0] - m[0, 1]),
    )


def flat(r: Mat) -> tuple[float, ...]:
    return tuple(float(v) for v in r.ravel())


def frame(image: npt.NDArray[np.uint8], seq: int) -> Frame:
    return Frame(t_ns=seq, seq=seq, image=image, t_rx_ns=seq)


class Pair:
    """Two rendered frames DT apart, with the flow and de-rotated velocity between them.

    ``window_px`` None: the whole image; else navigation's window, aimed below the vehicle
    at each frame's attitude."""

    def __init__(
        self,
        tex: GroundTexture,
        cam: PinholeCamera,
        pos0: tuple[float, float, float],
        euler0: tuple[float, float, float],
        v_body: tuple[float, float] = (0.0, 0.0),
        rate_body: tuple[float, float, float] = (0.0, 0.0, 0.0),
        window_px: int | None = None,
    ) -> None:
        r0 = rotation_from_euler(*euler0)
        # Constant body rate over the interval: r1 = r0 * exp(rate * DT).
        w = np.array(rate_body) * DT
        angle = float(np.linalg.norm(w))
        if angle > 0.0:
            k = w / angle
            kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
            step = np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx
        else:
            step = np.eye(3)
        r1 = r0 @ step
        # Level translation in the body's mid-interval heading.
        r_mid = r0 @ (np.eye(3) + 0.5 * (step - np.eye(3)))
        d_world = r_mid @ np.array([v_body[0], v_body[1], 0.0]) * DT
        d_world[2] = 0.0
        pos1 = (pos0[0] + float(d_world[0]), pos0[1] + float(d_world[1]), pos0[2])
        engine = VisionFlowEngine(W, H, window_px)
        f = cam.focal_px
        zero = frame(render(tex, cam, pos0, r0), 0)
        engine.begin(zero, nadir_pixel(flat(r0), f))
        assert engine.finish(zero) is None
        one = frame(render(tex, cam, pos1, r1), 1)
        engine.begin(one, nadir_pixel(flat(r1), f))
        flow = engine.finish(one)
        assert flow is not None
        self.flow: FlowResult = flow
        self.dtheta = rotvec(r0, r1)
        self.height = -pos0[2]
        self.focal = f
        n = window_px
        self.gain = derotation_gain(n or W, n or H, f)
        self.r1 = flat(r1)
        vx, vy, _ = body_velocity(self.flow, self.dtheta, self.height, self.r1, 0.0, f, DT,
                                  self.gain)
        self.velocity = (vx, vy)
        # the truth: the world displacement's velocity in the body frame at the second frame
        truth = r1.T @ (d_world / DT)
        self.truth = (float(truth[0]), float(truth[1]))
        # the depth of the window centre's ground point along the optical axis
        down = r1[2, 2] + (r1[2, 1] * flow.at_col - r1[2, 0] * flow.at_row) / f
        depth = self.height / down
        roll_pitch_px = self.focal * max(abs(self.dtheta[0]), abs(self.dtheta[1]))
        yaw_px = self.focal * abs(self.dtheta[2])
        self.tol_px = (
            TRANSLATION_TOL_PX + ROLL_PITCH_TOL_FRACTION * roll_pitch_px + YAW_TOL_FRACTION * yaw_px
        )
        self.tol_mps = self.tol_px * depth / (self.focal * DT)


# --- estimator on synthetic shifts ---------------------------------------------------------


def test_first_frame_and_reset_return_none(big_image: npt.NDArray[np.complex128]) -> None:
    est = FlowEstimator(W, H)
    a = shifted_crop(big_image, 0.0, 0.0)
    b = shifted_crop(big_image, 1.0, 2.0)
    assert est.update(a) is None
    assert est.update(b) is not None
    est.reset()
    assert est.update(a) is None
    res = est.update(b)  # compares against the frame after the reset, not before it
    assert res is not None
    assert res.drow == pytest.approx(1.0, abs=0.02) and res.dcol == pytest.approx(2.0, abs=0.02)


@pytest.mark.parametrize(
    ("drow", "dcol"),
    [(0.0, 0.0), (0.25, 0.0), (0.5, -0.5), (1.3, 2.7), (-3.6, 0.1), (7.45, -6.2), (0.1, 0.9)],
)
def test_recovers_subpixel_shifts(
    big_image: npt.NDArray[np.complex128], drow: float, dcol: float
) -> None:
    est = FlowEstimator(W, H)
    est.update(shifted_crop(big_image, 0.0, 0.0))
    res = est.update(shifted_crop(big_image, drow, dcol))
    assert res is not None
    assert res.drow == pytest.approx(drow, abs=0.02)
    assert res.dcol == pytest.approx(dcol, abs=0.02)
    assert res.quality > 0.9


def test_sign_content_moving_down_right_is_positive(
    big_image: npt.NDArray[np.complex128],
) -> None:
    base = shifted_crop(big_image, 0.0, 0.0)
    moved = np.zeros_like(base)
    moved[3:, 2:] = base[:-3, :-2]  # row r -> r+3, col c -> c+2; fresh content at the edges
    est = FlowEstimator(W, H)
    est.update(base)
    res = est.update(moved)
    assert res is not None
    assert res.drow == pytest.approx(3.0, abs=0.1) and res.dcol == pytest.approx(2.0, abs=0.1)


def test_subpixel_estimate_is_not_quantised(big_image: npt.NDArray[np.complex128]) -> None:
    est = FlowEstimator(W, H)
    shifts = np.linspace(0.0, 1.0, 11)
    errors = []
    for s in shifts:
        est.reset()
        est.update(shifted_crop(big_image, 0.0, 0.0))
        res = est.update(shifted_crop(big_image, float(s), 0.0))
        assert res is not None
        errors.append(res.drow - s)
    assert max(abs(e) for e in errors) < 0.02


def test_quality_separates_good_from_garbage(big_image: npt.NDArray[np.complex128]) -> None:
    est = FlowEstimator(W, H)
    rng = np.random.default_rng(4)
    noise_q = []
    for _ in range(10):
        est.reset()
        est.update(rng.integers(0, 256, (H, W), dtype=np.uint8))
        res = est.update(rng.integers(0, 256, (H, W), dtype=np.uint8))
        assert res is not None
        noise_q.append(res.quality)
    assert max(noise_q) < MIN_QUALITY

    est.reset()
    est.update(shifted_crop(big_image, 0.0, 0.0))
    same = est.update(shifted_crop(big_image, 0.0, 0.0))
    assert same is not None and same.quality == pytest.approx(1.0, abs=0.02)

    # Unrelated parts of the same texture: looks like ground, but no common shift.
    est.reset()
    est.update(shifted_crop(big_image, 0.0, 0.0))
    other = est.update(shifted_crop(big_image, 200.0, 150.0))
    assert other is not None and other.quality < MIN_QUALITY


def test_flat_image_quality_zero() -> None:
    est = FlowEstimator(W, H)
    flat = np.full((H, W), 128, dtype=np.uint8)
    est.update(flat)
    res = est.update(flat)
    assert res == FlowResult(0.0, 0.0, 0.0)


def test_flat_previous_frame_quality_zero(big_image: npt.NDArray[np.complex128]) -> None:
    est = FlowEstimator(W, H)
    est.update(np.zeros((H, W), dtype=np.uint8))  # e.g. lens covered on the pad
    res = est.update(shifted_crop(big_image, 0.0, 0.0))
    assert res is not None and res.quality < MIN_QUALITY


def test_blurred_noisy_frames_rejected(big_image: npt.NDArray[np.complex128]) -> None:
    """Detail washed out below the sensor noise leaves nothing coherent to correlate."""
    rng = np.random.default_rng(9)
    n = big_image.shape[0]
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.fftfreq(n)[None, :]
    blurred = big_image * np.exp(-2 * (math.pi * 12.0) ** 2 * (ky**2 + kx**2))  # sigma 12 px
    est = FlowEstimator(W, H)
    frames = []
    for spec in (big_image, blurred):
        clean = shifted_crop(spec, 0.0, 0.0).astype(np.float64)
        frames.append([np.clip(clean + rng.normal(0, 3.0, clean.shape), 0, 255) for _ in (0, 1)])
    sharp, soft = frames
    est.update(sharp[0].astype(np.uint8))
    res_sharp = est.update(sharp[1].astype(np.uint8))
    est.reset()
    est.update(soft[0].astype(np.uint8))
    res_soft = est.update(soft[1].astype(np.uint8))
    assert res_sharp is not None and res_soft is not None
    assert res_sharp.quality > 0.5
    assert res_soft.quality < MIN_QUALITY


def test_accepts_float_input_and_leaves_it_alone(big_image: npt.NDArray[np.complex128]) -> None:
    a = shifted_crop(big_image, 0.0, 0.0).astype(np.float64)
    b = shifted_crop(big_image, 0.4, -1.2).astype(np.float64)
    b_copy = b.copy()
    est = FlowEstimator(W, H)
    est.update(a)
    res = est.update(b)
    assert res is not None and res.dcol == pytest.approx(-1.2, abs=0.02)
    assert np.array_equal(b, b_copy)


def test_shape_mismatch_rejected() -> None:
    est = FlowEstimator(W, H)
    with pytest.raises(ValueError, match="shape"):
        est.update(np.zeros((W, H), dtype=np.uint8))


# --- body_velocity arithmetic ----------------------------------------------------------------


LEVEL = flat(np.eye(3))


def test_body_velocity_signs_by_hand() -> None:
    f, h = 100.0, 5.0

    def vel(flow: FlowResult, dtheta: tuple[float, float, float],
            gain: tuple[float, float] = (1.0, 1.0)) -> tuple[float, float, float]:
        return body_velocity(flow, dtheta, h, LEVEL, 0.0, f, 0.1, gain)

    # Forward 3 m/s for 0.1 s at 5 m: content moves down f*0.3/5 = 6 px.
    assert vel(FlowResult(6.0, 0.0, 1.0), (0.0, 0.0, 0.0)) == (
        pytest.approx(3.0), pytest.approx(0.0), pytest.approx(0.0))
    # Right 1 m/s: content moves left 2 px.
    assert vel(FlowResult(0.0, -2.0, 1.0), (0.0, 0.0, 0.0))[:2] == (
        pytest.approx(0.0), pytest.approx(1.0))
    # Roll right 0.01 rad: content moves right f*0.01 = 1 px, which is not velocity.
    assert vel(FlowResult(0.0, 1.0, 1.0), (0.01, 0.0, 0.0))[:2] == (
        pytest.approx(0.0), pytest.approx(0.0))
    # Pitch up 0.01 rad: content moves down 1 px.
    assert vel(FlowResult(1.0, 0.0, 1.0), (0.0, 0.01, 0.0))[:2] == (
        pytest.approx(0.0), pytest.approx(0.0))
    # The gain scales only the rotational part.
    assert vel(FlowResult(1.1, 0.0, 1.0), (0.0, 0.01, 0.0), (1.1, 1.0))[0] == pytest.approx(0.0)
    # A window 20 px right of the centre: a yaw of 0.01 rad moves it down by -0.2 px ...
    assert vel(FlowResult(-0.2, 0.0, 1.0, 0.0, 20.0), (0.0, 0.0, 0.01))[:2] == (
        pytest.approx(0.0), pytest.approx(0.0))
    # ... and a descent at 1 m/s (content spreads from the centre) moves it right by
    # x*vz*dt/h = 20 * 0.1 / 5 = 0.4 px, which is no sideways velocity.
    descending = body_velocity(FlowResult(0.0, 0.4, 1.0, 0.0, 20.0), (0.0, 0.0, 0.0), h, LEVEL,
                               1.0, f, 0.1)
    assert descending == (pytest.approx(0.0), pytest.approx(0.0), pytest.approx(1.0))


def test_body_velocity_rejects_bad_inputs() -> None:
    flow = FlowResult(1.0, 1.0, 1.0)
    for h, f, dt in [(0.0, 100.0, 0.1), (math.nan, 100.0, 0.1), (5.0, 0.0, 0.1), (5.0, 100.0, 0)]:
        with pytest.raises(ValueError):
            body_velocity(flow, (0.0, 0.0, 0.0), h, LEVEL, 0.0, f, dt)


def test_derotation_gain_geometry() -> None:
    g_row, g_col = derotation_gain(160, 120, 80.0 / math.tan(math.radians(50.0)))
    assert 1.0 < g_row < g_col < 1.2  # wider than tall: columns see more off-axis growth
    narrow = derotation_gain(160, 120, 1000.0)  # ~9 deg field: rotation shift ~uniform
    assert narrow == (pytest.approx(1.0, abs=1e-3), pytest.approx(1.0, abs=1e-3))


# --- signs and scale proved with rendered frames ---------------------------------------------


@pytest.mark.parametrize(
    ("height", "yaw", "v_body"),
    [
        (5.0, 0.7, (2.0, 0.0)),  # forward
        (10.0, -1.9, (0.0, 3.0)),  # right
        (2.0, 0.0, (1.0, -1.5)),  # diagonal, left
        (3.0, 2.5, (-6.0, 0.0)),  # fast backward: a 4.5 px shift
    ],
)
def test_rendered_translation(
    tex: GroundTexture,
    cam: PinholeCamera,
    height: float,
    yaw: float,
    v_body: tuple[float, float],
) -> None:
    pair = Pair(tex, cam, (3.0, -4.0, -height), (0.0, 0.0, yaw), v_body=v_body)
    vx, vy = pair.velocity
    assert pair.truth == (pytest.approx(v_body[0]), pytest.approx(v_body[1]))  # level
    assert vx == pytest.approx(v_body[0], abs=pair.tol_mps)
    assert vy == pytest.approx(v_body[1], abs=pair.tol_mps)
    assert pair.flow.quality > 0.8


@pytest.mark.parametrize("height", [2.0, 5.0, 10.0])
@pytest.mark.parametrize("rate", [0.3, 1.0, 2.0])
def test_rendered_pure_roll(
    tex: GroundTexture, cam: PinholeCamera, height: float, rate: float
) -> None:
    pair = Pair(tex, cam, (1.0, 2.0, -height), (0.05, -0.04, 0.6), rate_body=(rate, 0.0, 0.0))
    # Roll right moves the content right, by about f * dtheta.
    assert pair.flow.dcol == pytest.approx(pair.focal * rate * DT, rel=0.2)
    vx, vy = pair.velocity
    assert abs(vx) < pair.tol_mps and abs(vy) < pair.tol_mps


@pytest.mark.parametrize("height", [2.0, 5.0, 10.0])
@pytest.mark.parametrize("rate", [0.3, 1.0, 2.0])
def test_rendered_pure_pitch(
    tex: GroundTexture, cam: PinholeCamera, height: float, rate: float
) -> None:
    pair = Pair(tex, cam, (1.0, 2.0, -height), (0.05, -0.04, 0.6), rate_body=(0.0, rate, 0.0))
    # Pitch up swings the view forward: the content moves down.
    assert pair.flow.drow == pytest.approx(pair.focal * rate * DT, rel=0.2)
    vx, vy = pair.velocity
    assert abs(vx) < pair.tol_mps and abs(vy) < pair.tol_mps


@pytest.mark.parametrize("rate", [0.3, 1.0, 2.0])
def test_rendered_pure_yaw_leaves_centre_still(
    tex: GroundTexture, cam: PinholeCamera, rate: float
) -> None:
    pair = Pair(tex, cam, (1.0, 2.0, -5.0), (0.05, -0.04, 0.6), rate_body=(0.0, 0.0, rate))
    # The image spins about its centre: at the edges content moves f*tan(50deg)*dtheta, up to
    # 5 px at 2 rad/s, but the net shift stays near zero.
    assert abs(pair.flow.drow) < pair.tol_px and abs(pair.flow.dcol) < pair.tol_px
    vx, vy = pair.velocity
    assert abs(vx) < pair.tol_mps and abs(vy) < pair.tol_mps


def test_derotation_gain_beats_centre_only_model(tex: GroundTexture, cam: PinholeCamera) -> None:
    pair = Pair(tex, cam, (1.0, 2.0, -5.0), (0.0, 0.0, 0.2), rate_body=(2.0, 0.0, 0.0))
    _, vy_gain = pair.velocity
    _, vy_centre, _ = body_velocity(pair.flow, pair.dtheta, pair.height, pair.r1, 0.0,
                                    pair.focal, DT)
    assert abs(vy_gain) < 0.5 * abs(vy_centre)


def test_rendered_translation_while_rotating_tilted(tex: GroundTexture, cam: PinholeCamera) -> None:
    """Cruise as flown: tilted 12 deg into 3 m/s forward, rolling and yawing at the same time."""
    pair = Pair(
        tex,
        cam,
        (50.0, -20.0, -6.0),
        (0.08, -0.21, 1.2),
        v_body=(3.0, -0.5),
        rate_body=(0.6, -0.4, 0.5),
    )
    vx, vy = pair.velocity
    assert vx == pytest.approx(pair.truth[0], abs=pair.tol_mps)
    assert vy == pytest.approx(pair.truth[1], abs=pair.tol_mps)


# --- navigation's window, kept below the vehicle ---------------------------------------------

WINDOW = 64


def test_rotation_shift_at_the_centre_is_the_centre_model() -> None:
    k = rotation_shift(0.0, 0.0, 80.0, (1.1, 1.2))
    assert k.row == (0.0, pytest.approx(88.0), 0.0)  # pitch only: f * gain
    assert k.col == (pytest.approx(96.0), 0.0, 0.0)  # roll only
    off = rotation_shift(20.0, -30.0, 80.0, (1.0, 1.0))
    assert off.row[2] == pytest.approx(30.0) and off.col[2] == pytest.approx(20.0)  # yaw turns it


def test_the_window_follows_the_nadir_and_stays_inside_the_image() -> None:
    eng = VisionFlowEngine(W, H, WINDOW)
    assert eng.origin_for((0.0, 0.0)) == ((H - WINDOW) // 2, (W - WINDOW) // 2)
    assert eng.origin_for((10.0, -7.0)) == ((H - WINDOW) // 2 + 10, (W - WINDOW) // 2 - 7)
    assert eng.origin_for((500.0, -500.0)) == (H - WINDOW, 0)
    # nose down 30 deg: the camera looks back, the ground below is forward of the optical
    # axis, high in the image (rows grow toward body -x)
    row, col = nadir_pixel(flat(rotation_from_euler(0.0, -math.radians(30.0), 0.3)), 67.0)
    assert row == pytest.approx(-67.0 * math.tan(math.radians(30.0)))
    assert col == pytest.approx(0.0)
    with pytest.raises(ValueError, match="window_px"):
        VisionFlowEngine(W, H, 200)


def test_windows_that_move_between_frames_measure_the_content_shift(
    tex: GroundTexture, cam: PinholeCamera
) -> None:
    r = rotation_from_euler(0.0, 0.0, 0.4)
    a = frame(render(tex, cam, (2.0, 1.0, -6.0), r), 0)
    b = frame(render(tex, cam, (2.05, 1.1, -6.0), r), 1)
    results = []
    # the window stays within WINDOW_HOLD_PX of the aim and moves beyond it
    for aim_b, moved in (((0.0, 0.0), (0, 0)), ((2.0, -1.0), (0, 0)), ((6.0, -5.0), (6, -5)),
                         ((-5.0, 7.0), (-5, 7))):
        assert max(abs(moved[0]), abs(moved[1])) == 0 or \
            max(abs(aim_b[0]), abs(aim_b[1])) > WINDOW_HOLD_PX
        eng = VisionFlowEngine(W, H, WINDOW)
        eng.begin(a, (0.0, 0.0))
        eng.finish(a)
        eng.begin(b, aim_b)
        res = eng.finish(b)
        assert res is not None and res.quality > 0.6
        assert (res.at_row, res.at_col) == (0.0, 0.0)  # the first window's centre
        results.append(res)
    for res in results[1:]:
        assert res.drow == pytest.approx(results[0].drow, abs=0.1)
        assert res.dcol == pytest.approx(results[0].dcol, abs=0.1)


@pytest.mark.parametrize("move", [-8, 8])
def test_a_moving_window_measures_rotation_where_the_first_window_was(
    tex: GroundTexture, cam: PinholeCamera, move: int
) -> None:
    """Pitched 15 deg the window sits 18 px off the centre, where a pitch moves the content
    1.07 times as far as at the centre. When the window moves between the two frames (it
    follows the nadir, which moves with the rotation) the shift is that of the first
    window's content: the model there fits within 1 %; at the mean of the two centres it was
    3 % off for an 8 px move, a bias that follows the rotation."""
    f = cam.focal_px
    gain = derotation_gain(WINDOW, WINDOW, f)
    ratios = []
    for k in range(4):
        rate = 0.8 if k % 2 else -0.8
        r0 = rotation_from_euler(-0.17, math.radians(15.0), 0.3 + k)
        w = rate * DT
        r1 = r0 @ np.array([[math.cos(w), 0.0, math.sin(w)], [0.0, 1.0, 0.0],
                            [-math.sin(w), 0.0, math.cos(w)]])
        pos = (1.0 + 3 * k, 2.0 - k, -20.0)
        eng = VisionFlowEngine(W, H, WINDOW)
        aim = nadir_pixel(flat(r0), f)
        first = frame(render(tex, cam, pos, r0), 0)
        eng.begin(first, aim)
        eng.finish(first)
        second = frame(render(tex, cam, pos, r1), 1)
        eng.begin(second, (aim[0] + move, aim[1]))
        res = eng.finish(second)
        assert res is not None
        rot = rotation_shift(res.at_row, res.at_col, f, gain)
        dtheta = rotvec(r0, r1)
        ratios.append(res.drow / sum(k_ * d for k_, d in zip(rot.row, dtheta, strict=True)))
    assert float(np.mean(ratios)) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("rate_body", [(1.5, 0.0, 0.0), (0.0, 1.5, 0.0), (0.0, 0.0, 1.5),
                                       (0.8, -0.8, 0.8)])
@pytest.mark.parametrize("euler0", [(0.0, -0.5, 0.7), (0.45, 0.2, -1.0)])
def test_rotation_alone_is_no_velocity_in_a_window_off_the_centre(
    tex: GroundTexture, cam: PinholeCamera, rate_body: tuple[float, float, float],
    euler0: tuple[float, float, float]
) -> None:
    """Tilted 29-30 deg the window sits 25-40 px off the centre, where a rotation also moves
    the content across (and a yaw moves it at all): the model must remove that too."""
    pair = Pair(tex, cam, (4.0, -3.0, -5.0), euler0, rate_body=rate_body, window_px=WINDOW)
    assert math.hypot(pair.flow.at_row, pair.flow.at_col) > 20.0
    vx, vy = pair.velocity
    assert abs(vx) < pair.tol_mps and abs(vy) < pair.tol_mps


@pytest.mark.parametrize("tilt_deg", [20.0, 35.0, 40.0])
@pytest.mark.parametrize("side", [False, True])
def test_tilted_flight_measured_in_the_window_below(
    tex: GroundTexture, cam: PinholeCamera, tilt_deg: float, side: bool
) -> None:
    """Nose down 20-40 deg into 4 m/s (or into a crosswind, moving sideways), rolling a
    little: the body velocity, which now has a large component along the optical axis, comes
    back within 4 %."""
    v = (0.0, 4.0) if side else (4.0 * math.cos(math.radians(tilt_deg)), 0.0)
    pair = Pair(tex, cam, (7.0, 9.0, -10.0), (0.03, -math.radians(tilt_deg), 2.0),
                v_body=v, rate_body=(0.2, -0.1, 0.1), window_px=WINDOW)
    truth = pair.truth
    speed = math.hypot(*truth)
    err = math.hypot(pair.velocity[0] - truth[0], pair.velocity[1] - truth[1])
    assert err < 0.04 * speed + pair.tol_mps


def test_chance_peaks_of_the_window_stay_below_navigations_quality_floor(
    tex: GroundTexture, cam: PinholeCamera
) -> None:
    """Unrelated ground under a 64 px window scores up to ~0.2 (fewer samples than a whole
    image, so a higher chance maximum): navigation's floor is 0.3."""
    from firmware.config import NavConfig

    floor = NavConfig().vision_min_quality
    r = rotation_from_euler(0.0, 0.0, 0.0)
    worst = 0.0
    for k in range(30):
        eng = VisionFlowEngine(W, H, WINDOW)
        a = frame(render(tex, cam, (7.3 * k, 0.0, -5.0), r), 0)
        b = frame(render(tex, cam, (7.3 * k + 13.1, 3.3, -5.0), r), 1)
        eng.begin(a, (0.0, 0.0))
        eng.finish(a)
        eng.begin(b, (0.0, 0.0))
        res = eng.finish(b)
        assert res is not None
        worst = max(worst, res.quality)
    assert worst < floor


def _flow_errors(frames: list[npt.NDArray[np.generic]], truth: list[tuple[float, float]]
                 ) -> npt.NDArray[np.float64]:
    """Measured minus true shift of each consecutive pair, 64 px window at the centre."""
    est = FlowEstimator(64, 64)
    errs = []
    for k, img in enumerate(frames):
        res = est.update(np.asarray(img)[28:92, 48:112])
        if k > 0:
            assert res is not None
            errs.append((res.drow - truth[k - 1][0], res.dcol - truth[k - 1][1]))
    return np.asarray(errs, dtype=np.float64)


def test_rendered_motion_is_as_faithful_as_a_pixel_integrating_camera() -> None:
    """A camera pixel integrates the light of its footprint. Images averaged from 4x4
    subpixels (each sampling the finest texture) are that integral; the renderer must measure
    motion about as well. Sampling only the finer mip level around the footprint (texels down
    to half of it) aliased detail above the pixel grid's Nyquist limit: its flow error was 3x
    the integral's, and on flight poses it read as a camera-IMU time offset of 3 ms."""
    tex = GroundTexture(seed=1)
    cam = PinholeCamera(W, H, 100.0)
    fine = PinholeCamera(4 * W, 4 * H, 100.0)
    height = 1.9 * tex.texel_m * cam.focal_px  # footprint 1.9 texels: worst aliasing
    f = cam.focal_px
    frames, integral, truth = [], [], []
    prev_roll = 0.0
    for k in range(24):
        # forward at 0.37 px per frame (a sub-pixel phase that walks), roll rocking
        north, roll = 0.37 * k * height / f, 0.004 * math.sin(0.9 * k)
        r = rotation_from_euler(roll, 0.0, 0.0)
        pos = (north, 0.0, -height)
        frames.append(render(tex, cam, pos, r))
        sub = render(tex, fine, pos, r).astype(np.float64)
        integral.append(sub.reshape(H, 4, W, 4).mean(axis=(1, 3)))
        if k > 0:
            d_roll = roll - prev_roll
            truth.append((0.37, f * math.tan(d_roll)))  # content down when moving forward
        prev_roll = roll
    rendered = float(np.sqrt((_flow_errors(frames, truth) ** 2).mean()))
    reference = float(np.sqrt((_flow_errors(integral, truth) ** 2).mean()))
    assert rendered < 1.5 * reference + 0.002, (rendered, reference)
