"""Widely used third-party MPU-6050 drivers against the emulator, behind the emulated SMBus.

A driver written for the real chip that works here is evidence the emulator's register map
is the chip's, not just the one our driver (hal/mpu6050.py) happens to use. Two from PyPI,
both in the ``test`` extra; each test skips if its driver is not installed:

- ``mpu6050-raspberrypi`` (module ``mpu6050``): plain ``smbus``, one transaction per
  register byte; ``smbus.SMBus(1)`` is pointed at the emulated bus.
- ``adafruit-circuitpython-mpu6050`` (module ``adafruit_mpu6050``): CircuitPython's busio
  I2C calls, carried here by the bus's ``i2c_rdwr`` as Blinka carries them on Linux; it
  probes, checks WHO_AM_I, resets the chip and reads the FIFO. Its waits are ``sleep``
  calls, pointed at the test clock.

Truth is in body FRD; the chip is mounted level, top up (chip X = body X, Y and Z flipped),
and the third-party drivers report chip axes: a level chip at rest reads +1 g on Z.
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from smbus2 import i2c_msg

from hal.types import Vec3
from sim_hal import mpu6050_emu as R
from sim_hal.i2c_bus import EmulatedI2cBus, ManualClock
from sim_hal.mpu6050_emu import Mpu6050Emulator

ADDR = 0x68
G0 = 9.80665
BODY_RATE = (0.1, -0.2, 0.3)  # rad/s, FRD
CHIP_RATE = (0.1, 0.2, -0.3)  # the same rotation in chip axes
CHIP_ACCEL = (0.0, 0.0, G0)  # level, at rest
TEMP_C = 25.0
RTIJN_WHY = "mpu6050-raspberrypi is not installed (pip install -e '.[test]')"
ADAFRUIT_WHY = "adafruit-circuitpython-mpu6050 is not installed (pip install -e '.[test]')"


def at_rest(t_ns: int) -> tuple[Vec3, Vec3, float]:
    return (0.0, 0.0, -G0), BODY_RATE, TEMP_C


def rig(who: int = 0x68, accel_noise: float = 0.02, gyro_noise: float = 0.002,
        truth: Callable[[int], tuple[Vec3, Vec3, float]] = at_rest,
        ) -> tuple[ManualClock, EmulatedI2cBus, Mpu6050Emulator]:
    clk = ManualClock()
    bus = EmulatedI2cBus(clk)
    emu = Mpu6050Emulator(clk, truth, who_am_i=who, accel_noise_mps2=accel_noise,
                          gyro_noise_rps=gyro_noise, accel_bias_mps2=0, gyro_bias_rps=0)
    bus.attach(ADDR, emu)
    return clk, bus, emu


def mean_of(read: Callable[[], Vec3], clk: ManualClock, n: int, dt_ns: int) -> np.ndarray:
    out = []
    for _ in range(n):
        clk.advance(dt_ns)
        out.append(read())
    return np.array(out)


# -- mpu6050-raspberrypi ---------------------------------------------------------------------


def rtijn(monkeypatch: pytest.MonkeyPatch, bus: EmulatedI2cBus) -> Any:
    """The driver, its ``smbus.SMBus(1)`` answering with the emulated bus."""
    fake = types.ModuleType("smbus")

    def smbus_factory(n: int) -> EmulatedI2cBus:
        assert n == 1
        return bus

    fake.SMBus = smbus_factory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "smbus", fake)
    mod = pytest.importorskip("mpu6050.mpu6050", reason=RTIJN_WHY)
    if not hasattr(mod, "mpu6050"):
        pytest.skip("the installed 'mpu6050' module is not mpu6050-raspberrypi")
    monkeypatch.setattr(mod, "smbus", fake)  # it may have been imported with another bus
    return mod.mpu6050(ADDR)


def xyz(d: dict[str, float]) -> Vec3:
    return d["x"], d["y"], d["z"]


def test_rtijn_wakes_the_chip_and_reads_truth(monkeypatch: pytest.MonkeyPatch) -> None:
    clk, bus, emu = rig()
    drv = rtijn(monkeypatch, bus)
    assert emu.regs[R.PWR_MGMT_1] == 0x00  # woken (it writes 0: internal oscillator)
    clk.advance(5_000_000)
    accel = mean_of(lambda: xyz(drv.get_accel_data()), clk, 200, 3_000_000)
    gyro = mean_of(lambda: xyz(drv.get_gyro_data()), clk, 200, 3_000_000)
    # means of 200 reads: the noise (0.02 m/s^2, 0.002 rad/s) shrinks ~14x
    assert accel.mean(axis=0) == pytest.approx(CHIP_ACCEL, abs=0.01)
    assert np.radians(gyro.mean(axis=0)) == pytest.approx(CHIP_RATE, abs=0.001)
    assert drv.get_temp() == pytest.approx(TEMP_C, abs=1 / 340)
    g = drv.get_accel_data(g=True)
    assert g["z"] == pytest.approx(1.0, abs=0.01)


def test_rtijn_range_and_filter_settings_drive_the_chip(monkeypatch: pytest.MonkeyPatch) -> None:
    clk, bus, emu = rig(gyro_noise=0.01)
    drv = rtijn(monkeypatch, bus)
    assert emu.sample_period_ns() == pytest.approx(125_000)  # DLPF off: the gyro at 8 kHz
    drv.set_accel_range(drv.ACCEL_RANGE_8G)
    drv.set_gyro_range(drv.GYRO_RANGE_2000DEG)
    assert drv.read_accel_range() == 8 and drv.read_gyro_range() == 2000
    clk.advance(5_000_000)
    raw = np.frombuffer(bytes(bus.read_i2c_block_data(ADDR, R.ACCEL_XOUT_H, 14)), ">i2")
    assert raw[2] == pytest.approx(4096, abs=40)  # 1 g at 4096 LSB/g (+-8 g)
    assert raw[6] == pytest.approx(-0.3 * 180 / math.pi * 16.4, abs=10)  # 16.4 LSB/(deg/s)
    assert drv.get_accel_data()["z"] == pytest.approx(G0, abs=0.2)

    drv.set_gyro_range(drv.GYRO_RANGE_250DEG)  # fine steps: the noise is many LSB
    wide = mean_of(lambda: xyz(drv.get_gyro_data()), clk, 300, 13_000_000).std(axis=0)
    drv.set_filter_range(drv.FILTER_BW_5)
    assert emu.regs[R.CONFIG] == 6
    assert emu.sample_period_ns() == pytest.approx(1_000_000)  # DLPF on: 1 kHz
    clk.advance(300_000_000)  # settle
    narrow = mean_of(lambda: xyz(drv.get_gyro_data()), clk, 300, 13_000_000).std(axis=0)
    assert np.all(narrow < 0.3 * wide)  # 5 Hz against 256 Hz of bandwidth


# -- adafruit-circuitpython-mpu6050 ----------------------------------------------------------


class BusioI2C:
    """The busio.I2C methods adafruit_bus_device calls, as combined i2c_rdwr transactions
    on the emulated bus (Blinka does the same through the i2c-dev ioctl)."""

    def __init__(self, bus: EmulatedI2cBus) -> None:
        self.bus = bus
        self.locked = False

    def try_lock(self) -> bool:
        if self.locked:
            return False
        self.locked = True
        return True

    def unlock(self) -> None:
        self.locked = False

    def writeto(self, address: int, buffer: bytes, *, start: int = 0,
                end: int | None = None) -> None:
        self.bus.i2c_rdwr(i2c_msg.write(address, bytes(buffer[start:end])))

    def readfrom_into(self, address: int, buffer: bytearray, *, start: int = 0,
                      end: int | None = None) -> None:
        end = len(buffer) if end is None else end
        rd = i2c_msg.read(address, end - start)
        self.bus.i2c_rdwr(rd)
        buffer[start:end] = bytes(rd)

    def writeto_then_readfrom(self, address: int, out_buffer: bytes, in_buffer: bytearray, *,
                              out_start: int = 0, out_end: int | None = None,
                              in_start: int = 0, in_end: int | None = None) -> None:
        in_end = len(in_buffer) if in_end is None else in_end
        rd = i2c_msg.read(address, in_end - in_start)
        self.bus.i2c_rdwr(i2c_msg.write(address, bytes(out_buffer[out_start:out_end])), rd)
        in_buffer[in_start:in_end] = bytes(rd)


def adafruit(monkeypatch: pytest.MonkeyPatch, clk: ManualClock, bus: EmulatedI2cBus) -> Any:
    mod = pytest.importorskip("adafruit_mpu6050", reason=ADAFRUIT_WHY)
    monkeypatch.setattr(mod, "sleep", lambda s: clk.advance(round(s * 1e9)))
    return mod


def test_adafruit_probes_resets_and_reads_truth(monkeypatch: pytest.MonkeyPatch) -> None:
    clk, bus, emu = rig()
    mod = adafruit(monkeypatch, clk, bus)
    emu.regs[R.SMPLRT_DIV] = 9  # left from an earlier user: its reset must clear it
    t0 = clk.now_ns()
    mpu = mod.MPU6050(BusioI2C(bus))
    assert clk.now_ns() - t0 >= 400_000_000  # its reset and clock-settle waits, on our clock
    assert emu.regs[R.SMPLRT_DIV] == 0
    assert emu.regs[R.PWR_MGMT_1] == 0x01  # PLL with the X gyro, awake
    assert emu.regs[R.GYRO_CONFIG] == 1 << 3  # its default: +-500 deg/s
    clk.advance(5_000_000)
    accel = mean_of(lambda: mpu.acceleration, clk, 200, 3_000_000)
    gyro = mean_of(lambda: mpu.gyro, clk, 200, 3_000_000)
    assert accel.mean(axis=0) == pytest.approx(CHIP_ACCEL, abs=0.01)
    assert gyro.mean(axis=0) == pytest.approx(CHIP_RATE, abs=0.001)
    assert mpu.temperature == pytest.approx(TEMP_C, abs=1 / 340)


def test_adafruit_refuses_a_chip_with_another_who_am_i(monkeypatch: pytest.MonkeyPatch) -> None:
    clk, bus, _emu = rig(who=0x70)  # an MPU-6500
    mod = adafruit(monkeypatch, clk, bus)
    with pytest.raises(RuntimeError, match="Failed to find MPU6050"):
        mod.MPU6050(BusioI2C(bus))


def test_adafruit_range_and_filter_settings_drive_the_chip(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clk, bus, emu = rig(gyro_noise=0.01)
    mod = adafruit(monkeypatch, clk, bus)
    mpu = mod.MPU6050(BusioI2C(bus))
    mpu.accelerometer_range = mod.Range.RANGE_16_G
    assert emu.regs[R.ACCEL_CONFIG] == 3 << 3
    raw = np.frombuffer(bytes(bus.read_i2c_block_data(ADDR, R.ACCEL_XOUT_H, 6)), ">i2")
    assert raw[2] == pytest.approx(2048, abs=20)  # 1 g at 2048 LSB/g
    assert mpu.acceleration[2] == pytest.approx(G0, abs=0.2)

    wide = mean_of(lambda: mpu.gyro, clk, 300, 13_000_000).std(axis=0)
    mpu.filter_bandwidth = mod.Bandwidth.BAND_5_HZ
    assert emu.regs[R.CONFIG] == 6
    clk.advance(300_000_000)
    narrow = mean_of(lambda: mpu.gyro, clk, 300, 13_000_000).std(axis=0)
    assert np.all(narrow < 0.3 * wide)


def test_adafruit_cycle_mode_samples_at_its_cycle_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clk, bus, emu = rig(accel_noise=0.05)
    mod = adafruit(monkeypatch, clk, bus)
    mpu = mod.MPU6050(BusioI2C(bus))
    mpu.cycle_rate = mod.Rate.CYCLE_5_HZ
    mpu.cycle = True
    assert emu.regs[R.PWR_MGMT_1] & (R.PWR_CYCLE | R.PWR_SLEEP) == R.PWR_CYCLE
    accel = mean_of(lambda: mpu.acceleration, clk, 400, 5_000_000)  # 2 s
    gyro = mean_of(lambda: mpu.gyro, clk, 400, 5_000_000)
    changes = int(np.sum(np.any(np.diff(accel, axis=0) != 0, axis=1)))
    assert changes == pytest.approx(5 * 2, abs=1)
    assert np.all(gyro == gyro[0])  # the gyro sleeps in cycle mode
    assert accel.mean(axis=0) == pytest.approx(CHIP_ACCEL, abs=0.1)


def test_adafruit_fifo_shows_the_accel_repeating_at_8khz(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its defaults (DLPF off, SMPLRT_DIV 0) put the gyro at 8 kHz: with only the accel in
    the FIFO, each 1 kHz accel sample enters eight times."""

    def moving(t_ns: int) -> tuple[Vec3, Vec3, float]:
        return (3.0 * (t_ns * 1e-9 - 1.0), 0.0, -G0), BODY_RATE, TEMP_C

    clk, bus, _emu = rig(accel_noise=0.0, truth=moving)
    mod = adafruit(monkeypatch, clk, bus)
    mpu = mod.MPU6050(BusioI2C(bus))
    mpu.accel_fifo_en = True
    mpu.fifo_en = True
    clk.advance(5_000_000)
    data = mpu.read_whole_fifo()
    frames = np.frombuffer(bytes(data), ">i2").reshape(-1, 3)
    assert len(frames) == pytest.approx(40, abs=1)  # 5 ms at 8 kHz
    change = np.flatnonzero(np.diff(frames[:, 0]) != 0)
    assert set(np.diff(change)) == {8}
