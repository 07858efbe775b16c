"""The colours of a Mars photo: regolith by brightness, dark sand, the sky, the dust haze.

Values are 8-bit sRGB picked to look like the colour cameras' published pictures (Ingenuity's
RTE, Perseverance's Mastcam-Z in natural colour), not measured reflectances:
- regolith is reddish brown; brighter ground (dust) goes orange-tan, darker ground (rocks,
  the shaded flanks of slopes) brown-grey;
- sand (the low-contrast patches of ``texture.SurfaceMaps``) is the dark, greyer basaltic
  sand of Seitah's ripples;
- the sky is butterscotch, palest and brightest at the horizon, browner overhead, brighter
  toward the sun (forward scattering by the dust);
- distant ground fades into the horizon's colour (aerial perspective: the dust's haze).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

# ground brightness (albedo x texture) -> colour, interpolated between these anchors
_L = np.array([0.0, 0.55, 1.0, 1.45, 3.0], dtype=np.float32)
_REGOLITH = np.array([
    (0, 0, 0),
    (92, 68, 54),  # rock, shade: brown-grey
    (166, 104, 66),  # plain regolith
    (214, 150, 100),  # dust
    (255, 220, 170),
], dtype=np.float32)
SAND_TINT = (0.78, 0.84, 0.92)  # multiplies the regolith on sand: darker, less red
SKY_HORIZON = (222, 184, 140)
SKY_ZENITH = (150, 104, 70)
SUN_GLOW = (40, 36, 30)  # added near the sun
HAZE_RANGE_M = 2500.0  # 1/e distance of the haze's transmission
GROUND_CONTRAST = 0.6  # of the fine texture's grey deviation, as brightness


def regolith(brightness: F32, sand: F32 | None) -> F32:
    """(..., 3) colours for ground brightness (1 = plain regolith) and sandiness (0..1)."""
    out = np.empty(brightness.shape + (3,), dtype=np.float32)
    for ch in range(3):
        out[..., ch] = np.interp(brightness, _L, _REGOLITH[:, ch])
    if sand is not None:
        tint = np.asarray(SAND_TINT, dtype=np.float32) - 1.0
        out *= 1.0 + sand[..., None] * tint
    return out


def sky(up: F32, sun_cos: F32) -> F32:
    """(..., 3) sky colours for rays of upward component ``up`` (sine of the elevation) and
    cosine ``sun_cos`` of their angle to the sun."""
    s = np.sqrt(np.clip(up, 0.0, 1.0))[..., None]
    hz = np.asarray(SKY_HORIZON, dtype=np.float32)
    out = hz + (np.asarray(SKY_ZENITH, dtype=np.float32) - hz) * s
    glow = np.clip(sun_cos, 0.0, 1.0) ** 8
    out += glow[..., None] * np.asarray(SUN_GLOW, dtype=np.float32)
    return out


def haze(colour: F32, range_m: F32) -> F32:
    """``colour`` seen through ``range_m`` of dusty air (in place)."""
    fade = (1.0 - np.exp(-range_m / np.float32(HAZE_RANGE_M)))[..., None]
    colour += (np.asarray(SKY_HORIZON, dtype=np.float32) - colour) * fade
    return colour
