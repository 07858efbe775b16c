"""hil backend: every scenario fault kind is applied at its onset and removed at its end, on the
emulators, the bus or the camera transport; and the real drivers see the effect."""

from __future__ import annotations

import errno
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hal.camera_stream import StreamCamera
from hal.tomlschema import ConfigError
from hal.types import NS_PER_S
from sim_hal.faults import FAULT_KINDS, FaultSet, parse_faults
from sim_hal.hil import DelayLine, HilHal, HilParts, build_hil_parts, load_hil_settings
from sim_hal.mpu6050_emu import FIFO_EN, PWR_MGMT_1, USER_CTRL, WHO_AM_I

pytestmark = pytest.mark.realtime  # run serially, as on the bench (Makefile)

T0 = 10 * NS_PER_S  # where the injector anchors the flight start in these tests
AT_S, DUR_S = 1.0, 0.5
IMU, LIDAR = 0x68, 0x62


def make(faults: list[dict[str, Any]], seed: int = 1) -> HilParts:
    fs = FaultSet(parse_faults(faults, "test", t0_ns=0))
    return build_hil_parts(load_hil_settings({}, "test"), "mars", fs, seed)


@pytest.fixture
def closer() -> Iterator[list[HilParts]]:
    made: list[HilParts] = []
    yield made
    for p in made:
        p.camera.close()
        p.camera_emu.stop()


def _who(p: HilParts) -> object:
    try:
        return p.bus.read_byte_data(IMU, WHO_AM_I)
    except OSError as exc:
        return f"errno {exc.errno}"


def _lidar(p: HilParts) -> object:
    try:
        return p.bus.read_byte_data(LIDAR, 0x01)
    except OSError as exc:
        return f"errno {exc.errno}"


def _content_shift(p: HilParts) -> object:
    shift = p.camera_faults.content_shift
    return None if shift is None else shift(T0 + round((AT_S + 0.2) * NS_PER_S))


# kind, parameters, probe, nominal state, state while active
Probe = Callable[[HilParts], object]
CASES: list[tuple[str, dict[str, float], Probe, object, object]] = [
    ("camera.stamp_shift", {"shift_s": -0.0333},
     lambda p: p.camera_faults.timestamp_shift_ns, 0, -33_300_000),
    ("camera.clock_skew", {"ppm": 2000.0}, lambda p: p.camera_clock.skew_ppm, 40.0, 2040.0),
    ("camera.stall", {}, lambda p: p.camera_emu.stalled, False, True),
    ("camera.burst_drop", {"drop_prob": 0.5}, lambda p: p.camera_faults.drop_prob, 0.0, 0.5),
    ("camera.latency", {"extra_s": 0.05}, lambda p: p.delay_line.delay_ns, 0, 50_000_000),
    ("imu.stall", {}, lambda p: p.imu_emu.stalled, False, True),
    ("imu.bus_errors", {"rate": 1.0}, _who, 0x68, f"errno {errno.EIO}"),
    ("imu.nan", {}, _who, 0x68, WHO_AM_I),  # stuck bus: the read repeats the register byte
    ("altimeter.stall", {}, _lidar, 0x20, f"errno {errno.EREMOTEIO}"),
    ("altimeter.invalid", {}, lambda p: math.isnan(p.hw.range_m(0)), False, True),
    ("loop.delay", {"delay_ms": 3.0}, lambda p: p.imu_emu.stretch_ns, 0, 3_000_000),
    # content-time faults: how much later than its stamp the board shows the world, 0.2 s
    # after onset
    ("camera.delay_error", {"error_ms": 15.0}, lambda p: _content_shift(p), None, 15_000_000),
    ("camera.delay_drift", {"rate_ms_per_s": 2.0}, lambda p: _content_shift(p), None, 400_000),
    ("camera.pairing_slip", {"frames": 1}, lambda p: _content_shift(p), None, -33_333_333),
]


