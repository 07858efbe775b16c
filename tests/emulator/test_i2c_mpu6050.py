"""MPU-6050 family driver (hal/mpu6050.py) against the register-level emulator."""

from __future__ import annotations

import errno
import math
from typing import Any

import numpy as np
import pytest

from hal.i2c_device import DeviceMissingError
from hal.mpu6050 import Mpu6050, Mpu6050Settings, rotation_from_name
from hal.tomlschema import ConfigError, load
from hal.types import ImuSample, Vec3
from sim_hal import mpu6050_emu as R
from sim_hal.i2c_bus import EmulatedI2cBus, ManualClock
from sim_hal.mpu6050_emu import Mpu6050Emulator

G0 = 9.80665
POLL_NS = 2_000_000  # 500 Hz loop


def still(t_ns: int) -> tuple[Vec3, Vec3, float]:
    return (0.0, 0.0, -G0), (0.1, -0.2, 0.3), 25.0


class NoSleepClock(ManualClock):
    """Fails the test if anything sleeps once ``forbid`` is set (poll must never wait)."""

    forbid = False

    def sleep_until(self, t_ns: int) -> None:
        assert not self.forbid, "poll() waited"
        super().sleep_until(t_ns)


def rig(
    who: int = 0x68, ppm: float = 0.0, quiet: bool = True, **kw: Any
) -> tuple[NoSleepClock, EmulatedI2cBus, Mpu6050Emulator, Mpu6050]:
    clk = NoSleepClock()
    bus = EmulatedI2cBus(clk, seed=1)
    noise: dict[str, Any] = (
        {"accel_noise_mps2": 0, "gyro_noise_rps": 0, "accel_bias_mps2": 0, "gyro_bias_rps": 0}
        if quiet else {}
    )
    emu = Mpu6050Emulator(clk, still, who_am_i=who, rate_error_ppm=ppm, record_times=True,
                          **noise)
    bus.attach(0x68, emu)
    imu = Mpu6050(bus, clk, Mpu6050Settings(**kw))
    return clk, bus, emu, imu


def run(clk: NoSleepClock, imu: Mpu6050, polls: int, dt: int = POLL_NS) -> list[ImuSample]:
    clk.forbid = True
    out: list[ImuSample] = []
    for _ in range(polls):
        clk.advance(dt)
        out += imu.poll()
    return out


def seqs(samples: list[ImuSample]) -> np.ndarray:
    return np.array([s.seq for s in samples])


# -- probe and bring-up -------------------------------------------------------------------


@pytest.mark.parametrize(("who", "chip", "size"), [
    (0x68, "MPU-6050/6000/9150", 1024), (0x70, "MPU-6500", 512), (0x71, "MPU-9250", 512)])
def test_probe_accepts_family(who: int, chip: str, size: int) -> None:
    _, _, _, imu = rig(who)
    imu.open()
    assert imu.chip == chip
    assert imu.fifo_size == size
    assert imu.health().connected


def test_wrong_who_am_i_names_address_and_value() -> None:
    _clk, _bus, emu, imu = rig()
    emu.who_am_i = 0x12
    emu.power_on_reset()
    with pytest.raises(DeviceMissingError, match=r"0x68.*WHO_AM_I=0x12"):
        imu.open()


def test_missing_chip_names_address_and_errno() -> None:
    clk = ManualClock()
    imu = Mpu6050(EmulatedI2cBus(clk), clk, Mpu6050Settings(address=0x69))
    with pytest.raises(DeviceMissingError, match=r"0x69.*errno 121") as info:
        imu.open()
    assert info.value.errno == errno.EREMOTEIO


def test_open_resets_waits_and_configures() -> None:
    clk, _bus, emu, imu = rig(rate_hz=500, dlpf_cfg=3, gyro_fs_dps=500, accel_fs_g=4)
    emu.regs[R.SMPLRT_DIV] = 77  # left over from a previous user: reset must clear it
    t0 = clk.now_ns()
    imu.open()
    assert clk.now_ns() - t0 >= 110_000_000  # 100 ms after reset + PLL settle
    assert emu.regs[R.PWR_MGMT_1] == 0x01  # PLL, awake
    assert emu.regs[R.SMPLRT_DIV] == 1 and emu.regs[R.CONFIG] == 3
    assert emu.regs[R.GYRO_CONFIG] == 1 << 3 and emu.regs[R.ACCEL_CONFIG] == 1 << 3
    assert emu.regs[R.FIFO_EN] == 0xF8 and emu.regs[R.USER_CTRL] == 0x40
    assert imu.rate_hz == 500.0


