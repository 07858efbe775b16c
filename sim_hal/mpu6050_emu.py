"""Register-level emulator of the MPU-6050 family (MPU-6050/6000/9150, MPU-6500, MPU-9250).

Follows the MPU-6000/6050 register map (RM-MPU-6000A rev 4.2) closely enough for a driver
written against the real chip: power-on/DEVICE_RESET defaults (everything 0, SLEEP set,
WHO_AM_I per variant), sample rate = gyro output rate / (1 + SMPLRT_DIV) with the gyro at
8 kHz when DLPF_CFG is 0 or 7, scaling by FS_SEL/AFS_SEL, and a FIFO filled lazily up to
``clock.now_ns()`` at the chip's *own* rate (nominal * (1 + rate_error_ppm/1e6)). All
variants use the MPU-6050's register map (the MPU-6500's ACCEL_CONFIG2 is not emulated).

Signal path (register map 4.3 CONFIG, 4.4 SMPLRT_DIV, 4.28-4.29 PWR_MGMT_1/2):
- The gyro is sampled internally at 8 kHz (DLPF_CFG 0 or 7) or 1 kHz, the accelerometer at
  1 kHz always. An output sample carries the newest value of each: with the gyro at 8 kHz and
  SMPLRT_DIV=0 the accelerometer value repeats eight times, as the register map says.
- DLPF: each axis runs a one-pole IIR low-pass, ``y += (1 - a) (x - y)``, at its internal
  rate, its pole placed for exactly -3 dB at the bandwidth DLPF_CFG selects (table
  ``DLPF``); input = truth + bias + white noise, so the noise shrinks with the bandwidth.
  The register map also gives each setting a delay. A one-pole is quicker than that for
  DLPF_CFG 1-4 (and the gyro at 0), so a pure delay tops it up (the truth is sampled that
  much earlier): there the model's DC group delay is the datasheet's. Where the pole alone
  is slower it is left so: accel at 0 lags 0.35 ms (datasheet 0), and at 5 and 6 both
  sensors lag 15.4 and 31.3 ms (datasheet 13.8/13.4 and 19.0/18.6 ms; a one-pole this narrow
  cannot be quicker). DLPF_CFG 7 is reserved: modelled as 0.
- Noise parameters are the output noise std at DLPF_CFG=0 (widest band); narrower bands
  scale it as white noise through the filter (about sqrt of the bandwidth).
- Cost: one truth evaluation per output sample (two when the accel and gyro delays differ);
  the filter over the internal samples between two output samples is computed in closed
  form (decay, linear-ramp input gains, and the exact std of the filtered noise), so an
  8 kHz internal rate costs nothing more at 1 kHz output.
- Cycle mode (PWR_MGMT_1 CYCLE set, SLEEP clear): the chip wakes at LP_WAKE_CTRL's rate
  (1.25/5/20/40 Hz), takes one accelerometer sample and sleeps. Each wake updates the accel
  registers (truth + the noise the configured band has in steady state: the filter does not
  run between wakes), the temperature unless TEMP_DIS, sets DATA_RDY and, FIFO on, pushes one
  frame (gyro fields repeat the held registers). The gyro is not sampled.
- PWR_MGMT_2 STBY_xA/xG put single axes in standby: their registers hold their last value
  (the register map does not say what a standby axis reads). TEMP_DIS freezes TEMP_OUT.

FIFO behaviour (REFERENCE.md, register map 4.32-4.33, 4.29): frames enter in register order
(accel, temp, gyro x/y/z as enabled in FIFO_EN); on overflow the oldest bytes are dropped (so
frame alignment is lost because 1024 is not a multiple of the frame) and INT_STATUS
FIFO_OFLOW_INT is set if enabled; reading an empty FIFO repeats the last byte read;
USER_CTRL FIFO_RESET only acts while USER_CTRL FIFO_EN is 0. The register pointer does not
advance past FIFO_R_W in a burst, so one burst from FIFO_COUNT_H reads the count and then
FIFO data (the behaviour PX4's InvenSense drivers rely on).

Longer than the ~400-line guide on purpose: one chip, one file (like its driver): this
description, the register map as named constants, and one model of the signal path and FIFO.
"""

from __future__ import annotations

import functools
import logging
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

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
PWR_MGMT_2 = 0x6C
FIFO_COUNT_H = 0x72
FIFO_COUNT_L = 0x73
FIFO_R_W = 0x74
WHO_AM_I = 0x75

