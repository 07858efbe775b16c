"""Vision displacement: image shift between consecutive frames, and body velocity from it.

Image convention (hal.types.Frame): camera looking along body +z (down); row index grows
toward body -x (top of the image is forward), column index grows toward body +y. A ground point
at body offset (dx, dy, h) is imaged at ``col = cx + f*dy/h``, ``row = cy - f*dx/h``.

Shift estimation is FFT phase correlation. The normalised cross-power spectrum is weighted by
a Gaussian, which turns the correlation peak of a pure shift into a sampled Gaussian of known
width: a three-point log-parabola then finds its centre without the bias a plain parabola has
on the sinc-shaped peak of unweighted phase correlation, and the weight also discards the
noisiest (highest) frequencies. The peak height over the height a perfect shift would give is
the quality: ~1 for a clean shift, ~0.05 for unrelated images, 0 for a featureless one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from hal.types import Frame

F32 = npt.NDArray[np.float32]

# Width (pixels, 1 sigma) of the correlation peak the spectral weight shapes. Near 1 px the
# three-point fit sees a well-curved peak; wider would throw away more of the fine texture.
PEAK_SIGMA_PX = 1.0
# Quality below which a whole 160x120 image's result should not be trusted. Unrelated
# 160x120 images score 0.05-0.10 (the largest of ~19k correlated noise samples); rendered
# frame pairs score 0.3 (0.06 rad of yaw between frames, the hardest case) to 1.0. A smaller
# window has fewer samples and a higher chance maximum: navigation's 64 px one takes
# nav.vision_min_quality (0.3).
MIN_QUALITY = 0.15
# Spatial frequencies (cycles per pixel) used to refine the shift from the phase slope.
REFINE_CUTOFF = 0.2
REFINE_LOW_BINS = 3.0
# Bins with a spectral magnitude below this (grey level x window units) carry no phase.
_EPS = 1e-3


class FlowResult(NamedTuple):
    drow: float  # shift of the new image relative to the previous one, pixels (+: content down)
    dcol: float  # pixels (+: content moved right)
    quality: float  # coherent fraction of the correlation; reject below MIN_QUALITY
    # where in the image the shift was measured: the correlation window's centre, pixels from
    # the image centre (+: down, right); the rotation and translation models are evaluated there
    at_row: float = 0.0
    at_col: float = 0.0


class FlowEstimator:
    """Phase correlation of each frame against the previous one, one rfft2 + one irfft2 each.

    Not thread-safe; one instance per camera stream.
    """

    def __init__(self, width: int, height: int) -> None:
        if width < 8 or height < 8:
            raise ValueError(f"image must be at least 8x8 (got {width}x{height})")
        self.width = width
        self.height = height
        self._window: F32 = np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)
        fy = np.fft.fftfreq(height)[:, None]
        fx_half = np.fft.rfftfreq(width)[None, :]
        fx_full = np.fft.fftfreq(width)[None, :]
        k = -2.0 * (math.pi * PEAK_SIGMA_PX) ** 2
        self._weight: F32 = np.exp(k * (fy**2 + fx_half**2)).astype(np.float32)
        # Correlation value at the peak for a perfect integer shift: mean of the weight over
        # the full (Hermitian) spectrum, which is what irfft2 of the weight puts at the origin.
        self._ideal_peak = float(np.exp(k * (fy**2 + fx_full**2)).mean())
        self._buf: F32 = np.empty((height, width), dtype=np.float32)
        self._prev: npt.NDArray[np.complex64] | None = None  # conj(normalised spectrum) * weight
        # Phase-slope refinement works on the low frequencies, where the phase is reliable
        # and cannot wrap for a residual under half a pixel.
        fyy, fxx = np.broadcast_arrays(fy, fx_half)
        # The lowest bins are excluded: the stationary window leaks into them and pulls the
        # slope toward zero shift (a steady scale error of about 1 %).
        radius = np.hypot(fyy, fxx)
        low_cut = REFINE_LOW_BINS / min(height, width)
        self._low = np.flatnonzero(((radius < REFINE_CUTOFF) & (radius > low_cut)).ravel())
        self._ky = fyy.ravel()[self._low].astype(np.float64)
        self._kx = fxx.ravel()[self._low].astype(np.float64)
        self._prev_mag: npt.NDArray[np.float32] | None = None
        # (image, cross-power, previous spectrum, previous magnitudes, coarse peak or None)
        self._stage: tuple[npt.NDArray[np.generic], npt.NDArray[np.complexfloating],
                           npt.NDArray[np.complex64], npt.NDArray[np.float32],
                           FlowResult | None] | None = None

    def reset(self) -> None:
        """Forget the previous frame (after a gap, a fault, or a jump in attitude)."""
        self._prev = None
        self._stage = None

    def update(self, image: npt.NDArray[np.generic]) -> FlowResult | None:
        """Shift of ``image`` relative to the previous image; None when there is no previous."""
        self.begin(image)
        while self.advance():
            pass
        return self.finish()

    # The work is three stages of about one FFT each (begin, advance, finish), so a control
    # loop can spread one frame over three cycles instead of carrying ~0.5 ms in one.

    def begin(self, image: npt.NDArray[np.generic]) -> None:
        """Stage one: the new frame's windowed, whitened spectrum, and the cross-power with
        the previous frame's."""
        if image.shape != (self.height, self.width):
            raise ValueError(f"image shape {image.shape} != expected {(self.height, self.width)}")
        buf = self._buf
        np.copyto(buf, image, casting="unsafe")
        buf -= buf.mean(dtype=np.float64)
        buf *= self._window
        spec = np.fft.rfft2(buf)
        mag = np.abs(spec)
        mag += _EPS
        spec /= mag
        prev, prev_mag = self._prev, self._prev_mag
        conj_w = np.conjugate(spec)
        conj_w *= self._weight
        self._prev = conj_w
        self._prev_mag = mag.ravel()[self._low]
        if prev is None or prev_mag is None:
            self._stage = None
            return
        spec *= prev
        self._stage = (image, spec, prev, prev_mag, None)

    def advance(self) -> bool:
        """Stage two: the correlation surface and its coarse peak. True if it did work."""
        st = self._stage
        if st is None or st[4] is not None:
            return False
        image, cross, prev, prev_mag, _ = st
        corr = np.fft.irfft2(cross, s=(self.height, self.width))
        self._stage = (image, cross, prev, prev_mag, self._peak(corr))
        return True

    def finish(self) -> FlowResult | None:
        """Stage three: window the new frame again with the window moved by the coarse shift,
        so both windows cover the same ground (the pair is then a pure translation), and
        refine the shift from the phase slope."""
        self.advance()
        stage, self._stage = self._stage, None
        if stage is None:
            return None
        image, _, prev, prev_mag, coarse = stage
        assert coarse is not None
        if coarse.quality <= 0.0 or abs(coarse.drow) > self.height / 4 \
                or abs(coarse.dcol) > self.width / 4:
            return coarse
        buf = self._buf
        np.copyto(buf, image, casting="unsafe")
        buf -= buf.mean(dtype=np.float64)
        buf *= _hann(self.height, coarse.drow)[:, None]
        buf *= _hann(self.width, coarse.dcol)[None, :]
        spec2 = np.fft.rfft2(buf).ravel()[self._low]
        cross = spec2 * prev.ravel()[self._low]
        return self._refine(coarse, cross, np.abs(spec2) * prev_mag)

    def _refine(self, coarse: FlowResult, cross: npt.NDArray[np.complexfloating],
                strength: npt.NDArray[np.floating]) -> FlowResult:
        """Unbias the subpixel shift: fit the phase slope of the cross-power spectrum.

        Three-point peak fits lock toward whole pixels (13 % low at a quarter pixel on
        rendered frames, a steady scale error in the velocity). For a pure translation d the
        cross-power phase is linear in frequency: remove the coarse estimate,
        then least-squares the residual slope, each bin weighted by its signal strength.
        """
        ky, kx = self._ky, self._kx
        two_pi = 2.0 * math.pi
        ramp = np.exp(1j * two_pi * (ky * coarse.drow + kx * coarse.dcol))
        phi = np.angle(cross * ramp)
        w = strength.astype(np.float64)
        wy, wx = w * ky, w * kx
        a11, a12, a22 = float(wy @ ky), float(wy @ kx), float(wx @ kx)
        b1, b2 = float(wy @ phi), float(wx @ phi)
        det = a11 * a22 - a12 * a12
        if det <= 0.0:
            return coarse
        # numpy's transform puts a content shift d at phase -2*pi*(k . d)
        d_row = -(a22 * b1 - a12 * b2) / det / two_pi
        d_col = -(a11 * b2 - a12 * b1) / det / two_pi
        if abs(d_row) > 0.5 or abs(d_col) > 0.5:
            return coarse  # the coarse peak was not near the truth: keep it
        return FlowResult(coarse.drow + d_row, coarse.dcol + d_col, coarse.quality)

    def _peak(self, corr: npt.NDArray[np.floating]) -> FlowResult:
        h, w = self.height, self.width
        flat = int(np.argmax(corr))
        r0, c0 = divmod(flat, w)
        centre = float(corr[r0, c0])
        if not centre > 0.0:
            return FlowResult(0.0, 0.0, 0.0)
        dr = _gauss3(float(corr[r0 - 1, c0]), centre, float(corr[(r0 + 1) % h, c0]))
        dc = _gauss3(float(corr[r0, c0 - 1]), centre, float(corr[r0, (c0 + 1) % w]))
        # Peaks past half the image are negative shifts (the correlation is circular).
        row = r0 - h if r0 > h // 2 else r0
        col = c0 - w if c0 > w // 2 else c0
        # Sampled off-centre the Gaussian peak reads low; undo that so quality does not
        # depend on the subpixel phase of the shift.
        height_fit = centre * math.exp((dr * dr + dc * dc) / (2.0 * PEAK_SIGMA_PX**2))
        return FlowResult(row + dr, col + dc, height_fit / self._ideal_peak)


