"""The navigator on synthetic inputs: alignment, propagation, the altimeter's and the
camera's fusion gates, and the injectable optical-flow engine with its observers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware.config import NavConfig
from firmware.nav import Navigator
from firmware.vision import FlowResult
from hal.geometry import euler_to_quat, quat_to_matrix
from hal.types import Frame, ImuSample, RangeSample

G = 3.71
IMU_HZ = 1000.0
STEP_NS = 1_000_000  # one IMU sample
FOCAL = 50.0
IMAGE = np.zeros((48, 64), dtype=np.uint8)


def specific_force(roll: float, pitch: float, accel_ned: tuple[float, float, float] = (0, 0, 0)
                   ) -> tuple[float, float, float]:
    """What a body-mounted accelerometer reads at this attitude (no yaw) and acceleration."""
    r = quat_to_matrix(euler_to_quat(roll, pitch, 0.0))
    fn, fe, fd = accel_ned[0], accel_ned[1], accel_ned[2] - G
    return (r[0] * fn + r[3] * fe + r[6] * fd, r[1] * fn + r[4] * fe + r[7] * fd,
            r[2] * fn + r[5] * fe + r[8] * fd)


class StubFlow:
    """A flow engine whose answers the test chooses; begin/advance/finish as the estimator."""

    def __init__(self) -> None:
        self.results: dict[int, FlowResult | None] = {}
        self.stage = 0
        self.resets = 0
        self.begun: list[int] = []

    def begin(self, frame: Frame, aim: tuple[float, float]) -> None:
        self.begun.append(frame.seq)
        self.stage = 1

    def advance(self) -> bool:
        if self.stage == 1:
            self.stage = 2
            return True
        return False

    def finish(self, frame: Frame) -> FlowResult | None:
        self.stage = 0
        return self.results.get(frame.seq, FlowResult(0.0, 0.0, 0.9))

    def reset(self) -> None:
        self.resets += 1


class Feed:
    """A navigator fed IMU samples cycle by cycle (2 samples a cycle)."""

    def __init__(self, nav: Navigator, gyro_bias: tuple[float, float, float] = (0, 0, 0),
                 roll: float = 0.0, pitch: float = 0.0) -> None:
        self.nav = nav
        self.t = 1_000_000_000
        self.seq = 0
        self.bias = gyro_bias
        self.force = specific_force(roll, pitch)
        self.rate = (0.0, 0.0, 0.0)

    def samples(self, n: int) -> list[ImuSample]:
        out = []
        for _ in range(n):
            self.t += STEP_NS
            gyro = tuple(w + b for w, b in zip(self.rate, self.bias, strict=True))
            out.append(ImuSample(self.t, self.seq, self.force, gyro, 20.0))  # type: ignore[arg-type]
            self.seq += 1
        return out

    def align(self) -> None:
        while not self.nav.aligned:
            self.nav.align(self.samples(2))

    def fly(self, seconds: float) -> None:
        for _ in range(round(seconds * IMU_HZ / 2)):
            self.nav.propagate(self.samples(2))


def navigator(engine: StubFlow | None = None) -> Navigator:
    return Navigator(NavConfig(), G, IMU_HZ, 64, 48, FOCAL, engine)


def test_alignment_levels_on_gravity_and_learns_the_gyro_bias() -> None:
    nav = navigator()
    feed = Feed(nav, gyro_bias=(0.01, -0.02, 0.005), roll=0.1, pitch=-0.05)
    nav.align(feed.samples(1000))  # one second: not yet align_s of data
    assert not nav.aligned
    feed.align()
    assert (feed.t - 1_000_000_000) / 1e9 == pytest.approx(NavConfig().align_s, abs=0.01)
    assert nav.gyro_bias == pytest.approx([0.01, -0.02, 0.005])
    roll, pitch, yaw = nav.euler()
    assert (roll, pitch, yaw) == pytest.approx((0.1, -0.05, 0.0), abs=1e-9)


def test_propagation_integrates_rate_and_acceleration() -> None:
    nav = navigator()
    feed = Feed(nav, gyro_bias=(0.0, 0.0, 0.003))
    feed.align()
    feed.rate = (0.0, 0.0, 0.5)  # yaw right at 0.5 rad/s for one second
    feed.fly(1.0)
    assert nav.euler()[2] == pytest.approx(0.5, abs=1e-3)
    feed.rate = (0.0, 0.0, 0.0)
    yaw = nav.euler()[2]
    c, s = math.cos(yaw), math.sin(yaw)
    # accelerate north at 0.2 m/s^2: the body x axis points at the yaw angle
    fn, fe, fd = 0.2, 0.0, -G
    feed.force = (c * fn + s * fe, -s * fn + c * fe, fd)
    feed.fly(1.0)
    vn, ve, vd = nav.velocity_ned
    assert vn == pytest.approx(0.2, abs=0.01) and abs(ve) < 0.01 and abs(vd) < 0.01
    assert nav.position_ned[0] == pytest.approx(0.1, abs=0.01)


def test_a_gap_in_imu_data_is_integrated_as_one_period() -> None:
    nav = navigator()
    feed = Feed(nav)
    feed.align()
    feed.rate = (0.0, 0.0, 1.0)
    feed.t += 500_000_000  # half a second with no samples
    nav.propagate(feed.samples(1))
    assert nav.euler()[2] == pytest.approx(1.0 / IMU_HZ, rel=1e-6)
    # the time the integration lost is PX4's estimator_status.time_slip
    # (the gap was 0.5 s plus one period, integrated as one period)
    assert nav.time_slip_s == pytest.approx(0.5, abs=1e-9)


def _range(nav: Navigator, feed: Feed, distance: float, *, valid: bool = True,
           age_ns: int = 5_000_000) -> None:
    nav.fuse_range(RangeSample(feed.t - age_ns, 0, distance, valid))


def test_range_fusion_gates() -> None:
    nav = navigator()
    feed = Feed(nav)
    feed.align()
    feed.fly(0.1)
    cnt = nav.counters
    _range(nav, feed, 0.5)
    assert cnt.range_used == 1 and 0.0 < nav.height_m < 0.5
    assert 0.0 < nav.range_test_ratio < 1.0
    assert nav.range_ok_t_ns == feed.t - 5_000_000
    _range(nav, feed, nav.height_m + NavConfig().range_gate_m + 0.5)  # a jump past the gate
    assert nav.range_test_ratio > 1.0
    _range(nav, feed, 0.5, valid=False)
    _range(nav, feed, float("nan"))
    _range(nav, feed, 0.5, age_ns=2_000_000_000)  # older than the state history
    _range(nav, feed, 0.5, age_ns=-5_000_000)  # from the future
    assert (cnt.range_used, cnt.range_rejected) == (1, 5)
    nav.stop_trusting(altimeter=True)
    height = nav.height_m
    _range(nav, feed, 0.5)
    assert (cnt.range_used, cnt.range_rejected) == (1, 5) and nav.height_m == height
    assert not nav.use_range and nav.use_vision


class Camera:
    def __init__(self, nav: Navigator, feed: Feed) -> None:
        self.nav, self.feed, self.seq = nav, feed, 0
        self.innovations: list[float | None] = []

    def frame(self) -> Frame:
        """A frame stamped 10 ms ago, then the three cycles its flow takes."""
        self.seq += 1
        fr = Frame(self.feed.t - 10_000_000, self.seq, self.feed.t, IMAGE)
        self.innovations.append(self.nav.fuse_frame(fr))
        for _ in range(3):
            self.feed.fly(0.002)
            self.innovations.append(self.nav.step_frame())
        self.feed.fly(0.03)
        return fr


def airborne(engine: StubFlow, height: float = 2.0) -> tuple[Navigator, Feed, Camera]:
    nav = navigator(engine)
    feed = Feed(nav)
    feed.align()
    nav.ku.p = height  # hovering at this height (a test shortcut past the altimeter)
    feed.fly(0.2)
    return nav, feed, Camera(nav, feed)


def test_frame_fusion_gates_and_observers() -> None:
    engine = StubFlow()
    nav, _feed, cam = airborne(engine)
    seen: list[tuple[int, FlowResult | None]] = []
    nav.flow_observers.append(lambda fr, res: seen.append((fr.seq, res)))
    cnt = nav.counters
    cam.frame()  # the first frame has no predecessor: nothing to fuse
    assert (cnt.vision_used, cnt.vision_skipped) == (0, 1)
    assert nav.vision_ok_t_ns == 0
    fused = cam.frame()  # still, and the flow says still
    assert cnt.vision_used == 1 and nav.last_vision_innov < 0.05
    assert nav.vision_ok_t_ns == fused.t_ns
    engine.results[3] = FlowResult(0.0, 0.0, 0.1)  # below vision_min_quality
    cam.frame()
    assert cnt.vision_rejected == 1
    engine.results[4] = FlowResult(30.0, 0.0, 0.9)  # 30 px in 40 ms at 2 m: 30 m/s forward
    cam.frame()
    assert cnt.vision_rejected == 2 and nav.last_vision_innov > NavConfig().vision_gate_mps
    assert max(i for i in cam.innovations if i is not None) == nav.last_vision_innov
    assert cnt.vision_used == 1  # the rejected ones did not move the estimate
    assert nav.vision_ok_t_ns == fused.t_ns
    assert [s for s, _ in seen] == [1, 2, 3, 4]
    assert seen[3][1] == engine.results[4]
    assert engine.begun == [1, 2, 3, 4]


def test_flow_is_spread_over_three_cycles() -> None:
    engine = StubFlow()
    nav, feed, _ = airborne(engine)
    fr = Frame(feed.t - 10_000_000, 1, feed.t, IMAGE)
    nav.fuse_frame(fr)
    assert engine.stage == 1
    assert nav.step_frame() is None and engine.stage == 2  # the middle stage
    nav.step_frame()
    assert engine.stage == 0  # finished


def test_no_vision_below_its_minimum_height_or_once_distrusted() -> None:
    engine = StubFlow()
    nav, _feed, cam = airborne(engine, height=0.5)
    cam.frame()
    cam.frame()
    assert nav.counters.vision_skipped == 2 and engine.begun == []
    assert engine.resets == 2  # the engine forgets its previous frame each time
    nav2, _feed2, cam2 = airborne(StubFlow())
    cam2.frame()
    nav2.stop_trusting(vision=True)
    assert not nav2.use_vision and nav2.use_range
    cam2.frame()
    assert nav2.counters.vision_used == 0 and nav2.counters.vision_skipped == 2


def test_the_default_engine_estimates_flow_from_the_images() -> None:
    """Without an injected engine the navigator runs phase correlation on the pixels."""
    nav = Navigator(NavConfig(), G, IMU_HZ, 64, 48, FOCAL)
    seen: list[FlowResult | None] = []
    nav.flow_observers.append(lambda fr, res: seen.append(res))
    feed = Feed(nav)
    feed.align()
    nav.ku.p = 2.0
    feed.fly(0.2)
    rng = np.random.default_rng(1)
    texture = (rng.random((48, 80)) * 255).astype(np.uint8)
    for k, shift in enumerate((0, 3)):
        img = np.ascontiguousarray(texture[:, 8 - shift:72 - shift])
        nav.fuse_frame(Frame(feed.t - 10_000_000, k + 1, feed.t, img))
        for _ in range(3):
            feed.fly(0.002)
            nav.step_frame()
    assert seen[0] is None  # nothing to correlate the first frame with
    result = seen[1]
    assert result is not None and result.quality > 0.5
    assert result.dcol == pytest.approx(3.0, abs=0.3) and abs(result.drow) < 0.3


def test_a_tilted_altimeter_is_trusted_less_as_its_beam_lands_further_off() -> None:
    """30 m up at 30 deg the beam meets the ground 15 m from the point below, where rough
    ground may be metres higher or lower: a reading 3 m off is used (gently), not gated."""
    nav = navigator()
    feed = Feed(nav, roll=math.radians(30.0))
    feed.align()
    nav.ku.p = 30.0
    feed.fly(0.1)
    cos30 = math.cos(math.radians(30.0))
    _range(nav, feed, (30.0 + 3.0) / cos30)
    assert nav.counters.range_used == 1
    assert 30.0 < nav.height_m < 31.0  # moved toward it, but not the way 4 cm noise would
    level = navigator()
    lfeed = Feed(level)
    lfeed.align()
    level.ku.p = 30.0
    lfeed.fly(0.1)
    _range(level, lfeed, 33.0)  # level, 3 m off is beyond the gate
    assert level.counters.range_used == 0


def test_readings_refused_for_range_reset_s_reset_height_and_climb_rate() -> None:
    """A gate keeps a wrong estimate wrong: a vehicle fell 35 m through valid readings refused
    as 4-30 m off. Refused that long, the altimeter's height and climb rate are taken."""
    nav = navigator()
    feed = Feed(nav)
    feed.align()
    nav.ku.p = 30.0  # the estimate says 30 m; the vehicle is really at 10 m, descending 2 m/s
    true_h = 10.0
    reset_s = NavConfig().range_reset_s
    steps = 0
    while nav.counters.range_resets == 0 and steps < 200:
        feed.fly(0.02)
        true_h -= 2.0 * 0.02
        _range(nav, feed, true_h, age_ns=0)
        steps += 1
    assert nav.counters.range_resets == 1 and nav.counters.range_used == 0
    assert steps * 0.02 == pytest.approx(reset_s, abs=0.05)
    assert nav.height_m == pytest.approx(true_h, abs=0.05)
    assert nav.velocity_ned[2] == pytest.approx(2.0, abs=0.05)  # down
    feed.fly(0.02)
    _range(nav, feed, true_h - 0.04, age_ns=0)
    assert nav.counters.range_used == 1  # and fused again from there
