"""Downward camera image renderer for the simulator: a textured flat ground seen by a pinhole.

Image convention (hal.types.Frame, relied on by firmware.vision): the camera sits at the body
origin looking along body +z; row index grows toward body -x (top of the image is forward),
column index grows toward body +y. A ground point at body offset (dx, dy, h) lands at
``col = cx + f*dy/h``, ``row = cy - f*dx/h``, with (cx, cy) the centre of the pixel grid.

The ground is the plane z_ned = 0, covered by a periodic 1/f-noise texture. A pixel
integrates the light of its whole footprint: each is the mean of 2x2 subpixels, each a bilinear
lookup in the mip level whose texel best matches the subpixel's footprint, so that subpixel
motion changes the image smoothly (no quantised flow) and detail finer than the pixels does
not alias. One bilinear lookup per pixel in the finest level no larger than its footprint (as
before) let detail up to twice the pixel grid's Nyquist limit alias, and aliased detail moves
wrongly under subpixel motion: on flight 53's poses the flow's error (0.013 px rms) read as a
3 ms camera-IMU time offset, where images averaged from 4x4 subpixels of the finest texture
(the pixel's integral) gave 0.004 px and 0.2 ms; this sampling gives 0.005 px and 0.2 ms.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

# Rays closer than this to the horizon (cosine to the down axis) are drawn as sky: their ground
# hit is > 1000 heights away, where float32 texture coordinates have no subpixel precision left.
_MIN_DOWN_COS = 1e-3
_MIN_LEVEL_SIZE = 8
_GREY_MEAN = 128.0
_GREY_STD = 40.0
_SPECTRAL_SLOPE = 1.0  # amplitude ~ 1/f: equal contrast per octave, like natural terrain


class GroundTexture:
    """Deterministic periodic ground texture with a 2x2-box mip pyramid.

    Level k has ``size >> k`` texels a side, each ``texel_m * 2**k`` metres; every level tiles
    the same ``period_m``. Texel (i, j) of any level is centred at ((i + 0.5), (j + 0.5)) texels
    from the origin, rows along north and columns along east, so levels line up exactly.
    """

    def __init__(self, seed: int, texel_m: float = 0.04, size: int = 1024) -> None:
        if size < _MIN_LEVEL_SIZE or size & (size - 1):
            raise ValueError(f"size must be a power of two >= {_MIN_LEVEL_SIZE} (got {size})")
        if not texel_m > 0.0:
            raise ValueError(f"texel_m must be > 0 (got {texel_m})")
        self.seed = seed
        self.texel_m = float(texel_m)
        self.size = size
        self.period_m = size * self.texel_m
        self.levels: list[F32] = [_fractal_noise(seed, size)]
        while self.levels[-1].shape[0] > _MIN_LEVEL_SIZE:
            a = self.levels[-1]
            half = 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])
            self.levels.append(half.astype(np.float32))
        # Per level, each texel with its right, lower and lower-right neighbours (periodic), so a
        # bilinear lookup is one gather of 4 floats instead of four gathers. Built on first use:
        # a flight only visits a few levels and level 0 costs 16 MB.
        self._quads: list[F32 | None] = [None] * len(self.levels)

    def level_texel_m(self, level: int) -> float:
        return self.texel_m * (1 << level)

    def quads(self, level: int) -> F32:
        q = self._quads[level]
        if q is None:
            a = self.levels[level]
            right = np.roll(a, -1, axis=1)
            q = np.stack([a, right, np.roll(a, -1, axis=0), np.roll(right, -1, axis=0)], axis=-1)
            q = np.ascontiguousarray(q.reshape(-1, 4), dtype=np.float32)
            self._quads[level] = q
        return q


def _fractal_noise(seed: int, n: int) -> F32:
    """White noise shaped to a 1/f amplitude spectrum, periodic, mean 128, std 40 grey levels.

    Clipped to [1, 255] so that 0 in a rendered image always means "no ground".
    """
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft2(rng.standard_normal((n, n)))
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    fr = np.hypot(fy, fx)
    fr[0, 0] = 1.0
    amp = fr**-_SPECTRAL_SLOPE
    amp[0, 0] = 0.0
    img = np.fft.irfft2(spec * amp, s=(n, n))
    img = (img - img.mean()) * (_GREY_STD / img.std()) + _GREY_MEAN
    return np.clip(img, 1.0, 255.0).astype(np.float32)


class PinholeCamera:
    """Square-pixel pinhole, principal point at the centre of the pixel grid.

    ``ray_fwd`` / ``ray_right`` hold, per pixel, the body x / y components of the ray whose body
    z component is 1 (so a ground point h below along z is at (h*ray_fwd, h*ray_right, h)).
    """

    def __init__(self, width: int = 160, height: int = 120, hfov_deg: float = 100.0) -> None:
        if width < 2 or height < 2:
            raise ValueError(f"image must be at least 2x2 (got {width}x{height})")
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"hfov_deg must be in (0, 180) (got {hfov_deg})")
        self.width = width
        self.height = height
        self.hfov_deg = float(hfov_deg)
        self.focal_px = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        self.cx = (width - 1) / 2.0
        self.cy = (height - 1) / 2.0
        rows = np.arange(height, dtype=np.float64)[:, None]
        cols = np.arange(width, dtype=np.float64)[None, :]
        fwd = np.broadcast_to(-(rows - self.cy) / self.focal_px, (height, width))
        right = np.broadcast_to((cols - self.cx) / self.focal_px, (height, width))
        self.ray_fwd: F32 = np.ascontiguousarray(fwd, dtype=np.float32)
        self.ray_right: F32 = np.ascontiguousarray(right, dtype=np.float32)


def mip_level(
    texture: GroundTexture, cam: PinholeCamera, altitude_m: float, down_cos: float
) -> int:
    """The level whose texel best matches a subpixel's footprint (half the centre pixel's,
    ``sample_pixel`` averages 2x2 subpixels): the nearest in log2, the finest when magnified.

    The footprint is the range along the optical axis over the focal length (``down_cos`` is
    the cosine between the optical axis and world down, r_wb[2, 2]).
    """
    last = len(texture.levels) - 1
    if down_cos <= _MIN_DOWN_COS:
        return last
    subpixel_m = 0.5 * altitude_m / (down_cos * cam.focal_px)
    ratio = subpixel_m / texture.texel_m
    if not ratio > 1.0:
        return 0
    return min(round(math.log2(ratio)), last)


def rotation_from_euler(roll: float, pitch: float, yaw: float) -> npt.NDArray[np.float64]:
    """Body(FRD)-to-world(NED) rotation for Z-Y-X (yaw, pitch, roll) Euler angles."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ],
        dtype=np.float64,
    )