def test_the_table_covers_every_scenario_fault_kind() -> None:
    # camera.disconnect is covered end to end (a real pty closing) by test_hil_disconnect.py
    covered = {c[0] for c in CASES} | {"camera.drop", "imu.fifo_overflow", "loop.hang",
                                        "camera.disconnect"}
    assert covered == set(FAULT_KINDS)


@pytest.mark.parametrize("kind,params,probe,nominal,faulted", CASES, ids=[c[0] for c in CASES])
def test_fault_applied_at_onset_and_removed_at_end(
    closer: list[HilParts], kind: str, params: dict[str, float], probe: Probe, nominal: object,
    faulted: object,
) -> None:
    p = make([{"kind": kind, "at_s": AT_S, "duration_s": DUR_S, **params}])
    closer.append(p)
    inj = p.injector
    inj.tick(T0 + 5 * NS_PER_S)  # not started: relative times mean nothing yet
    assert probe(p) == nominal
    inj.start(T0)
    at, end = T0 + round(AT_S * NS_PER_S), T0 + round((AT_S + DUR_S) * NS_PER_S)
    inj.tick(at - 1)
    assert probe(p) == nominal
    inj.tick(at)
    assert probe(p) == faulted
    inj.tick(at + 100_000_000)
    assert probe(p) == faulted
    inj.tick(end)
    assert probe(p) == nominal
    assert [(t, what) for t, what, _ in inj.events] == [(at, "on"), (end, "off")]


def test_overlapping_faults_restore_the_nominal_state_only_when_both_end(
        closer: list[HilParts]) -> None:
    p = make([{"kind": "camera.clock_skew", "at_s": 1.0, "duration_s": 2.0, "ppm": 100.0},
              {"kind": "camera.clock_skew", "at_s": 2.0, "ppm": 50.0}])
    closer.append(p)
    p.injector.start(T0)
    skews = []
    for t_s in (0.5, 1.0, 2.0, 3.0, 100.0):
        p.injector.tick(T0 + round(t_s * NS_PER_S))
        skews.append(p.camera_clock.skew_ppm)
    assert skews == [40.0, 140.0, 190.0, 90.0, 90.0]  # the second has no end


def test_camera_drop_asks_the_board_for_count_dropped_frames(closer: list[HilParts]) -> None:
    p = make([{"kind": "camera.drop", "at_s": AT_S, "count": 3}])
    closer.append(p)
    p.injector.start(T0)
    p.injector.tick(T0)
    assert p.camera_emu.drops_pending == 0
    p.injector.tick(T0 + NS_PER_S)
    assert p.camera_emu.drops_pending == 3
    p.injector.tick(T0 + 2 * NS_PER_S)
    assert p.camera_emu.drops_pending == 3  # one-shot: not asked again


def _wake_fifo(p: HilParts) -> None:
    """Just enough register writes for the chip to sample into its FIFO."""
    p.bus.write_byte_data(IMU, PWR_MGMT_1, 0x01)
    p.bus.write_byte_data(IMU, FIFO_EN, 0xF8)
    p.bus.write_byte_data(IMU, USER_CTRL, 0x40)


def test_fifo_overflow_repeats_every_interval_while_active(closer: list[HilParts]) -> None:
    p = make([{"kind": "imu.fifo_overflow", "at_s": AT_S, "duration_s": 0.2,
               "interval_s": 0.05}])
    closer.append(p)
    _wake_fifo(p)
    p.injector.start(T0)
    counts = []
    for ms in (999, 1000, 1010, 1049, 1050, 1120, 1199, 1200, 1300):
        p.injector.tick(T0 + ms * 1_000_000)
        counts.append(p.imu_emu.forced_overflows)
    assert counts == [0, 1, 1, 1, 2, 3, 4, 4, 4]  # each due interval_s after the last
    assert len(p.imu_emu.fifo) == p.imu_emu.fifo_size
    assert p.imu_emu.fifo_overflows >= 3


