"""Rays against oriented boxes (``scene_objects.Box``): the nearest hit and its face.

The slab method in each box's own axes: along each axis the ray is inside the box between
two ranges; it meets the box where the latest entry comes before the earliest exit. The
axis of that latest entry is the face it meets, so the face normal comes for free.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sim_hal.scene_objects import Box

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def hit_boxes(origin: F64, dirs: F64, boxes: Sequence[Box]) -> tuple[F64, I64, F64]:
    """For rays from ``origin`` (3,) along ``dirs`` (N, 3): the range to the nearest box
    (``inf`` where none; a ray starting inside a box is not counted as hitting it), which box
    (-1 where none), and the outward normal of the face hit (N, 3), all in NED."""
    count = dirs.shape[0]
    best = np.full(count, np.inf)
    which = np.full(count, -1, dtype=np.int64)
    normal = np.zeros((count, 3))
    for k, box in enumerate(boxes):
        o = (origin - box.centre) @ box.axes  # the camera in the box's axes
        d = dirs @ box.axes
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            t1 = (-box.half - o) * inv
            t2 = (box.half - o) * inv
        near = np.minimum(t1, t2)
        far = np.maximum(t1, t2)
        axis = np.argmax(near, axis=1)
        t_in = np.take_along_axis(near, axis[:, None], axis=1)[:, 0]
        t_out = far.min(axis=1)
        hit = (t_in <= t_out) & (t_in > 0.0) & (t_in < best)
        if not hit.any():
            continue
        best[hit] = t_in[hit]
        which[hit] = k
        ax = axis[hit]
        sign = -np.sign(d[hit, ax])  # the face the ray enters faces back along it
        normal[hit] = box.axes[:, ax].T * sign[:, None]
    return best, which, normal