# -- streaming --------------------------------------------------------------------------------


def test_stream_si_units_contiguous_seq_and_no_waiting() -> None:
    clk, _bus, _emu, imu = rig()
    imu.open()
    out = run(clk, imu, 500)
    assert len(out) >= 990
    assert set(np.diff(seqs(out))) == {1}
    s = out[-1]
    assert s.accel_mps2 == pytest.approx((0.0, 0.0, -G0), abs=0.01)
    assert s.gyro_rps == pytest.approx((0.1, -0.2, 0.3), abs=0.002)
    assert s.temp_c == pytest.approx(25.0, abs=0.01)
    t = np.array([x.t_ns for x in out])
    assert np.all(np.diff(t) > 0)
    h = imu.health()
    assert h.errors == h.lost == h.overflows == h.bad_data == 0
    assert h.samples == len(out)


def test_one_transaction_per_poll_combined_two_when_not() -> None:
    for combined, per_poll in ((True, 1), (False, 2)):
        clk, bus, _emu, imu = rig(combined_read=combined)
        imu.open()
        run(clk, imu, 50)
        before = bus.counters.transactions
        n = len(run(clk, imu, 500))
        used = bus.counters.transactions - before
        assert used <= 500 * per_poll + 11  # + one register check per ~100 ms
        assert used >= 500 * per_poll
        assert n >= 995


def test_long_backlog_uses_i2c_rdwr_and_loses_nothing() -> None:
    clk, _bus, _emu, imu = rig(combined_read=False)
    imu.open()
    run(clk, imu, 5)
    out = run(clk, imu, 5, dt=20_000_000)  # 20 samples a read: 280 bytes, > 32
    assert set(np.diff(seqs(out))) == {1}
    assert imu.health().lost == 0


@pytest.mark.parametrize("name", ["yaw_90", "roll_180", "pitch_90"])
def test_mounting_rotation(name: str) -> None:
    # Truth in body FRD; the emulator's chip is mounted with the same rotation.
    m = rotation_from_name(name)
    clk = NoSleepClock()
    bus = EmulatedI2cBus(clk)
    emu = Mpu6050Emulator(clk, lambda t: ((1.0, 2.0, -G0), (0.1, 0.2, 0.3), 25.0),
                          accel_noise_mps2=0, gyro_noise_rps=0, accel_bias_mps2=0,
                          gyro_bias_rps=0, chip_from_body=R.CHIP_FROM_FRD @ m.T)
    bus.attach(0x68, emu)
    imu = Mpu6050(bus, clk, Mpu6050Settings(rotation=name))
    imu.open()
    s = run(clk, imu, 10)[-1]
    assert s.accel_mps2 == pytest.approx((1.0, 2.0, -G0), abs=0.01)
    assert s.gyro_rps == pytest.approx((0.1, 0.2, 0.3), abs=0.002)


