"""The MPU-6050 emulator's signal path against the register map (RM-MPU-6000A rev 4.2):
the DLPF's bandwidth and delay (4.3 CONFIG), the accelerometer's 1 kHz rate under an 8 kHz
gyro (4.2 SMPLRT_DIV), cycle mode and standby (4.28-4.29 PWR_MGMT_1/2). Driven through the
emulated bus as a driver would: register writes, FIFO and data-register reads."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.types import Vec3
from sim_hal import mpu6050_emu as R
from sim_hal.i2c_bus import EmulatedI2cBus, ManualClock
from sim_hal.mpu6050_emu import Mpu6050Emulator, span_gains

ADDR = 0x68
G0 = 9.80665
Truth = Callable[[int], tuple[Vec3, Vec3, float]]

# Register map 4.3, DLPF_CFG -> accel (bandwidth Hz, delay ms), gyro (bandwidth Hz, delay ms).
DATASHEET = {
    0: (260.0, 0.0, 256.0, 0.98),
    1: (184.0, 2.0, 188.0, 1.9),
    2: (94.0, 3.0, 98.0, 2.8),
    3: (44.0, 4.9, 42.0, 4.8),
    4: (21.0, 8.5, 20.0, 8.3),
    5: (10.0, 13.8, 10.0, 13.4),
    6: (5.0, 19.0, 5.0, 18.6),
}
ACCEL_LSB_PER_MPS2 = (16384.0 / G0, 8192.0 / G0, 4096.0 / G0, 2048.0 / G0)  # by AFS_SEL
GYRO_LSB_PER_RPS = tuple(v * 180.0 / math.pi for v in (131.0, 65.5, 32.8, 16.4))  # by FS_SEL


def still(t_ns: int) -> tuple[Vec3, Vec3, float]:
    return (0.0, 0.0, G0), (0.1, -0.2, 0.3), 25.0


def rig(truth: Truth, accel_noise: float = 0.0, gyro_noise: float = 0.0, seed: int = 0,
        ) -> tuple[ManualClock, EmulatedI2cBus, Mpu6050Emulator]:
    """A bias-free chip whose axes are the body's, so truth reads straight through."""
    clk = ManualClock()
    bus = EmulatedI2cBus(clk)
    emu = Mpu6050Emulator(clk, truth, accel_noise_mps2=accel_noise, gyro_noise_rps=gyro_noise,
                          accel_bias_mps2=0, gyro_bias_rps=0, chip_from_body=np.eye(3),
                          seed=seed, record_times=True)
    bus.attach(ADDR, emu)
    return clk, bus, emu


def start(bus: EmulatedI2cBus, dlpf: int, div: int, fifo: bool = True, afs: int = 0,
          fs: int = 0) -> None:
    w = bus.write_byte_data
    w(ADDR, R.PWR_MGMT_1, 0x01)
    w(ADDR, R.CONFIG, dlpf)
    w(ADDR, R.SMPLRT_DIV, div)
    w(ADDR, R.ACCEL_CONFIG, afs << 3)
    w(ADDR, R.GYRO_CONFIG, fs << 3)
    if fifo:
        w(ADDR, R.FIFO_EN, R.FIFO_EN_ACCEL | R.FIFO_EN_XG | R.FIFO_EN_YG | R.FIFO_EN_ZG)
        w(ADDR, R.USER_CTRL, R.USER_FIFO_EN)


def drain(bus: EmulatedI2cBus) -> bytes:
    hi, lo = bus.read_i2c_block_data(ADDR, R.FIFO_COUNT_H, 2)
    n = (hi << 8) | lo
    out = bytearray()
    while len(out) < n:
        out += bytes(bus.read_i2c_block_data(ADDR, R.FIFO_R_W, min(24, n - len(out))))
    return bytes(out)


def stream(clk: ManualClock, bus: EmulatedI2cBus, seconds: float,
           poll_ns: int = 5_000_000) -> np.ndarray:
    """FIFO frames (accel x y z, gyro x y z: raw int16) over ``seconds``, drained often
    enough never to overflow."""
    data = bytearray()
    for _ in range(round(seconds * 1e9 / poll_ns)):
        clk.advance(poll_ns)
        data += drain(bus)
    assert len(data) % 12 == 0
    return np.frombuffer(bytes(data), ">i2").reshape(-1, 6).astype(float)


def registers(bus: EmulatedI2cBus) -> np.ndarray:
    return np.frombuffer(bytes(bus.read_i2c_block_data(ADDR, R.ACCEL_XOUT_H, 14)), ">i2")