def render(
    texture: GroundTexture,
    cam: PinholeCamera,
    position_ned: tuple[float, float, float],
    r_wb: npt.NDArray[np.float64],
    out: U8 | None = None,
) -> U8:
    """Render the camera image (uint8, shape (height, width)) at a vehicle pose.

    Pixels whose ray misses the ground (above or grazing the horizon) are 0, and so is the
    whole image when the camera is at or below the ground plane; ground pixels are >= 1.
    """
    shape = (cam.height, cam.width)
    if out is None:
        out = np.empty(shape, dtype=np.uint8)
    elif out.shape != shape or out.dtype != np.uint8:
        raise ValueError(f"out must be uint8 {shape} (got {out.dtype} {out.shape})")
    altitude = -float(position_ned[2])
    if not altitude > 0.0:
        out.fill(0)
        return out
    r = np.asarray(r_wb, dtype=np.float64)
    # Python floats keep the per-pixel arithmetic in float32 (NEP 50 weak scalars).
    r00, r01, r02 = float(r[0, 0]), float(r[0, 1]), float(r[0, 2])
    r10, r11, r12 = float(r[1, 0]), float(r[1, 1]), float(r[1, 2])
    r20, r21, r22 = float(r[2, 0]), float(r[2, 1]), float(r[2, 2])
    level = mip_level(texture, cam, altitude, r22 / math.sqrt(r20 * r20 + r21 * r21 + r22 * r22))
    inv_texel = 1.0 / texture.level_texel_m(level)
    bx, by = cam.ray_fwd, cam.ray_right

    down = by * r21
    down += bx * r20
    down += r22
    sky: npt.NDArray[np.bool_] | None = None
    if float(down.min()) <= _MIN_DOWN_COS:
        sky = down <= _MIN_DOWN_COS
        down[sky] = 1.0
    # Range scale to the ground, in texels of this level; the position is reduced modulo the
    # tile period first so that float32 coordinates keep subpixel precision far from home.
    scale = np.divide(altitude * inv_texel, down, out=down)
    period = texture.period_m
    # Texture rows follow north, columns east; texel centres sit at +0.5.
    east = by * r11
    east += bx * r10
    east += r12
    east *= scale
    east += (float(position_ned[1]) % period) * inv_texel - 0.5
    north = by * r01
    north += bx * r00
    north += r02
    north *= scale
    north += (float(position_ned[0]) % period) * inv_texel - 0.5
    bot = sample_pixel(texture, level, north, east)
    bot += 0.5  # round to nearest grey level; bilinear weights keep it within [0, 255.5)
    np.copyto(out, bot, casting="unsafe")
    if sky is not None:
        out[sky] = 0
    return out