def test_loop_delay_stretches_one_transaction_per_cycle(closer: list[HilParts]) -> None:
    p = make([{"kind": "loop.delay", "at_s": AT_S, "delay_ms": 1.0}])
    closer.append(p)
    p.injector.start(T0)
    p.injector.tick(T0 + NS_PER_S)
    assert p.imu_emu.stretch_ns == 1_000_000
    p.bus.read_byte_data(IMU, WHO_AM_I)  # consumes it
    assert p.imu_emu.stretch_ns == 0
    p.bus.read_byte_data(IMU, WHO_AM_I)
    assert p.imu_emu.stretch_ns == 0
    p.injector.tick(T0 + NS_PER_S + 2_000_000)  # next cycle: again
    assert p.imu_emu.stretch_ns == 1_000_000


def test_loop_hang_stretches_one_transaction_once(closer: list[HilParts]) -> None:
    p = make([{"kind": "loop.hang", "at_s": AT_S, "hang_s": 0.002}])
    closer.append(p)
    p.injector.start(T0)
    p.injector.tick(T0 + NS_PER_S)
    assert p.imu_emu.stretch_ns == 2_000_000
    p.bus.read_byte_data(IMU, WHO_AM_I)
    assert p.imu_emu.stretch_ns == 0
    p.injector.tick(T0 + NS_PER_S + 2_000_000)
    assert p.imu_emu.stretch_ns == 0  # once


def test_faults_are_anchored_by_flight_start_not_by_a_preflights_writes() -> None:
    from hal.types import ActuatorCommand
    from sim_hal.hil import build_hil

    off = ActuatorCommand((0.0,) * 4, armed=False)
    fs = FaultSet(parse_faults([{"kind": "imu.stall", "at_s": 0.5}], "test", t0_ns=0))
    hal = build_hil(load_hil_settings({}, "test"), "mars", fs, 1)
    assert isinstance(hal, HilHal) and hal.parts is not None and hal.realtime
    inj = hal.parts.injector
    try:
        hal.open()
        hal.actuators.write(off)  # a preflight runs the outputs and ends disarmed
        hal.actuators.disarm()
        assert inj.t0_ns is None  # nothing flies yet
        inj.tick(time.monotonic_ns() + 2 * NS_PER_S)
        assert not hal.parts.imu_emu.stalled
        t1 = hal.clock.now_ns()
        hal.flight_started(t1)  # the flight's first cycle
        assert inj.t0_ns == t1
        assert inj.pending[0].at_ns == t1 + NS_PER_S // 2
        hal.actuators.write(ActuatorCommand((0.0,) * 4, armed=True))
        hal.actuators.disarm()  # outputs do not touch the anchor
        assert inj.t0_ns == t1
        inj.tick(t1 + NS_PER_S)
        assert hal.parts.imu_emu.stalled
        with pytest.raises(RuntimeError, match="already anchored"):
            hal.flight_started(t1 + NS_PER_S)
        assert any(t.name == "stream-emu" for t in threading.enumerate())
    finally:
        hal.close()
    # the closers stopped the board's threads and closed the pty
    assert not any(t.name in ("stream-emu", "hil-delay") and t.is_alive()
                   for t in threading.enumerate())
    assert hal.parts.delay_line.inner._master < 0


# -- what the real drivers see --------------------------------------------------------------------


def _poll_until(p: HilParts, dev: Any, t_rel_s: float) -> list[Any]:
    """Poll like a 500 Hz loop until ``t_rel_s`` after the injector's anchor."""
    assert p.injector.t0_ns is not None
    end = p.injector.t0_ns + round(t_rel_s * NS_PER_S)
    out: list[Any] = []
    t = p.clock.now_ns()
    while t < end:
        t += 2_000_000
        p.clock.sleep_until(t)
        out += dev.poll()
    return out


