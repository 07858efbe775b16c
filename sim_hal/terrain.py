"""Terrain: a height field over north/east, procedural from a seed or loaded from a height map.

Heights are metres up (the ground's NED z is ``-height``) on a regular grid, rows along north
and columns along east, centred on home; beyond the grid the edge values continue. Lookups
are bilinear (``height``, ``gradient``; plain floats from an ``array.array``, cheap enough for
the 1 kHz world step) or vectorised (``heights_at``, for the renderer). Home is the datum:
the heights are shifted so that ``height(0, 0) == 0``, and a flat pad of ``pad_radius_m``
(Ingenuity's airfields were chosen flat) keeps the take-off level.

The procedural ground is the sum of
- a plane of ``slope_deg`` falling toward ``slope_downhill_deg``;
- fractal relief: a fractional Brownian surface (Hurst exponent 0.8, a typical value for
  planetary terrain at metre scales; e.g. Orosei et al., JGR 2003, on Mars topography), made by
  spectral synthesis (amplitude ~ f^-(H+1)), scaled to ``roughness_m`` rms;
- ``ridges`` Gaussian-profile ridge lines of random position and orientation;
- rocks: domes ``h = H (1 - (r/R)^2)^1.5`` with height ``rock_height_ratio`` times the
  diameter (about one half for Mars rocks, Golombek and Rapp, JGR 1997), diameters from a
  truncated power law (cumulative number ~ D^-2.5, the usual fit to planetary boulder fields)
  between the configured bounds, placed uniformly at ``rock_density_per_m2``.

The altimeter's range along the body axis is ``range_along``: skips bounded by a tile map of
local maxima, a march along the ray at the grid spacing near the ground, then bisection; it
finds the first hit even where a fixed-point iteration would not converge (steep rock flanks
seen obliquely). The world step's contact test uses the same tile bound to skip the lookup.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from hal.tomlschema import ConfigError, rng

F64 = npt.NDArray[np.float64]
MAX_CELLS = 16_000_000  # 128 MB of float64 heights: more is a mistake, not a terrain
_HURST = 0.8
_ROCK_SLOPE = 2.5
_BISECT = 14  # from one grid spacing to well under a millimetre
TILE = 16  # cells a side of the ceiling tiles


@dataclass
class TerrainSettings:
    kind: Literal["flat", "procedural", "heightmap"] = "flat"
    seed: int | None = None  # None: the flight's seed
    size_m: float = field(default=320.0, metadata=rng(10, 20_000))
    spacing_m: float = field(default=0.25, metadata=rng(0.02, 50))
    slope_deg: float = field(default=0.0, metadata=rng(0, 45))
    slope_downhill_deg: float = field(default=0.0, metadata=rng(-360, 360))
    roughness_m: float = field(default=0.0, metadata=rng(0, 100))
    ridges: int = field(default=0, metadata=rng(0, 1000))
    ridge_height_m: float = field(default=2.0, metadata=rng(0, 200))
    ridge_width_m: float = field(default=15.0, metadata=rng(0.5, 5000))
    rock_density_per_m2: float = field(default=0.0, metadata=rng(0, 5))
    rock_min_diameter_m: float = field(default=0.2, metadata=rng(0.02, 20))
    rock_max_diameter_m: float = field(default=1.0, metadata=rng(0.02, 20))
    rock_height_ratio: float = field(default=0.5, metadata=rng(0.01, 2))
    pad_radius_m: float = field(default=3.0, metadata=rng(0, 1000))
    heightmap: str = ""  # a .png (8 or 16 bit grey) or .npy file; image top = north
    metres_per_pixel: float = field(default=1.0, metadata=rng(0.001, 1000))
    height_scale_m: float = field(default=1.0, metadata=rng(0, 100_000))  # PNG full scale

    def validate(self) -> str | None:
        if self.rock_min_diameter_m > self.rock_max_diameter_m:
            return (f"rock_min_diameter_m ({self.rock_min_diameter_m}) is larger than "
                    f"rock_max_diameter_m ({self.rock_max_diameter_m})")
        if self.kind == "heightmap" and not self.heightmap:
            return 'kind "heightmap" needs heightmap = "file.png" or "file.npy"'
        if self.kind == "procedural" and (self.size_m / self.spacing_m) ** 2 > MAX_CELLS:
            return (f"size_m / spacing_m gives over {MAX_CELLS} cells; "
                    "use a coarser spacing or a smaller size")
        return None


class HeightField:
    """Heights (m, up) on a grid: ``heights[i, j]`` at north ``n0 + i d``, east ``e0 + j d``."""

    def __init__(self, heights: F64, spacing_m: float, n0: float, e0: float) -> None:
        if heights.ndim != 2 or min(heights.shape) < 2:
            raise ValueError(f"a height field needs at least 2x2 cells (got {heights.shape})")
        self.heights = np.ascontiguousarray(heights, dtype=np.float64)
        self.rows, self.cols = self.heights.shape
        self.spacing = float(spacing_m)
        self.inv = 1.0 / self.spacing
        self.n0, self.e0 = float(n0), float(e0)
        self._flat = array("d", self.heights.ravel().tobytes())
        self.h_min = float(self.heights.min())
        self.h_max = float(self.heights.max())
        # where rocks lie (0..1 per cell), for the ground's appearance; None: no rocks
        self.rock_cover: F64 | None = None
        self._build_ceiling()

    def _build_ceiling(self) -> None:
        """Per tile of TILE x TILE cells, the highest height within one tile of it: a point
        above it cannot touch the ground while it moves less than a tile."""
        t = TILE
        rows, cols = -(-self.rows // t), -(-self.cols // t)
        pad = np.full((rows * t, cols * t), -np.inf)
        pad[: self.rows, : self.cols] = self.heights
        tiles = pad.reshape(rows, t, cols, t).max(axis=(1, 3))
        grown = np.pad(tiles, 1, mode="edge")
        near = np.max([grown[1 + di: 1 + di + rows, 1 + dj: 1 + dj + cols]
                       for di in (-1, 0, 1) for dj in (-1, 0, 1)], axis=0)
        self._tile_cols = cols
        self._tile_m = t * self.spacing
        self._ceiling = array("d", near.ravel().tobytes())
        self._ceiling_np: F64 = np.ascontiguousarray(near.ravel())

    @property
    def tile_m(self) -> float:
        """A ceiling tile's side (m): ``ceiling`` bounds the ground within this of a point."""
        return self._tile_m

    def ceiling(self, n: float, e: float) -> float:
        """An upper bound of the ground within one tile (``TILE`` cells) of (n, e)."""
        x = (n - self.n0) * self.inv
        y = (e - self.e0) * self.inv
        i = 0 if x < 0.0 else min(int(x), self.rows - 1) // TILE
        j = 0 if y < 0.0 else min(int(y), self.cols - 1) // TILE
        return self._ceiling[i * self._tile_cols + j]

    # -- scalar lookups (world step, altimeter) ------------------------------------------------
    def _cell(self, n: float, e: float) -> tuple[int, float, float]:
        x = (n - self.n0) * self.inv
        y = (e - self.e0) * self.inv
        xm, ym = self.rows - 1, self.cols - 1
        x = 0.0 if x < 0.0 else (float(xm) if x > xm else x)
        y = 0.0 if y < 0.0 else (float(ym) if y > ym else y)
        i = min(int(x), xm - 1)
        j = min(int(y), ym - 1)
        return i * self.cols + j, x - i, y - j

    def height(self, n: float, e: float) -> float:
        k, fx, fy = self._cell(n, e)
        h, c = self._flat, self.cols
        h00, h01, h10, h11 = h[k], h[k + 1], h[k + c], h[k + c + 1]
        top = h00 + (h01 - h00) * fy
        return top + (h10 + (h11 - h10) * fy - top) * fx

    def gradient(self, n: float, e: float) -> tuple[float, float]:
        """(dh/dnorth, dh/deast) of the bilinear surface at (n, e)."""
        k, fx, fy = self._cell(n, e)
        h, c = self._flat, self.cols
        h00, h01, h10, h11 = h[k], h[k + 1], h[k + c], h[k + c + 1]
        dn = ((h10 - h00) * (1.0 - fy) + (h11 - h01) * fy) * self.inv
        de = ((h01 - h00) * (1.0 - fx) + (h11 - h10) * fx) * self.inv
        return dn, de

    def range_along(self, pn: float, pe: float, pz: float, dn: float, de: float, dd: float,
                    max_range: float) -> float:
        """Distance from the NED point (pn, pe, pz) along the unit direction (dn, de, dd) to
        the first ground hit, or nan if there is none within ``max_range``."""
        def above(t: float) -> float:  # height of the ray point over the ground
            return -(pz + t * dd) - self.height(pn + t * dn, pe + t * de)

        if above(0.0) <= 0.0:
            return 0.0
        if dd <= 0.0 and -pz > self.h_max:
            return math.nan  # level or upward, above everything
        # Skip down to the local ceiling while the ray moves less than a tile sideways (so the
        # ceiling bounds the ground under the whole skip), then march at the grid spacing.
        sideways = math.sqrt(max(0.0, 1.0 - dd * dd))
        max_skip = self._tile_m / sideways if sideways > 1e-9 else math.inf
        step = self.spacing
        t = lo = 0.0
        while t <= max_range:
            n, e = pn + t * dn, pe + t * de
            alt = -(pz + t * dd)
            clear = alt - self.ceiling(n, e)
            if dd > 0.0 and clear > step * dd:
                t += min(clear / dd, max_skip)
                lo = t
                continue
            if alt - self.height(n, e) <= 0.0:
                hi = t
                for _ in range(_BISECT):
                    mid = 0.5 * (lo + hi)
                    if above(mid) > 0.0:
                        lo = mid
                    else:
                        hi = mid
                return 0.5 * (lo + hi)
            lo = t
            t += step
        return math.nan

    # -- vectorised lookups (renderer) ------------------------------------------------------
    def ceilings_at(self, n: F64, e: F64) -> F64:
        """``ceiling`` at arrays of points (the photo renderer's ray march)."""
        i = np.clip((n - self.n0) * self.inv, 0.0, self.rows - 1).astype(np.intp) // TILE
        j = np.clip((e - self.e0) * self.inv, 0.0, self.cols - 1).astype(np.intp) // TILE
        i *= self._tile_cols
        i += j
        return self._ceiling_np.take(i)

    def heights_at(self, n: F64, e: F64) -> F64:
        # in place where it can: this runs a few times per rendered frame
        fx = n - self.n0
        fx *= self.inv
        np.clip(fx, 0.0, self.rows - 1, out=fx)
        fy = e - self.e0
        fy *= self.inv
        np.clip(fy, 0.0, self.cols - 1, out=fy)
        k = fx.astype(np.intp)
        np.minimum(k, self.rows - 2, out=k)
        fx -= k
        j = fy.astype(np.intp)
        np.minimum(j, self.cols - 2, out=j)
        fy -= j
        k *= self.cols
        k += j
        flat = self.heights.ravel()
        h00 = flat.take(k)
        k += 1
        top = flat.take(k)
        k += self.cols
        h11 = flat.take(k)
        k -= 1
        bot = flat.take(k)
        top -= h00
        top *= fy
        top += h00
        h11 -= bot
        h11 *= fy
        bot += h11
        bot -= top
        bot *= fx
        bot += top
        return bot


