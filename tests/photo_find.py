"""Finding the rover in a colour photo, and where ``hal.photo_geometry`` says it should be.

Mars ground and sky are strongly coloured (red-brown, butterscotch); the rover is grey and
white. A pixel is the rover's when its channels are nearly equal: (max - min) under 15 % of
max. A photo without the rover must have no such pixel (the tests check that too, so the
detector cannot pass by finding grey ground).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hal.photo_geometry import PhotoCameraModel, project

Box = tuple[float, float, float, float]  # u0, u1, v0, v1 in pixel-edge coordinates


def grey_mask(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    a = img.astype(np.int16)
    mx, mn = a.max(axis=2), a.min(axis=2)
    return (mx >= 20) & ((mx - mn) * 100 < 15 * mx)


def found_box(img: npt.NDArray[np.uint8]) -> Box | None:
    """Bounding box of the grey pixels (their outer edges), or None."""
    rows, cols = np.nonzero(grey_mask(img))
    if rows.size == 0:
        return None
    return float(cols.min()), float(cols.max() + 1), float(rows.min()), float(rows.max() + 1)


def projected_box(corners_ned: npt.NDArray[np.float64], cam_ned: Sequence[float],
                  q_body: Sequence[float], model: PhotoCameraModel) -> Box:
    """Bounding box of the projected corners (every box's: it bounds the silhouette)."""
    uv = [project(c, cam_ned, q_body, model) for c in corners_ned]
    assert all(p is not None for p in uv), "a corner is behind the camera"
    us = [p[0] for p in uv if p is not None]
    vs = [p[1] for p in uv if p is not None]
    return min(us), max(us), min(vs), max(vs)
