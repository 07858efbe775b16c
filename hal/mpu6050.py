"""MPU-6050 family IMU on I2C (MPU-6050/6000/9150, MPU-6500, MPU-9250), run from its FIFO.

Sources: MPU-6000/6050 Product Specification rev 3.4 (PS) and Register Map rev 4.2 (RM);
REFERENCE.md. The driver never waits in ``poll()``: bring-up is a small state machine that
``open()`` drives with ``clock.sleep_until`` and ``poll()`` advances when a step is due.

Reading: each poll is normally ONE transaction, a burst from FIFO_COUNT_H that returns the
count latched at the start and then FIFO data (the register pointer stays on FIFO_R_W; PX4's
InvenSense drivers read the same way). Since the count is only known after the read, the
driver asks for the frames it *knows* are there (the frames left last time plus the frames
the estimated rate guarantees since, minus a margin) and leaves the rest for the next poll:
about one frame of standing latency (timestamped correctly) for half the transactions.
``combined_read = false`` reads the count first and then the whole backlog (two
transactions, no standing latency). Reading past the count would pop a frame that arrived
mid-read and lose it silently, so if that ever happens the FIFO is reset and the loss counted.

Timestamps: the chip has none. ``hal.timesync.FifoTimestamper`` makes device time from the
driver's sample counter * nominal period, takes one observation a poll (the newest frame in the
FIFO was measured at most one period before the count latched), fits offset and skew by the
lower envelope and slews; every sample is stamped through that mapping. The mapper is fed
the lowest observation of each ~32 ms block, so its window spans seconds at little cost. The
phase information comes from where the chip's samples fall against the poll times: real
scheduling jitter spreads that well, but a perfectly periodic (lock-step simulated) poll with a
rate error of only ~0.1 % sweeps the phase slowly, and until a whole sweep fits the window the
stamps can be off by up to one sample period.

Longer than the ~400-line guide on purpose: one chip, one file (DESIGN.md): the register map, the
bring-up state machine, FIFO reading with its integrity checks and the periodic register checks;
the bus plumbing is in ``hal.i2c_device``, the timestamping in ``hal.timesync``.
"""

from __future__ import annotations

import errno
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from hal.i2c_device import (
    CheckedRegister,
    DeviceMissingError,
    I2cCounters,
    I2cDevice,
    SMBusLike,
    describe,
)
from hal.interfaces import Clock
from hal.timesync import FifoTimestamper
from hal.tomlschema import rng
from hal.types import ImuSample

log = logging.getLogger(__name__)

# Register map (RM section 3)
SMPLRT_DIV = 0x19
CONFIG = 0x1A  # DLPF_CFG bits 2:0
GYRO_CONFIG = 0x1B  # FS_SEL bits 4:3
ACCEL_CONFIG = 0x1C  # AFS_SEL bits 4:3
FIFO_EN = 0x23
INT_ENABLE = 0x38
INT_STATUS = 0x3A
TEMP_OUT_H = 0x41
USER_CTRL = 0x6A
PWR_MGMT_1 = 0x6B
FIFO_COUNT_H = 0x72
FIFO_R_W = 0x74
WHO_AM_I = 0x75

FIFO_EN_TEMP = 0x80
FIFO_EN_GYRO = 0x70  # XG | YG | ZG
FIFO_EN_ACCEL = 0x08
INT_FIFO_OFLOW = 0x10
USER_FIFO_EN = 0x40
USER_FIFO_RESET = 0x04  # acts only while USER_CTRL.FIFO_EN is 0 (REFERENCE.md); self-clearing
USER_RESET_BITS = 0x07  # SIG_COND_RESET | I2C_MST_RESET | FIFO_RESET (RM 4.29): self-clearing
PWR_DEVICE_RESET = 0x80
PWR_SLEEP = 0x40
PWR_CLKSEL_PLL_X = 0x01  # PS 6.7: PLL with X gyro reference, better than the 8 MHz RC

