"""hal.geometry's quaternion product: the algebra, and bit-identity with the inlined forms."""

from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hal.geometry import euler_to_quat, quat_conjugate, quat_multiply, quat_to_matrix

angle = st.floats(-math.pi, math.pi, allow_nan=False)
component = st.floats(-2.0, 2.0, allow_nan=False)  # zeros of both signs included
quat = st.tuples(component, component, component, component)


def bits(q: tuple[float, ...]) -> bytes:
    """Exact bit patterns (== alone would let 0.0 stand for -0.0)."""
    return struct.pack("<4d", *q)


def matrix(q: tuple[float, ...]) -> np.ndarray:
    return np.array(quat_to_matrix(q)).reshape(3, 3)


@given(angle, angle, angle, angle, angle, angle)
def test_the_product_composes_rotations(r1: float, p1: float, y1: float, r2: float, p2: float,
                                        y2: float) -> None:
    a, b = euler_to_quat(r1, p1, y1), euler_to_quat(r2, p2, y2)
    assert np.allclose(matrix(quat_multiply(a, b)), matrix(a) @ matrix(b), atol=1e-12)


def test_identity_and_basis_products() -> None:
    one, i, j, k = (1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0), (
        0.0, 0.0, 0.0, 1.0)
    q = (0.5, -0.1, 0.7, 0.2)
    assert quat_multiply(one, q) == q and quat_multiply(q, one) == q
    assert quat_multiply(i, j) == k  # Hamilton's convention: ij = k
    assert quat_multiply(j, i) == (0.0, 0.0, 0.0, -1.0)
    assert quat_multiply(i, i) == (-1.0, 0.0, 0.0, 0.0)


@given(angle, angle, angle)
def test_a_unit_quaternion_times_its_conjugate_is_the_identity(r: float, p: float,
                                                               y: float) -> None:
    q = euler_to_quat(r, p, y)
    w, x, yy, z = quat_multiply(quat_conjugate(q), q)
    assert math.isclose(w, 1.0, abs_tol=1e-12)
    assert max(abs(x), abs(yy), abs(z)) < 1e-12


@given(quat, quat)
def test_bit_identical_to_the_inlined_attitude_error(q: tuple[float, ...],
                                                     qsp: tuple[float, ...]) -> None:
    # firmware/control.py's q_err = q^-1 * q_sp, written out by hand
    qw, qx, qy, qz = q
    ew = qw * qsp[0] + qx * qsp[1] + qy * qsp[2] + qz * qsp[3]
    ex = qw * qsp[1] - qx * qsp[0] - qy * qsp[3] + qz * qsp[2]
    ey = qw * qsp[2] + qx * qsp[3] - qy * qsp[0] - qz * qsp[1]
    ez = qw * qsp[3] - qx * qsp[2] + qy * qsp[1] - qz * qsp[0]
    assert bits(quat_multiply(quat_conjugate(q), qsp)) == bits((ew, ex, ey, ez))


@given(quat, quat)
def test_bit_identical_to_the_inlined_delta_angle_product(q0: tuple[float, ...],
                                                          q1: tuple[float, ...]) -> None:
    # firmware/nav.py's _delta_angle_body: conj(q0) * q1, written out by hand
    aw, ax, ay, az = q0[0], -q0[1], -q0[2], -q0[3]
    bw, bx, by, bz = q1
    w = aw * bw - ax * bx - ay * by - az * bz
    x = aw * bx + ax * bw + ay * bz - az * by
    y = aw * by - ax * bz + ay * bw + az * bx
    z = aw * bz + ax * by - ay * bx + az * bw
    assert bits(quat_multiply(quat_conjugate(q0), q1)) == bits((w, x, y, z))
