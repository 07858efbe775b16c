"""`flightsw bench i2c|camera` as an operator runs it: on the emulated (hil) devices, and
refused with one line where it cannot work."""

from __future__ import annotations

import pytest

from app.cli import main
from tests.conftest import CONFIG

pytestmark = pytest.mark.realtime  # run serially, as on the bench (Makefile)


def test_bench_i2c_identifies_every_device_and_measures_the_imu(capsys):
    assert main(["bench", "i2c", "--seconds", "1", "--config", str(CONFIG / "hil.toml")]) == 0
    out = capsys.readouterr().out
    assert "ok   0x68: imu: MPU-6050" in out and "ok   0x62: altimeter" in out
    assert "ok   0x40: motors: PCA9685" in out
    assert "Hz measured vs 1000.0 Hz nominal" in out


def test_bench_camera_reports_rate_latency_and_wire_time(capsys):
    assert main(["bench", "camera", "--seconds", "2", "--json"]) == 0
    out = capsys.readouterr().out
    assert "fps vs 30.0 nominal" in out and "wire time" in out


def test_bench_refuses_the_sim_backend_in_one_line(capsys):
    assert main(["bench", "i2c", "--config", str(CONFIG / "sim.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bench needs a hardware backend" in err
