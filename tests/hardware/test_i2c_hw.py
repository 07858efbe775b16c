"""The real drivers against a real /dev/i2c-N (skipped when there is none, or no such chip).

Bus number from FLIGHTSW_I2C_BUS (default 1). Non-destructive: the PCA9685 is only ever opened
with outputs disabled, so it writes all-off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hal.i2c_device import DeviceMissingError
from hal.lidarlite import LidarLiteMissingError, LidarLiteV3
from hal.mpu6050 import Mpu6050
from hal.pca9685 import Pca9685, Pca9685MissingError, Pca9685Settings
from hal.types import ActuatorCommand, ImuSample

pytestmark = pytest.mark.hw

BUS = int(os.environ.get("FLIGHTSW_I2C_BUS", "1"))
DEV = Path(f"/dev/i2c-{BUS}")


class MonoClock:
    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        dt = t_ns - time.monotonic_ns()
        if dt > 0:
            time.sleep(dt / 1e9)


@pytest.fixture
def smbus() -> Iterator[Any]:
    if not DEV.exists():
        pytest.skip(f"{DEV} not present")
    from smbus2 import SMBus

    try:
        bus = SMBus(BUS)
    except OSError as exc:
        pytest.skip(f"cannot open {DEV}: {exc}")
    yield bus
    bus.close()


def test_mpu6050_streams_from_fifo(smbus: Any) -> None:
    clk = MonoClock()
    imu = Mpu6050(smbus, clk)
    try:
        imu.open()
    except DeviceMissingError as exc:
        pytest.skip(str(exc))
    out: list[ImuSample] = []
    deadline = clk.now_ns()
    for _ in range(1000):  # ~2 s at 500 Hz
        deadline += 2_000_000
        clk.sleep_until(deadline)
        out += imu.poll()
    imu.close()
    h = imu.health()
    assert len(out) > 1500, h
    assert h.bad_data == 0 and h.overflows == 0, h
    acc = np.array([s.accel_mps2 for s in out])
    assert 8.5 < float(np.linalg.norm(acc.mean(axis=0))) < 11.0  # at rest: 1 g
    assert np.all(np.diff([s.t_ns for s in out]) > 0)


def test_lidarlite_measures(smbus: Any) -> None:
    clk = MonoClock()
    lid = LidarLiteV3(smbus, clk)
    try:
        lid.open()
    except LidarLiteMissingError as exc:
        pytest.skip(str(exc))
    got = []
    deadline = clk.now_ns()
    for _ in range(250):
        deadline += 2_000_000
        clk.sleep_until(deadline)
        got += lid.poll()
    lid.close()
    assert len(got) >= 20, lid.health()


def test_pca9685_stays_off_when_disabled(smbus: Any) -> None:
    clk = MonoClock()
    drv = Pca9685(smbus, clk, Pca9685Settings(enabled=False))
    try:
        drv.open()
    except Pca9685MissingError as exc:
        pytest.skip(str(exc))
    drv.write(ActuatorCommand((0.5, 0.5, 0.5, 0.5), True))
    off_h = smbus.read_byte_data(drv.addr, 0x06 + 3)  # LED0_OFF_H
    drv.close()
    assert off_h & 0x10