def _grid(size_m: float, spacing: float) -> tuple[F64, F64, float]:
    n = round(size_m / spacing) + 1
    half = (n - 1) * spacing / 2.0
    axis = np.arange(n, dtype=np.float64) * spacing - half
    return axis[:, None], axis[None, :], -half


def fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: the FFT of a prime size is several times slower."""
    best = 1 << max(0, (n - 1).bit_length())
    p3 = 1
    while p3 < best:
        p5 = p3
        while p5 < best:
            m = p5
            while m < n:
                m *= 2
            best = min(best, m)
            p5 *= 5
        p3 *= 3
    return best


def _fractal(rng_: np.random.Generator, n: int, spacing: float, rms: float) -> F64:
    m = fft_size(n)  # synthesised periodic on m cells, cropped to n
    spec = np.fft.rfft2(rng_.standard_normal((m, m)))
    fy = np.fft.fftfreq(m, d=spacing)[:, None]
    fx = np.fft.rfftfreq(m, d=spacing)[None, :]
    fr = np.hypot(fy, fx)
    fr[0, 0] = 1.0
    spec *= fr ** -(_HURST + 1.0)
    spec[0, 0] = 0.0
    z = np.fft.irfft2(spec, s=(m, m))[:n, :n]
    std = float(z.std())
    return z * (rms / std) if std > 0.0 else z * 0.0


def _add_rocks(h: F64, cover: F64, s: TerrainSettings, rng_: np.random.Generator,
               n0: float) -> None:
    d = s.spacing_m
    size = (h.shape[0] - 1) * d
    count = int(rng_.poisson(s.rock_density_per_m2 * size * size))
    if count == 0:
        return
    # inverse transform of a truncated power law: N(>D) ~ D^-a between dmin and dmax
    a, dmin, dmax = _ROCK_SLOPE, s.rock_min_diameter_m, s.rock_max_diameter_m
    u = rng_.random(count)
    lo, hi = dmin**-a, dmax**-a
    diam = (lo - u * (lo - hi)) ** (-1.0 / a)
    centres = rng_.random((count, 2)) * size + n0
    for (cn, ce), dia in zip(centres, diam, strict=True):
        rad = 0.5 * float(dia)
        i0 = max(0, int((cn - rad - n0) / d))
        i1 = min(h.shape[0], int((cn + rad - n0) / d) + 2)
        j0 = max(0, int((ce - rad - n0) / d))
        j1 = min(h.shape[1], int((ce + rad - n0) / d) + 2)
        if i0 >= i1 or j0 >= j1:
            continue
        gn = (np.arange(i0, i1) * d + n0 - cn)[:, None]
        ge = (np.arange(j0, j1) * d + n0 - ce)[None, :]
        q = np.clip(1.0 - (gn * gn + ge * ge) / (rad * rad), 0.0, None)
        bump = s.rock_height_ratio * float(dia) * q**1.5
        patch = h[i0:i1, j0:j1]
        # a rock sits on the ground: its top follows the local base, rocks do not stack
        np.maximum(patch, patch.min() + bump, out=patch)
        np.maximum(cover[i0:i1, j0:j1], np.sqrt(q), out=cover[i0:i1, j0:j1])


def procedural(s: TerrainSettings, seed: int) -> HeightField:
    rng_ = np.random.default_rng(np.random.SeedSequence([seed, 0x54455252]))  # "TERR"
    gn, ge, origin = _grid(s.size_m, s.spacing_m)
    n = gn.shape[0]
    a = math.radians(s.slope_downhill_deg)
    h = -math.tan(math.radians(s.slope_deg)) * (gn * math.cos(a) + ge * math.sin(a))
    h = np.broadcast_to(h, (n, n)).copy()
    if s.roughness_m > 0.0:
        h += _fractal(rng_, n, s.spacing_m, s.roughness_m)
    half = -origin
    for _ in range(s.ridges):
        cn, ce = (rng_.random(2) * 2.0 - 1.0) * half
        th = float(rng_.random()) * math.pi
        dist = (gn - cn) * math.sin(th) - (ge - ce) * math.cos(th)
        h += s.ridge_height_m * np.exp(-((dist / s.ridge_width_m) ** 2))
    cover = None
    if s.rock_density_per_m2 > 0.0:
        cover = np.zeros_like(h)
        _add_rocks(h, cover, s, rng_, origin)
    return _finish(h, s.spacing_m, origin, origin, s.pad_radius_m, cover)


def _finish(h: F64, spacing: float, n0: float, e0: float, pad_m: float,
            cover: F64 | None = None) -> HeightField:
    """Home at the datum, a flat pad around it blended into the ground over one more radius."""
    field_ = HeightField(h, spacing, n0, e0)
    h0 = field_.height(0.0, 0.0)
    h = field_.heights - h0
    if pad_m > 0.0:  # only the cells within twice the radius change
        i0 = max(0, int((-2.0 * pad_m - n0) / spacing))
        i1 = min(h.shape[0], int((2.0 * pad_m - n0) / spacing) + 2)
        j0 = max(0, int((-2.0 * pad_m - e0) / spacing))
        j1 = min(h.shape[1], int((2.0 * pad_m - e0) / spacing) + 2)
        gn = (np.arange(i0, i1) * spacing + n0)[:, None]
        ge = (np.arange(j0, j1) * spacing + e0)[None, :]
        r = np.sqrt(gn * gn + ge * ge)
        x = np.clip((r - pad_m) / pad_m, 0.0, 1.0)
        blend = x * x * (3.0 - 2.0 * x)  # smoothstep: 0 on the pad, 1 beyond twice its radius
        h[i0:i1, j0:j1] *= blend
        if cover is not None:
            cover[i0:i1, j0:j1] *= blend
    out = HeightField(h, spacing, n0, e0)
    out.rock_cover = cover
    return out


def load_heightmap(s: TerrainSettings, base: Path | None, source: str) -> HeightField:
    path = Path(s.heightmap)
    if not path.is_absolute() and base is not None:
        for root in (base, base.parent):
            if (root / path).is_file():
                path = root / path
                break
    where = f"{source}: world.terrain.heightmap"
    try:
        if path.suffix.lower() == ".npy":
            img = np.load(path, allow_pickle=False).astype(np.float64) * s.height_scale_m
        else:
            from PIL import Image

            with Image.open(path) as im:
                raw = np.asarray(im)
                if raw.ndim == 3:
                    raise ConfigError(f"{where}: {path} is a colour image; give a grey one")
                full = 65535.0 if raw.dtype == np.uint16 or raw.max() > 255 else 255.0
                img = raw.astype(np.float64) / full * s.height_scale_m
    except ConfigError:
        raise
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found: {path}") from None
    except Exception as exc:  # Pillow and numpy raise many kinds on a bad file
        raise ConfigError(f"{where}: cannot read {path}: {exc}") from None
    if img.ndim != 2 or min(img.shape) < 2 or img.size > MAX_CELLS:
        raise ConfigError(f"{where}: {path}: expected a 2-D map of 2x2 to {MAX_CELLS} cells "
                          f"(got shape {img.shape})")
    if not np.isfinite(img).all():
        raise ConfigError(f"{where}: {path}: holds NaN or infinite heights")
    d = s.metres_per_pixel
    rows, cols = img.shape
    # image row 0 is the north edge; grid row 0 is the south edge
    heights = img[::-1, :].copy()
    return _finish(heights, d, -(rows - 1) * d / 2.0, -(cols - 1) * d / 2.0, s.pad_radius_m)


def build_terrain(s: TerrainSettings, seed: int, base: Path | None, source: str
                  ) -> HeightField | None:
    """The height field the settings ask for (procedural from ``seed``), or None for the
    flat plane."""
    if s.kind == "flat":
        return None
    if s.kind == "heightmap":
        return load_heightmap(s, base, source)
    return procedural(s, seed)


def flat_field(size_m: float, spacing_m: float) -> HeightField:
    """A zero height field (a grid to carry ground appearance over flat ground)."""
    gn, _, origin = _grid(size_m, spacing_m)
    n = gn.shape[0]
    return HeightField(np.zeros((n, n)), spacing_m, origin, origin)
