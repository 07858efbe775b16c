"""Camera-IMU time alignment in closed loop: faults no metadata check can see are caught by
the camera_imu_offset check (or an earlier vision check) and the vehicle lands safely; the
estimate is right on a nominal flight; a configured offset off the truth is corrected; the
offline calibration finds what a log's stamps are off by.

The truth is the simulator's: its camera's stamps against the true mid-exposure of each
image, less its IMU's against the true sample times (``time_error_us``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from app.boot import FlightSetup, prepare
from app.session import fly
from app.summary import FlightSummary
from firmware.flight import AIRBORNE, FlightSoftware
from ground.calibrate_camera_imu import calibrate
from tests.conftest import ROOT, SCENARIOS

CONTENT_CHECKS = {"camera_imu_offset", "vision_innovation"}


def setup(name: str, seed: int = 1) -> FlightSetup:
    s = prepare(None, SCENARIOS / f"{name}.toml", seed)
    s.cfg.log.enabled = False
    return s


def truth_offset_ms(s: FlightSummary) -> float:
    te = s.time_error_us
    return (te["imu"]["signed_median_us"] - te["camera"]["signed_median_us"]) / 1e3


def assert_safe(s: FlightSummary) -> None:
    assert s.landed and not s.crashed and s.safe_landing, s


@pytest.mark.parametrize("name,seed,latest_s", [
    ("fault_camera_delay_error", 1, 16.0),  # from power-on: the estimate forms once flying
    ("fault_camera_delay_error", 3, 16.0),
    ("fault_camera_pairing_slip", 1, 22.0),  # onset 20 s
    ("fault_camera_pairing_slip", 2, 22.0),
    ("fault_camera_delay_drift", 1, 27.0),  # onset 15 s, -2 ms/s
])
def test_a_content_time_fault_lands_now_and_safely(name: str, seed: int, latest_s: float
                                                   ) -> None:
    s = fly(setup(name, seed)).summary
    assert s.land_now_reason in CONTENT_CHECKS, s
    assert s.land_now_t_s is not None and s.land_now_t_s <= latest_s, s
    assert_safe(s)


def test_no_metadata_check_can_see_a_delay_error() -> None:
    """With the two checks that judge image content off, a 15 ms delay error from power-on
    flies the whole plan: stamps, sequence numbers and send times are a healthy camera's.
    (At 20 deg of tilt authority: with the default 40 the velocity loop, oscillating on the
    wrong-time images, diverges to 68 deg, the tilted altimeter's ranges go invalid and the
    vehicle crashes at 24 s, before the plan is flown: the hazard the content checks stop.)"""
    st = setup("fault_camera_delay_error")
    for name in CONTENT_CHECKS:
        st.cfg.contingency.check(name).enabled = False
    st.cfg.control.max_tilt_deg, st.cfg.control.max_accel_mps2 = 20.0, 2.0
    s = fly(st).summary
    assert not s.land_now, s
    # ... while the estimator did see it
    off = s.camera_imu_offset
    assert off["confident"] and abs(off["estimate_ms"] - 15.0) < 2.0, off
    assert abs(truth_offset_ms(s) - 15.0) < 0.5


@pytest.mark.parametrize("name,seed", [("nominal_box", 2), ("nominal_flight6", 3)])
def test_the_nominal_estimate_is_the_truth_within_2_ms(name: str, seed: int) -> None:
    s = fly(setup(name, seed)).summary
    assert not s.land_now, s
    off = s.camera_imu_offset
    assert off["confident"], off
    assert abs(off["estimate_ms"] - truth_offset_ms(s)) < 2.0, (off, s.time_error_us)
    assert off["max_abs_ms"] < 12.0


def velocity_errors(st: FlightSetup) -> tuple[FlightSummary, list[tuple[float, float]]]:
    """The flight, and (mission time, horizontal velocity error against the truth) every 10
    cycles while airborne."""
    out: list[tuple[float, float]] = []

    def hooks(fsw: FlightSoftware) -> None:
        def done(f: FlightSoftware, now: int) -> None:
            truth = f.hal.truth
            if f.mode in AIRBORNE and truth is not None and f.exec_stats.cycles % 10 == 0:
                t = truth.truth()
                v = f.nav.velocity_ned
                out.append((f.mission_time(now), math.hypot(v[0] - t.velocity_ned[0],
                                                            v[1] - t.velocity_ned[1])))
        fsw.on_cycle_done = done

    return fly(st, hooks=hooks).summary, out


def rms_from(errors: list[tuple[float, float]], t0: float) -> float:
    e = [v for t, v in errors if t >= t0]
    return math.sqrt(sum(v * v for v in e) / len(e))


def test_a_configured_offset_10_ms_off_is_corrected() -> None:
    """The truth is 0; the config says the images are 10 ms late. The estimate finds the
    -10 ms left over, navigation fuses at the corrected time, and from then on the flight is
    as good as one configured right: velocity error and landing point."""
    nominal, nominal_err = velocity_errors(setup("nominal_box", 4))
    st = setup("nominal_box", 4)
    st.cfg.nav.camera_time_offset_ms = 10.0
    s, err = velocity_errors(st)
    assert not s.land_now, s
    off = s.camera_imu_offset
    assert abs(off["correction_ms"] + 10.0) < 2.0, off
    converged = off["confident_at_s"] + 2.0
    assert s.final_position_error_m < max(2.0, 2 * nominal.final_position_error_m)
    assert rms_from(err, converged) < 1.3 * rms_from(nominal_err, converged) + 0.01
    # ... and the correction is what made the difference: the same flight uncorrected
    st.cfg.time_offset.correct = False
    u, u_err = velocity_errors(st)
    assert u.land_now or rms_from(u_err, 0.0) > 1.5 * rms_from(err, 0.0), u


def test_offline_calibration_finds_what_a_logs_stamps_are_off_by(tmp_path: Path) -> None:
    """A flight configured 7 ms off the truth: the calibration of its log prints the total
    that puts the stamps on the truth, within 1 ms, and the CLI says it as a config line."""
    st = setup("nominal_flight6", 2)
    st.cfg.nav.camera_time_offset_ms = 7.0
    log = tmp_path / "f6.ulg"
    s = fly(st, log_path=log).summary
    cal = calibrate(log)
    assert cal.confident and cal.configured_ms == 7.0
    assert abs(cal.total_ms - truth_offset_ms(s)) < 1.0, (cal.as_dict(), s.time_error_us)
    r = subprocess.run([sys.executable, "-m", "app", "calibrate", "camera-imu", str(log),
                        "--json", "--plot", str(tmp_path / "c.png")], cwd=ROOT,
                       capture_output=True, text=True, timeout=100)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["config_line"] == cal.config_line()
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_calibrating_a_file_that_is_no_flight_log_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ulg"
    bad.write_bytes(b"\x00\xff" * 1000)
    r = subprocess.run([sys.executable, "-m", "app", "calibrate", "camera-imu", str(bad)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and str(bad) in r.stderr and "Traceback" not in r.stderr
