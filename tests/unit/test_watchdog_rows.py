"""Each row of the watchdog's table, on synthetic cycles: persistence, latch, counted but not
latched on the ground, disabled. No flights: a ``Rig`` builds ``WatchdogInputs`` for a
steady, healthy vehicle (IMU 1 kHz, altimeter 50 Hz, camera 50 Hz, loop 500 Hz), and each
check has a provocation that makes its value fail and keep failing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from firmware.checks import CHECKS, ClockReading, WatchdogInputs, When
from firmware.config import ContingencyConfig
from firmware.contingency import CHECK_SOURCES, Watchdog
from firmware.time_offset import OffsetEstimate
from hal.types import Frame, ImuSample, RangeSample

PERIOD_NS = 2_000_000  # 500 Hz loop
FRAME_EVERY = 10  # cycles: 50 Hz camera
RANGE_EVERY = 10  # cycles: 50 Hz altimeter
CAMERA_HZ = 50.0
IMAGE = None  # the watchdog never looks at pixels


class Rig:
    """A healthy vehicle's inputs, cycle by cycle; the knobs below break one thing each."""

    def __init__(self, cfg: ContingencyConfig) -> None:
        self.wd = Watchdog(cfg, CAMERA_HZ)
        self.now = 1_000_000_000
        self.k = 0
        self.deadlines = self.missed = 0
        self.imu_t = self.now
        self.imu_seq = self.frame_seq = self.range_seq = 0
        self.frame_t = self.now
        self.polls = self.imu_overflows = self.imu_errors = self.imu_rejected = 0
        self.airborne = False
        # knobs
        self.imu_on = True
        self.imu_repeat_stamp = False
        self.range_on = True
        self.range_valid = True
        self.frames_on = True
        self.frame_seq_step = 1
        self.frame_period_ns = 20_000_000
        self.frame_extra_latency_ns = 0
        self.cam_residual_ns = 100_000.0
        self.cam_skew_ppm = 20.0
        # the IMU clock's skew: the fit, and the range its FIFO reads allow (None: a point)
        self.imu_skew_ppm = 0.0
        self.imu_skew_range: tuple[float, float] | None = None
        self.innovation = 0.1
        self.imu_overflow_step = self.imu_error_step = self.imu_reject_step = 0
        self.miss_step = 0
        self.tilt_deg = 3.0
        # the camera-IMU time offset estimate, one per frame
        self.offset_s = 0.001
        self.offset_sigma_s = 0.0005

    def cycle(self) -> None:
        self.k += 1
        self.now += PERIOD_NS
        self.deadlines += 1 + self.miss_step
        self.missed += self.miss_step
        self.polls += 1
        self.imu_overflows += self.imu_overflow_step
        self.imu_errors += self.imu_error_step
        self.imu_rejected += self.imu_reject_step
        imu: list[ImuSample] = []
        if self.imu_on:
            for _ in range(2):
                self.imu_t += 0 if self.imu_repeat_stamp and imu else 1_000_000
                imu.append(ImuSample(self.imu_t, self.imu_seq, (0.0, 0.0, -3.71),
                                     (0.0, 0.0, 0.0), 20.0))
                self.imu_seq += 1
        ranges: list[RangeSample] = []
        if self.range_on and self.k % RANGE_EVERY == 0:
            ranges.append(RangeSample(self.now - 1_000_000, self.range_seq, 2.0,
                                      self.range_valid))
            self.range_seq += 1
        frames: list[Frame] = []
        if self.frames_on and self.k % FRAME_EVERY == 0:
            self.frame_seq += self.frame_seq_step
            self.frame_t += self.frame_period_ns
            t_rx = self.frame_t + 6_000_000 + self.frame_extra_latency_ns
            frames.append(Frame(self.frame_t, self.frame_seq, t_rx, IMAGE))  # type: ignore[arg-type]
        clock = ClockReading(self.cam_skew_ppm, self.cam_residual_ns, 100 + self.k, True)
        lo, hi = self.imu_skew_range or (None, None)
        imu_clock = ClockReading(self.imu_skew_ppm, 0.0, 100 + self.k, True, lo, hi)
        self.wd.evaluate(WatchdogInputs(
            self.now, self.deadlines, self.missed, imu, ranges, frames, 0, clock, imu_clock,
            self.imu_overflows, self.imu_errors, self.polls, self.imu_rejected, self.tilt_deg,
            self.airborne, True, None, tuple(self.innovation for _ in frames),
            OffsetEstimate(self.now, self.offset_s, self.offset_sigma_s, 0.01, 100.0, True, False,
                           (self.offset_s - 2 * self.offset_sigma_s,
                            self.offset_s + 2 * self.offset_sigma_s))
            if frames else None))

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds * 1e9 / PERIOD_NS)):
            self.cycle()

    def run_until_trip(self, max_cycles: int = 1000) -> None:
        for _ in range(max_cycles):
            self.cycle()
            if self.wd.trip is not None:
                return

    def learn_and_fly(self) -> None:
        """Learn baselines on the ground, arm, take off, fill every window."""
        self.run(0.4)
        assert self.wd.learned
        self.wd.arm(self.now)
        self.airborne = True
        self.run(0.2)