def _hann(n: int, shift: float) -> npt.NDArray[np.float64]:
    """numpy's Hann window of length n, moved by ``shift`` samples (zero outside)."""
    x = np.arange(n) - shift
    w = 0.5 - 0.5 * np.cos(2.0 * math.pi * x / (n - 1))
    w[(x < 0) | (x > n - 1)] = 0.0
    return w


def _gauss3(left: float, centre: float, right: float) -> float:
    """Subpixel offset of a peak from three samples: log-parabola, plain parabola fallback."""
    if left > 0.0 and right > 0.0:
        ll, lc, lr = math.log(left), math.log(centre), math.log(right)
        den = ll - 2.0 * lc + lr
    else:
        ll, lr = left, right
        den = left - 2.0 * centre + right
    if den >= 0.0:  # flat or not a maximum: no curvature to refine with
        return 0.0
    return max(-0.5, min(0.5, 0.5 * (ll - lr) / den))


def derotation_gain(width: int, height: int, focal_px: float) -> tuple[float, float]:
    """(row, col) factors by which a window's shift exceeds its centre's rotational shift.

    A rotation about body y (x) shifts a pixel at normalised offset a = dx/h (b = dy/h) from
    the window centre by f*theta*(1 + a^2) (f*theta*(1 + b^2)) more or less; phase correlation
    weighs each region by its spectral energy, i.e. by the square of the Hann window, so the
    shift it reports is that average: 1 + <a^2>_{w^2}. For a 160x120 window at 100 deg this is
    (1.064, 1.114); rendered rolls and pitches of 0.6-4 px measure 1.05-1.10
    (tests/test_vision_flow.py).
    """
    if width < 2 or height < 2 or not focal_px > 0.0:
        raise ValueError(f"bad camera geometry {width}x{height}, focal {focal_px}")

    def gain(n: int) -> float:
        w2 = np.hanning(n) ** 2
        off = (np.arange(n) - (n - 1) / 2.0) / focal_px
        return float(1.0 + (w2 * off * off).sum() / w2.sum())

    return gain(height), gain(width)


