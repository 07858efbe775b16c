"""Quaternion conversions shared by the flight software and the simulated world.

Quaternions are (w, x, y, z), body (FRD) to world (NED); Euler angles are ZYX (yaw, pitch,
roll), as PX4 reports them. Plain floats: called every cycle on 4-vectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Matrix9 = tuple[float, float, float, float, float, float, float, float, float]
Quat = tuple[float, float, float, float]


def quat_multiply(a: Sequence[float], b: Sequence[float]) -> Quat:
    """Hamilton product ``a * b`` (rotation ``b`` first, then ``a``). The terms are summed in
    this fixed order on purpose: callers that replaced an inlined product stay bit-identical
    only if the order matches theirs (the lockstep simulation is compared bit for bit)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw)


def quat_conjugate(q: Sequence[float]) -> Quat:
    """The inverse rotation of a unit quaternion."""
    return (q[0], -q[1], -q[2], -q[3])


def quat_to_euler(q: Sequence[float]) -> tuple[float, float, float]:
    w, x, y, z = q
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


def quat_to_matrix(q: Sequence[float]) -> Matrix9:
    """Row-major rotation matrix body -> world."""
    w, x, y, z = q
    return (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )


def euler_to_quat(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy)