CHIPS = {0x68: ("MPU-6050/6000/9150", 1024), 0x70: ("MPU-6500", 512), 0x71: ("MPU-9250", 512)}
G0 = 9.80665
GYRO_LSB_PER_DPS = {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4}  # RM 4.19
ACCEL_LSB_PER_G = {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0}  # RM 4.17
GYRO_FS_SEL = {250: 0, 500: 1, 1000: 2, 2000: 3}
ACCEL_FS_SEL = {2: 0, 4: 1, 8: 2, 16: 3}
RESET_WAIT_NS = 100_000_000  # REFERENCE.md bring-up: 100 ms after DEVICE_RESET clears
CLOCK_WAIT_NS = 10_000_000  # settle after selecting the PLL, before leaving SLEEP
RETRY_INIT_NS = 100_000_000
TEMP_TOLERANCE_LSB = 340 * 3  # 3 degC between a FIFO frame and TEMP_OUT (RM 4.18: 340 LSB/C)
# The chip's axes (Z up out of the package) turned to FRD when mounted level, top up;
# the configured mounting rotation applies after this.
FRD_FROM_CHIP = np.diag([1.0, -1.0, -1.0])


def rotation_from_name(name: str) -> npt.NDArray[np.float64]:
    """'none', or a PX4-style name such as 'roll_180_yaw_90': body = Rz(yaw) Ry(pitch) Rx(roll)
    applied to the sensor vector."""
    if name == "none":
        return np.eye(3)
    parts = re.fullmatch(r"((?:roll|pitch|yaw)_\d+)(?:_((?:roll|pitch|yaw)_\d+))*", name)
    if parts is None:
        raise ValueError(f"unknown rotation {name!r} (e.g. 'none', 'yaw_90', 'roll_180_yaw_90')")
    angles = {"roll": 0.0, "pitch": 0.0, "yaw": 0.0}
    for axis, deg in re.findall(r"(roll|pitch|yaw)_(\d+)", name):
        angles[axis] = math.radians(float(deg))
    cr, sr = math.cos(angles["roll"]), math.sin(angles["roll"])
    cp, sp = math.cos(angles["pitch"]), math.sin(angles["pitch"])
    cy, sy = math.cos(angles["yaw"]), math.sin(angles["yaw"])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    m: npt.NDArray[np.float64] = np.round(rz @ ry @ rx, 12)
    return m


@dataclass
class Mpu6050Settings:
    address: int = field(default=0x68, metadata=rng(0x68, 0x69))
    rate_hz: float = field(default=1000.0, metadata=rng(4, 1000))  # gyro rate / (1 + div)
    dlpf_cfg: int = field(default=1, metadata=rng(0, 6))  # 1: ~188 Hz; 0 runs the gyro at 8 kHz
    gyro_fs_dps: Literal[250, 500, 1000, 2000] = 2000
    accel_fs_g: Literal[2, 4, 8, 16] = 16
    rotation: str = "none"  # mounting, PX4-style name; see rotation_from_name
    rotation_matrix: list[list[float]] | None = None  # overrides rotation: body = R @ sensor
    temp_in_fifo: bool = True  # 2 bytes more per frame, buys the misalignment check
    combined_read: bool = True  # one transaction per poll (see module doc)
    max_consecutive_failures: int = field(default=10, metadata=rng(1, 100_000))
    config_check_ms: float = field(default=100.0, metadata=rng(5, 60_000))
    read_latency_us: float = field(default=0.0, metadata=rng(0, 10_000))  # start -> count latch
    clock_window: int = field(default=128, metadata=rng(8, 4096))  # observations kept
    clock_block_ms: float = field(default=32.0, metadata=rng(0, 1000))  # one kept per block

    def validate(self) -> str:
        try:
            self.mounting()
        except ValueError as exc:
            return str(exc)
        return ""

    def mounting(self) -> npt.NDArray[np.float64]:
        if self.rotation_matrix is None:
            return rotation_from_name(self.rotation)
        m = np.asarray(self.rotation_matrix, dtype=float)
        if m.shape != (3, 3):
            raise ValueError("rotation_matrix: must be 3 rows of 3 numbers")
        if not np.allclose(m @ m.T, np.eye(3), atol=1e-3) or np.linalg.det(m) < 0:
            raise ValueError("rotation_matrix: must be a proper rotation (orthonormal, det +1)")
        return m


