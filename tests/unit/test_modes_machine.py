"""The mode machine (IDLE, ARMED, TAKEOFF, MISSION, LAND, LAND_NOW, LANDED) on a fake HAL:
a vehicle sitting still on the ground whose sensors the test breaks one at a time. No world
and no flight: what is judged is which mode follows which, and what a trip stops trusting."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from firmware.config import FlightConfig, FlightPlan, Waypoint
from firmware.executive import ExecStats
from firmware.flight import AIRBORNE, IDLE_MIN_S, SPOOL_S, FlightSoftware, Mode
from firmware.vision import FlowResult
from hal.interfaces import Hal
from hal.types import ActuatorCommand, ClockStats, DeviceHealth, Frame, ImuSample, RangeSample

G = 3.71
PERIOD_NS = 2_000_000
T0 = 1_000_000_000
IMAGE = np.zeros((48, 64), dtype=np.uint8)


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def now_ns(self) -> int:
        return self.t

    def sleep_until(self, t_ns: int) -> None:
        self.t = max(self.t, t_ns)


class Device:
    def __init__(self, name: str, rate_hz: float, clock: FakeClock) -> None:
        self.name = name
        self.rate_hz = rate_hz
        self.clock = clock
        self.on = True
        self.seq = 0
        self.next_t = T0
        self._health = DeviceHealth(clock=ClockStats(updates=1000, settled=True))

    def open(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> DeviceHealth:
        return self._health

    def due(self) -> list[int]:
        """Sample times since the last poll (none while switched off)."""
        out = []
        while self.next_t <= self.clock.t:
            if self.on:
                out.append(self.next_t)
            self.next_t += round(1e9 / self.rate_hz)
        return out


class Imu(Device):
    def poll(self) -> list[ImuSample]:
        out = []
        for t in self.due():
            out.append(ImuSample(t, self.seq, (0.0, 0.0, -G), (0.0, 0.0, 0.0), 20.0))
            self.seq += 1
        return out


class Rangefinder(Device):
    valid = True

    def poll(self) -> list[RangeSample]:
        out = []
        for t in self.due():
            out.append(RangeSample(t, self.seq, 0.15, self.valid))
            self.seq += 1
        return out


class Camera(Device):
    width, height, focal_px = 64, 48, 50.0
    seq_step = 1

    def poll(self) -> list[Frame]:
        out = []
        for t in self.due():
            self.seq += self.seq_step
            out.append(Frame(t - 5_000_000, self.seq, t, IMAGE))
        return out


class Actuators:
    name = "motors"
    motor_count = 4

    def __init__(self) -> None:
        self.last = ActuatorCommand((0.0,) * 4, False)

    def open(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> DeviceHealth:
        return DeviceHealth()

    def write(self, cmd: ActuatorCommand) -> None:
        self.last = cmd

    def disarm(self) -> None:
        self.last = ActuatorCommand((0.0,) * 4, False)


class StillFlow:
    """The camera sees no motion (the vehicle never moves here)."""

    def begin(self, frame: Frame, aim: tuple[float, float]) -> None: ...

    def advance(self) -> bool:
        return False

    def finish(self, frame: Frame) -> FlowResult | None:
        return FlowResult(0.0, 0.0, 0.9)


class Vehicle:
    def __init__(self, plan: FlightPlan | None = None) -> None:
        self.clock = FakeClock()
        self.imu = Imu("imu", 1000.0, self.clock)
        self.range = Rangefinder("altimeter", 50.0, self.clock)
        self.camera = Camera("camera", 25.0, self.clock)
        self.motors = Actuators()
        hal = Hal("fake", self.clock, self.imu, self.range, self.camera, self.motors)
        plan = plan or FlightPlan("test", 2.0, [Waypoint(5.0, 0.0, 2.0)])
        self.fsw = FlightSoftware(FlightConfig(), hal, plan, G, ExecStats(PERIOD_NS), StillFlow())
        self.k = 0
        self.modes: list[Mode] = []

    @property
    def t_s(self) -> float:
        return (self.clock.t - T0) / 1e9

    def cycle(self) -> bool:
        self.clock.t += PERIOD_NS
        self.k += 1
        self.fsw.exec_stats.cycles += 1
        go = self.fsw.cycle(self.clock.t, self.k)
        if not self.modes or self.modes[-1] != self.fsw.mode:
            self.modes.append(self.fsw.mode)
        return go

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds * 1e9 / PERIOD_NS)):
            if not self.cycle():
                return

    def run_until(self, mode: Mode, limit_s: float = 20.0) -> None:
        while self.fsw.mode != mode:
            assert self.t_s < limit_s, f"still {self.fsw.mode.name} at {self.t_s:.1f} s"
            assert self.cycle(), f"finished in {self.fsw.mode.name}"


def test_idle_arms_after_alignment_baselines_and_minimum_time_then_takes_off() -> None:
    v = Vehicle()
    v.run(1.0)
    assert v.fsw.mode == Mode.IDLE and not v.motors.last.armed
    assert max(v.motors.last.motors) == 0.0
    v.run_until(Mode.ARMED)
    assert v.t_s == pytest.approx(IDLE_MIN_S, abs=0.01)
    assert v.fsw.nav.aligned and v.fsw.watchdog.learned and v.fsw.watchdog.armed
    v.cycle()
    assert v.motors.last.armed and min(v.motors.last.motors) > 0.0  # spinning up
    armed_at = v.t_s
    v.run_until(Mode.TAKEOFF)
    assert v.t_s - armed_at == pytest.approx(SPOOL_S, abs=0.01)
    assert v.modes == [Mode.IDLE, Mode.ARMED, Mode.TAKEOFF]


def test_a_ground_failure_is_not_a_land_now() -> None:
    v = Vehicle()
    v.run(1.0)  # aligning, not armed (and more than drop_window_s before arming)
    v.camera.seq_step = 9  # frames lost
    v.run(0.3)
    v.camera.seq_step = 1
    v.run_until(Mode.TAKEOFF)
    assert v.fsw.land_now is None and v.fsw.watchdog.trip is None
    assert v.fsw.watchdog.checks["frame_seq_gap"].max_value == 8


_AIRBORNE: list[Vehicle] = []


def _airborne() -> Vehicle:
    """A vehicle 0.2 s into its take-off (flown once, copied for each test)."""
    if not _AIRBORNE:
        v = Vehicle()
        v.run_until(Mode.TAKEOFF)
        v.run(0.2)
        _AIRBORNE.append(v)
    v = copy.deepcopy(_AIRBORNE[0])
    assert v.fsw.mode in AIRBORNE and v.fsw.hal.imu is v.imu
    return v


@pytest.mark.parametrize(("check", "vision", "altimeter"), [
    ("range_invalid", True, False),
    ("frame_seq_gap", False, True),
    ("imu_stale", True, True),
])
def test_a_trip_lands_now_and_stops_trusting_only_the_failed_aid(check: str, vision: bool,
                                                                 altimeter: bool) -> None:
    v = _airborne()
    if check == "range_invalid":
        v.range.valid = False
    elif check == "frame_seq_gap":
        v.camera.seq_step = 6
    else:
        v.imu.on = False
    v.run_until(Mode.LAND_NOW, limit_s=v.t_s + 2.0)
    assert v.fsw.land_now is not None and v.fsw.land_now.check == check
    assert (v.fsw.nav.use_vision, v.fsw.nav.use_range) == (vision, altimeter)
    v.range.valid, v.camera.seq_step, v.imu.on = True, 1, True  # healthy again: still latched
    v.run(3.0)
    assert v.fsw.land_now.check == check
    assert Mode.MISSION not in v.modes and v.modes[-1] in (Mode.LAND_NOW, Mode.LANDED)


def test_without_imu_data_the_controller_holds_collective_and_no_torque() -> None:
    v = _airborne()
    v.imu.on = False
    v.run(0.05)  # past imu_lost_s, before any LAND_NOW latches the descent
    motors = v.motors.last.motors
    assert motors == pytest.approx((motors[0],) * 4)
    assert motors[0] > 0.0


def test_land_now_ends_in_landed_and_disarms() -> None:
    v = _airborne()
    v.range.valid = False
    v.run_until(Mode.LANDED, limit_s=v.t_s + 10.0)
    assert not v.fsw.watchdog.armed
    assert not v.cycle() and v.fsw.finished
    assert not v.motors.last.armed
    assert v.modes == [Mode.IDLE, Mode.ARMED, Mode.TAKEOFF, Mode.LAND_NOW, Mode.LANDED]


def test_operator_stop_on_the_ground_disarms_at_once() -> None:
    v = Vehicle()
    v.run(1.0)
    v.fsw.request_stop(v.clock.t)
    assert v.fsw.mode == Mode.LANDED and v.fsw.finished
    assert not v.cycle()


def test_operator_stop_in_flight_lands_now_and_a_second_one_disarms() -> None:
    v = _airborne()
    v.fsw.request_stop(v.clock.t)
    assert v.fsw.mode == Mode.LAND_NOW and v.fsw.land_now is not None
    assert v.fsw.land_now.check == "operator_stop"
    assert v.fsw.nav.use_vision and v.fsw.nav.use_range
    assert v.cycle()
    v.fsw.request_stop(v.clock.t)
    assert v.fsw.mode == Mode.LANDED and v.fsw.finished
