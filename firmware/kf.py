"""A three-state Kalman filter for one axis: position, velocity, accelerometer bias.

p' = v, v' = a_measured - b + w_a, b' = w_b. The state propagates every cycle; the covariance
only when a measurement arrives, over the whole elapsed time at once (exact for this model,
whose transition matrices compose), which keeps the 500 Hz path to a few multiplications.
Plain floats: the matrices are 3x3 and numpy's call overhead would dominate.
"""

from __future__ import annotations


class AxisKf:
    __slots__ = (
        "b",
        "p",
        "p00",
        "p01",
        "p02",
        "p11",
        "p12",
        "p22",
        "pending_dt",
        "q_a",
        "q_b",
        "v",
    )

    def __init__(self, accel_noise: float, bias_noise: float, p0: float = 0.0) -> None:
        self.p = p0
        self.v = 0.0
        self.b = 0.0
        self.q_a = accel_noise * accel_noise
        self.q_b = bias_noise * bias_noise
        self._initial_pv_covariance()
        self.p22 = 0.04
        self.pending_dt = 0.0

    def _initial_pv_covariance(self) -> None:
        """Position and velocity as uncertain as at start, uncorrelated with the bias."""
        self.p00, self.p01, self.p02 = 0.01, 0.0, 0.0
        self.p11, self.p12 = 0.01, 0.0

    def predict(self, accel: float, dt: float) -> None:
        a = accel - self.b
        self.p += (self.v + 0.5 * a * dt) * dt
        self.v += a * dt
        self.pending_dt += dt

    def _propagate_covariance(self) -> None:
        t = self.pending_dt
        if t <= 0.0:
            return
        self.pending_dt = 0.0
        # F = [[1, t, -t^2/2], [0, 1, -t], [0, 0, 1]]; P <- F P F^T + Q
        h = -0.5 * t * t
        p00, p01, p02, p11, p12, p22 = self.p00, self.p01, self.p02, self.p11, self.p12, self.p22
        a0 = p00 + t * p01 + h * p02
        a1 = p01 + t * p11 + h * p12
        a2 = p02 + t * p12 + h * p22
        b1 = p11 - t * p12
        b2 = p12 - t * p22
        n00 = a0 + t * a1 + h * a2
        n01 = a1 - t * a2
        n02 = a2
        n11 = b1 - t * b2
        n12 = b2
        qa, qb = self.q_a, self.q_b
        self.p00 = n00 + qa * t * t * t / 3.0
        self.p01 = n01 + qa * t * t / 2.0
        self.p02 = n02
        self.p11 = n11 + qa * t
        self.p12 = n12
        self.p22 = p22 + qb * t

    def reset(self, position: float, velocity: float) -> None:
        """Take position and velocity from outside (the bias stays), as uncertain as at
        start: the state was wrong, so its covariance was too."""
        self._propagate_covariance()
        self.p, self.v = position, velocity
        self._initial_pv_covariance()

    def update(self, which: int, innovation: float, r: float) -> float:
        """Measure position (0) or velocity (1); returns the normalised innovation squared."""
        self._propagate_covariance()
        if which == 0:
            c0, c1, c2 = self.p00, self.p01, self.p02
        else:
            c0, c1, c2 = self.p01, self.p11, self.p12
        s = (c0 if which == 0 else c1) + r
        k0, k1, k2 = c0 / s, c1 / s, c2 / s
        self.p += k0 * innovation
        self.v += k1 * innovation
        self.b += k2 * innovation
        # P <- P - K (row ``which`` of P); the row equals (c0, c1, c2) by symmetry
        self.p00 -= k0 * c0
        self.p01 -= k0 * c1
        self.p02 -= k0 * c2
        self.p11 -= k1 * c1
        self.p12 -= k1 * c2
        self.p22 -= k2 * c2
        return innovation * innovation / s
