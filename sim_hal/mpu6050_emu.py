"""Register-level emulator of the MPU-6050 family (MPU-6050/6000/9150, MPU-6500, MPU-9250).

Follows the MPU-6000/6050 register map (RM-MPU-6000A rev 4.2) closely enough for a driver
written against the real chip: power-on/DEVICE_RESET defaults (everything 0, SLEEP set,
WHO_AM_I per variant), sample rate = gyro output rate / (1 + SMPLRT_DIV) with the gyro at
8 kHz when DLPF_CFG is 0 or 7, scaling by FS_SEL/AFS_SEL, and a FIFO filled lazily up to
``clock.now_ns()`` at the chip's *own* rate (nominal * (1 + rate_error_ppm/1e6)).

FIFO behaviour (REFERENCE.md, register map 4.32-4.33, 4.29): frames enter in register order
(accel, temp, gyro x/y/z as enabled in FIFO_EN); on overflow the oldest bytes are dropped (so
frame alignment is lost because 1024 is not a multiple of the frame) and INT_STATUS
FIFO_OFLOW_INT is set if enabled; reading an empty FIFO repeats the last byte read;
USER_CTRL FIFO_RESET only acts while USER_CTRL FIFO_EN is 0. The register pointer does not
advance past FIFO_R_W in a burst, so one burst from FIFO_COUNT_H reads the count and then
FIFO data (the behaviour PX4's InvenSense drivers rely on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from hal.interfaces import Clock
from hal.types import Vec3

log = logging.getLogger(__name__)

SMPLRT_DIV = 0x19
CONFIG = 0x1A
GYRO_CONFIG = 0x1B
ACCEL_CONFIG = 0x1C
FIFO_EN = 0x23
INT_ENABLE = 0x38
INT_STATUS = 0x3A
ACCEL_XOUT_H = 0x3B
TEMP_OUT_H = 0x41
GYRO_XOUT_H = 0x43
USER_CTRL = 0x6A
PWR_MGMT_1 = 0x6B
FIFO_COUNT_H = 0x72
FIFO_COUNT_L = 0x73
FIFO_R_W = 0x74
WHO_AM_I = 0x75

FIFO_EN_TEMP, FIFO_EN_XG, FIFO_EN_YG, FIFO_EN_ZG, FIFO_EN_ACCEL = 0x80, 0x40, 0x20, 0x10, 0x08
INT_FIFO_OFLOW = 0x10
INT_DATA_RDY = 0x01
USER_FIFO_EN, USER_FIFO_RESET = 0x40, 0x04
PWR_DEVICE_RESET, PWR_SLEEP = 0x80, 0x40

G0 = 9.80665
GYRO_LSB_PER_DPS = (131.0, 65.5, 32.8, 16.4)
ACCEL_LSB_PER_G = (16384.0, 8192.0, 4096.0, 2048.0)
VARIANTS = {0x68: 1024, 0x70: 512, 0x71: 512}  # WHO_AM_I -> FIFO size in bytes
# Chip axes (X, Y, Z up out of the package top) vs body FRD when mounted level, top up.
CHIP_FROM_FRD = np.diag([1.0, -1.0, -1.0])
_READ_ONLY = set(range(0x3B, 0x61)) | {INT_STATUS, FIFO_COUNT_H, FIFO_COUNT_L, WHO_AM_I}

Truth = Callable[[int], tuple[Vec3, Vec3, float]]  # t_ns -> (accel FRD m/s^2, gyro FRD rad/s, C)


class Mpu6050Emulator:
    def __init__(
        self,
        clock: Clock,
        truth: Truth,
        who_am_i: int = 0x68,
        rate_error_ppm: float = 0.0,
        seed: int = 0,
        accel_noise_mps2: float = 0.02,
        gyro_noise_rps: float = 0.002,
        accel_bias_mps2: float = 0.05,
        gyro_bias_rps: float = 0.003,
        chip_from_body: npt.ArrayLike | None = None,
        record_times: bool = False,
    ) -> None:
        if who_am_i not in VARIANTS:
            raise ValueError(f"unknown MPU variant WHO_AM_I=0x{who_am_i:02x}")
        self.clock = clock
        self.truth = truth
        self.who_am_i = who_am_i
        self.fifo_size = VARIANTS[who_am_i]
        self.rate_scale = 1.0 + rate_error_ppm * 1e-6
        rng = np.random.default_rng(seed)
        self._rng = rng
        self._accel_noise = accel_noise_mps2
        self._gyro_noise = gyro_noise_rps
        self._accel_bias = rng.normal(0.0, accel_bias_mps2, 3) if accel_bias_mps2 else np.zeros(3)
        self._gyro_bias = rng.normal(0.0, gyro_bias_rps, 3) if gyro_bias_rps else np.zeros(3)
        m = CHIP_FROM_FRD if chip_from_body is None else np.asarray(chip_from_body, float)
        self._chip_from_body = m.reshape(3, 3)
        self.record_times = record_times
        self.sample_times_ns: list[int] = []  # true time of every sample pushed to the FIFO
        self.samples_produced = 0
        self.fifo_overflows = 0
        self.regs = bytearray(128)
        self.fifo = bytearray()
        self._ptr = 0
        self._last_fifo_byte = 0
        self._t_next = 0.0  # host time of the next internal sample (float: sub-ns rate)
        self._running = False
        self.power_on_reset()

    # -- chip state -----------------------------------------------------------------------

    def power_on_reset(self) -> None:
        """Registers to their reset values (register map 3: all 0 but PWR_MGMT_1 and
        WHO_AM_I), FIFO emptied, asleep."""
        self.regs[:] = bytes(128)
        self.regs[PWR_MGMT_1] = PWR_SLEEP
        self.regs[WHO_AM_I] = self.who_am_i
        self.fifo.clear()
        self._running = False

    def sample_period_ns(self) -> float:
        dlpf = self.regs[CONFIG] & 0x07
        gyro_rate = 8000.0 if dlpf in (0, 7) else 1000.0
        rate = gyro_rate / (1 + self.regs[SMPLRT_DIV]) * self.rate_scale
        return 1e9 / rate

    def frame_size(self) -> int:
        en = self.regs[FIFO_EN]
        n = 6 if en & FIFO_EN_ACCEL else 0
        n += 2 if en & FIFO_EN_TEMP else 0
        return n + 2 * sum(1 for b in (FIFO_EN_XG, FIFO_EN_YG, FIFO_EN_ZG) if en & b)

    def _awake(self) -> bool:
        return not self.regs[PWR_MGMT_1] & PWR_SLEEP

    def _advance(self, now: int) -> None:
        if not self._awake():
            self._running = False
            return
        period = self.sample_period_ns()
        if not self._running:
            self._running = True
            self._t_next = now + period
            return
        if self._t_next > now:
            return
        n = int((now - self._t_next) // period) + 1
        fifo_on = bool(self.regs[USER_CTRL] & USER_FIFO_EN) and self.frame_size() > 0
        skip = 0
        if fifo_on:
            # Only the last fifo_size bytes of the stream survive: skip samples that would be
            # pushed out anyway (result identical, cost bounded after long gaps).
            keep = self.fifo_size // max(1, self.frame_size()) + 2
            if n > keep + 1:
                skip = n - keep
        elif n > 2:
            skip = n - 1  # only the data registers' latest value matters
        if skip:
            self._t_next += skip * period
            self.samples_produced += skip
            if fifo_on:
                self._overflow(len(self.fifo) + skip * self.frame_size())
                self.fifo.clear()
        for _ in range(n - skip):
            self._sample(int(self._t_next), fifo_on)
            self._t_next += period

    def _overflow(self, total: int) -> None:
        if total > self.fifo_size:
            self.fifo_overflows += 1
            if self.regs[INT_ENABLE] & INT_FIFO_OFLOW:
                self.regs[INT_STATUS] |= INT_FIFO_OFLOW

    def _sample(self, t_ns: int, fifo_on: bool) -> None:
        accel_b, gyro_b, temp_c = self.truth(t_ns)
        a = self._chip_from_body @ (np.asarray(accel_b) + self._accel_bias)
        g = self._chip_from_body @ (np.asarray(gyro_b) + self._gyro_bias)
        if self._accel_noise:
            a = a + self._rng.normal(0.0, self._accel_noise, 3)
        if self._gyro_noise:
            g = g + self._rng.normal(0.0, self._gyro_noise, 3)
        a_lsb = ACCEL_LSB_PER_G[(self.regs[ACCEL_CONFIG] >> 3) & 3] / G0
        g_lsb = GYRO_LSB_PER_DPS[(self.regs[GYRO_CONFIG] >> 3) & 3] * 180.0 / np.pi
        raw = np.empty(7)
        raw[0:3] = a * a_lsb
        raw[3] = (temp_c - 36.53) * 340.0  # register map 4.18
        raw[4:7] = g * g_lsb
        data = np.clip(np.round(raw), -32768, 32767).astype(">i2").tobytes()
        self.regs[ACCEL_XOUT_H : ACCEL_XOUT_H + 14] = data
        self.samples_produced += 1
        if self.regs[INT_ENABLE] & INT_DATA_RDY:
            self.regs[INT_STATUS] |= INT_DATA_RDY
        if not fifo_on:
            return
        en = self.regs[FIFO_EN]
        frame = bytearray()
        if en & FIFO_EN_ACCEL:
            frame += data[0:6]
        if en & FIFO_EN_TEMP:
            frame += data[6:8]
        for i, bit in enumerate((FIFO_EN_XG, FIFO_EN_YG, FIFO_EN_ZG)):
            if en & bit:
                frame += data[8 + 2 * i : 10 + 2 * i]
        self.fifo += frame
        if self.record_times:
            self.sample_times_ns.append(t_ns)
        if len(self.fifo) > self.fifo_size:
            self._overflow(len(self.fifo))
            del self.fifo[: len(self.fifo) - self.fifo_size]  # the oldest bytes go

    # -- I2C ------------------------------------------------------------------------------

    def i2c_write(self, data: bytes) -> None:
        self._advance(self.clock.now_ns())
        if not data:
            return
        self._ptr = data[0] & 0x7F
        for value in data[1:]:
            self._write_reg(self._ptr, value)
            if self._ptr != FIFO_R_W:
                self._ptr = (self._ptr + 1) & 0x7F

    def _write_reg(self, reg: int, value: int) -> None:
        if reg in _READ_ONLY:
            return
        if reg == FIFO_R_W:
            self.fifo.append(value)
            return
        if reg == PWR_MGMT_1 and value & PWR_DEVICE_RESET:
            self.power_on_reset()  # DEVICE_RESET self-clears (register map 4.28)
            return
        if reg == USER_CTRL:
            if value & USER_FIFO_RESET and not value & USER_FIFO_EN:
                self.fifo.clear()
            value &= ~0x07  # FIFO_RESET, I2C_MST_RESET, SIG_COND_RESET self-clear
        was_awake = self._awake()
        self.regs[reg] = value
        if reg == PWR_MGMT_1 and not was_awake and self._awake():
            self._running = False  # restart the sample clock on wake
            self._advance(self.clock.now_ns())
        if reg in (SMPLRT_DIV, CONFIG) and self._running:
            self._t_next = self.clock.now_ns() + self.sample_period_ns()

    def i2c_read(self, n: int) -> bytes:
        self._advance(self.clock.now_ns())
        count = len(self.fifo)  # latched once per transaction
        out = bytearray(n)
        clear_status = False
        for i in range(n):
            reg = self._ptr
            if reg == FIFO_R_W:
                k = min(n - i, len(self.fifo))
                if k:
                    out[i : i + k] = self.fifo[:k]
                    del self.fifo[:k]
                    self._last_fifo_byte = out[i + k - 1]
                out[i + k : n] = bytes([self._last_fifo_byte]) * (n - i - k)
                break
            if reg == FIFO_COUNT_H:
                out[i] = (count >> 8) & 0xFF
            elif reg == FIFO_COUNT_L:
                out[i] = count & 0xFF
            else:
                out[i] = self.regs[reg]
                clear_status |= reg == INT_STATUS
            self._ptr = (reg + 1) & 0x7F
        if clear_status:
            self.regs[INT_STATUS] = 0  # cleared by reading (INT_RD_CLEAR = 0)
        return bytes(out)