def test_imu_driver_sees_stall_stuck_bus_and_overflow(closer: list[HilParts]) -> None:
    p = make([
        {"kind": "imu.stall", "at_s": 0.3, "duration_s": 0.2},
        {"kind": "imu.nan", "at_s": 0.8, "duration_s": 0.2},
        {"kind": "imu.fifo_overflow", "at_s": 1.3, "duration_s": 0.2, "interval_s": 0.05},
    ])
    closer.append(p)
    p.imu.open()
    p.injector.start(p.clock.now_ns())
    h = p.imu.health()
    assert len(_poll_until(p, p.imu, 0.25)) > 150  # nominal: ~1 kHz
    _poll_until(p, p.imu, 0.35)  # into the stall
    assert _poll_until(p, p.imu, 0.45) == []  # the chip produces nothing
    assert len(_poll_until(p, p.imu, 0.75)) > 100  # recovered
    _poll_until(p, p.imu, 0.85)
    ovf, bad, err = h.overflows, h.bad_data, h.errors
    assert _poll_until(p, p.imu, 0.95) == []  # garbage counts rejected, nothing delivered
    assert h.overflows + h.bad_data + h.errors > ovf + bad + err
    _poll_until(p, p.imu, 1.3)
    ovf = h.overflows
    _poll_until(p, p.imu, 1.45)  # forced overruns every 50 ms
    assert h.overflows >= ovf + 2
    _poll_until(p, p.imu, 1.8)
    assert len(_poll_until(p, p.imu, 2.0)) > 150  # and back to normal


def test_altimeter_driver_sees_no_answer_then_no_return(closer: list[HilParts]) -> None:
    p = make([{"kind": "altimeter.stall", "at_s": 0.3, "duration_s": 0.3},
              {"kind": "altimeter.invalid", "at_s": 0.9, "duration_s": 0.3}])
    closer.append(p)
    p.altimeter.open()
    p.injector.start(p.clock.now_ns())
    before = _poll_until(p, p.altimeter, 0.25)
    assert before and all(s.valid for s in before)  # 0.15 m: on the ground, gear height
    _poll_until(p, p.altimeter, 0.35)
    errs = p.altimeter.health().errors
    assert _poll_until(p, p.altimeter, 0.55) == []
    assert p.altimeter.health().errors > errs  # NACKs
    _poll_until(p, p.altimeter, 0.95)
    during = _poll_until(p, p.altimeter, 1.15)
    assert during and not any(s.valid for s in during)
    _poll_until(p, p.altimeter, 1.25)
    after = _poll_until(p, p.altimeter, 1.45)
    assert after and all(s.valid for s in after)


