"""World poses over the last moments, so a camera renders its image at the image's true
exposure time (between world steps, or in the past for a content-time fault) rather than at
whatever step the world happens to be on."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque

import numpy as np
import numpy.typing as npt

from hal.geometry import quat_to_matrix

Vec3 = tuple[float, float, float]


class PoseHistory:
    """(t, position, velocity, attitude quaternion) after each world step, ``keep_ns`` back."""

    def __init__(self, keep_ns: int) -> None:
        self.keep_ns = keep_ns
        self._t: deque[int] = deque()
        self._poses: deque[tuple[Vec3, Vec3, tuple[float, float, float, float]]] = deque()

    def add(self, t_ns: int, pos: list[float], vel: list[float], q: list[float]) -> None:
        self._t.append(t_ns)
        self._poses.append(((pos[0], pos[1], pos[2]), (vel[0], vel[1], vel[2]),
                            (q[0], q[1], q[2], q[3])))
        horizon = t_ns - self.keep_ns
        while self._t[0] < horizon:
            self._t.popleft()
            self._poses.popleft()

    def state_at(self, t_ns: int) -> tuple[Vec3, Vec3, tuple[float, float, float, float]]:
        """Position, velocity and attitude quaternion at ``t_ns``: interpolated between the
        steps around it; before the history, its oldest; past the newest step (a world that
        has not been stepped that far yet), the newest attitude and velocity and the position
        carried on at that velocity."""
        ts = self._t
        if not ts:
            raise LookupError("no pose recorded yet")
        i = bisect_left(ts, t_ns)
        if i <= 0:
            pos, vel, q = self._poses[0]
        elif i >= len(ts):
            (p, vel, q), dt = self._poses[-1], (t_ns - ts[-1]) / 1e9
            pos = (p[0] + vel[0] * dt, p[1] + vel[1] * dt, p[2] + vel[2] * dt)
        else:
            t0, t1 = ts[i - 1], ts[i]
            a = (t_ns - t0) / (t1 - t0)
            (p0, v0, q0), (p1, v1, q1) = self._poses[i - 1], self._poses[i]
            pos = (p0[0] + (p1[0] - p0[0]) * a, p0[1] + (p1[1] - p0[1]) * a,
                   p0[2] + (p1[2] - p0[2]) * a)
            vel = (v0[0] + (v1[0] - v0[0]) * a, v0[1] + (v1[1] - v0[1]) * a,
                   v0[2] + (v1[2] - v0[2]) * a)
            qi = [x0 + (x1 - x0) * a for x0, x1 in zip(q0, q1, strict=True)]
            n = sum(x * x for x in qi) ** 0.5
            q = (qi[0] / n, qi[1] / n, qi[2] / n, qi[3] / n)
        return pos, vel, q

    def at(self, t_ns: int) -> tuple[Vec3, npt.NDArray[np.float64]]:
        """Position and body-to-world rotation at ``t_ns`` (as ``state_at``)."""
        pos, _, q = self.state_at(t_ns)
        return pos, np.array(quat_to_matrix(q), dtype=np.float64).reshape(3, 3)