def _frame_interval(r: Rig) -> None:
    r.frame_period_ns = 30_000_000
    r.frame_t -= 10_000_000  # keep the receive time near the stamp: only the interval lies


# One provocation per check: what breaks so that its value fails, evaluation after evaluation.
PROVOKE: dict[str, Callable[[Rig], None]] = {
    "frame_latency": lambda r: setattr(r, "frame_extra_latency_ns", 20_000_000),
    "frame_interval": _frame_interval,
    "frame_seq_gap": lambda r: setattr(r, "frame_seq_step", 6),
    "frame_drop_burst": lambda r: setattr(r, "frame_seq_step", 3),
    "frame_nonmonotonic": lambda r: setattr(r, "frame_seq_step", 0),
    "camera_clock_residual": lambda r: setattr(r, "cam_residual_ns", 20_000_000.0),
    "camera_clock_skew": lambda r: setattr(r, "cam_skew_ppm", 900.0),
    "frame_stale": lambda r: setattr(r, "frames_on", False),
    "vision_innovation": lambda r: setattr(r, "innovation", 4.0),
    "imu_nonmonotonic": lambda r: setattr(r, "imu_repeat_stamp", True),
    "imu_stale": lambda r: setattr(r, "imu_on", False),
    "imu_fifo_overflow": lambda r: setattr(r, "imu_overflow_step", 1),
    "imu_bus_errors": lambda r: setattr(r, "imu_error_step", 1),
    "imu_bad_data": lambda r: setattr(r, "imu_reject_step", 1),
    "range_stale": lambda r: setattr(r, "range_on", False),
    "range_invalid": lambda r: setattr(r, "range_valid", False),
    "exec_overruns": lambda r: setattr(r, "miss_step", 1),
    "tilt": lambda r: setattr(r, "tilt_deg", 70.0),
    "camera_imu_offset": lambda r: setattr(r, "offset_s", -0.033),
}
NAMES = [row.name for row in CHECKS]
ROWS = {row.name: row for row in CHECKS}
# phases the watchdog judges before arming (the rest are flight checks)
GROUND_PHASES = {When.IMU, When.FRAME}


def only(name: str, persistence: int | None = None, enabled: bool = True) -> ContingencyConfig:
    """A config in which ``name`` is the only enabled check."""
    cfg = ContingencyConfig(learn_frames=3, learn_min_clock_updates=0, window_s=0.1)
    for row in CHECKS:
        cfg.check(row.name).enabled = row.name == name and enabled
    if persistence is not None:
        cfg.check(name).persistence = persistence
    return cfg


def test_every_row_has_a_provocation() -> None:
    assert set(PROVOKE) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_nominal_inputs_trip_nothing(name: str) -> None:
    rig = Rig(only(name))
    rig.learn_and_fly()
    rig.run(0.6)
    assert rig.wd.trip is None
    assert rig.wd.checks[name].evaluations > 0


@pytest.mark.parametrize("name", NAMES)
def test_trips_after_exactly_persistence_failing_evaluations(name: str) -> None:
    rig = Rig(only(name, persistence=3))
    rig.learn_and_fly()
    PROVOKE[name](rig)
    state = rig.wd.checks[name]
    seen_fails: list[int] = []
    for _ in range(1000):
        rig.cycle()
        if rig.wd.trip is not None:
            break
        seen_fails.append(state.fails)
    trip = rig.wd.trip
    assert trip is not None, f"{name} never tripped"
    assert trip.check == name and trip.source == CHECK_SOURCES[name]
    assert trip.value > trip.threshold == state.cfg.threshold
    assert state.fails == 3
    assert 2 in seen_fails  # two failing evaluations were not enough


@pytest.mark.parametrize("name", NAMES)
def test_a_trip_latches_through_recovery(name: str) -> None:
    rig = Rig(only(name))
    rig.learn_and_fly()
    PROVOKE[name](rig)
    rig.run_until_trip()
    trip = rig.wd.trip
    assert trip is not None and trip.check == name
    healthy = Rig(only(name))  # put every knob back
    for knob in ("imu_on", "imu_repeat_stamp", "range_on", "range_valid", "frame_seq_step",
                 "frame_extra_latency_ns", "cam_residual_ns", "cam_skew_ppm", "innovation",
                 "imu_overflow_step", "imu_error_step", "imu_reject_step", "miss_step",
                 "tilt_deg", "offset_s"):
        setattr(rig, knob, getattr(healthy, knob))
    rig.run(0.5)
    assert rig.wd.trip is trip
    assert rig.wd.checks[name].tripped