def test_camera_drop_and_latency_over_the_pty(closer: list[HilParts]) -> None:
    p = make([{"kind": "camera.drop", "at_s": 0.5, "count": 2},
              {"kind": "camera.latency", "at_s": 1.0, "extra_s": 0.05}])
    closer.append(p)
    cam: StreamCamera = p.camera
    cam.open()
    p.camera_emu.start()
    p.injector.start(p.clock.now_ns())
    frames = _poll_until(p, cam, 0.45)
    assert frames
    base = sorted(f.t_rx_ns - f.t_ns for f in frames)[len(frames) // 2]
    lost = cam.parser.stats.lost  # a loaded host can make the board skip a frame anyway
    after = _poll_until(p, cam, 0.9)
    assert p.camera_emu.dropped_by_request == 2
    assert cam.parser.stats.lost >= lost + 2
    assert any(b.seq - a.seq == 3 for a, b in zip(after, after[1:], strict=False))
    _poll_until(p, cam, 1.15)
    late = _poll_until(p, cam, 1.5)
    assert late
    # bytes cannot arrive before the delay line lets them go: a lower bound, not a timing race
    assert min(f.t_rx_ns - f.t_ns for f in late) > base + 40_000_000


def test_a_content_fault_moves_what_the_board_shows_not_its_stamps(
        closer: list[HilParts]) -> None:
    """From onset the board renders the world 20 ms before each frame's mid-exposure stamp;
    the stamps the driver maps stay on the board's exposures."""
    p = make([{"kind": "camera.delay_error", "at_s": 0.4, "error_ms": -20.0}])
    closer.append(p)
    cam: StreamCamera = p.camera
    cam.open()
    p.camera_emu.start()
    t0 = p.clock.now_ns()
    p.injector.start(t0)
    frames = _poll_until(p, cam, 1.0)
    sent = list(p.camera_emu.sent)
    before = [s for s in sent if s.t_mid_ns < t0 + 350_000_000]
    after = [s for s in sent if s.t_mid_ns > t0 + 450_000_000]
    assert before and after
    assert all(s.t_content_ns == s.t_mid_ns for s in before)
    assert all(s.t_content_ns - s.t_mid_ns == -20_000_000 for s in after)
    by_seq = {s.seq: s for s in sent}
    errors = [abs(f.t_ns - by_seq[f.seq].t_mid_ns) for f in frames[-10:] if f.seq in by_seq]
    assert errors and max(errors) < 5_000_000  # stamps follow exposures, not content


def test_delay_line_keeps_byte_order_when_the_delay_changes() -> None:
    r, w = os.pipe()

    class PipeTransport:
        path = "pipe"

        def write(self, data: bytes) -> int:
            return os.write(w, data)

        def read(self, n: int, timeout_s: float) -> bytes:
            return b""

        def line_baud(self) -> int | None:
            return None

        def set_baud(self, baud: int) -> None:
            pass

        def disconnect(self) -> None:
            pass

        def reconnect(self) -> None:
            pass

        def close(self) -> None:
            os.close(w)

    line = DelayLine(PipeTransport())
    line.delay_ns = 30_000_000
    line.write(b"abc")
    line.delay_ns = 0
    line.write(b"def")  # must not overtake the delayed bytes
    line.write(b"ghi")
    got = b""
    end = time.monotonic() + 5.0
    while len(got) < 9 and time.monotonic() < end:
        got += os.read(r, 9)
    line.close()
    os.close(r)
    assert got == b"abcdefghi"


def test_bad_hil_keys_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^cfg\.toml: hil\.camera\.bogus: unknown key"):
        load_hil_settings({"camera": {"bogus": 1}}, "cfg.toml")
    with pytest.raises(ConfigError, match=r"hil: pca9685\.channels: .*4 motors"):
        load_hil_settings({"pca9685": {"channels": [0, 1, 2]}}, "cfg.toml")
    with pytest.raises(ConfigError, match="longer than the 30 Hz frame period"):
        load_hil_settings({"camera": {"baud": 3_000_000}}, "cfg.toml")
    s = load_hil_settings({"camera": {"width": 96, "height": 72, "focal_px": 40.0}}, "c")
    assert (s.camera.baud, s.camera.width) == (8_000_000, 96)  # hil's defaults kept


def test_a_touchdown_impact_is_spread_within_the_imus_range() -> None:
    from sim_hal.hil import HilWorld
    from sim_hal.world import VehicleParams, World

    w = World(VehicleParams(), 3.71, t0_ns=0)
    w.pos = [0.0, 0.0, -0.16]
    w.vel = [0.0, 0.0, 1.0]  # 1 m/s down, 1 cm above touchdown
    w.on_ground = False
    cap = 50.0
    hw = HilWorld(w, impact_cap_mps2=cap)
    hw.step_to(100_000_000)
    assert w.touchdowns == 1 and w.on_ground
    # what the accelerometer feels beyond the 1 g at rest, step by step (body z is down)
    extra = [s[1][2] + 3.71 for s in hw.history]
    assert max(abs(e) for e in extra) <= cap + 3.71  # in range (+ the free-fall step)
    dv = sum(extra) * 1e-3
    assert dv == pytest.approx(-1.0, abs=0.01)  # from 1 m/s down to rest: the whole stop
    assert sum(1 for e in extra if abs(e) > 1.0) >= 3  # over several steps, not one