# -- DLPF -------------------------------------------------------------------------------------


def noise_std(dlpf: int) -> tuple[float, float]:
    """Output noise std (accel m/s^2, gyro rad/s) at ``dlpf``, 1 kHz output, 4 s at rest."""
    clk, bus, _ = rig(still, accel_noise=0.05, gyro_noise=0.005, seed=dlpf)
    start(bus, dlpf, 7 if dlpf == 0 else 0)  # 1 kHz out of the 8 kHz gyro at 0
    clk.advance(500_000_000)  # settle; the FIFO overflows and is reset below
    bus.write_byte_data(ADDR, R.USER_CTRL, 0)
    bus.write_byte_data(ADDR, R.USER_CTRL, R.USER_FIFO_RESET)
    bus.write_byte_data(ADDR, R.USER_CTRL, R.USER_FIFO_EN)
    f = stream(clk, bus, 4.0)
    assert len(f) >= 3990
    accel = f[:, :3] / ACCEL_LSB_PER_MPS2[0]
    gyro = f[:, 3:] / GYRO_LSB_PER_RPS[0]
    return float(np.mean(np.std(accel, axis=0))), float(np.mean(np.std(gyro, axis=0)))


def test_noise_shrinks_with_the_dlpf_bandwidth() -> None:
    stds = [noise_std(k) for k in range(7)]
    accel, gyro = np.array(stds).T
    # the noise parameters are the output noise at the widest band
    assert accel[0] == pytest.approx(0.05, rel=0.1)
    assert gyro[0] == pytest.approx(0.005, rel=0.1)
    assert accel[6] < 0.3 * accel[0] and gyro[6] < 0.3 * gyro[0]
    assert np.all(np.diff(accel) < 0) and np.all(np.diff(gyro) < 0)


def ramp_lags_ms(dlpf: int) -> tuple[float, float]:
    """DC group delay (accel, gyro) in ms: how far the output lags a ramp in steady state."""
    va, vg = 200.0, 20.0  # m/s^2 and rad/s per second, inside +-16 g and +-2000 deg/s
    t_mid = 2_000_000_000

    def ramp(t_ns: int) -> tuple[Vec3, Vec3, float]:
        s = (t_ns - t_mid) * 1e-9
        return (va * s, 0.0, 0.0), (vg * s, 0.0, 0.0), 25.0

    clk, bus, emu = rig(ramp)
    start(bus, dlpf, 7 if dlpf == 0 else 0, afs=3, fs=3)
    f = stream(clk, bus, 1.5)
    t = (np.array(emu.sample_times_ns[: len(f)]) - t_mid) * 1e-9
    window = t > -0.5  # ten time constants of the narrowest band have passed
    accel = f[window, 0] / ACCEL_LSB_PER_MPS2[3]
    gyro = f[window, 3] / GYRO_LSB_PER_RPS[3]
    return (float(np.median(t[window] - accel / va)) * 1e3,
            float(np.median(t[window] - gyro / vg)) * 1e3)


def test_dlpf_delay_follows_the_datasheet() -> None:
    lags = {k: ramp_lags_ms(k) for k in range(7)}
    for k, (bw_a, delay_a, bw_g, delay_g) in DATASHEET.items():
        for lag, bw, delay in ((lags[k][0], bw_a, delay_a), (lags[k][1], bw_g, delay_g)):
            one_pole_ms = 1e3 / (2 * math.pi * bw)  # DC group delay of a one-pole at bw
            if one_pole_ms < delay:
                # a pure delay tops the pole up to the datasheet's figure
                assert lag == pytest.approx(delay, abs=0.05), (k, bw)
            else:
                # the pole alone is slower than the datasheet: never quicker than it, never
                # slower than a one-pole at that bandwidth
                assert delay <= lag <= 1.05 * one_pole_ms, (k, bw, lag)
    accel, gyro = np.array([lags[k] for k in range(7)]).T
    assert np.all(np.diff(accel) > 0) and np.all(np.diff(gyro) > 0)