@pytest.mark.parametrize("name", NAMES)
def test_on_the_ground_a_failure_is_counted_not_latched(name: str) -> None:
    rig = Rig(only(name, persistence=2))
    rig.run(0.4)  # learn, never arm
    PROVOKE[name](rig)
    rig.run(0.6)
    state = rig.wd.checks[name]
    assert rig.wd.trip is None and not state.tripped
    if ROWS[name].when in GROUND_PHASES:
        assert state.max_value > state.cfg.threshold  # seen failing, and failing again...
        assert state.fails < state.cfg.persistence  # ...but restarted each time it filled
    else:
        assert state.evaluations == 0  # a flight check is not judged on the ground


@pytest.mark.parametrize("name", NAMES)
def test_a_disabled_check_is_measured_but_never_trips(name: str) -> None:
    rig = Rig(only(name, enabled=False))
    rig.learn_and_fly()
    PROVOKE[name](rig)
    rig.run(0.6)
    state = rig.wd.checks[name]
    assert rig.wd.trip is None
    assert state.max_value > state.cfg.threshold and state.fails == 0


def test_the_whole_watchdog_disabled_trips_nothing() -> None:
    cfg = only("tilt")
    cfg.enabled = False
    rig = Rig(cfg)
    rig.learn_and_fly()
    PROVOKE["tilt"](rig)
    rig.run(1.0)
    assert rig.wd.trip is None and rig.wd.checks["tilt"].max_value == 70.0


def test_a_passing_evaluation_restarts_the_count() -> None:
    rig = Rig(only("tilt", persistence=5))
    rig.learn_and_fly()
    for _ in range(10):  # four failing cycles, one good one, again and again
        for _ in range(4):
            rig.tilt_deg = 70.0
            rig.cycle()
        rig.tilt_deg = 3.0
        rig.cycle()
    assert rig.wd.trip is None and rig.wd.checks["tilt"].fails == 0


def test_of_several_trips_at_once_the_first_in_precedence_is_named() -> None:
    """One frame that both skips sequence numbers and goes backwards in stamp order: the
    nonmonotonic row comes first in the frame phase."""
    cfg = ContingencyConfig(learn_frames=3, learn_min_clock_updates=0, window_s=0.1)
    rig = Rig(cfg)
    rig.learn_and_fly()
    rig.frame_seq_step = 8
    rig.frame_t -= 100_000_000
    rig.run(0.1)
    assert rig.wd.trip is not None and rig.wd.trip.check == "frame_nonmonotonic"
    assert rig.wd.checks["frame_seq_gap"].tripped  # also failed in the same evaluation


def test_camera_imu_offset_judges_the_near_edge_of_the_two_sigma_interval() -> None:
    """An estimate 20 ms off with a 5 ms sigma is not 12 ms off for sure (20 - 2*5 = 10); the
    same with a 1 ms sigma is (18 > 12), and only then does it count."""
    r = Rig(only("camera_imu_offset", persistence=3))
    r.learn_and_fly()
    r.offset_s, r.offset_sigma_s = 0.020, 0.005
    r.run(1.0)
    c = r.wd.checks["camera_imu_offset"]
    assert r.wd.trip is None and abs(c.max_value - 0.010) < 1e-9
    r.offset_sigma_s = 0.001
    r.run_until_trip()
    assert r.wd.trip is not None and abs(r.wd.trip.value - 0.018) < 1e-9


def test_camera_clock_skew_judges_beyond_what_the_imu_clock_resolves() -> None:
    """A FIFO IMU read by a loop locked to its rate: its fitted skew swings by 500 ppm inside
    the range its reads allow (a false LAND_NOW on a nominal hover in a campaign, rate error
    502 ppm). Inside that range the camera is not judged off; a camera skew change beyond it
    still trips."""
    r = Rig(only("camera_clock_skew"))
    r.imu_skew_ppm, r.imu_skew_range = -500.0, (-620.0, -380.0)
    r.learn_and_fly()
    r.imu_skew_ppm = 0.0  # the fit's swing, with the bounds still allowing anything between
    r.imu_skew_range = (-500.0, 0.0)
    r.run(1.0)
    c = r.wd.checks["camera_clock_skew"]
    assert r.wd.trip is None and c.max_value == 0.0
    # the old judgement, the fitted skews alone, would have seen 500 ppm
    assert abs((20.0 - 0.0) - (20.0 - -500.0)) > ROWS["camera_clock_skew"].threshold
    r.cam_skew_ppm = 20.0 + 2000.0  # the camera's oscillator really changed
    r.run_until_trip()
    assert r.wd.trip is not None and r.wd.trip.check == "camera_clock_skew"
    assert 2000.0 - 620.0 <= r.wd.trip.value <= 2000.0 - 120.0