class RotationShift(NamedTuple):
    """Image shift (px) per radian of body rotation (x, y, z) at a window's centre."""

    row: tuple[float, float, float]
    col: tuple[float, float, float]


def rotation_shift(at_row: float, at_col: float, focal_px: float,
                   rot_gain: tuple[float, float]) -> RotationShift:
    """How a small body rotation moves the content of a window centred ``(at_row, at_col)``
    px from the image centre (the pinhole's rotational flow, Longuet-Higgins and Prazdny):
    a pitch (about body y) moves it down by f*(1 + y^2/f^2), a roll (about x) right by
    f*(1 + x^2/f^2), each also moves it across by x*y/f, and off the centre a yaw turns it
    about the centre: down by -x, right by +y. ``rot_gain`` adds the window's own spread."""
    f = focal_px
    y, x = at_row / f, at_col / f
    cross = f * x * y
    return RotationShift(row=(cross, f * (rot_gain[0] + y * y), -f * x),
                         col=(f * (rot_gain[1] + x * x), cross, f * y))


def body_velocity(
    flow: FlowResult,
    dtheta_body: tuple[float, float, float],
    height_m: float,
    r_wb: Sequence[float],
    v_down: float,
    focal_px: float,
    dt_s: float,
    rot_gain: tuple[float, float] = (1.0, 1.0),
) -> tuple[float, float, float]:
    """Body velocity (vx forward, vy right, vz down; m/s) from one image shift over flat ground.

    ``dtheta_body`` is the gyro delta-angle (body FRD, rad) over the same interval as the
    frame pair, ``height_m`` the height above the ground, ``r_wb`` the row-major body-to-NED
    rotation and ``v_down`` the vertical velocity (the altimeter's; the camera cannot see the
    motion along its own axis well). The rotation's shift at the window (:func:`rotation_shift`)
    is removed; what is left is the translation, which moves the content at pixel (x, y)
    (from the centre, right and down) by ``dt*(-f*vy + x*vz)/Z`` across and
    ``dt*(f*vx + y*vz)/Z`` down, Z the depth of the window centre's ground point along the
    optical axis. With ``vz`` tied to ``v_down`` by the attitude that is two equations in vx and
    vy. At the image centre it is the familiar ``drow = f*vx*dt/h``.
    """
    if not (height_m > 0.0 and focal_px > 0.0 and dt_s > 0.0):
        raise ValueError(f"need height_m, focal_px, dt_s > 0 (got {height_m}, {focal_px}, {dt_s})")
    f = focal_px
    y, x = flow.at_row, flow.at_col
    rot = rotation_shift(y, x, f, rot_gain)
    ax, ay, az = dtheta_body
    drow = flow.drow - (rot.row[0] * ax + rot.row[1] * ay + rot.row[2] * az)
    dcol = flow.dcol - (rot.col[0] * ax + rot.col[1] * ay + rot.col[2] * az)
    r6, r7, r8 = r_wb[6], r_wb[7], max(r_wb[8], 0.5)
    z = window_depth(height_m, r_wb, y, x, f)
    p, q = drow * z / dt_s, dcol * z / dt_s
    # vz = (v_down - r6*vx - r7*vy) / r8 substituted into the two shift equations
    a11, a12, b1 = f - y * r6 / r8, -y * r7 / r8, p - y * v_down / r8
    a21, a22, b2 = -x * r6 / r8, -f - x * r7 / r8, q - x * v_down / r8
    det = a11 * a22 - a12 * a21  # about -f^2: never near zero for a window inside the image
    vx = (b1 * a22 - a12 * b2) / det
    vy = (a11 * b2 - a21 * b1) / det
    return vx, vy, (v_down - r6 * vx - r7 * vy) / r8


