"""The camera-IMU time offset estimator on synthetic motion: a known body-rate history, frame
pairs whose rotational image shift is what the body turned between the *true* exposures,
and stamps ``d`` earlier than those. No flights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware.time_offset import (
    CameraImuOffset,
    OffsetEstimate,
    TimeOffsetConfig,
    correction_ns,
)
from firmware.vision import rotation_shift

FOCAL = 67.0
CYCLE_NS = 2_000_000  # 500 Hz
FRAME_NS = 33_333_333  # 30 Hz


def rates(t_s: np.ndarray, amp: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Body rates (x, y) of a vehicle in gusty air: a few incommensurate sines (rad/s)."""
    wx = amp * (np.sin(2 * math.pi * 0.7 * t_s) + 0.6 * np.sin(2 * math.pi * 2.3 * t_s + 1.0))
    wy = amp * (np.sin(2 * math.pi * 0.5 * t_s + 0.3) + 0.5 * np.sin(2 * math.pi * 3.1 * t_s))
    return wx, wy


def angle(t_s: float, amp: float = 0.3) -> tuple[float, float]:
    """The exact integral of ``rates`` from 0 to ``t_s``."""
    def s(f: float, ph: float) -> float:
        w = 2 * math.pi * f
        return (math.cos(ph) - math.cos(w * t_s + ph)) / w
    ax = amp * (s(0.7, 0.0) + 0.6 * s(2.3, 1.0))
    ay = amp * (s(0.5, 0.3) + 0.5 * s(3.1, 0.0))
    return ax, ay


def yaw_angle(t_s: float, amp: float = 0.3) -> float:
    """A yaw oscillation's angle (rad) at ``t_s`` (rate amp * sin(2 pi 1.3 t))."""
    w = 2 * math.pi * 1.3
    return amp * (1.0 - math.cos(w * t_s)) / w


def fly(est: CameraImuOffset, offset_s: float, seconds: float, noise_px: float = 0.02,
        amp: float = 0.3, outliers: float = 0.0, seed: int = 1,
        offset_at: float | None = None, later_offset_s: float = 0.0,
        t_start_s: float = 1.0, window: tuple[float, float] | None = None,
        told: tuple[float, float] | None = None) -> list[OffsetEstimate]:
    """Feed ``seconds`` of cycles and frames; every estimate made, in order.

    ``window``: the pairs' shifts are measured at this (row, col) from the image centre,
    where a yaw moves the content too (the body also yaws); ``told``: where the estimator is
    told they were (default: the truth)."""
    rng = np.random.default_rng(seed)
    out: list[OffsetEstimate] = []
    t_ns = int(t_start_s * 1e9)
    end = int((t_start_s + seconds) * 1e9)
    prev_ax, prev_ay = angle(t_ns / 1e9, amp)
    prev_az = yaw_angle(t_ns / 1e9, amp) if window is not None else 0.0
    next_frame = t_ns + FRAME_NS
    last_frame: int | None = None
    while t_ns < end:
        t_ns += CYCLE_NS
        ax, ay = angle(t_ns / 1e9, amp)
        az = yaw_angle(t_ns / 1e9, amp) if window is not None else 0.0
        est.record_gyro(t_ns, ax - prev_ax, ay - prev_ay, az - prev_az)
        prev_ax, prev_ay, prev_az = ax, ay, az
        if t_ns >= next_frame:
            stamp = next_frame
            next_frame += FRAME_NS
            if last_frame is not None:
                d = offset_s
                if offset_at is not None and stamp >= offset_at * 1e9:
                    d = later_offset_s
                a0 = angle(last_frame / 1e9 + d, amp)
                a1 = angle(stamp / 1e9 + d, amp)
                if window is None:
                    row = FOCAL * (a1[1] - a0[1])
                    col = FOCAL * (a1[0] - a0[0])
                else:
                    k = rotation_shift(window[0], window[1], FOCAL, (1.0, 1.0))
                    turn = (a1[0] - a0[0], a1[1] - a0[1],
                            yaw_angle(stamp / 1e9 + d, amp) - yaw_angle(last_frame / 1e9 + d, amp))
                    row = sum(kk * tt for kk, tt in zip(k.row, turn, strict=True))
                    col = sum(kk * tt for kk, tt in zip(k.col, turn, strict=True))
                row += noise_px * rng.standard_normal()
                col += noise_px * rng.standard_normal()
                if outliers and rng.random() < outliers:
                    row += rng.choice([-20.0, 20.0])
                at = told if told is not None else (window or (0.0, 0.0))
                est.add_pair(last_frame, stamp, row, col, *at)
            last_frame = stamp
            e = est.update()
            if e is not None:
                out.append(e)
    return out