@pytest.mark.parametrize(("dlpf", "settled_after_5ms"), [(0, True), (6, False)])
def test_step_response_lags_at_narrow_bandwidth(dlpf: int, settled_after_5ms: bool) -> None:
    t_step = 1_300_000_000

    def step(t_ns: int) -> tuple[Vec3, Vec3, float]:
        on = 1.0 if t_ns >= t_step else 0.0
        return (0.0, 0.0, G0 + 5.0 * on), (2.0 * on, 0.0, 0.0), 25.0

    clk, bus, _ = rig(step)
    start(bus, dlpf, 7 if dlpf == 0 else 0, fifo=False, afs=1, fs=1)
    clk.t_ns = t_step + 5_000_000
    raw = registers(bus)
    accel_frac = (raw[2] / ACCEL_LSB_PER_MPS2[1] - G0) / 5.0
    gyro_frac = raw[4] / GYRO_LSB_PER_RPS[1] / 2.0
    if settled_after_5ms:
        assert accel_frac > 0.95 and gyro_frac > 0.95
    else:
        assert accel_frac < 0.5 and gyro_frac < 0.5
    clk.t_ns = t_step + 400_000_000  # the DC gain is 1: the step arrives in full
    raw = registers(bus)
    assert raw[2] / ACCEL_LSB_PER_MPS2[1] == pytest.approx(G0 + 5.0, abs=0.01)
    assert raw[4] / GYRO_LSB_PER_RPS[1] == pytest.approx(2.0, abs=0.002)


@pytest.mark.property
@given(a=st.floats(0.0, 0.995), m=st.integers(1, 300),
       y0=st.floats(-10, 10), x0=st.floats(-10, 10), x1=st.floats(-10, 10))
