"""Wind: Dryden turbulence statistics against MIL-F-8785C, 1-cosine gusts, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim_hal.wind import GustSettings, TurbulenceSettings, Wind, WindSettings

NS = 1_000_000_000
T0 = 5 * NS


def spec_low_altitude(h_m: float, w20: float) -> tuple[float, float, float, float]:
    """MIL-F-8785C 3.7.2.3 low-altitude Dryden scales, in feet, transcribed for the test."""
    h = h_m / 0.3048
    sigma_w = 0.1 * w20
    sigma_u = sigma_w / (0.177 + 0.000823 * h) ** 0.4
    l_u = h / (0.177 + 0.000823 * h) ** 1.2
    return sigma_u, sigma_w, l_u * 0.3048, h * 0.3048


def autocorr(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    return float(np.dot(x[:-lag], x[lag:]) / np.dot(x, x) * len(x) / (len(x) - lag))


Run = tuple[np.ndarray, np.ndarray, np.ndarray, float, float]


@pytest.fixture(scope="module")
def turbulence_run() -> Run:
    """6000 s of turbulence at 100 Hz for a vehicle held at 4 m in a 10 m/s wind from the
    north (u along the wind = south, v to its right = west, w down)."""
    speed, h = 10.0, 4.0
    s = WindSettings(speed_mps=speed, direction_deg=0.0,
                     turbulence=TurbulenceSettings(w20_mps=10.0, update_hz=100.0))
    wind = Wind(s, seed=3, t0_ns=T0)
    n = 600_000
    out = np.empty((n, 3))
    for k in range(n):
        out[k] = wind.velocity(T0 + k * 10_000_000, h, 0.0, 0.0, 0.0)
    u = -(out[:, 0] + speed)  # along the wind (toward south)
    v = -out[:, 1]  # right of a southward wind is west
    return u, v, out[:, 2], speed, h


def test_turbulence_sigmas_match_the_dryden_spec(turbulence_run: Run) -> None:
    u, v, w, _, h = turbulence_run
    sigma_u, sigma_w, _, _ = spec_low_altitude(h, 10.0)
    assert np.std(u) == pytest.approx(sigma_u, rel=0.08)
    assert np.std(v) == pytest.approx(sigma_u, rel=0.08)
    assert np.std(w) == pytest.approx(sigma_w, rel=0.05)
    assert abs(np.mean(w)) < 0.05 * sigma_w


def test_turbulence_correlation_follows_the_dryden_length_scales(turbulence_run: Run) -> None:
    u, v, w, speed, h = turbulence_run
    _, _, l_u, l_w = spec_low_altitude(h, 10.0)
    dt = 0.01
    lag_u = round(l_u / speed / dt)  # one length scale of travel
    lag_w = round(l_w / speed / dt)
    # u: exp(-xi / L); v, w: (1 - xi / 2L) exp(-xi / L)
    assert autocorr(u, lag_u) == pytest.approx(math.exp(-1.0), abs=0.08)
    assert autocorr(v, lag_u) == pytest.approx(0.5 * math.exp(-1.0), abs=0.08)
    assert autocorr(w, lag_w) == pytest.approx(0.5 * math.exp(-1.0), abs=0.03)
    assert autocorr(w, 2 * lag_w) == pytest.approx(0.0, abs=0.03)
    assert autocorr(w, lag_w // 2) == pytest.approx(0.75 * math.exp(-0.5), abs=0.03)


def test_gust_has_the_one_minus_cosine_shape_along_the_wind() -> None:
    s = WindSettings(speed_mps=0.0, direction_deg=90.0,  # from the east: blows west
                     gusts=GustSettings(amplitude_mps=6.0, duration_s=4.0, at_s=[2.0]))
    wind = Wind(s, seed=1, t0_ns=T0)
    for tau, expect in [(-1.0, 0.0), (0.0, 0.0), (1.0, 3.0), (2.0, 6.0), (3.0, 3.0),
                        (4.0, 0.0), (6.0, 0.0)]:
        vn, ve, vd = wind.velocity(T0 + int((2.0 + tau) * NS), 5.0, 0.0, 0.0, 0.0)
        assert vn == pytest.approx(0.0, abs=1e-9)
        assert -ve == pytest.approx(expect, abs=1e-9), tau
        assert vd == 0.0


def test_steady_wind_blows_from_its_direction() -> None:
    wind = Wind(WindSettings(speed_mps=5.0, direction_deg=0.0), seed=1, t0_ns=T0)
    assert wind.velocity(T0, 5.0, 0.0, 0.0, 0.0) == pytest.approx((-5.0, 0.0, 0.0))


def test_poisson_gust_onsets_come_at_the_configured_rate() -> None:
    s = WindSettings(gusts=GustSettings(amplitude_mps=1.0, duration_s=1.0, rate_per_min=6.0))
    wind = Wind(s, seed=9, t0_ns=T0)
    wind.velocity(T0 + 10_000 * NS, 5.0, 0.0, 0.0, 0.0)
    count = len(wind._gusts)
    # 1000 expected, Poisson sd 32
    assert 870 < count < 1130


def test_wind_is_deterministic_for_a_seed_and_differs_between_seeds() -> None:
    s = WindSettings(speed_mps=3.0, gusts=GustSettings(amplitude_mps=2.0, rate_per_min=10.0),
                     turbulence=TurbulenceSettings(w20_mps=5.0))

    def series(seed: int) -> list[tuple[float, float, float]]:
        wind = Wind(s, seed=seed, t0_ns=T0)
        return [wind.velocity(T0 + k * 1_000_000, 6.0, 1.0, 0.0, 0.0) for k in range(20_000)]

    assert series(4) == series(4)
    assert series(4) != series(5)
