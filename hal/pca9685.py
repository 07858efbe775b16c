"""NXP PCA9685 16-channel PWM controller on I2C driving the motor ESCs.

Source: PCA9685 product data sheet rev 4 (DS) and REFERENCE.md. Safety first: every output
is fully off (ALL_LED_OFF_H full-off bit, DS 7.3.4) unless the configuration enables outputs
AND the command is armed; ``disarm()`` and ``close()`` write all-off and never raise.

One auto-increment block write per cycle covers every motor channel (from the lowest mapped
channel to the highest; unmapped channels inside the block are written fully off). A motor
command 0..1 maps linearly to min_us..max_us of high time; counts are computed from the
actual PWM frequency the prescaler gives, not the requested one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from hal.i2c_device import (
    CheckedRegister,
    DeviceMissingError,
    I2cCounters,
    I2cDevice,
    SMBusLike,
    describe,
)
from hal.interfaces import Clock
from hal.tomlschema import rng
from hal.types import ActuatorCommand

log = logging.getLogger(__name__)

MODE1 = 0x00
MODE2 = 0x01
LED0_ON_L = 0x06  # channel n: ON_L, ON_H, OFF_L, OFF_H at 0x06 + 4n
ALL_LED_OFF_H = 0xFD
PRE_SCALE = 0xFE

MODE1_AI = 0x20
MODE1_SLEEP = 0x10
MODE2_OUTDRV = 0x04  # totem-pole outputs, what ESC signal inputs want
FULL_OFF = 0x10  # bit 4 of LEDn_OFF_H / ALL_LED_OFF_H; wins over full on (DS 7.3.3)
OSC_WAKE_NS = 500_000  # DS 7.3.1.1: oscillator needs 500 us after leaving SLEEP
PRESCALE_MIN = 3  # DS 7.3.5: the hardware forces values below 3 to 3


@dataclass
class Pca9685Settings:
    address: int = field(default=0x40, metadata=rng(0x40, 0x7F))
    enabled: bool = False  # outputs stay fully off unless true AND the operator arms
    pwm_hz: float = field(default=400.0, metadata=rng(24, 1526))
    min_us: float = field(default=1000.0, metadata=rng(0, 20_000))
    max_us: float = field(default=2000.0, metadata=rng(0, 20_000))
    channels: list[int] = field(default_factory=lambda: [0, 1, 2, 3], metadata=rng(0, 15))
    oscillator_hz: float = field(default=25_000_000.0, metadata=rng(20e6, 30e6))
    check_ms: float = field(default=100.0, metadata=rng(5, 60_000))

    def validate(self) -> str:
        if not self.channels:
            return "channels: need at least one motor channel"
        if len(set(self.channels)) != len(self.channels):
            return "channels: a channel is mapped twice"
        if self.min_us >= self.max_us:
            return "min_us must be below max_us"
        if self.max_us >= 1e6 / self.pwm_hz:
            return f"max_us {self.max_us:g} does not fit a {self.pwm_hz:g} Hz period"
        return ""


class Pca9685MissingError(DeviceMissingError):
    pass


@dataclass(slots=True)
class Pca9685Counters(I2cCounters):
    armed_writes: int = 0  # motor blocks written
    off_writes: int = 0  # all-off writes (disarm)


class Pca9685(I2cDevice[Pca9685Counters]):
    missing_error = Pca9685MissingError

    def __init__(
        self,
        bus: SMBusLike,
        clock: Clock,
        settings: Pca9685Settings | None = None,
        name: str = "motors",
    ) -> None:
        self.settings = s = settings or Pca9685Settings()
        problem = s.validate()
        if problem:
            raise ValueError(f"{name}: {problem}")
        super().__init__(bus, s.address, name, Pca9685Counters())
        # awake with auto-increment; a chip that reset itself reads SLEEP set, AI clear
        self.checked[MODE1] = CheckedRegister(MODE1_AI, mask=MODE1_SLEEP | MODE1_AI)
        self.clock = clock
        self.motor_count = len(s.channels)
        self.prescale = max(PRESCALE_MIN, min(255, round(s.oscillator_hz / (4096 * s.pwm_hz)) - 1))
        self.pwm_hz_actual = s.oscillator_hz / (4096 * (self.prescale + 1))
        self._counts_per_us = self.pwm_hz_actual * 4096 / 1e6
        self._first = min(s.channels)
        self._span = max(s.channels) - self._first + 1
        self._slot = [ch - self._first for ch in s.channels]
        self._opened = False
        self._maybe_on = True  # until all-off has been confirmed written
        self._next_check = 0
        self.last_pulses_us: list[float | None] = [None] * self.motor_count

    # -- Device protocol ------------------------------------------------------------------

    def open(self) -> None:
        """All outputs off, set the PWM frequency (only possible while asleep), totem-pole
        outputs, auto-increment, wake. Raises Pca9685MissingError naming the address."""
        try:
            self._read(MODE1)
            self._init_registers()
            back = self._read(PRE_SCALE)
        except OSError as exc:
            raise self._no_answer(exc, "no answer from a PCA9685") from exc
        if back != self.prescale:
            raise self._wrong_chip(f"device at 0x{self.addr:02x} read PRE_SCALE back as {back}, "
                                   f"wrote {self.prescale}: not a PCA9685?")
        self.clock.sleep_until(self.clock.now_ns() + OSC_WAKE_NS)
        self._opened = True
        self._maybe_on = False
        self._health.connected = True
        log.info("%s: PCA9685 at 0x%02x, %.1f Hz PWM, outputs %s", self.name, self.addr,
                 self.pwm_hz_actual, "ENABLED" if self.settings.enabled else "disabled")

    def _init_registers(self) -> None:
        self._write(MODE1, MODE1_SLEEP | MODE1_AI)
        self._write(ALL_LED_OFF_H, FULL_OFF)
        self._write(PRE_SCALE, self.prescale)
        self._write(MODE2, MODE2_OUTDRV)
        self._write(MODE1, MODE1_AI)

    def close(self) -> None:
        self.disarm()
        try:
            self._write(MODE1, MODE1_SLEEP | MODE1_AI)
        except OSError as exc:
            self._health.note_error(f"close: {describe(exc)}")
        self._opened = False
        self._health.connected = False

    def disarm(self) -> None:
        """All outputs fully off in one write. Safe from any state; errors counted, not
        raised."""
        try:
            self._write(ALL_LED_OFF_H, FULL_OFF)
            self._maybe_on = False
            self.counters.off_writes += 1
        except OSError as exc:
            self._maybe_on = True  # try again on the next write()
            self._health.note_error(f"disarm: {describe(exc)}")
        self.last_pulses_us = [None] * self.motor_count

    def write(self, cmd: ActuatorCommand) -> None:
        if not self._opened:
            return
        if not (self.settings.enabled and cmd.armed):
            if self._maybe_on:
                self.disarm()
            return
        now = self.clock.now_ns()
        try:
            if now >= self._next_check:
                self._next_check = now + int(self.settings.check_ms * 1e6)
                self._check()
            self._write_motors(cmd.motors)
        except OSError as exc:
            self._health.note_error(describe(exc))

    # -- internals --------------------------------------------------------------------------

    def _check(self) -> None:
        """A chip that reset itself is asleep with outputs off: put it back."""
        mode1 = self._read(MODE1)
        if self._mismatch(MODE1, [mode1]) is not None:
            log.warning("%s: MODE1 reads 0x%02x: chip reset? re-initialising", self.name, mode1)
            self._health.resets += 1
            self._init_registers()

    def _write_motors(self, motors: Sequence[float]) -> None:
        s = self.settings
        if len(motors) != self.motor_count:
            self._health.bad_data += 1
        block = [0, 0, 0, FULL_OFF] * self._span
        pulses: list[float | None] = []
        for i, slot in enumerate(self._slot):
            u = float(motors[i]) if i < len(motors) else 0.0
            if not math.isfinite(u):
                self._health.bad_data += 1
                u = 0.0
            u = min(1.0, max(0.0, u))
            pulse = s.min_us + u * (s.max_us - s.min_us)
            off = min(4095, round(pulse * self._counts_per_us))
            block[4 * slot : 4 * slot + 4] = [0, 0, off & 0xFF, off >> 8]
            pulses.append(off / self._counts_per_us)
        self._write_block(LED0_ON_L + 4 * self._first, block)
        self._maybe_on = True
        self.last_pulses_us = pulses
        self._health.samples += 1
        self.counters.armed_writes += 1