FIFO_EN_TEMP, FIFO_EN_XG, FIFO_EN_YG, FIFO_EN_ZG, FIFO_EN_ACCEL = 0x80, 0x40, 0x20, 0x10, 0x08
INT_FIFO_OFLOW = 0x10
INT_DATA_RDY = 0x01
USER_FIFO_EN, USER_FIFO_RESET = 0x40, 0x04
PWR_DEVICE_RESET, PWR_SLEEP, PWR_CYCLE, PWR_TEMP_DIS = 0x80, 0x40, 0x20, 0x08
# PWR_MGMT_2: LP_WAKE_CTRL bits 7:6, then STBY_XA YA ZA XG YG ZG (bits 5..0).
LP_WAKE_HZ = (1.25, 5.0, 20.0, 40.0)
STBY_ACCEL = (0x20, 0x10, 0x08)
STBY_GYRO = (0x04, 0x02, 0x01)

G0 = 9.80665
GYRO_LSB_PER_DPS = (131.0, 65.5, 32.8, 16.4)
ACCEL_LSB_PER_G = (16384.0, 8192.0, 4096.0, 2048.0)
VARIANTS = {0x68: 1024, 0x70: 512, 0x71: 512}  # WHO_AM_I -> FIFO size in bytes
# Chip axes (X, Y, Z up out of the package top) vs body FRD when mounted level, top up.
CHIP_FROM_FRD = np.diag([1.0, -1.0, -1.0])
_READ_ONLY = set(range(0x3B, 0x61)) | {INT_STATUS, FIFO_COUNT_H, FIFO_COUNT_L, WHO_AM_I}

ACCEL_RATE_HZ = 1000.0
# Register map 4.3: DLPF_CFG -> accel (bandwidth Hz, delay ms), gyro (bandwidth Hz, delay ms,
# internal rate Hz). 7 is reserved (gyro at 8 kHz): given 0's figures.
DLPF: dict[int, tuple[float, float, float, float, float]] = {
    0: (260.0, 0.0, 256.0, 0.98, 8000.0),
    1: (184.0, 2.0, 188.0, 1.9, 1000.0),
    2: (94.0, 3.0, 98.0, 2.8, 1000.0),
    3: (44.0, 4.9, 42.0, 4.8, 1000.0),
    4: (21.0, 8.5, 20.0, 8.3, 1000.0),
    5: (10.0, 13.8, 10.0, 13.4, 1000.0),
    6: (5.0, 19.0, 5.0, 18.6, 1000.0),
    7: (260.0, 0.0, 256.0, 0.98, 8000.0),
}
_SETTLED = 1e-12  # a filter restarted after a long gap is stepped until its start is this small

Truth = Callable[[int], tuple[Vec3, Vec3, float]]  # t_ns -> (accel FRD m/s^2, gyro FRD rad/s, C)
Axes = list[float]  # x, y, z: plain floats, cheaper than numpy at three elements
_NORMALS_BLOCK = 3 * 1024
_DATA = struct.Struct(">7h")


def one_pole(bandwidth_hz: float, rate_hz: float) -> float:
    """Pole ``a`` of ``y += (1 - a) (x - y)`` run at ``rate_hz`` whose gain is exactly -3 dB
    at ``bandwidth_hz`` (from |H|^2 = 1/2: a^2 - 2a(2 - cos w) + 1 = 0)."""
    c = 2.0 - math.cos(2.0 * math.pi * bandwidth_hz / rate_hz)
    return c - math.sqrt(c * c - 1.0)


@functools.lru_cache(maxsize=512)
def span_gains(a: float, m: int) -> tuple[float, float, float, float]:
    """``m`` steps of the one-pole at once, its input ramping linearly from ``x0`` (the
    previous step's input) to ``x1`` (the last step's): y_m = am*y_0 + c0*x0 + c1*x1 + q*e,
    where e ~ N(0, 1) stands for the filtered unit white noise of the m steps."""
    am = a**m
    c0 = a * (1.0 - m * a ** (m - 1) + (m - 1) * am) / (m * (1.0 - a))
    q = (1.0 - a) * math.sqrt((1.0 - am * am) / (1.0 - a * a))
    return am, c0, 1.0 - am - c0, q


@dataclass(frozen=True, slots=True)
class _Band:
    """One DLPF_CFG setting, precomputed for this chip's noise levels."""

    a_accel: float
    a_gyro: float
    gyro_rate_hz: float
    gyro_ticks_per_accel: int
    accel_noise_in: float  # std of the white noise entering the filter, per internal sample
    gyro_noise_in: float
    accel_noise_out: float  # std at the filter's output in steady state
    gyro_noise_out: float
    accel_delay_ns: int  # pure delay topping the pole's up to the datasheet's
    gyro_delay_ns: int
    accel_settle_ticks: int
    gyro_settle_ticks: int