def window_depth(height_m: float, r_wb: Sequence[float], at_row: float, at_col: float,
                 focal_px: float) -> float:
    """Depth along the optical axis of the flat ground seen at (at_row, at_col) px from the
    image centre: the height over the down component of that pixel's ray, body
    (-row/f, col/f, 1)."""
    down_cos = max(max(r_wb[8], 0.5) + (r_wb[7] * at_col - r_wb[6] * at_row) / focal_px, 0.5)
    return height_m / down_cos


def translation_shift(v_body: tuple[float, float, float], depth_m: float, at_row: float,
                      at_col: float, focal_px: float, dt_s: float) -> tuple[float, float]:
    """(row, col) shift (px) a body velocity gives the ground at (at_row, at_col) over
    ``dt_s``: the forward model :func:`body_velocity` inverts."""
    vx, vy, vz = v_body
    k = dt_s / depth_m
    return (focal_px * vx + at_row * vz) * k, (-focal_px * vy + at_col * vz) * k


def window_shape(window_px: int, width: int, height: int) -> tuple[int, int]:
    """(rows, cols) of navigation's correlation window: ``window_px`` square, at most the
    image's shorter side; 0: the whole image."""
    n = min(window_px, width, height)
    return (n, n) if n > 0 else (height, width)


def nadir_pixel(r_wb: Sequence[float], focal_px: float) -> tuple[float, float]:
    """(row, col) offset from the image centre of the point straight below the camera."""
    r8 = max(r_wb[8], 0.2)  # past ~78 deg of tilt the nadir is far outside any image anyway
    return -focal_px * r_wb[6] / r8, focal_px * r_wb[7] / r8


