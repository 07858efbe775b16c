"""The emulated I2C bus (sim_hal/i2c_bus.py) and the MPU-6050 emulator's datasheet behaviour."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from smbus2 import i2c_msg

from hal.i2c_device import SMBusLike
from hal.interfaces import Actuators, Clock, Imu, Rangefinder
from hal.lidarlite import LidarLiteV3
from hal.mpu6050 import Mpu6050
from hal.pca9685 import Pca9685
from hal.types import Vec3
from sim_hal import mpu6050_emu as R
from sim_hal.i2c_bus import EmulatedI2cBus, ManualClock
from sim_hal.mpu6050_emu import Mpu6050Emulator

G0 = 9.80665


class Regs:
    """A plain auto-incrementing register file."""

    def __init__(self) -> None:
        self.regs = bytearray(range(256))
        self.ptr = 0
        self.resets = 0

    def i2c_write(self, data: bytes) -> None:
        self.ptr = data[0]
        for b in data[1:]:
            self.regs[self.ptr] = b
            self.ptr = (self.ptr + 1) & 0xFF

    def i2c_read(self, n: int) -> bytes:
        out = bytes(self.regs[(self.ptr + i) & 0xFF] for i in range(n))
        self.ptr = (self.ptr + n) & 0xFF
        return out

    def power_on_reset(self) -> None:
        self.resets += 1


def bus_with_regs() -> tuple[EmulatedI2cBus, Regs]:
    bus = EmulatedI2cBus(ManualClock(), seed=5)
    chip = Regs()
    bus.attach(0x20, chip)
    return bus, chip


def test_smbus_methods_and_counters() -> None:
    bus, chip = bus_with_regs()
    assert bus.read_byte_data(0x20, 0x10) == 0x10
    bus.write_byte_data(0x20, 0x10, 0xAB)
    assert bus.read_i2c_block_data(0x20, 0x0F, 3) == [0x0F, 0xAB, 0x11]
    bus.write_i2c_block_data(0x20, 0x30, [1, 2, 3])
    assert chip.regs[0x30:0x33] == b"\x01\x02\x03"
    bus.write_byte(0x20, 0x40)
    assert bus.read_byte(0x20) == 0x40
    assert bus.counters.transactions == 6
    assert bus.counters.bytes_read == 1 + 3 + 1
    assert bus.per_address[0x20].transactions == 6


def test_i2c_rdwr_with_real_smbus2_messages() -> None:
    bus, chip = bus_with_regs()
    wr = i2c_msg.write(0x20, [0x50])
    rd = i2c_msg.read(0x20, 40)
    bus.i2c_rdwr(wr, rd)
    assert list(bytes(rd)) == list(range(0x50, 0x50 + 40))
    bus.i2c_rdwr(i2c_msg.write(0x20, [0x60, 9, 8]))
    assert chip.regs[0x60:0x62] == b"\x09\x08"
    assert bus.counters.transactions == 2


def test_block_limit_like_smbus2() -> None:
    bus, _ = bus_with_regs()
    with pytest.raises(ValueError):
        bus.read_i2c_block_data(0x20, 0, 33)
    with pytest.raises(ValueError):
        bus.write_i2c_block_data(0x20, 0, [0] * 33)


def test_empty_address_nacks() -> None:
    bus, _ = bus_with_regs()
    for call in (lambda: bus.read_byte_data(0x21, 0), lambda: bus.write_byte(0x21, 0),
                 lambda: bus.i2c_rdwr(i2c_msg.read(0x21, 2))):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EREMOTEIO
    assert bus.counters.failed == 3


@pytest.mark.parametrize(("kind", "code"), [("nack", 121), ("eio", 5), ("timeout", 110)])
def test_injected_errors_for_a_count(kind: str, code: int) -> None:
    bus, _ = bus_with_regs()
    bus.inject(0x20, kind, count=2)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(OSError) as info:
            bus.read_byte_data(0x20, 1)
        assert info.value.errno == code
    assert bus.read_byte_data(0x20, 1) == 1


def test_injected_errors_with_probability_are_seeded() -> None:
    fails = []
    for _ in range(2):
        bus, _ = bus_with_regs()
        bus.inject(0x20, "eio", probability=0.25)
        n = 0
        for _ in range(1000):
            try:
                bus.read_byte_data(0x20, 1)
            except OSError:
                n += 1
        fails.append(n)
    assert fails[0] == fails[1]
    assert 180 < fails[0] < 320
    bus.clear(0x20)


def test_stuck_data_repeats_last_byte_and_reset_fault() -> None:
    bus, chip = bus_with_regs()
    assert bus.read_byte_data(0x20, 0x42) == 0x42
    bus.inject(0x20, "stuck", count=1)
    assert bus.read_i2c_block_data(0x20, 0x10, 4) == [0x10] * 4  # last byte on the wire: reg
    assert bus.read_i2c_block_data(0x20, 0x10, 2) == [0x10, 0x11]
    bus.inject(0x20, "reset")
    bus.read_byte(0x20)
    bus.read_byte(0x20)
    assert chip.resets == 1


def test_closed_bus_refuses() -> None:
    bus, _ = bus_with_regs()
    bus.close()
    with pytest.raises(OSError):
        bus.read_byte(0x20)


def test_drivers_satisfy_hal_protocols() -> None:
    # mypy checks the assignments; real smbus2.SMBus must fit the drivers' bus protocol too
    clk: Clock = ManualClock()
    bus = EmulatedI2cBus(clk)
    imu: Imu = Mpu6050(bus, clk)
    rf: Rangefinder = LidarLiteV3(bus, clk)
    act: Actuators = Pca9685(bus, clk)
    assert (imu.rate_hz, rf.rate_hz, act.motor_count) == (1000.0, 50.0, 4)
    from smbus2 import SMBus

    bus_type: type[SMBusLike] = SMBus
    assert bus_type


# -- MPU-6050 emulator ------------------------------------------------------------------------


def ramp(t_ns: int) -> tuple[Vec3, Vec3, float]:
    x = (t_ns % 1_000_000_000) / 1e8  # changes every sample: frames are distinguishable
    return (x, -x, -G0), (0.01 * x, 0.0, 0.0), 30.0


def mpu(who: int = 0x68, ppm: float = 0.0) -> tuple[ManualClock, EmulatedI2cBus, Mpu6050Emulator]:
    clk = ManualClock()
    bus = EmulatedI2cBus(clk)
    emu = Mpu6050Emulator(clk, ramp, who_am_i=who, rate_error_ppm=ppm, accel_noise_mps2=0,
                          gyro_noise_rps=0, accel_bias_mps2=0, gyro_bias_rps=0)
    bus.attach(0x68, emu)
    return clk, bus, emu


def wake_fifo(bus: EmulatedI2cBus, fifo_en: int = 0x78) -> None:
    bus.write_byte_data(0x68, R.CONFIG, 1)  # DLPF on: 1 kHz gyro rate (0 would be 8 kHz)
    bus.write_byte_data(0x68, R.PWR_MGMT_1, 0x01)
    bus.write_byte_data(0x68, R.FIFO_EN, fifo_en)
    bus.write_byte_data(0x68, R.USER_CTRL, R.USER_FIFO_EN)


def count(bus: EmulatedI2cBus) -> int:
    hi, lo = bus.read_i2c_block_data(0x68, R.FIFO_COUNT_H, 2)
    return (hi << 8) | lo


def test_mpu_reset_defaults_and_variants() -> None:
    for who in (0x68, 0x70, 0x71):
        _clk, bus, emu = mpu(who)
        assert bus.read_byte_data(0x68, R.WHO_AM_I) == who
        bus.write_byte_data(0x68, R.SMPLRT_DIV, 7)
        bus.write_byte_data(0x68, R.PWR_MGMT_1, 0x80)
        assert bus.read_byte_data(0x68, R.PWR_MGMT_1) == 0x40  # reset clears, SLEEP set
        assert bus.read_byte_data(0x68, R.SMPLRT_DIV) == 0
        assert emu.fifo_size == (1024 if who == 0x68 else 512)


def test_mpu_asleep_produces_nothing_awake_runs_at_its_own_rate() -> None:
    clk, bus, _emu = mpu(ppm=10_000.0)
    bus.write_byte_data(0x68, R.CONFIG, 1)
    bus.write_byte_data(0x68, R.FIFO_EN, 0x78)
    bus.write_byte_data(0x68, R.USER_CTRL, R.USER_FIFO_EN)
    clk.advance(50_000_000)
    assert count(bus) == 0  # asleep
    bus.write_byte_data(0x68, R.PWR_MGMT_1, 0x01)
    produced = 0
    for _ in range(100):  # 1 s, drained every 10 ms
        clk.advance(10_000_000)
        c = count(bus)
        produced += c // 12
        for _ in range(c // 12):
            bus.read_i2c_block_data(0x68, R.FIFO_R_W, 12)
    assert abs(produced - 1010) <= 1


def test_mpu_scaling_by_configured_ranges() -> None:
    clk, bus, _emu = mpu()
    bus.write_byte_data(0x68, R.PWR_MGMT_1, 0x01)
    bus.write_byte_data(0x68, R.CONFIG, 6)
    bus.write_byte_data(0x68, R.SMPLRT_DIV, 3)  # 250 Hz, 8 kHz gyro off
    for afs, lsb in enumerate((16384, 8192, 4096, 2048)):
        bus.write_byte_data(0x68, R.ACCEL_CONFIG, afs << 3)
        bus.write_byte_data(0x68, R.GYRO_CONFIG, afs << 3)
        clk.advance(10_000_000)
        raw = np.frombuffer(bytes(bus.read_i2c_block_data(0x68, R.ACCEL_XOUT_H, 14)), ">i2")
        assert raw[2] == lsb  # at rest, level: +1 g on the chip's Z (up out of the package)
        assert raw[3] == round((30.0 - 36.53) * 340)


def test_mpu_fifo_burst_from_count_reads_count_then_data() -> None:
    clk, bus, _emu = mpu()
    wake_fifo(bus)
    clk.advance(5_000_000)
    rd = i2c_msg.read(0x68, 2 + 24)
    bus.i2c_rdwr(i2c_msg.write(0x68, [R.FIFO_COUNT_H]), rd)
    data = bytes(rd)
    n = (data[0] << 8) | data[1]
    assert n == 60
    assert count(bus) == 60 - 24  # 24 bytes popped by the same burst


def test_mpu_empty_fifo_repeats_last_byte() -> None:
    clk, bus, _emu = mpu()
    wake_fifo(bus)
    clk.advance(1_000_000)
    frame = bus.read_i2c_block_data(0x68, R.FIFO_R_W, 12)
    assert bus.read_i2c_block_data(0x68, R.FIFO_R_W, 4) == [frame[-1]] * 4


def test_mpu_fifo_reset_only_while_fifo_disabled() -> None:
    clk, bus, _emu = mpu()
    wake_fifo(bus)
    clk.advance(5_000_000)
    bus.write_byte_data(0x68, R.USER_CTRL, R.USER_FIFO_EN | R.USER_FIFO_RESET)
    assert count(bus) == 60  # ignored: FIFO_EN was set
    bus.write_byte_data(0x68, R.USER_CTRL, 0)
    bus.write_byte_data(0x68, R.USER_CTRL, R.USER_FIFO_RESET)
    assert count(bus) == 0
    assert bus.read_byte_data(0x68, R.USER_CTRL) == 0  # self-clearing


def test_mpu_overflow_drops_oldest_bytes_and_flags() -> None:
    clk, bus, emu = mpu()
    ref_clk = clk  # a twin with a huge FIFO keeps the whole stream
    twin = Mpu6050Emulator(ref_clk, ramp, accel_noise_mps2=0, gyro_noise_rps=0,
                           accel_bias_mps2=0, gyro_bias_rps=0)
    twin.fifo_size = 1 << 20
    twin_bus = EmulatedI2cBus(clk)
    twin_bus.attach(0x68, twin)
    for b in (bus, twin_bus):
        b.write_byte_data(0x68, R.INT_ENABLE, R.INT_FIFO_OFLOW)
        wake_fifo(b)
    clk.advance(100_000_000)  # 100 frames of 12 bytes > 1024
    assert count(bus) == 1024
    assert count(twin_bus) == 1200
    assert emu.fifo == twin.fifo[-1024:]  # the newest bytes survive: alignment lost
    assert 1024 % 12 != 0
    assert bus.read_byte_data(0x68, R.INT_STATUS) & R.INT_FIFO_OFLOW
    assert not bus.read_byte_data(0x68, R.INT_STATUS) & R.INT_FIFO_OFLOW  # read clears


def test_mpu_long_gap_is_exact_and_cheap() -> None:
    clk, bus, emu = mpu()
    twin = Mpu6050Emulator(clk, ramp, accel_noise_mps2=0, gyro_noise_rps=0, accel_bias_mps2=0,
                           gyro_bias_rps=0)
    tb = EmulatedI2cBus(clk)
    tb.attach(0x68, twin)
    wake_fifo(bus)
    wake_fifo(tb)
    for _ in range(600):  # the twin is stepped every 1 ms, the other jumps 600 ms at once
        clk.advance(1_000_000)
        twin._advance(clk.now_ns())
    count(bus)
    assert emu.fifo == twin.fifo