def sample_pixel(texture: GroundTexture, level: int, north: F32, east: F32) -> F32:
    """Each pixel's grey value as the mean of its 2x2 subpixels, each a bilinear lookup in
    ``level`` (``north``, ``east``: the pixel centres' texel coordinates in that level, a
    per-pixel grid as the renderers make them). The subpixel centres lie a quarter of the
    pixel-to-pixel step of those coordinates either side, taken from the grid itself, so the
    same code serves the flat plane and the height field. Overwrites ``north`` and ``east``."""
    dn_row, dn_col = _step(north, 0), _step(north, 1)
    de_row, de_col = _step(east, 0), _step(east, 1)

    def subpixel(s_row: float, s_col: float) -> F32:
        n = north + s_row * dn_row
        n += s_col * dn_col
        e = east + s_row * de_row
        e += s_col * de_col
        return sample_level(texture, level, n, e)

    total = subpixel(-0.25, -0.25)
    total += subpixel(-0.25, 0.25)
    total += subpixel(0.25, -0.25)
    total += subpixel(0.25, 0.25)
    total *= 0.25
    return total


def _step(a: F32, axis: int) -> F32:
    """Per pixel, the change of ``a`` to the next pixel along ``axis``: the smaller of the
    steps to the two neighbours, so a pixel beside a jump (the sky's edge, a ridge hiding
    the ground behind it) takes the step on its own side."""
    d = np.diff(a, axis=axis)
    edge = d[:1] if axis == 0 else d[:, :1]
    last = d[-1:] if axis == 0 else d[:, -1:]
    back = np.concatenate((edge, d), axis=axis)
    ahead = np.concatenate((d, last), axis=axis)
    return np.where(np.abs(ahead) < np.abs(back), ahead, back)


def sample_level(texture: GroundTexture, level: int, north: F32, east: F32) -> F32:
    """Bilinear grey values of one mip level at texel coordinates (north, east), periodic.

    Shared by the flat and the height-field renderers. ``north`` and ``east`` are overwritten
    (they become the bilinear weights): the render path allocates no array it can reuse.
    """
    n = texture.size >> level
    row0 = np.floor(north)
    col0 = np.floor(east)
    north -= row0
    east -= col0
    mask = n - 1
    idx = row0.astype(np.intp)
    idx &= mask
    idx *= n
    icol = col0.astype(np.intp)
    icol &= mask
    idx += icol
    q = texture.quads(level).take(idx, axis=0)
    t00, t01, t10, t11 = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    top = t01 - t00
    top *= east
    top += t00
    bot = t11 - t10
    bot *= east
    bot += t10
    bot -= top
    bot *= north
    bot += top
    return bot

