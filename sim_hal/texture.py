"""Ground appearance over the terrain: sand, dust, rocks and hill shading, as two maps.

The renderer's fine texture (``render.GroundTexture``, 1/f grey noise) is modulated per ground
point by the maps built here on the height field's grid:

    grey = albedo * (128 + contrast * (texture - 128))

- ``contrast`` is 1 on ordinary soil and ``sand_contrast`` on sand patches: sand is nearly
  featureless, so vision loses its features there (the hard case of Ingenuity's later flights
  over the Seitah sand ripples). Patches are a smooth random field (Gaussian spectrum of
  correlation length ``patch_scale_m``) thresholded at its ``sand_fraction`` quantile, with a
  soft edge.
- ``albedo`` multiplies Lambertian shading of the terrain for a sun at ``sun_elevation_deg``,
  ``sun_azimuth_deg`` (normalised so flat ground is 1), dust deposits (a second smooth field,
  relative amplitude ``dust_albedo``) and rocks, ``rock_darkening`` darker than the soil and
  keeping full contrast even on sand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hal.tomlschema import rng
from sim_hal.terrain import HeightField, fft_size

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass
class SurfaceSettings:
    seed: int | None = None  # None: the flight's seed
    sand_fraction: float = field(default=0.0, metadata=rng(0, 1))
    sand_contrast: float = field(default=0.15, metadata=rng(0, 1))
    patch_scale_m: float = field(default=20.0, metadata=rng(0.5, 10_000))
    dust_albedo: float = field(default=0.0, metadata=rng(0, 0.9))
    rock_darkening: float = field(default=0.3, metadata=rng(0, 0.95))
    sun_elevation_deg: float = field(default=90.0, metadata=rng(5, 90))
    sun_azimuth_deg: float = field(default=0.0, metadata=rng(-360, 360))

    def varies(self) -> bool:
        """Anything beyond the uniform texture of a flat world."""
        return self.sand_fraction > 0.0 or self.dust_albedo > 0.0


def _smooth_field(rng_: np.random.Generator, shape: tuple[int, int], spacing: float,
                  scale_m: float) -> F64:
    """Zero-mean, unit-variance Gaussian field with correlation length ~``scale_m``.

    Synthesised on a grid of about scale_m / 8 (the spectrum holds nothing finer) and
    interpolated bilinearly to ``shape``: the FFT then costs little whatever the terrain's
    resolution."""
    coarse_d = max(spacing, scale_m / 8.0)
    cshape = (int(shape[0] * spacing / coarse_d) + 2, int(shape[1] * spacing / coarse_d) + 2)
    m = (fft_size(cshape[0]), fft_size(cshape[1]))  # synthesised periodic, cropped
    spec = np.fft.rfft2(rng_.standard_normal(m))
    fy = np.fft.fftfreq(m[0], d=coarse_d)[:, None]
    fx = np.fft.rfftfreq(m[1], d=coarse_d)[None, :]
    spec *= np.exp(-((fy * scale_m) ** 2 + (fx * scale_m) ** 2) * math.pi**2)
    z = np.fft.irfft2(spec, s=m)[: cshape[0], : cshape[1]]
    coarse = HeightField(z, coarse_d, 0.0, 0.0)
    rows = (np.arange(shape[0]) * spacing)[:, None]
    cols = (np.arange(shape[1]) * spacing)[None, :]
    fine = coarse.heights_at(np.broadcast_to(rows, shape), np.broadcast_to(cols, shape))
    std = float(fine.std())
    return (fine - fine.mean()) / std if std > 0.0 else fine


def _smoothstep(x: F64) -> F64:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class SurfaceMaps:
    """``albedo`` and ``contrast`` (float32, flattened row-major on ``field``'s grid)."""

    def __init__(self, field_: HeightField, s: SurfaceSettings, seed: int) -> None:
        self.field = field_
        shape = field_.heights.shape
        rng_ = np.random.default_rng(np.random.SeedSequence([seed, 0x53555246]))  # "SURF"
        d = field_.spacing
        contrast = np.ones(shape)
        if s.sand_fraction > 0.0:
            z = _smooth_field(rng_, shape, d, s.patch_scale_m)
            edge = float(np.quantile(z, s.sand_fraction))
            sand = _smoothstep((edge - z) / 0.3 + 0.5)  # soft edge ~0.3 std wide
            contrast -= (1.0 - s.sand_contrast) * sand
        albedo = self._shading(field_, s)
        if s.dust_albedo > 0.0:
            dust = _smooth_field(rng_, shape, d, 2.0 * s.patch_scale_m)
            albedo *= np.clip(1.0 + s.dust_albedo * np.tanh(dust), 0.05, None)
        cover = field_.rock_cover
        if cover is not None:
            albedo *= 1.0 - s.rock_darkening * cover
            contrast = np.maximum(contrast, cover)
        self.albedo: F32 = np.ascontiguousarray(albedo.ravel(), dtype=np.float32)
        self.contrast: F32 = np.ascontiguousarray(contrast.ravel(), dtype=np.float32)

    @staticmethod
    def _shading(field_: HeightField, s: SurfaceSettings) -> F64:
        dh_dn, dh_de = np.gradient(field_.heights, field_.spacing)
        el, az = math.radians(s.sun_elevation_deg), math.radians(s.sun_azimuth_deg)
        # unit vectors in (north, east, up); the surface normal is (-dh/dn, -dh/de, 1)/norm
        sun = (math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el))
        norm = np.sqrt(1.0 + dh_dn * dh_dn + dh_de * dh_de)
        lambert = (-dh_dn * sun[0] - dh_de * sun[1] + sun[2]) / norm
        return np.clip(lambert / sun[2], 0.1, 2.0)
