"""Wind at the vehicle: steady wind, discrete 1-cosine gusts and Dryden turbulence (NED, m/s).

Models, all deterministic for a seed:

- Steady wind of ``speed_mps`` blowing *from* ``direction_deg`` (meteorological convention,
  0 = from the north, 90 = from the east), so its velocity is ``-speed * (cos, sin, 0)``.
- Discrete gusts with the "1 - cosine" shape of MIL-F-8785C section 3.7.4 (and CS-25.341),
  here a full gust that rises and decays: ``v(tau) = A/2 * (1 - cos(2 pi tau / D))`` for
  ``0 <= tau <= D``, along the steady wind's direction (plus a seeded spread). Onsets are
  listed (``at_s``) and/or drawn from a seeded Poisson process (``rate_per_min``).
- Continuous turbulence: the Dryden model in the low-altitude form of MIL-F-8785C 3.7.2.3 /
  MIL-HDBK-1797 (h in feet, 10 <= h <= 1000): ``L_w = h``, ``L_u = L_v = h / (0.177 +
  0.000823 h)^1.2``, ``sigma_w = 0.1 W20``, ``sigma_u = sigma_v = sigma_w / (0.177 + 0.000823
  h)^0.4``, with the spectra ``Phi_u = sigma_u^2 (2 L_u / pi) / (1 + (L_u W)^2)`` and
  ``Phi_v = sigma_v^2 (L_v / pi) (1 + 3 (L_v W)^2) / (1 + (L_v W)^2)^2`` (W the spatial
  frequency). Taylor's frozen-turbulence hypothesis turns them into time with the airspeed V
  (relative to the mean wind; at least ``min_airspeed_mps`` so a hover still sees the wind's
  eddies pass). u is along the mean wind, v to its right, w down.

  Discretisation at the update period dt (``update_hz``, 100 Hz by default: the world steps at
  1 kHz in plain floats, and the turbulence is held between updates), with T = L / V:
  u is a first-order Gauss-Markov process, exact: ``u' = phi u + sigma sqrt(1 - phi^2) n``,
  ``phi = exp(-dt / T)``, autocorrelation ``sigma^2 exp(-V tau / L)``. v and w use the
  partial fractions of the Dryden filter, ``(1 + sqrt(3) T s) / (1 + T s)^2 = sqrt(3) / (1 + T s)
  + (1 - sqrt(3)) / (1 + T s)^2``: the first stage is the same exact Gauss-Markov step, the
  second a trapezoidal low pass of the first (its error is of order (dt / T)^2; T is over
  0.3 s at any altitude and airspeed this vehicle flies). Their autocorrelation is
  ``sigma^2 (1 - V tau / (2 L)) exp(-V tau / L)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hal.tomlschema import rng
from hal.types import NS_PER_S

FT = 0.3048
_MIN_H_FT, _MAX_H_FT = 10.0, 1000.0  # the low-altitude model's range
_SQRT3 = math.sqrt(3.0)


@dataclass
class GustSettings:
    amplitude_mps: float = field(default=0.0, metadata=rng(0, 100))  # 0: no gusts
    duration_s: float = field(default=4.0, metadata=rng(0.1, 600))
    rate_per_min: float = field(default=0.0, metadata=rng(0, 600))  # seeded Poisson onsets
    at_s: list[float] = field(default_factory=list, metadata=rng(0, 1e6))  # listed onsets
    # each gust's amplitude is drawn uniformly in [A (1 - spread), A]
    amplitude_spread: float = field(default=0.0, metadata=rng(0, 1))
    direction_spread_deg: float = field(default=0.0, metadata=rng(0, 180))


@dataclass
class TurbulenceSettings:
    w20_mps: float = field(default=0.0, metadata=rng(0, 100))  # wind at 20 ft; 0: none
    update_hz: float = field(default=100.0, metadata=rng(1, 10_000))
    min_airspeed_mps: float = field(default=1.0, metadata=rng(0.1, 100))


@dataclass
class WindSettings:
    speed_mps: float = field(default=0.0, metadata=rng(0, 100))
    direction_deg: float = field(default=0.0, metadata=rng(-360, 360))  # blowing from
    gusts: GustSettings = field(default_factory=GustSettings)
    turbulence: TurbulenceSettings = field(default_factory=TurbulenceSettings)

    def calm(self) -> bool:
        return (self.speed_mps == 0.0 and self.gusts.amplitude_mps == 0.0
                and self.turbulence.w20_mps == 0.0)


def dryden_low_altitude(h_m: float, w20_mps: float) -> tuple[float, float, float, float]:
    """(sigma_u, sigma_w, L_u, L_w) in SI units at height ``h_m`` above ground
    (MIL-F-8785C low-altitude form; sigma_v = sigma_u, L_v = L_u)."""
    h = min(_MAX_H_FT, max(_MIN_H_FT, h_m / FT))
    k = 0.177 + 0.000823 * h
    sigma_w = 0.1 * w20_mps
    return sigma_w / k**0.4, sigma_w, h / k**1.2 * FT, h * FT


class Wind:
    """Wind velocity (NED) at a time and height; ``velocity`` is called every world step."""

    def __init__(self, settings: WindSettings, seed: int, t0_ns: int) -> None:
        self.s = settings
        self.t0_ns = t0_ns
        theta = math.radians(settings.direction_deg)
        # unit vector the wind blows toward (NED)
        self._dir = (-math.cos(theta), -math.sin(theta))
        self.steady = (settings.speed_mps * self._dir[0], settings.speed_mps * self._dir[1])
        ss = np.random.SeedSequence([seed, 0x57494E44])  # "WIND": apart from other streams
        g_ss, t_ss = ss.spawn(2)
        self._gust_rng = np.random.default_rng(g_ss)
        self._turb_rng = np.random.default_rng(t_ss)
        # gusts: (onset_ns, end_ns, north amplitude, east amplitude), sorted by onset
        g = settings.gusts
        self._gust_period_ns = int(g.duration_s * NS_PER_S)
        self._gusts: list[tuple[int, int, float, float]] = []
        self._listed = sorted(g.at_s)
        self._next_poisson_ns = self._draw_poisson_after(t0_ns) if g.rate_per_min > 0 else None
        for at in self._listed:
            self._add_gust(t0_ns + int(at * NS_PER_S))
        self._gust_i = 0
        self._active: list[tuple[int, int, float, float]] = []
        # turbulence state
        tu = settings.turbulence
        self._turb_on = tu.w20_mps > 0.0
        self._turb_dt = 1.0 / tu.update_hz
        self._turb_period_ns = max(1, int(NS_PER_S / tu.update_hz))
        self._next_turb_ns = t0_ns
        self._noise: list[float] = []
        self._noise_i = 0
        self._u = 0.0
        self._v1 = self._v2 = self._w1 = self._w2 = 0.0
        self._started = False
        self.turbulence = (0.0, 0.0, 0.0)  # held NED turbulence of the last update

    # -- gusts ------------------------------------------------------------------------------
    def _draw_poisson_after(self, t_ns: int) -> int:
        mean_s = 60.0 / self.s.gusts.rate_per_min
        return t_ns + int(float(self._gust_rng.exponential(mean_s)) * NS_PER_S)

    def _add_gust(self, onset_ns: int) -> None:
        g = self.s.gusts
        amp = g.amplitude_mps * (1.0 - g.amplitude_spread * float(self._gust_rng.random()))
        spread = math.radians(g.direction_spread_deg) * (2.0 * float(self._gust_rng.random()) - 1)
        c, s = math.cos(spread), math.sin(spread)
        dn, de = self._dir
        gust = (onset_ns, onset_ns + self._gust_period_ns, amp * (c * dn - s * de),
                amp * (s * dn + c * de))
        self._gusts.append(gust)
        self._gusts.sort()

    def _gust_at(self, t_ns: int) -> tuple[float, float]:
        nxt = self._next_poisson_ns
        while nxt is not None and nxt <= t_ns:
            self._add_gust(nxt)
            nxt = self._next_poisson_ns = self._draw_poisson_after(nxt)
        gusts = self._gusts
        while self._gust_i < len(gusts) and gusts[self._gust_i][0] <= t_ns:
            self._active.append(gusts[self._gust_i])
            self._gust_i += 1
        if not self._active:
            return 0.0, 0.0
        self._active = [a for a in self._active if a[1] > t_ns]
        gn = ge = 0.0
        for onset, _end, an, ae in self._active:
            k = 0.5 * (1.0 - math.cos(2.0 * math.pi * (t_ns - onset) / self._gust_period_ns))
            gn += k * an
            ge += k * ae
        return gn, ge

    def gust(self, t_ns: int) -> tuple[float, float]:
        """The gust part of the wind at ``t_ns`` (north, east)."""
        return self._gust_at(t_ns)

    # -- turbulence ----------------------------------------------------------------------------
    def _n(self) -> float:
        if self._noise_i >= len(self._noise):
            self._noise = self._turb_rng.standard_normal(4096).tolist()
            self._noise_i = 0
        v = self._noise[self._noise_i]
        self._noise_i += 1
        return v

    def _turb_update(self, h_m: float, airspeed: float) -> None:
        tu = self.s.turbulence
        su, sw, lu, lw = dryden_low_altitude(h_m, tu.w20_mps)
        v = max(airspeed, tu.min_airspeed_mps)
        dt = self._turb_dt
        pu = math.exp(-dt * v / lu)
        pw = math.exp(-dt * v / lw)
        if not self._started:  # start in the stationary distribution, not at rest
            self._started = True
            self._u = su * self._n()
            self._v1, self._v2 = self._stationary_pair()
            self._w1, self._w2 = self._stationary_pair()
        else:
            self._u = pu * self._u + su * math.sqrt(1.0 - pu * pu) * self._n()
            v1 = pu * self._v1 + math.sqrt(1.0 - pu * pu) * self._n()
            self._v2 = pu * self._v2 + (1.0 - pu) * 0.5 * (v1 + self._v1)
            self._v1 = v1
            w1 = pw * self._w1 + math.sqrt(1.0 - pw * pw) * self._n()
            self._w2 = pw * self._w2 + (1.0 - pw) * 0.5 * (w1 + self._w1)
            self._w1 = w1
        # unit-variance stages: x1 ~ N(0, 1), x2 = LP(x1) has variance 1/2 and covariance 1/2
        # with x1; y = a x1 + b x2 with a = sqrt3, b = 1 - sqrt3 has variance
        # a^2 + b^2 / 2 + a b = 3 + (4 - 2 sqrt3) / 2 + sqrt3 - 3 = 2: scale by sigma / sqrt2
        k_v = su / math.sqrt(2.0)
        k_w = sw / math.sqrt(2.0)
        tv = k_v * (_SQRT3 * self._v1 + (1.0 - _SQRT3) * self._v2)
        tw = k_w * (_SQRT3 * self._w1 + (1.0 - _SQRT3) * self._w2)
        dn, de = self._dir
        # u along the wind, v to its right (east of a northward wind), w down
        self.turbulence = (self._u * dn - tv * de, self._u * de + tv * dn, tw)

    def _stationary_pair(self) -> tuple[float, float]:
        """(x1, x2) from their stationary joint law: var 1 and 1/2, covariance 1/2."""
        a, b = self._n(), self._n()
        return a, 0.5 * a + 0.5 * b

    # -- the world's call -------------------------------------------------------------------
    def turbulence_due(self, t_ns: int) -> bool:
        """Whether ``velocity(t_ns, ...)`` updates the turbulence (and so reads the height)."""
        return self._turb_on and t_ns >= self._next_turb_ns

    def velocity(self, t_ns: int, h_m: float, vn: float, ve: float, vd: float
                 ) -> tuple[float, float, float]:
        """Wind (NED) at ``t_ns`` for a vehicle ``h_m`` above ground moving at (vn, ve, vd)."""
        wn, we = self.steady
        wd = 0.0
        if self._gusts or self._next_poisson_ns is not None:
            gn, ge = self._gust_at(t_ns)
            wn += gn
            we += ge
        if self._turb_on:
            if t_ns >= self._next_turb_ns:
                self._next_turb_ns += self._turb_period_ns
                if self._next_turb_ns <= t_ns:  # a long step: catch up without a burst
                    self._next_turb_ns = t_ns + self._turb_period_ns
                an, ae = vn - wn, ve - we
                self._turb_update(h_m, math.sqrt(an * an + ae * ae + vd * vd))
            tn, te, td = self.turbulence
            wn += tn
            we += te
            wd += td
        return wn, we, wd