def estimator(**cfg: float) -> CameraImuOffset:
    return CameraImuOffset(TimeOffsetConfig(**cfg), FOCAL)  # type: ignore[arg-type]


@pytest.mark.parametrize("offset_ms", [-33.3, -15.0, 0.0, 10.0, 40.0])
def test_recovers_a_constant_offset_within_its_uncertainty(offset_ms: float) -> None:
    est = estimator()
    last = fly(est, offset_ms / 1e3, 20.0)[-1]
    assert last.confident and not last.at_edge
    assert last.sigma_s < 0.5e-3
    assert abs(last.offset_s * 1e3 - offset_ms) < max(4 * last.sigma_s * 1e3, 0.3), last


def test_no_rate_change_no_estimate() -> None:
    """A steady turn (constant rates) or a hover: every candidate explains the images equally
    well, so there is no confident estimate, whatever the true offset."""
    est = estimator()
    t = 1_000_000_000
    last = None
    for k in range(1, 20 * 500):
        t += CYCLE_NS
        est.record_gyro(t, 0.1 * CYCLE_NS / 1e9, -0.05 * CYCLE_NS / 1e9)
        if k % 17 == 0:
            row = FOCAL * -0.05 * 17 * CYCLE_NS / 1e9
            col = FOCAL * 0.1 * 17 * CYCLE_NS / 1e9
            est.add_pair(t - 17 * CYCLE_NS, t, row, col)
            last = est.update() or last
    assert last is not None and not last.confident
    assert last.excitation_px_per_ms < 1e-6


def test_the_uncertainty_shrinks_with_excitation() -> None:
    calm = fly(estimator(), 0.0, 20.0, amp=0.05)[-1]
    gusty = fly(estimator(), 0.0, 20.0, amp=0.4)[-1]
    assert gusty.excitation_px_per_ms > 5 * calm.excitation_px_per_ms
    assert gusty.sigma_s < calm.sigma_s / 4


def test_wild_flow_results_are_clipped() -> None:
    """One pair in ten wrong by 20 px (a failed correlation that passed its quality gate):
    each costs at most clip_px^2 at every candidate, so the estimate stays put; the clipped
    residuals do count as noise, so its uncertainty grows (honestly) rather than shrinks."""
    clean = fly(estimator(), 0.015, 20.0)[-1]
    last = fly(estimator(), 0.015, 20.0, outliers=0.1)[-1]
    assert abs(last.offset_s - 0.015) < 1e-3
    assert abs(last.offset_s - 0.015) < 3 * last.sigma_s
    assert last.sigma_s > clean.sigma_s


def test_an_offset_beyond_the_search_is_flagged_at_the_edge() -> None:
    last = fly(estimator(search_ms=20.0), 0.060, 20.0)[-1]
    assert last.at_edge and last.offset_s == pytest.approx(0.020)


def test_a_step_is_followed_within_a_few_time_constants() -> None:
    est = estimator(time_constant_s=3.0)
    trace = fly(est, 0.0, 30.0, offset_at=11.0, later_offset_s=-0.0333)
    before = [e for e in trace if e.t_ns < 11e9]
    after = [e for e in trace if e.t_ns > 11e9 + 3 * 3.0e9]
    assert abs(before[-1].offset_s) < 1e-3
    assert all(abs(e.offset_s + 0.0333) < 2e-3 for e in after)


def test_pairs_wait_for_the_gyro_beyond_the_search_window() -> None:
    """A pair is scored only once the gyro history reaches its second stamp plus the search
    (a positive offset looks at rotation after the stamp); what is scored is the change from
    the previous pair, so the first of two consecutive pairs only starts the count."""
    est = estimator(search_ms=100.0)
    for k in range(1, 200):
        est.record_gyro(1_000_000_000 + k * CYCLE_NS, 0.001, 0.0)
    t1 = 1_000_000_000 + 150 * CYCLE_NS
    est.add_pair(t1 - 2 * FRAME_NS, t1 - FRAME_NS, 0.0, 0.0)
    est.add_pair(t1 - FRAME_NS, t1, 0.0, 0.0)
    assert est.update() is None  # history ends 98 ms after t1
    for k in range(200, 210):
        est.record_gyro(1_000_000_000 + k * CYCLE_NS, 0.001, 0.0)
    assert est.update() is not None and est.pairs_used == 1