class Mpu6050MissingError(DeviceMissingError):
    pass


@dataclass(slots=True)
class Mpu6050Counters(I2cCounters):
    fifo_fill_bytes: int = 0  # FIFO_COUNT at the last read
    overreads: int = 0  # reads past the count (FIFO reset, loss counted)
    fifo_resets: int = 0
    reinits: int = 0  # full bring-ups after consecutive bus failures
    combined_read: bool = True  # one transaction per poll (off after repeated misalignment)
    who_am_i: int = 0


_Step = Literal["probe", "reset", "wait_reset", "clock", "configure"]


class Mpu6050(I2cDevice[Mpu6050Counters]):
    missing_error = Mpu6050MissingError

    def __init__(
        self,
        bus: SMBusLike,
        clock: Clock,
        settings: Mpu6050Settings | None = None,
        name: str = "imu",
    ) -> None:
        self.settings = s = settings or Mpu6050Settings()
        super().__init__(bus, s.address, name,
                         Mpu6050Counters(combined_read=s.combined_read))
        self.clock = clock
        gyro_rate = 8000.0 if s.dlpf_cfg in (0, 7) else 1000.0  # RM 4.2
        self._div = max(0, min(255, round(gyro_rate / s.rate_hz) - 1))
        self.rate_hz = gyro_rate / (1 + self._div)
        self._period_nom_ns = 1e9 / self.rate_hz
        self._frame = 14 if s.temp_in_fifo else 12
        self._gyro_col = 4 if s.temp_in_fifo else 3
        m = s.mounting() @ FRD_FROM_CHIP
        self._accel_m = (m * (G0 / ACCEL_LSB_PER_G[s.accel_fs_g])).T
        self._gyro_m = (m * (math.radians(1.0) / GYRO_LSB_PER_DPS[s.gyro_fs_dps])).T
        self.checked = {
            SMPLRT_DIV: CheckedRegister(self._div),
            CONFIG: CheckedRegister(s.dlpf_cfg),
            GYRO_CONFIG: CheckedRegister(GYRO_FS_SEL[s.gyro_fs_dps] << 3),
            ACCEL_CONFIG: CheckedRegister(ACCEL_FS_SEL[s.accel_fs_g] << 3),
            FIFO_EN: CheckedRegister(
                FIFO_EN_ACCEL | FIFO_EN_GYRO | (FIFO_EN_TEMP if s.temp_in_fifo else 0)),
            INT_ENABLE: CheckedRegister(INT_FIFO_OFLOW),
            USER_CTRL: CheckedRegister(USER_FIFO_EN, mask=~USER_RESET_BITS & 0xFF),
            PWR_MGMT_1: CheckedRegister(PWR_CLKSEL_PLL_X),
        }
        # Config registers re-read in rotation, one short burst per check (as PX4 does).
        self._check_groups = [(INT_STATUS, 9), (SMPLRT_DIV, 4), (USER_CTRL, 2), (FIFO_EN, 1),
                              (INT_STATUS, 9), (INT_ENABLE, 1)]
        self._check_idx = 0
        self.chip = ""
        self.fifo_size = 1024
        self.stamper = FifoTimestamper(
            self._period_nom_ns, window=s.clock_window, block_ns=int(s.clock_block_ms * 1e6),
            latency_ns=int(s.read_latency_us * 1000))
        self._health.clock = self.stamper.stats
        self._opened = False
        self._running = False
        self._step: _Step = "probe"
        self._due = 0
        self._tries = 0
        self._fails = 0
        self._rem: int = 0  # frames known to remain in the FIFO after the last read
        self._t_last_read: int = 0
        self._temp_ref: int | None = None
        self._next_check: int = 0
        self._next_stale_check: int = 0
        self._last_data_ns: int = 0
        self._stale_ns: int = int(20 * self._period_nom_ns)
        self._oflow_counted: bool = False
        self._bad_streak = 0
        self._combined = s.combined_read

    # -- Device protocol ------------------------------------------------------------------

    def open(self) -> None:
        """Probe, reset and configure, waiting as the datasheet asks. Raises
        DeviceMissingError (naming address and what answered) if the chip is not there."""
        self._opened = True
        self.stamper.reset()
        self._start_init(self.clock.now_ns())
        while not self._running:
            now = self.clock.now_ns()
            if now < self._due:
                self.clock.sleep_until(self._due)
                now = self.clock.now_ns()
            try:
                self._init_step(now)
            except DeviceMissingError:
                self._opened = False
                raise
            except OSError as exc:
                self._opened = False
                raise self._no_answer(exc, "no usable answer from an MPU-6050 family chip",
                                      during=self._step) from exc
        log.info("%s: %s at 0x%02x, %.1f Hz, FIFO %d bytes", self.name, self.chip, self.addr,
                 self.rate_hz, self.fifo_size)

    def close(self) -> None:
        if self._running:
            try:
                self._write(USER_CTRL, 0)
                self._write(PWR_MGMT_1, PWR_SLEEP)
            except OSError as exc:
                self._health.note_error(f"close: {describe(exc)}")
        self._opened = False
        self._running = False
        self._health.connected = False

    def poll(self) -> list[ImuSample]:
        if not self._opened:
            return []
        now = self.clock.now_ns()
        if not self._running:
            if now >= self._due:
                try:
                    self._init_step(now)
                except OSError as exc:
                    self._health.note_error(f"re-init {self._step}: {describe(exc)}")
                    self._start_init(now + RETRY_INIT_NS)
            return []
        try:
            out = self._read_fifo(now)
        except OSError as exc:
            self._bus_failure(exc, now)
            return []
        self._fails = 0
        stale = not out and now - self._last_data_ns > self._stale_ns
        if now >= self._next_check or (stale and now >= self._next_stale_check):
            # No data for a while: the chip may have reset itself; check sooner.
            self._next_check = now + int(self.settings.config_check_ms * 1e6)
            self._next_stale_check = now + self._stale_ns
            try:
                self._check(now)
            except OSError as exc:
                self._bus_failure(exc, now)
        return out

    # -- bring-up state machine -------------------------------------------------------------

    def _start_init(self, due: int) -> None:
        self._running = False
        self._health.connected = False
        self._step = "probe"
        self._due = due
        self._tries = 0

    def _init_step(self, now: int) -> None:
        if self._step == "probe":
            who = self._read(WHO_AM_I)
            if who not in CHIPS:
                raise self._wrong_chip(
                    f"device at I2C address 0x{self.addr:02x} answered WHO_AM_I=0x{who:02x}; "
                    "not an MPU-6050 family chip (expected 0x68, 0x70 or 0x71)")
            self.chip, self.fifo_size = CHIPS[who]
            self.counters.who_am_i = who
            self._step, self._due = "reset", now
        elif self._step == "reset":
            self._write(PWR_MGMT_1, PWR_DEVICE_RESET)
            self._step, self._due, self._tries = "wait_reset", now + 1_000_000, 0
        elif self._step == "wait_reset":
            try:
                resetting = bool(self._read(PWR_MGMT_1) & PWR_DEVICE_RESET)
            except OSError:
                resetting = True  # a chip may not answer while it resets
            if resetting:
                self._tries += 1
                if self._tries > 100:
                    raise OSError(errno.EIO, "DEVICE_RESET did not clear")
                self._due = now + 1_000_000
            else:
                self._step, self._due = "clock", now + RESET_WAIT_NS
        elif self._step == "clock":
            self._write(PWR_MGMT_1, PWR_SLEEP | PWR_CLKSEL_PLL_X)
            self._step, self._due = "configure", now + CLOCK_WAIT_NS
        else:
            self._configure(now)
            self._running = True
            self._health.connected = True

    def _configure(self, now: int) -> None:
        """Write every config register (wakes the chip), verify, restart the FIFO. No waits:
        also used in flight after a changed register or a spontaneous chip reset."""
        e = self.checked
        self._write(PWR_MGMT_1, e[PWR_MGMT_1].value)
        for reg in (SMPLRT_DIV, CONFIG, GYRO_CONFIG, ACCEL_CONFIG, INT_ENABLE, FIFO_EN):
            self._write(reg, e[reg].value)
        got = self._read_block(SMPLRT_DIV, 4)
        want = [e[reg].value for reg in (SMPLRT_DIV, CONFIG, GYRO_CONFIG, ACCEL_CONFIG)]
        if got != want:
            raise OSError(errno.EIO, f"config read back {got}, wrote {want}")
        self._temp_ref = None
        self._fifo_reset(now)

    # -- the FIFO ---------------------------------------------------------------------------

    def _fifo_reset(self, now: int) -> None:
        """FIFO off, reset, on (FIFO_RESET only acts while FIFO_EN is 0)."""
        self._write(USER_CTRL, 0)
        self._write(USER_CTRL, USER_FIFO_RESET)
        self._write(USER_CTRL, USER_FIFO_EN)
        self.counters.fifo_resets += 1
        self._rem = 0
        self._t_last_read = self.clock.now_ns()
        self.stamper.resync()
        self._last_data_ns = max(self._last_data_ns, now)

    def _safe_frames(self, now: int) -> int:
        """Frames certainly in the FIFO now: those left last time plus those the (slowest
        plausible) rate must have produced since the last read finished."""
        period = self.stamper.period_host_ns()
        # Until the rate is estimated, allow for an oscillator a few percent slow.
        margin = 0.995 if self.stamper.stats.updates >= 30 else 0.94
        new = math.floor((now - self._t_last_read) / period * margin)
        return max(0, min(self._rem + new, self.fifo_size // self._frame))

    def _read_fifo(self, now: int) -> list[ImuSample]:
        f = self._frame
        if self._combined:
            k = self._safe_frames(now)
            raw = self._burst(FIFO_COUNT_H, 2 + k * f)
            count = (raw[0] << 8) | raw[1]
            data = raw[2:]
        else:
            raw = self._burst(FIFO_COUNT_H, 2)
            count = (raw[0] << 8) | raw[1]
            k = min(count, self.fifo_size) // f
            data = self._burst(FIFO_R_W, k * f) if k and count % f == 0 else b""
        self._t_last_read = self.clock.now_ns()
        self.counters.fifo_fill_bytes = count
        if count >= self.fifo_size:
            self._overflow(now, count)
            return []
        if count % f:
            self._misaligned(now, f"FIFO count {count} not a multiple of {f}")
            return []
        have = count // f
        if have < k:
            # Read past the count: a frame that arrived mid-read may be half popped.
            self.counters.overreads += 1
            k = have
            data = data[: k * f]
            self._fifo_reset(now)
            self._health.resets += 1
        self._rem = have - k
        if k == 0:
            return []
        return self._decode(now, data, k)

    def _misaligned(self, now: int, why: str) -> None:
        self._health.bad_data += 1
        self._bad_streak += 1
        log.warning("%s: %s: misaligned, FIFO reset", self.name, why)
        self._fifo_reset(now)
        if self._combined and self._bad_streak >= 3:
            # The one-burst read relies on the register pointer staying on FIFO_R_W; a chip
            # that does not behave so shows up as misalignment every time.
            self._combined = False
            self.counters.combined_read = False
            log.warning("%s: repeated misalignment: falling back to count-then-data reads",
                        self.name)

    def _overflow(self, now: int, count: int) -> None:
        self._health.overflows += 1
        self._health.resets += 1
        self._oflow_counted = True
        log.warning("%s: FIFO overflow (%d bytes): reset", self.name, count)
        self._fifo_reset(now)

    def _decode(self, now: int, data: bytes, k: int) -> list[ImuSample]:
        raw = np.frombuffer(data, dtype=">i2").reshape(k, self._frame // 2)
        temps = raw[:, 3] if self.settings.temp_in_fifo else None
        if temps is not None and self._temp_ref is not None and (
            self._temp_off(temps) and self._temp_off(temps, refresh=True)
        ):
            self._misaligned(now, "FIFO temperature disagrees with TEMP_OUT")
            return []
        self._bad_streak = 0
        accel = raw[:, 0:3] @ self._accel_m
        g = self._gyro_col
        gyro = raw[:, g : g + 3] @ self._gyro_m
        temp_c = temps / 340.0 + 36.53 if temps is not None else np.full(k, math.nan)

        stamps = self.stamper.stamp(k, self._rem, self._t_last_read, now)
        self._health.lost += stamps.lost
        out = [
            ImuSample(
                t,
                c,
                (float(a[0]), float(a[1]), float(a[2])),
                (float(w[0]), float(w[1]), float(w[2])),
                float(tc),
            )
            for t, c, a, w, tc in zip(
                stamps.t_ns, range(stamps.first, stamps.first + k), accel.tolist(),
                gyro.tolist(), temp_c.tolist(), strict=True,
            )
        ]
        self._last_data_ns = now
        self._health.samples += k
        return out

    def _temp_off(self, temps: npt.NDArray[np.int16], refresh: bool = False) -> bool:
        """Does any frame's temperature disagree with TEMP_OUT? On suspicion the register
        is read afresh first: the reference may predate the first sample after a reset."""
        if refresh:
            hi, lo = self._read_block(TEMP_OUT_H, 2)
            t = (hi << 8) | lo
            self._temp_ref = t - 0x10000 if t & 0x8000 else t
        ref = self._temp_ref if self._temp_ref is not None else 0
        return bool(np.max(np.abs(temps.astype(np.int32) - ref)) > TEMP_TOLERANCE_LSB)

    # -- periodic checks ----------------------------------------------------------------------

    def _check(self, now: int) -> None:
        """One short burst per check, rotating: a config register group against what was
        written (a mismatch -- a glitch, or the chip reset itself -- is counted and the chip
        reconfigured without waiting), or INT_STATUS + TEMP_OUT (0x3A..0x42)."""
        reg, n = self._check_groups[self._check_idx]
        self._check_idx = (self._check_idx + 1) % len(self._check_groups)
        if reg == INT_STATUS:
            got = self._read_block(reg, n)
            if got[0] & INT_FIFO_OFLOW and not self._oflow_counted:
                self._overflow(now, -1)
            self._oflow_counted = False
            t = (got[7] << 8) | got[8]
            self._temp_ref = t - 0x10000 if t & 0x8000 else t
            return
        bad = self._check_registers(reg, n)
        if bad is not None:
            self._health.resets += 1
            log.warning("%s: register 0x%02x read %s, expected %s: reconfiguring",
                        self.name, reg, bad.got, bad.want)
            self._configure(now)

    def _bus_failure(self, exc: OSError, now: int) -> None:
        self._health.note_error(describe(exc))
        self.stamper.resync()  # a failed FIFO read may have popped frames
        self._fails += 1
        if self._fails >= self.settings.max_consecutive_failures:
            log.warning("%s: %d consecutive bus failures (%s): full re-init",
                        self.name, self._fails, describe(exc))
            self._fails = 0
            self._health.resets += 1
            self.counters.reinits += 1
            self._start_init(now)