def _i16(v: float) -> int:
    """The register's signed 16 bits, saturating (NaN reads 0)."""
    if v >= 32767.0:
        return 32767
    if v <= -32768.0:
        return -32768
    return round(v) if v == v else 0


def _steady_gain(a: float) -> float:
    """Output std of the one-pole fed unit white noise, in steady state."""
    return math.sqrt((1.0 - a) / (1.0 + a))


def _settle_ticks(a: float) -> int:
    return math.ceil(math.log(_SETTLED) / math.log(a)) if a > 0.0 else 1


def _bands(accel_noise: float, gyro_noise: float) -> dict[int, _Band]:
    a0, g0 = one_pole(DLPF[0][0], ACCEL_RATE_HZ), one_pole(DLPF[0][2], DLPF[0][4])
    accel_in = accel_noise / _steady_gain(a0)
    gyro_density = gyro_noise / _steady_gain(g0) / math.sqrt(DLPF[0][4])  # per sqrt(rate)
    out = {}
    for cfg, (bw_a, delay_a, bw_g, delay_g, rate_g) in DLPF.items():
        a, g = one_pole(bw_a, ACCEL_RATE_HZ), one_pole(bw_g, rate_g)
        gyro_in = gyro_density * math.sqrt(rate_g)
        pole_delay_a = a / (1.0 - a) / ACCEL_RATE_HZ  # DC group delay of the one-pole, s
        pole_delay_g = g / (1.0 - g) / rate_g
        out[cfg] = _Band(
            a_accel=a, a_gyro=g, gyro_rate_hz=rate_g,
            gyro_ticks_per_accel=round(rate_g / ACCEL_RATE_HZ),
            accel_noise_in=accel_in, gyro_noise_in=gyro_in,
            accel_noise_out=accel_in * _steady_gain(a), gyro_noise_out=gyro_in * _steady_gain(g),
            accel_delay_ns=round(max(0.0, delay_a * 1e-3 - pole_delay_a) * 1e9),
            gyro_delay_ns=round(max(0.0, delay_g * 1e-3 - pole_delay_g) * 1e9),
            accel_settle_ticks=_settle_ticks(a), gyro_settle_ticks=_settle_ticks(g),
        )
    return out


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
        """``accel_noise_mps2``/``gyro_noise_rps``: output noise std at DLPF_CFG=0."""
        if who_am_i not in VARIANTS:
            raise ValueError(f"unknown MPU variant WHO_AM_I=0x{who_am_i:02x}")
        self.clock = clock
        self.truth = truth
        self.who_am_i = who_am_i
        self.fifo_size = VARIANTS[who_am_i]
        self.rate_scale = 1.0 + rate_error_ppm * 1e-6
        rng = np.random.default_rng(seed)
        self._rng = rng
        self._bands = _bands(accel_noise_mps2, gyro_noise_rps)
        self._accel_bias = rng.normal(0.0, accel_bias_mps2, 3) if accel_bias_mps2 else np.zeros(3)
        self._gyro_bias = rng.normal(0.0, gyro_bias_rps, 3) if gyro_bias_rps else np.zeros(3)
        m = CHIP_FROM_FRD if chip_from_body is None else np.asarray(chip_from_body, float)
        self._chip_from_body = m.reshape(3, 3)
        self._rot = [float(v) for v in self._chip_from_body.flat]
        self._bias = ([float(v) for v in self._accel_bias], [float(v) for v in self._gyro_bias])
        self._normals: list[float] = []
        self._normals_at = 0
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
        # DLPF state, chip axes, SI: outputs y, last inputs x (the ramp's start), and the
        # internal gyro tick of the last output sample (accel ticks are every Nth of them).
        self._ya: Axes = [0.0, 0.0, 0.0]
        self._yg: Axes = [0.0, 0.0, 0.0]
        self._xa: Axes = [0.0, 0.0, 0.0]
        self._xg: Axes = [0.0, 0.0, 0.0]
        self._tick = 0
        self._primed = False  # False: the next sample restarts the filters settled
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
        self._primed = False

    def _band(self) -> _Band:
        return self._bands[self.regs[CONFIG] & 0x07]

    def _cycling(self) -> bool:
        return self.regs[PWR_MGMT_1] & (PWR_CYCLE | PWR_SLEEP) == PWR_CYCLE

    def sample_period_ns(self) -> float:
        """Host ns between output samples (between wakes in cycle mode)."""
        if self._cycling():
            rate = LP_WAKE_HZ[self.regs[PWR_MGMT_2] >> 6]
        else:
            rate = self._band().gyro_rate_hz / (1 + self.regs[SMPLRT_DIV])
        return 1e9 / (rate * self.rate_scale)

    def frame_size(self) -> int:
        en = self.regs[FIFO_EN]
        n = 6 if en & FIFO_EN_ACCEL else 0
        n += 2 if en & FIFO_EN_TEMP else 0
        return n + 2 * sum(1 for b in (FIFO_EN_XG, FIFO_EN_YG, FIFO_EN_ZG) if en & b)

    def _awake(self) -> bool:
        return not self.regs[PWR_MGMT_1] & PWR_SLEEP

    def _timing_mode(self) -> tuple[bool, bool, int]:
        cycling = self._cycling()
        return self._awake(), cycling, self.regs[PWR_MGMT_2] >> 6 if cycling else 0

    def _settle_samples(self) -> int:
        """Output samples a restarted filter needs to match one that ran all along."""
        if self._cycling():
            return 0
        b = self._band()
        step = 1 + self.regs[SMPLRT_DIV]
        gyro = -(-b.gyro_settle_ticks // step)
        accel = -(-b.accel_settle_ticks * b.gyro_ticks_per_accel // step)
        return max(gyro, accel) + 2

    def _advance(self, now: int) -> None:
        if not self._awake():
            self._running = False
            return
        period = self.sample_period_ns()
        if not self._running:
            self._running = True
            self._primed = False
            self._t_next = now + period
            return
        if self._t_next > now:
            return
        n = int((now - self._t_next) // period) + 1
        fifo_on = bool(self.regs[USER_CTRL] & USER_FIFO_EN) and self.frame_size() > 0
        unseen = 0  # samples the host can never see: pushed out of the FIFO, or overwritten
        if fifo_on:
            keep = self.fifo_size // max(1, self.frame_size()) + 2
            if n > keep + 1:
                unseen = n - keep
        elif n > 2:
            unseen = n - 1
        skip = 0
        if unseen:
            # Skip all but the filters' settling time of them: the result is the same (to
            # _SETTLED) and the cost bounded after long gaps; the rest run unseen.
            skip = max(0, unseen - self._settle_samples())
            if skip:
                self._t_next += skip * period
                self.samples_produced += skip
                self._primed = False
            if fifo_on:
                self._overflow(len(self.fifo) + unseen * self.frame_size())
                self.fifo.clear()
        for i in range(skip, n):
            self._sample(int(self._t_next), fifo_on and i >= unseen)
            self._t_next += period

    def _overflow(self, total: int) -> None:
        if total > self.fifo_size:
            self.fifo_overflows += 1
            if self.regs[INT_ENABLE] & INT_FIFO_OFLOW:
                self.regs[INT_STATUS] |= INT_FIFO_OFLOW

    # -- sampling -------------------------------------------------------------------------

    def _chip(self, v: Vec3, bias: Axes) -> Axes:
        x, y, z = v[0] + bias[0], v[1] + bias[1], v[2] + bias[2]
        r = self._rot
        return [r[0] * x + r[1] * y + r[2] * z, r[3] * x + r[4] * y + r[5] * z,
                r[6] * x + r[7] * y + r[8] * z]

    def _inputs(self, t_ns: int) -> tuple[Axes, Axes, float]:
        """Truth + bias at ``t_ns``, chip axes."""
        accel_b, gyro_b, temp_c = self.truth(t_ns)
        return self._chip(accel_b, self._bias[0]), self._chip(gyro_b, self._bias[1]), temp_c

    def _noisy(self, v: Axes, std: float) -> Axes:
        if not std:
            return v  # never mutated in place: sharing is safe
        z = self._three_normals()
        return [v[0] + std * z[0], v[1] + std * z[1], v[2] + std * z[2]]

    def _three_normals(self) -> Axes:
        i = self._normals_at
        if i + 3 > len(self._normals):  # drawn in blocks: one numpy call per 1024 samples
            self._normals = self._rng.standard_normal(_NORMALS_BLOCK).tolist()
            i = 0
        self._normals_at = i + 3
        return self._normals[i : i + 3]

    def _span(self, y: Axes, x0: Axes, x1: Axes, a: float, m: int, std_in: float) -> Axes:
        am, c0, c1, q = span_gains(a, m)
        out = [am * y[i] + c0 * x0[i] + c1 * x1[i] for i in range(3)]
        return self._noisy(out, q * std_in) if std_in else out

    def _sample(self, t_ns: int, fifo_on: bool) -> None:
        if self._cycling():
            accel_new, gyro_new, temp_c = self._wake_sample(t_ns)
        else:
            accel_new, gyro_new, temp_c = self._filter_sample(t_ns)
        self._store(accel_new, gyro_new, temp_c)
        self.samples_produced += 1
        if self.regs[INT_ENABLE] & INT_DATA_RDY:
            self.regs[INT_STATUS] |= INT_DATA_RDY
        if fifo_on:
            self._push(t_ns)

    def _filter_sample(self, t_ns: int) -> tuple[bool, bool, float]:
        """One output sample of the DLPF'd stream. Returns (accel updated, gyro updated, C)."""
        b = self._band()
        step = 1 + self.regs[SMPLRT_DIV]
        t_gyro = t_ns - b.gyro_delay_ns
        a_in, g_in, temp_c = self._inputs(t_gyro)
        if not self._primed:
            t_accel = t_ns - b.accel_delay_ns
            if t_accel != t_gyro:
                a_in = self._inputs(t_accel)[0]
            self._ya = self._noisy(a_in, b.accel_noise_out)
            self._yg = self._noisy(g_in, b.gyro_noise_out)
            self._xa, self._xg = a_in, g_in
            self._tick = 0
            self._primed = True
            return True, True, temp_c
        t0 = self._tick
        t1 = self._tick = t0 + step
        self._yg = self._span(self._yg, self._xg, g_in, b.a_gyro, step, b.gyro_noise_in)
        self._xg = g_in
        r = b.gyro_ticks_per_accel
        k = t1 // r - t0 // r  # accel samples since the last output sample
        if not k:
            return False, True, temp_c
        # the newest accel sample was (t1 % r) gyro ticks ago
        tick_ns = 1e9 / (b.gyro_rate_hz * self.rate_scale)
        t_accel = t_ns - round((t1 % r) * tick_ns) - b.accel_delay_ns
        if t_accel != t_gyro:
            a_in = self._inputs(t_accel)[0]
        self._ya = self._span(self._ya, self._xa, a_in, b.a_accel, k, b.accel_noise_in)
        self._xa = a_in
        return True, True, temp_c

    def _wake_sample(self, t_ns: int) -> tuple[bool, bool, float]:
        """Cycle mode: one accelerometer sample per wake, the gyro off."""
        a_in, _, temp_c = self._inputs(t_ns)
        self._ya = self._noisy(a_in, self._band().accel_noise_out)
        self._primed = False  # leaving cycle mode restarts the filters
        return True, False, temp_c

    def _store(self, accel_new: bool, gyro_new: bool, temp_c: float) -> None:
        """Write the data registers; standby axes and unsampled sensors hold their value."""
        a_lsb = ACCEL_LSB_PER_G[(self.regs[ACCEL_CONFIG] >> 3) & 3] / G0
        g_lsb = GYRO_LSB_PER_DPS[(self.regs[GYRO_CONFIG] >> 3) & 3] * 180.0 / math.pi
        ya, yg = self._ya, self._yg
        data = _DATA.pack(
            _i16(ya[0] * a_lsb), _i16(ya[1] * a_lsb), _i16(ya[2] * a_lsb),
            _i16((temp_c - 36.53) * 340.0),  # register map 4.18
            _i16(yg[0] * g_lsb), _i16(yg[1] * g_lsb), _i16(yg[2] * g_lsb),
        )
        stby = self.regs[PWR_MGMT_2] & 0x3F
        temp_on = not self.regs[PWR_MGMT_1] & PWR_TEMP_DIS
        if accel_new and gyro_new and temp_on and not stby:
            self.regs[ACCEL_XOUT_H : ACCEL_XOUT_H + 14] = data
            return
        update = (
            *(accel_new and not stby & bit for bit in STBY_ACCEL),
            temp_on,
            *(gyro_new and not stby & bit for bit in STBY_GYRO),
        )
        for i, on in enumerate(update):
            if on:
                self.regs[ACCEL_XOUT_H + 2 * i : ACCEL_XOUT_H + 2 * i + 2] = data[2 * i : 2 * i + 2]

    def _push(self, t_ns: int) -> None:
        data = self.regs[ACCEL_XOUT_H : ACCEL_XOUT_H + 14]
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
        mode = self._timing_mode()
        self.regs[reg] = value
        if reg in (PWR_MGMT_1, PWR_MGMT_2) and self._timing_mode() != mode:
            # woken, or into/out of cycle mode, or a new wake rate: the sample clock restarts
            self._running = False
            self._advance(self.clock.now_ns())
        elif reg in (SMPLRT_DIV, CONFIG) and self._running and not self._cycling():
            self._t_next = self.clock.now_ns() + self.sample_period_ns()
            self._tick = 0

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
