"""Garmin LIDAR-Lite v3 laser altimeter on I2C, as a non-blocking trigger/read state machine.

Source: LIDAR-Lite v3 Operation Manual and Technical Specifications (Garmin, 2016) and
REFERENCE.md. A measurement is: write 0x04 (receiver bias correction) or 0x03 (none) to
ACQ_COMMAND, wait while STATUS bit 0 is busy, read the distance in cm from 0x8F (bit 7 =
auto-increment across FULL_DELAY_HIGH/LOW). The manual recommends bias correction on the
first of every ~100 measurements and 0x03 otherwise, which is faster.

``poll()`` never waits: it triggers when a measurement is due, and once the acquisition has
had time it reads STATUS and, if ready, the distance: at most two short transactions a poll.
A measurement is stamped at trigger + ACQ_MID_NS, the middle of a typical acquisition.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from hal.i2c_device import DeviceMissingError, I2cCounters, I2cDevice, SMBusLike, describe
from hal.interfaces import Clock
from hal.tomlschema import rng
from hal.types import RangeSample

log = logging.getLogger(__name__)

ACQ_COMMAND = 0x00
STATUS = 0x01
SIG_COUNT_VAL = 0x02  # max acquisition count; default 0x80
FULL_DELAY_HIGH = 0x0F
AUTO_INCREMENT = 0x80  # manual, "I2C protocol": set bit 7 of the address for multi-byte reads

CMD_RESET = 0x00  # resets the FPGA and every register to its default
CMD_MEASURE_BIAS = 0x04
CMD_MEASURE = 0x03
STATUS_BUSY = 0x01
STATUS_HEALTH = 0x20

ACQ_TYPICAL_NS = 3_700_000  # manual, specifications: 270 Hz typical update rate
ACQ_MID_NS = ACQ_TYPICAL_NS // 2  # the return is integrated across the acquisition
RESET_WAIT_NS = 22_000_000  # manual: ~22 ms from reset/power-on until ready
MAX_RANGE_CM = 4000  # 40 m


@dataclass
class LidarLiteSettings:
    address: int = field(default=0x62, metadata=rng(0x03, 0x77))
    rate_hz: float = field(default=50.0, metadata=rng(1, 250))
    sig_count_val: int = field(default=0x80, metadata=rng(1, 255))  # fewer: faster, shorter
    bias_every: int = field(default=100, metadata=rng(1, 10_000))
    min_valid_cm: int = field(default=1, metadata=rng(0, 4000))  # below: no target
    max_valid_cm: int = field(default=MAX_RANGE_CM, metadata=rng(1, 4000))
    first_read_us: float = field(default=1000.0, metadata=rng(0, 100_000))  # trigger -> STATUS
    busy_timeout_ms: float = field(default=50.0, metadata=rng(1, 10_000))

    def validate(self) -> str:
        if self.min_valid_cm >= self.max_valid_cm:
            return "min_valid_cm must be below max_valid_cm"
        return ""


class LidarLiteMissingError(DeviceMissingError):
    pass


@dataclass(slots=True)
class LidarLiteCounters(I2cCounters):
    stuck_busy: int = 0  # measurements still busy at busy_timeout_ms
    invalid: int = 0  # measurements out of the valid range, stuck ones included


class LidarLiteV3(I2cDevice[LidarLiteCounters]):
    missing_error = LidarLiteMissingError

    def __init__(
        self,
        bus: SMBusLike,
        clock: Clock,
        settings: LidarLiteSettings | None = None,
        name: str = "altimeter",
    ) -> None:
        self.settings = s = settings or LidarLiteSettings()
        super().__init__(bus, s.address, name, LidarLiteCounters())
        self.clock = clock
        self.rate_hz = s.rate_hz
        self._period_ns = int(1e9 / s.rate_hz)
        self._first_read_ns = int(s.first_read_us * 1000)
        self._timeout_ns = int(s.busy_timeout_ms * 1e6)
        self._opened = False
        self._busy = False
        self._t_trigger = 0
        self._next_trigger = 0
        self._seq = -1

    def open(self) -> None:
        """Reset the unit, wait until ready, set the acquisition count and read it back.
        Raises LidarLiteMissingError naming the address if nothing (or the wrong thing)
        answers."""
        try:
            self._write(ACQ_COMMAND, CMD_RESET)
            self.clock.sleep_until(self.clock.now_ns() + RESET_WAIT_NS)
            self._write(SIG_COUNT_VAL, self.settings.sig_count_val)
            back = self._read(SIG_COUNT_VAL)
            status = self._read(STATUS)
        except OSError as exc:
            raise self._no_answer(exc, "no answer from a LIDAR-Lite v3") from exc
        if back != self.settings.sig_count_val:
            raise self._wrong_chip(
                f"device at 0x{self.addr:02x} read SIG_COUNT_VAL back as 0x{back:02x} after "
                f"writing 0x{self.settings.sig_count_val:02x}: not a LIDAR-Lite v3?")
        if not status & STATUS_HEALTH:
            log.warning("%s: STATUS 0x%02x reports bad health", self.name, status)
        self._opened = True
        self._busy = False
        self._next_trigger = self.clock.now_ns()
        self._health.connected = True
        log.info("%s: LIDAR-Lite v3 at 0x%02x, %.0f Hz", self.name, self.addr, self.rate_hz)

    def close(self) -> None:
        self._opened = False
        self._health.connected = False

    def poll(self) -> list[RangeSample]:
        if not self._opened:
            return []
        now = self.clock.now_ns()
        out: list[RangeSample] = []
        try:
            if self._busy and now - self._t_trigger >= self._first_read_ns:
                sample = self._collect(now)
                if sample is not None:
                    out.append(sample)
            elif not self._busy and now >= self._next_trigger:
                # not in the same poll as a read: at most two short transactions a poll
                self._trigger(now)
        except OSError as exc:
            self._health.note_error(describe(exc))
            if self._busy:
                self._busy = False  # the measurement is lost; the seq gap shows it
                self._health.lost += 1
        return out

    def _trigger(self, now: int) -> None:
        bias = (self._seq + 1) % self.settings.bias_every == 0
        self._write(ACQ_COMMAND, CMD_MEASURE_BIAS if bias else CMD_MEASURE)
        self._seq += 1  # only once triggered: a failed write is retried next poll
        self._busy = True
        self._t_trigger = now
        # Absolute schedule; after a stall, restart from now rather than bursting to catch up.
        self._next_trigger += self._period_ns
        if self._next_trigger <= now:
            self._next_trigger = now + self._period_ns

    def _collect(self, now: int) -> RangeSample | None:
        if self._read(STATUS) & STATUS_BUSY:
            if now - self._t_trigger <= self._timeout_ns:
                return None
            self._busy = False
            self.counters.stuck_busy += 1
            self.counters.invalid += 1
            self._health.bad_data += 1
            self._health.last_error = "busy beyond timeout"
            log.warning("%s: still busy %.1f ms after trigger", self.name,
                        (now - self._t_trigger) / 1e6)
            return RangeSample(self._t_trigger + ACQ_MID_NS, self._seq, math.nan, False)
        hi, lo = self._read_block(FULL_DELAY_HIGH | AUTO_INCREMENT, 2)
        self._busy = False
        cm = (hi << 8) | lo
        t = self._t_trigger + ACQ_MID_NS
        self._health.samples += 1
        if not self.settings.min_valid_cm <= cm <= self.settings.max_valid_cm:
            self.counters.invalid += 1
            return RangeSample(t, self._seq, math.nan, False)
        return RangeSample(t, self._seq, cm / 100.0, True)
