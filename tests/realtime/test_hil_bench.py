"""Bench routines (hal/bench.py) on the hil backend's emulated bus and pty camera."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ground.bench import bench_camera, bench_i2c
from hal.camera_stream import StreamCamera, StreamCameraSettings
from hal.realtime import RealtimeClock
from sim_hal.hil import hil_camera_bench_target, hil_i2c_bench_target, load_hil_settings
from sim_hal.hil.bench import BENCH_ALTITUDE_M
from sim_hal.pca9685_emu import Pca9685Emulator

pytestmark = pytest.mark.realtime  # run serially, as on the bench (Makefile)

SECONDS = 1.0


@pytest.fixture
def target() -> Iterator[object]:
    t = hil_i2c_bench_target(load_hil_settings({}, "test"), seed=1)
    yield t
    t.close()


def test_bench_i2c_finds_identifies_and_measures_every_device(target) -> None:  # type: ignore[no-untyped-def]
    rep = bench_i2c(target.bus, target.clock, target.devices, SECONDS)
    fig = rep.figures
    assert rep.ok, rep.lines
    assert fig["scan"] == ["0x40", "0x62", "0x68"]
    assert set(fig["identified"]) == {"imu", "altimeter", "motors"}
    imu = fig["imu"]
    assert imu["chip"] == "MPU-6050/6000/9150"
    assert 900 < imu["rate_hz"] < 1100 and imu["nominal_hz"] == 1000.0
    assert imu["transactions_per_sample"] <= 1.0  # FIFO bursts, not 7 reads a sample
    assert imu["overflows"] == 0 and imu["errors"] == 0
    assert imu["accel_mean_mps2"][2] == pytest.approx(-9.81, abs=0.2)  # held in a hover
    alt = fig["altimeter"]
    assert alt["valid"] > 10
    assert alt["distance_mean_m"] == pytest.approx(BENCH_ALTITUDE_M, abs=0.05)
    assert 0.005 < alt["noise_std_m"] < 0.05
    json.dumps(fig)  # one JSON line
    assert any(line.startswith("imu:") and "bus transactions" in line for line in rep.lines)


def test_bench_i2c_says_which_device_is_missing(target) -> None:  # type: ignore[no-untyped-def]
    target.bus.detach(0x62)
    rep = bench_i2c(target.bus, target.clock, target.devices, 0.3)
    assert not rep.ok
    fails = [line for line in rep.lines if line.startswith("FAIL")]
    assert any("0x62" in f and "MISSING" in f and "LIDAR-Lite" in f for f in fails), fails
    assert any("no answer from a LIDAR-Lite v3 at I2C address 0x62" in f for f in fails)
    assert "altimeter" not in rep.figures["identified"]
    assert rep.figures["imu"]["samples"] > 0  # the rest is still measured


def test_bench_i2c_says_which_device_answers_wrongly(target) -> None:  # type: ignore[no-untyped-def]
    target.bus.detach(0x68)
    target.bus.attach(0x68, Pca9685Emulator(target.clock))  # something else at the IMU address
    rep = bench_i2c(target.bus, target.clock, target.devices, 0.3)
    assert not rep.ok
    fails = [line for line in rep.lines if line.startswith("FAIL")]
    assert any("0x68" in f and "WHO_AM_I=0x00" in f and "not an MPU-6050" in f
               for f in fails), fails
    assert "0x68" in rep.figures["scan"]  # it ACKs: present, but the wrong chip


def test_bench_camera_over_the_pty() -> None:
    t = hil_camera_bench_target(load_hil_settings({}, "test"), seed=1)
    try:
        rep = bench_camera(t.camera, t.clock, SECONDS + 0.3, baud=t.baud)
    finally:
        t.close()
    fig = rep.figures
    assert rep.ok, rep.lines
    assert fig["frames"] >= 10 and fig["wrong_size"] == 0
    assert 20.0 < fig["rate_hz"] < 40.0
    assert fig["wire_ms"] == pytest.approx(19240 * 10 / 8e6 * 1e3, abs=0.01)
    # a frame cannot arrive before its bytes crossed the wire
    assert fig["latency_ms"]["median"] > fig["wire_ms"]
    assert fig["errors"] == 0 and fig["bad_data"] == 0
    json.dumps(fig)


def test_bench_camera_reports_no_frames_clearly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cam = StreamCamera(str(tmp_path / "no-such-tty"), RealtimeClock(),
                       StreamCameraSettings(reconnect_min_s=0.05, reconnect_max_s=0.1))
    rep = bench_camera(cam, RealtimeClock(), 0.5)
    assert not rep.ok
    assert any(line.startswith("FAIL camera: no frames") for line in rep.lines), rep.lines
    assert rep.figures["frames"] == 0