# -- where the navigator gets a frame's displacement from -------------------------------
class FlowEngine(Protocol):
    """Where a frame's displacement comes from: the vision estimator in flight, the log in
    replay. Three stages, one control cycle apart (see ``Navigator.fuse_frame``)."""

    # ``aim``: (row, col) from the image centre where the engine should look, if it can
    # choose (the point below the vehicle, see VisionFlowEngine)
    def begin(self, frame: Frame, aim: tuple[float, float]) -> None: ...

    # True if it did a stage of work this cycle; False when the estimate is ready to finish.
    def advance(self) -> bool: ...

    def finish(self, frame: Frame) -> FlowResult | None: ...


@runtime_checkable
class ResettableFlowEngine(Protocol):
    """An engine that keeps the previous frame and must forget it when continuity breaks."""

    def reset(self) -> None: ...


# The window stays put until the point below the vehicle is this far (px) from its centre.
# Each move pairs two differently windowed frames, and moves come with
# attitude changes, the very signal the camera-IMU time offset estimator correlates with.
WINDOW_HOLD_PX = 4


class VisionFlowEngine:
    """The default engine: phase correlation of a square window of each frame against the
    previous frame's, the window placed around the point below the vehicle.

    Why not the whole image: at 100 deg of view, a camera tilted 35 deg sees from just behind
    the vehicle to nearly the horizon, ground whose depth varies four-fold. The correlation
    averages flows that differ as much, weighted toward the distant, finely textured part, and
    over rocks and ridges its result ran 35-40 % below the true speed (5th percentile; flight 6
    in a campaign world): vision then reported the vehicle slower than it was, the controller
    tilted further, and the error grew. A 64 px window at the nadir sees ground within ~25 deg
    of vertical at any tilt. Each frame's window is placed once, when it begins (whole pixels,
    kept inside the image, moved only when the point below is more than WINDOW_HOLD_PX from
    its centre); a pair whose two windows differ adds that difference back, so the result is
    the shift of the image content that was in the first window, measured at that window's
    centre (rendered pitches 15 deg off the nadir with the window moving 8 px read 3 % off
    the rotation model at the mean of the two centres, and within 0.1 % at the first; the
    window moves with the nadir, so with the rotation, and the error followed it). It is
    also 4.7 times less image to transform than the whole 160x120.
    """

    def __init__(self, width: int, height: int, window_px: int | None = None) -> None:
        """``window_px`` None: the whole image (the window cannot move)."""
        if window_px is not None and not 8 <= window_px <= min(width, height):
            raise ValueError(f"window_px must be 8..{min(width, height)} (got {window_px})")
        self.width, self.height = width, height
        self.win_rows, self.win_cols = window_shape(window_px or 0, width, height)
        self.estimator = FlowEstimator(self.win_cols, self.win_rows)
        self._origin: tuple[int, int] | None = None  # the previous frame's window (row, col)
        self._pair: tuple[tuple[int, int], tuple[int, int]] | None = None

    def origin_for(self, aim: tuple[float, float]) -> tuple[int, int]:
        """Top-left pixel of the window centred nearest ``aim`` (row, col from the centre)."""
        free_r, free_c = self.height - self.win_rows, self.width - self.win_cols
        row = round(free_r / 2.0 + aim[0])
        col = round(free_c / 2.0 + aim[1])
        return min(max(row, 0), free_r), min(max(col, 0), free_c)

    def begin(self, frame: Frame, aim: tuple[float, float] = (0.0, 0.0)) -> None:
        o = self.origin_for(aim)
        prev = self._origin
        if prev is not None and abs(o[0] - prev[0]) <= WINDOW_HOLD_PX \
                and abs(o[1] - prev[1]) <= WINDOW_HOLD_PX:
            o = prev
        r, c = o
        self.estimator.begin(frame.image[r:r + self.win_rows, c:c + self.win_cols])
        self._origin = o
        self._pair = (prev, o) if prev is not None else None

    def advance(self) -> bool:
        return self.estimator.advance()

    def finish(self, frame: Frame) -> FlowResult | None:
        res = self.estimator.finish()
        if res is None or self._pair is None:
            return res
        (r0, c0), (r1, c1) = self._pair
        return FlowResult(res.drow + (r1 - r0), res.dcol + (c1 - c0), res.quality,
                          r0 + 0.5 * (self.win_rows - self.height),
                          c0 + 0.5 * (self.win_cols - self.width))

    def reset(self) -> None:
        self.estimator.reset()
        self._origin = None
        self._pair = None


FlowObserver = Callable[[Frame, FlowResult | None], None]