def test_span_gains_equal_stepping_the_filter(a: float, m: int, y0: float, x0: float,
                                              x1: float) -> None:
    am, c0, c1, q = span_gains(a, m)
    y, var = y0, 0.0
    for j in range(1, m + 1):
        y = a * y + (1 - a) * (x0 + (x1 - x0) * j / m)
        var = a * a * var + (1 - a) ** 2  # unit white noise through the same steps
    assert am * y0 + c0 * x0 + c1 * x1 == pytest.approx(y, abs=1e-9)
    assert q == pytest.approx(math.sqrt(var), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("fifo", [True, False])
def test_long_gap_matches_a_chip_stepped_all_along(fifo: bool) -> None:
    """A gap is emulated cheaply (the slow filter restarted, stepped through its settling
    time): what the host can see equals a twin stepped every millisecond."""

    def wave(t_ns: int) -> tuple[Vec3, Vec3, float]:
        s = t_ns * 1e-9
        return (math.sin(7 * s), math.cos(3 * s), G0), (0.5 * math.sin(11 * s), 0.0, 0.1), 25.0

    clk, bus, emu = rig(wave)
    twin_bus = EmulatedI2cBus(clk)
    twin = Mpu6050Emulator(clk, wave, accel_noise_mps2=0, gyro_noise_rps=0, accel_bias_mps2=0,
                           gyro_bias_rps=0, chip_from_body=np.eye(3))
    twin_bus.attach(ADDR, twin)
    for b in (bus, twin_bus):
        start(b, 6, 0, fifo=fifo)  # 5 Hz: a 31 ms time constant
    for _ in range(2000):
        clk.advance(1_000_000)
        twin._advance(clk.now_ns())
    if fifo:
        assert drain(bus) == drain(twin_bus)
    assert np.array_equal(registers(bus), registers(twin_bus))
    assert emu.samples_produced == twin.samples_produced


# -- sample rates -------------------------------------------------------------------------------


def run_lengths(v: np.ndarray) -> list[int]:
    change = np.flatnonzero(np.diff(v) != 0)
    return list(np.diff(change))


def moving(t_ns: int) -> tuple[Vec3, Vec3, float]:
    s = t_ns * 1e-9 - 1.0  # the clock starts at 1 s
    return (3.0 * s, -2.0 * s, G0), (20.0 * s, 0.1, -0.2 * s), 25.0  # > 1 LSB per 1/8 ms


@pytest.mark.parametrize(("div", "repeats"), [(0, 8), (1, 4), (3, 2), (7, 1)])
def test_accel_is_sampled_at_1khz_while_gyro_runs_at_8khz(div: int, repeats: int) -> None:
    clk, bus, _ = rig(moving)
    start(bus, 0, div)
    f = stream(clk, bus, 0.1, poll_ns=1_000_000)
    assert len(f) == pytest.approx(8000 / (1 + div) * 0.1, abs=2)
    assert set(run_lengths(f[:, 0])) == {repeats}  # one accel value per 1 kHz tick
    assert set(run_lengths(f[:, 3])) == {1}  # a new gyro value in every sample


def test_accel_and_gyro_both_at_1khz_with_the_dlpf_on() -> None:
    clk, bus, _ = rig(moving)
    start(bus, 1, 0)
    f = stream(clk, bus, 0.1, poll_ns=1_000_000)
    assert len(f) == pytest.approx(100, abs=1)
    assert set(run_lengths(f[:, 0])) == {1} and set(run_lengths(f[:, 3])) == {1}


# -- cycle mode and standby --------------------------------------------------------------------


def changes(clk: ManualClock, bus: EmulatedI2cBus, seconds: float) -> tuple[int, int, int]:
    """How often the accel, temperature and gyro registers change, polled every 1 ms."""
    prev = registers(bus)
    n = np.zeros(3, int)
    for _ in range(round(seconds * 1000)):
        clk.advance(1_000_000)
        now = registers(bus)
        n += [np.any(now[0:3] != prev[0:3]), now[3] != prev[3], np.any(now[4:7] != prev[4:7])]
        prev = now
    return int(n[0]), int(n[1]), int(n[2])


def warm(t_ns: int) -> tuple[Vec3, Vec3, float]:
    return still(t_ns)[0], still(t_ns)[1], 20.0 + t_ns * 1e-9  # the die warms 1 C/s


@pytest.mark.parametrize(("lp_wake", "hz"), [(0, 1.25), (1, 5.0), (2, 20.0), (3, 40.0)])
def test_cycle_mode_wakes_at_lp_wake_rate_for_one_accel_sample(lp_wake: int, hz: float) -> None:
    clk, bus, _ = rig(warm, accel_noise=0.05, gyro_noise=0.005)
    start(bus, 0, 0, fifo=False)
    bus.write_byte_data(ADDR, R.PWR_MGMT_2, lp_wake << 6)
    bus.write_byte_data(ADDR, R.PWR_MGMT_1, R.PWR_CYCLE | R.PWR_SLEEP)
    assert changes(clk, bus, 0.5) == (0, 0, 0)  # SLEEP wins over CYCLE
    bus.write_byte_data(ADDR, R.PWR_MGMT_1, R.PWR_CYCLE)
    seconds = 4.0
    accel, temp, gyro = changes(clk, bus, seconds)
    assert accel == pytest.approx(hz * seconds, abs=1)
    assert temp == pytest.approx(hz * seconds, abs=1)  # sampled at each wake
    assert gyro == 0  # the gyro is not sampled in cycle mode
    bus.write_byte_data(ADDR, R.PWR_MGMT_1, 0x00)  # back to normal: 8 kHz gyro, 1 kHz accel
    accel, _, gyro = changes(clk, bus, 0.1)
    assert accel >= 95 and gyro >= 95


def test_cycle_mode_fifo_gets_one_frame_per_wake() -> None:
    clk, bus, _ = rig(still, accel_noise=0.05)
    bus.write_byte_data(ADDR, R.FIFO_EN, R.FIFO_EN_ACCEL)
    bus.write_byte_data(ADDR, R.USER_CTRL, R.USER_FIFO_EN)
    bus.write_byte_data(ADDR, R.PWR_MGMT_2, 1 << 6 | 0x07)  # 5 Hz, gyro axes in standby
    bus.write_byte_data(ADDR, R.PWR_MGMT_1, R.PWR_CYCLE | R.PWR_TEMP_DIS)
    clk.advance(2_000_000_000)
    frames = np.frombuffer(drain(bus), ">i2").reshape(-1, 3)
    assert len(frames) == pytest.approx(10, abs=1)
    assert np.mean(frames[:, 2]) / ACCEL_LSB_PER_MPS2[0] == pytest.approx(G0, abs=0.05)


def test_standby_axes_and_temp_dis_hold_their_registers() -> None:
    clk, bus, _ = rig(warm, accel_noise=0.05, gyro_noise=0.005)
    start(bus, 1, 0, fifo=False)
    clk.advance(10_000_000)
    bus.write_byte_data(ADDR, R.PWR_MGMT_2, 0x20 | 0x01)  # STBY_XA, STBY_ZG
    bus.write_byte_data(ADDR, R.PWR_MGMT_1, 0x01 | R.PWR_TEMP_DIS)
    before = registers(bus)
    seen = []
    for _ in range(50):
        clk.advance(1_000_000)
        seen.append(registers(bus))
    v = np.array(seen)
    held = [0, 3, 6]  # accel x, temperature, gyro z
    assert np.all(v[:, held] == before[held])
    for i in (1, 2, 4, 5):  # the others keep sampling
        assert len(set(v[:, i])) > 10
