"""Register-level emulator of the Garmin LIDAR-Lite v3 laser rangefinder (I2C 0x62).

From the LIDAR-Lite v3 Operation Manual and Technical Specifications: writing 0x04 (with
receiver bias correction) or 0x03 to ACQ_COMMAND (0x00) starts a measurement and sets STATUS
(0x01) bit 0 (busy) for the acquisition time; the distance in cm is then the big-endian pair
FULL_DELAY_HIGH/LOW (0x0F/0x10). Setting bit 7 of the register address auto-increments over a
multi-byte read (0x8F reads both bytes); without it the pointer stays. Writing 0x00 to
ACQ_COMMAND resets every register to its default. No return (beyond range, or nothing
there) reads 0 cm here -- the real unit's no-target reading is a small number or 0; the
driver treats both as invalid.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hal.interfaces import Clock

ACQ_COMMAND = 0x00
STATUS = 0x01
SIG_COUNT_VAL = 0x02
ACQ_CONFIG_REG = 0x04
FULL_DELAY_HIGH = 0x0F
FULL_DELAY_LOW = 0x10
AUTO_INCREMENT = 0x80

STATUS_BUSY = 0x01
STATUS_HEALTH = 0x20  # manual, STATUS register: 1 = reference and receiver bias are operational
MAX_RANGE_M = 40.0


class LidarLiteV3Emulator:
    def __init__(
        self,
        clock: Clock,
        range_m: Callable[[int], float],
        acquisition_ns: int = 3_700_000,  # ~270 Hz typical update rate (manual, specifications)
        noise_m: float = 0.02,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.range_m = range_m
        self.acquisition_ns = acquisition_ns
        self.noise_m = noise_m
        self._rng = np.random.default_rng(seed)
        self.stuck_busy = False  # fault: busy never clears
        self.measurements = 0
        self.last_trigger_ns = 0
        self.regs = bytearray(256)
        self._ptr = 0
        self._auto = False
        self._busy_until: int | None = None
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self.regs[:] = bytes(256)
        self.regs[STATUS] = STATUS_HEALTH
        self.regs[SIG_COUNT_VAL] = 0x80
        self.regs[ACQ_CONFIG_REG] = 0x08
        self._busy_until = None

    def _update(self) -> None:
        now = self.clock.now_ns()
        if self._busy_until is None or self.stuck_busy or now < self._busy_until:
            return
        # The pulse train is integrated across the acquisition: sample the world mid-way.
        t_mid = self.last_trigger_ns + self.acquisition_ns // 2
        d = self.range_m(t_mid)
        if math.isfinite(d) and 0.0 < d <= MAX_RANGE_M:
            d += float(self._rng.normal(0.0, self.noise_m)) if self.noise_m else 0.0
            cm = max(0, min(0xFFFF, round(d * 100.0)))
        else:
            cm = 0
        self.regs[FULL_DELAY_HIGH] = cm >> 8
        self.regs[FULL_DELAY_LOW] = cm & 0xFF
        self.regs[STATUS] &= ~STATUS_BUSY
        self._busy_until = None
        self.measurements += 1

    def busy(self) -> bool:
        self._update()
        return bool(self.regs[STATUS] & STATUS_BUSY)

    def i2c_write(self, data: bytes) -> None:
        self._update()
        if not data:
            return
        auto = bool(data[0] & AUTO_INCREMENT)
        self._ptr = data[0] & 0x7F
        for value in data[1:]:
            self._write_reg(self._ptr, value)
            if auto:
                self._ptr = (self._ptr + 1) & 0x7F
        self._auto = auto

    def _write_reg(self, reg: int, value: int) -> None:
        if reg == ACQ_COMMAND:
            if value == 0x00:
                self.power_on_reset()
            elif value in (0x03, 0x04):
                self.last_trigger_ns = self.clock.now_ns()
                self._busy_until = self.last_trigger_ns + self.acquisition_ns
                self.regs[STATUS] |= STATUS_BUSY
            return
        if reg in (STATUS, FULL_DELAY_HIGH, FULL_DELAY_LOW):
            return  # read-only
        self.regs[reg] = value

    def i2c_read(self, n: int) -> bytes:
        self._update()
        out = bytearray(n)
        for i in range(n):
            out[i] = self.regs[self._ptr]
            if self._auto:
                self._ptr = (self._ptr + 1) & 0x7F
        return bytes(out)
