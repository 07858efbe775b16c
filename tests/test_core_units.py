"""Unit tests of the core pieces: deadlines, clock mapping, Kalman filter, world, mixer."""

from __future__ import annotations

import math
import random

import pytest

from firmware.config import ControlConfig, VehicleConfig
from firmware.control import Controller
from firmware.executive import Executive, next_deadline
from firmware.kf import AxisKf
from hal.timesync import ClockMapper
from sim_hal.world import VehicleParams, World


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000_000

    def now_ns(self) -> int:
        return self.t

    def sleep_until(self, t_ns: int) -> None:
        self.t = max(self.t, t_ns)


def test_next_deadline_on_time_and_skipping():
    assert next_deadline(1000, 100, 1050) == (1100, 0)
    # finished at 1250: deadlines 1100 and 1200 are gone, the next future one is 1300
    assert next_deadline(1000, 100, 1250) == (1300, 2)
    # exactly on a deadline counts as missed: it is no longer in the future
    assert next_deadline(1000, 100, 1100) == (1200, 1)


def test_executive_counts_overruns_and_slips_without_bursting():
    clock = FakeClock()
    exe = Executive(clock, 1000.0)  # 1 ms period
    wakes: list[int] = []

    def cycle(now: int, index: int) -> bool:
        wakes.append(now)
        if index == 3:
            clock.t += 3_500_000  # one cycle of 3.5 ms work
        return len(wakes) < 10

    exe.run(cycle)
    st = exe.stats
    assert st.overruns == 1
    assert st.slips == 3
    assert st.max_cycle_ns == 3_500_000
    # after the long cycle the next wake is on the period grid, not a burst of catch-ups
    gaps = [b - a for a, b in zip(wakes, wakes[1:], strict=False)]
    assert all(g >= 1_000_000 for g in gaps)
    assert all((w - wakes[0]) % 1_000_000 == 0 for w in wakes)


def test_clock_mapper_tracks_offset_and_skew_under_one_sided_jitter():
    m = ClockMapper(window=90)
    rng = random.Random(7)
    skew = 200e-6
    errs = []
    for k in range(1500):
        host_true = 5_000_000_000 + k * 33_333_333
        dev = int((host_true - 3_000_000_000) * (1 + skew))
        m.observe(dev, host_true + int(rng.uniform(0, 1e6)))
        if k > 300:
            errs.append(abs(m.to_host(dev) - host_true))
    errs.sort()
    assert errs[len(errs) // 2] < 100_000  # median under 100 us with 1 ms jitter
    assert m.stats.skew_ppm == pytest.approx(-200, abs=60)


def test_clock_mapper_slews_small_shifts_and_steps_large_ones():
    m = ClockMapper(window=30, step_ns=50_000_000)
    for k in range(100):
        m.observe(k * 10_000_000, 1_000_000_000 + k * 10_000_000)
    before = m.to_host(100 * 10_000_000)
    m.observe(100 * 10_000_000, 1_000_000_000 + 100 * 10_000_000 + 20_000_000)
    after = m.to_host(100 * 10_000_000)
    assert m.stats.residual_ns == pytest.approx(20_000_000, abs=1000)
    assert abs(after - before) < 1_000_000  # a 20 ms lie is not swallowed at once
    m.observe(101 * 10_000_000, 1_000_000_000 + 101 * 10_000_000 + 400_000_000)
    assert m.stats.step_resets == 1  # 400 ms: too big to slew


def test_kf_velocity_measurements_estimate_velocity_and_accel_bias():
    kf = AxisKf(accel_noise=0.3, bias_noise=0.01)
    true_v = 0.0
    bias = 0.2  # the accelerometer reads 0.2 too much
    for k in range(15000):  # 30 s: the bias is only observable through its slow effect
        kf.predict(0.0 + bias, 0.002)
        if k % 15 == 0:
            kf.update(1, true_v - kf.v, 0.1**2)
    assert kf.b == pytest.approx(bias, abs=0.03)
    assert kf.v == pytest.approx(true_v, abs=0.05)


def test_world_hovers_at_hover_thrust_and_crashes_on_hard_touchdown():
    p = VehicleParams()
    w = World(p, 3.71)
    hover = 1.0 / p.thrust_to_weight
    w.set_motor_commands([hover + 0.05] * 4)
    for _ in range(1500):
        w.step(1_000_000)
    assert not w.on_ground and w.pos[2] < -0.5
    w.set_motor_commands([hover] * 4)
    for _ in range(500):  # let the motors settle
        w.step(1_000_000)
    vz = w.vel[2]
    drag = (p.drag_linear + p.drag_quadratic * abs(vz)) * vz / p.mass_kg
    assert w.accel[2] == pytest.approx(-drag, abs=1e-3)  # thrust balances weight exactly
    w.set_motor_commands([0.0] * 4)
    while not w.on_ground:
        w.step(1_000_000)
    assert w.crashed and "touchdown" in w.crash_reason
    assert w.touchdown_speed > p.crash_speed_mps


def test_mixer_produces_the_requested_torques_in_the_world_model():
    vehicle = VehicleConfig()
    ctrl = Controller(ControlConfig(), vehicle, 3.71)
    world = World(VehicleParams(), 3.71)
    for tau in [(0.05, 0.0, 0.0), (0.0, -0.04, 0.0), (0.0, 0.0, 0.003), (0.02, 0.03, -0.002)]:
        motors = ctrl.mix(6.0, *tau)
        thrusts = [u * world.max_thrust_n for u in motors]
        tx = sum(-y * t for (x, y), t in zip(world.motor_xy, thrusts, strict=True))
        ty = sum(x * t for (x, y), t in zip(world.motor_xy, thrusts, strict=True))
        tz = sum(s * world.p.yaw_moment_m * t for s, t in zip(world.motor_spin, thrusts,
                                                               strict=True))
        assert (tx, ty, tz) == pytest.approx(tau, abs=1e-9)
        assert sum(thrusts) == pytest.approx(6.0)


def test_mixer_keeps_attitude_authority_when_saturated():
    ctrl = Controller(ControlConfig(), VehicleConfig(), 3.71)
    motors = ctrl.mix(ctrl.max_thrust * 4, 0.05, 0.0, 0.0)  # full collective plus roll
    assert ctrl.saturated
    assert max(motors) <= 1.0 and min(motors) >= 0.0
    assert motors[2] > motors[1] or motors[0] != motors[2]  # a differential survives
    assert math.isclose(max(motors), 1.0)