def test_a_window_off_the_centre_needs_its_own_rotation_model() -> None:
    """Navigation's window follows the point below the vehicle, 30-45 px off the image centre
    when tilted, where a yaw moves the content and roll and pitch move it across as well: told
    where the window was, the estimator explains the shifts; told the centre, what it leaves
    unexplained is three times the noise and its uncertainty triples (no longer confident)."""
    where = (-28.0, 30.0)
    right = fly(estimator(), 0.010, 20.0, window=where)[-1]
    assert right.confident and right.offset_s == pytest.approx(0.010, abs=2 * right.sigma_s)
    wrong = fly(estimator(), 0.010, 20.0, window=where, told=(0.0, 0.0))[-1]
    assert wrong.sigma_s > 2.5 * right.sigma_s and not wrong.confident


def test_a_gross_offset_is_plain_from_the_first_judged_interval() -> None:
    """33 ms off: after a second of frames the 2-sigma interval already excludes everything
    within 12 ms of the configured offset."""
    trace = fly(estimator(), -0.0333, 3.0)
    judged = [e for e in trace if e.interval_s is not None]
    assert judged and judged[0].pairs < 32
    lo, hi = judged[0].interval_s  # type: ignore[misc]
    assert lo <= -0.0333 <= hi
    assert judged[0].least_abs_s is not None and judged[0].least_abs_s > 0.012


def test_the_interval_holds_the_truth_and_zero_when_unobservable() -> None:
    # without a model bias allowance the interval is the 2-sigma one
    last = fly(estimator(judge_bias_px=0.0), 0.010, 20.0)[-1]
    assert last.interval_s is not None and last.interval_s[0] <= 0.010 <= last.interval_s[1]
    assert last.interval_s[1] - last.interval_s[0] == pytest.approx(4 * last.sigma_s, rel=0.01)
    # the allowance widens it on both sides by twice what the bias would move the estimate
    biased = fly(estimator(judge_bias_px=0.01), 0.010, 20.0)[-1]
    assert biased.interval_s is not None
    widen = 2 * 0.01 / biased.excitation_px_per_ms / 1e3
    assert biased.interval_s[0] == pytest.approx(last.interval_s[0] - widen, abs=1e-6)
    assert biased.interval_s[1] == pytest.approx(last.interval_s[1] + widen, abs=1e-6)
    calm = fly(estimator(), 0.010, 20.0, amp=0.001)[-1]  # almost no rate change: wide open
    assert calm.least_abs_s == 0.0


def test_correction_only_while_confident_within_the_bound_and_enabled() -> None:
    cfg = TimeOffsetConfig()
    ok = OffsetEstimate(0, 0.008, 0.0005, 0.01, 100.0, True, False)
    assert correction_ns(ok, 0.012, cfg) == 8_000_000
    assert correction_ns(ok._replace(offset_s=-0.013), 0.012, cfg) == 0  # beyond: land
    assert correction_ns(ok._replace(confident=False), 0.012, cfg) == 0
    assert correction_ns(ok._replace(at_edge=True), 0.012, cfg) == 0
    assert correction_ns(None, 0.012, cfg) == 0
    assert correction_ns(ok, 0.012, TimeOffsetConfig(correct=False)) == 0


def test_a_gap_in_the_gyro_history_drops_the_pair() -> None:
    est = estimator(search_ms=10.0)
    t = 1_000_000_000
    for _ in range(100):
        t += CYCLE_NS
        est.record_gyro(t, 0.001, 0.0)
    t += 300_000_000  # an IMU stall
    for _ in range(100):
        t += CYCLE_NS
        est.record_gyro(t, 0.001, 0.0)
    est.add_pair(t - 300_000_000, t - 150_000_000, 0.0, 0.0)
    assert est.update() is None and est.pairs_lost == 1