def test_rotation_matrix_from_settings_overrides_name() -> None:
    s = Mpu6050Settings(rotation="yaw_90", rotation_matrix=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert np.array_equal(s.mounting(), np.eye(3))
    assert np.allclose(rotation_from_name("yaw_90") @ [1, 0, 0], [0, 1, 0])


def test_settings_load_and_one_line_errors() -> None:
    s = load(Mpu6050Settings, {"address": 0x69, "rate_hz": 500.0, "gyro_fs_dps": 1000,
                               "rotation": "roll_180_yaw_90"}, "rig.toml", "imu")
    assert s.address == 0x69 and s.gyro_fs_dps == 1000
    with pytest.raises(ConfigError, match=r"rig.toml: imu.rate_hz: must be <= 1000"):
        load(Mpu6050Settings, {"rate_hz": 2000.0}, "rig.toml", "imu")
    with pytest.raises(ConfigError, match=r"imu.gyro_fs_dps: must be one of"):
        load(Mpu6050Settings, {"gyro_fs_dps": 300}, "rig.toml", "imu")
    with pytest.raises(ConfigError, match=r"unknown rotation 'sideways'"):
        load(Mpu6050Settings, {"rotation": "sideways"}, "rig.toml", "imu")
    with pytest.raises(ConfigError, match=r"proper rotation"):
        load(Mpu6050Settings, {"rotation_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, -1]]},
             "rig.toml", "imu")


# -- timestamps ---------------------------------------------------------------------------------


def stamp_errors(emu: Mpu6050Emulator, out: list[ImuSample]) -> np.ndarray:
    """Driver stamp minus the true time of the same sample (matched by FIFO order)."""
    true = np.array(emu.sample_times_ns[: len(out)])
    return np.array([s.t_ns for s in out]) - true


@pytest.mark.parametrize(("ppm", "polls"), [(20_000.0, 1500), (-20_000.0, 1500), (1000.0, 4000)])
def test_timestamps_track_an_off_oscillator(ppm: float, polls: int) -> None:
    # Lockstep polls carry phase information only through the sawtooth of the chip's
    # samples against the poll grid, which takes 1/(rate error) periods to sweep: a small
    # error needs seconds of history (see hal/mpu6050.py); real scheduling jitter helps.
    clk, _bus, emu, imu = rig(ppm=ppm)
    imu.open()
    out = run(clk, imu, polls)
    err = stamp_errors(emu, out)
    settled = err[-1000:] if ppm == 1000.0 else err[len(err) // 3 :]
    assert np.max(np.abs(settled)) < 50_000
    stats = imu.health().clock
    assert stats is not None
    assert stats.skew_ppm == pytest.approx(-ppm / (1 + ppm * 1e-6), abs=300)


def test_timestamps_with_jittered_polls() -> None:
    clk, _bus, emu, imu = rig(ppm=15_000.0)
    imu.open()
    rnd = np.random.default_rng(3)
    out: list[ImuSample] = []
    clk.forbid = True
    for _ in range(1500):
        clk.advance(POLL_NS + int(rnd.integers(0, 400_000)))
        out += imu.poll()
    err = stamp_errors(emu, out)[len(out) // 3 :]
    assert np.max(np.abs(err)) < 50_000
    assert np.all(np.diff([s.t_ns for s in out]) > 0)
    assert imu.health().counters.overreads == 0


# -- faults and recovery -----------------------------------------------------------------------


def test_overflow_resets_and_gap_is_visible() -> None:
    clk, _bus, emu, imu = rig(ppm=10_000.0)
    imu.open()
    before = run(clk, imu, 600)
    clk.advance(200_000_000)  # the loop stalls for 200 ms: 1024-byte FIFO holds 73 frames
    assert imu.poll() == []
    h = imu.health()
    assert h.overflows == 1 and h.resets >= 1
    assert emu.regs[R.USER_CTRL] == 0x40 and len(emu.fifo) == 0
    after = run(clk, imu, 300)
    gap = after[0].seq - before[-1].seq - 1
    produced_between = emu.samples_produced - len(before) - len(after) - len(emu.fifo) // 14
    assert gap == h.lost
    assert abs(gap - produced_between) <= 1
    assert 190 <= gap <= 215
    assert set(np.diff(seqs(after))) == {1}
    # timestamps keep tracking after the gap (the samples after the reset have known times)
    true_after = np.array(emu.sample_times_ns[-len(after) - len(emu.fifo) // 14 :][: len(after)])
    err = np.array([s.t_ns for s in after]) - true_after
    assert np.max(np.abs(err[-100:])) < 50_000


def test_overflow_on_mpu6500_512_byte_fifo() -> None:
    clk, _bus, _emu, imu = rig(who=0x70)
    imu.open()
    run(clk, imu, 50)
    clk.advance(40_000_000)  # 40 frames of 14 bytes > 512
    imu.poll()
    assert imu.health().overflows == 1


def test_misaligned_count_is_bad_data_and_recovers() -> None:
    clk, _bus, emu, imu = rig()
    imu.open()
    before = run(clk, imu, 100)
    del emu.fifo[:1]  # a byte lost: the count is no longer a whole number of frames
    run(clk, imu, 2)
    assert imu.health().bad_data == 1
    after = run(clk, imu, 100)
    assert len(after) >= 195 and after[0].seq > before[-1].seq
    assert imu.health().lost >= 1


def test_misaligned_frames_caught_by_fifo_temperature() -> None:
    clk, _bus, emu, imu = rig()
    imu.open()
    run(clk, imu, 300)  # the temperature register has been read by now
    clk.advance(POLL_NS)
    emu._advance(clk.now_ns())
    # Shift the stream by 2 bytes but keep the count a multiple of 14.
    del emu.fifo[:2]
    emu.fifo += b"\x00\x00"
    clk.t_ns -= POLL_NS
    run(clk, imu, 2)
    assert imu.health().bad_data == 1
    assert len(run(clk, imu, 100)) >= 195


def test_changed_config_register_detected_and_restored() -> None:
    clk, _bus, emu, imu = rig()
    imu.open()
    run(clk, imu, 10)
    emu.regs[R.GYRO_CONFIG] = 0  # glitch: full scale back to 250 dps
    run(clk, imu, 300)  # 600 ms: every checked group comes round
    h = imu.health()
    assert h.counters.bad_register == 1
    assert emu.regs[R.GYRO_CONFIG] == 3 << 3
    out = run(clk, imu, 50)
    assert out[-1].gyro_rps == pytest.approx((0.1, -0.2, 0.3), abs=0.002)


@pytest.mark.parametrize(("kind", "code"), [("nack", 121), ("eio", 5), ("timeout", 110)])
def test_bus_errors_counted_never_raised_and_recovered(kind: str, code: int) -> None:
    clk, bus, _emu, imu = rig()
    imu.open()
    before = run(clk, imu, 50)
    bus.inject(0x68, kind, count=3)  # type: ignore[arg-type]
    during = run(clk, imu, 3)
    assert during == []
    h = imu.health()
    assert h.errors == 3 and f"errno {code}" in h.last_error
    after = run(clk, imu, 50)
    assert len(after) >= 95
    assert after[0].seq == before[-1].seq + 1  # nothing popped on a NACK: no loss
    assert h.lost == 0 and h.counters.reinits == 0


class PopThenFailBus(EmulatedI2cBus):
    """A bus whose next read of FIFO data (count-then-data mode) reaches the chip, popping its
    frames, and then reports a timeout, as a read that completes on the wire but fails on the
    host would."""

    fail_next_read = False
    popped_bytes = 0

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int,
                            force: bool | None = None) -> list[int]:
        out = super().read_i2c_block_data(i2c_addr, register, length)
        if self.fail_next_read and register == R.FIFO_R_W:
            self._fail(length)
        return out

    def i2c_rdwr(self, *i2c_msgs: Any) -> None:
        super().i2c_rdwr(*i2c_msgs)
        if self.fail_next_read and list(i2c_msgs[0]) == [R.FIFO_R_W]:
            self._fail(sum(m.len for m in i2c_msgs[1:]))

    def _fail(self, nbytes: int) -> None:
        self.fail_next_read = False
        self.popped_bytes = nbytes
        raise OSError(errno.ETIMEDOUT, "timed out after the data")


def test_frames_popped_by_a_failed_read_show_as_a_sequence_gap_and_are_counted_lost() -> None:
    clk = NoSleepClock()
    bus = PopThenFailBus(clk, seed=1)
    bus.attach(0x68, Mpu6050Emulator(clk, still, accel_noise_mps2=0, gyro_noise_rps=0,
                                     accel_bias_mps2=0, gyro_bias_rps=0))
    imu = Mpu6050(bus, clk, Mpu6050Settings(combined_read=False))
    imu.open()
    before = run(clk, imu, 500)
    bus.fail_next_read = True
    assert run(clk, imu, 1) == []
    popped = bus.popped_bytes // 14
    assert popped > 0
    after = run(clk, imu, 50)
    assert after[0].seq - before[-1].seq - 1 == popped  # the counter re-derived from time
    assert imu.health().lost == popped


def test_intermittent_errors_with_probability() -> None:
    clk, bus, _emu, imu = rig()
    imu.open()
    bus.inject(0x68, "eio", probability=0.1)
    out = run(clk, imu, 1000)
    h = imu.health()
    assert 50 < h.errors < 150
    assert set(np.diff(seqs(out))) == {1}  # errors only delay reads; the FIFO keeps them
    assert h.lost == 0


def test_reinit_after_consecutive_failures() -> None:
    clk, bus, emu, imu = rig(max_consecutive_failures=5)
    imu.open()
    before = run(clk, imu, 50)
    bus.inject(0x68, "timeout", count=5)
    run(clk, imu, 5)
    h = imu.health()
    assert h.counters.reinits == 1 and not h.connected
    emu.regs[R.SMPLRT_DIV] = 9  # proves the re-init rewrote the chip
    after = run(clk, imu, 200)  # re-init takes ~110 ms of polls, then data again
    assert h.connected and emu.regs[R.SMPLRT_DIV] == 0
    assert after and after[0].seq > before[-1].seq  # seq never goes back
    assert after[0].seq - before[-1].seq - 1 == h.lost
    assert set(np.diff(seqs(after))) == {1}


def test_reinit_retries_while_chip_stays_missing() -> None:
    clk, bus, emu, imu = rig(max_consecutive_failures=3)
    imu.open()
    bus.detach(0x68)
    run(clk, imu, 200)
    h = imu.health()
    assert h.counters.reinits == 1 and not h.connected and h.errors > 3
    bus.attach(0x68, emu)
    assert run(clk, imu, 200)
    assert h.connected


def test_spontaneous_chip_reset_detected_and_recovered() -> None:
    clk, bus, emu, imu = rig()
    imu.open()
    before = run(clk, imu, 100)
    bus.inject(0x68, "reset")
    run(clk, imu, 30)
    h = imu.health()
    assert h.counters.bad_register == 1
    assert emu.regs[R.PWR_MGMT_1] == 0x01 and emu.regs[R.FIFO_EN] == 0xF8
    after = run(clk, imu, 100)
    assert len(after) >= 190 and after[0].seq > before[-1].seq


def test_stuck_bus_data_is_survived() -> None:
    clk, bus, _emu, imu = rig()
    imu.open()
    run(clk, imu, 50)
    bus.inject(0x68, "stuck", count=3)
    run(clk, imu, 3)
    h = imu.health()
    assert h.overflows + h.bad_data >= 1  # 0xFFFF count or a bad frame, never accepted
    out = run(clk, imu, 100)
    assert len(out) >= 190
    assert out[-1].accel_mps2 == pytest.approx((0.0, 0.0, -G0), abs=0.01)


def test_poll_before_open_and_after_close() -> None:
    _clk, _bus, emu, imu = rig()
    assert imu.poll() == []
    imu.open()
    imu.close()
    assert emu.regs[R.PWR_MGMT_1] & 0x40
    assert imu.poll() == []


def test_noisy_chip_statistics() -> None:
    clk, _bus, _emu, imu = rig(quiet=False)
    imu.open()
    out = run(clk, imu, 500)
    acc = np.array([s.accel_mps2 for s in out])
    assert np.std(acc[:, 0]) == pytest.approx(0.02, rel=0.3)
    assert math.isclose(float(np.mean(acc[:, 2])), -G0, abs_tol=0.3)


def test_overflow_flag_from_int_status_also_counts() -> None:
    clk, _bus, emu, imu = rig()
    imu.open()
    run(clk, imu, 10)
    emu.regs[R.INT_STATUS] |= R.INT_FIFO_OFLOW  # seen only by the periodic status read
    run(clk, imu, 300)
    assert imu.health().overflows == 1
    assert emu.regs[R.INT_STATUS] == 0  # read clears it
    assert len(run(clk, imu, 50)) >= 95


def test_without_temperature_in_fifo_12_byte_frames() -> None:
    clk, _bus, emu, imu = rig(temp_in_fifo=False)
    imu.open()
    out = run(clk, imu, 200)
    assert emu.regs[R.FIFO_EN] == 0x78 and emu.frame_size() == 12
    assert len(out) >= 395 and set(np.diff(seqs(out))) == {1}
    assert math.isnan(out[-1].temp_c)
    assert out[-1].accel_mps2 == pytest.approx((0.0, 0.0, -G0), abs=0.01)


def test_low_rate_with_dlpf() -> None:
    clk, _bus, emu, imu = rig(rate_hz=200.0, dlpf_cfg=4)
    imu.open()
    assert imu.rate_hz == 200.0 and emu.regs[R.SMPLRT_DIV] == 4
    out = run(clk, imu, 500)
    assert abs(len(out) - 200) <= 2


class PointerWrapsEmulator(Mpu6050Emulator):
    """A chip whose register pointer moves on past FIFO_R_W in a burst started elsewhere
    (the behaviour the one-burst read assumes absent)."""

    def i2c_read(self, n: int) -> bytes:
        if self._ptr != R.FIFO_COUNT_H or n <= 3:
            return super().i2c_read(n)
        head = super().i2c_read(3)  # count H, count L, one FIFO byte
        self._ptr = R.WHO_AM_I
        return head + bytes(self.regs[R.WHO_AM_I + i & 0x7F] for i in range(n - 3))


def test_falls_back_to_two_step_reads_if_the_pointer_does_not_stick() -> None:
    clk = NoSleepClock()
    bus = EmulatedI2cBus(clk)
    emu = PointerWrapsEmulator(clk, still, accel_noise_mps2=0, gyro_noise_rps=0,
                               accel_bias_mps2=0, gyro_bias_rps=0)
    bus.attach(0x68, emu)
    imu = Mpu6050(bus, clk)
    imu.open()
    run(clk, imu, 20)
    h = imu.health()
    assert h.counters.combined_read == 0 and h.bad_data == 3
    out = run(clk, imu, 200)
    assert len(out) >= 395 and set(np.diff(seqs(out))) == {1}
    assert imu.health().bad_data == 3
