"""Register-level emulator of the NXP PCA9685 16-channel 12-bit PWM controller (I2C 0x40).

From the PCA9685 product data sheet (rev 4, 2015): MODE1 resets to 0x11 (SLEEP | ALLCALL),
MODE2 to 0x04 (OUTDRV), PRE_SCALE to 0x1E (200 Hz), every LEDn_OFF_H to 0x10 (full off).
With MODE1.AI the register pointer increments after each byte, 0x45 and 0xFF rolling over to
0x00 (7.3.1); without it successive bytes hit the same register. PRE_SCALE writes are ignored
unless SLEEP is set (7.3.5). The ALL_LED registers write every channel and read back 0
(7.3.4). Full OFF (OFF_H bit 4) wins over full ON (ON_H bit 4) (7.3.3).

``on_outputs(pulses_us)`` is called after any transaction that changes what the pins put out:
one entry per channel, the high time in microseconds, None when the channel is fully off (or
the chip is asleep and its oscillator stopped).
"""

from __future__ import annotations

from collections.abc import Callable

from hal.interfaces import Clock

MODE1 = 0x00
MODE2 = 0x01
LED0_ON_L = 0x06
ALL_LED_ON_L = 0xFA
ALL_LED_OFF_H = 0xFD
PRE_SCALE = 0xFE

MODE1_RESTART = 0x80
MODE1_AI = 0x20
MODE1_SLEEP = 0x10
MODE1_ALLCALL = 0x01
FULL = 0x10  # bit 4 of ON_H / OFF_H
CHANNELS = 16
LAST_LED_REG = LED0_ON_L + 4 * CHANNELS - 1  # 0x45


class Pca9685Emulator:
    def __init__(
        self,
        clock: Clock,
        on_outputs: Callable[[list[float | None]], None] | None = None,
        oscillator_hz: float = 25_000_000.0,
    ) -> None:
        self.clock = clock
        self.on_outputs = on_outputs
        self.oscillator_hz = oscillator_hz
        self.regs = bytearray(256)
        self._ptr = 0
        self.outputs: list[float | None] = [None] * CHANNELS
        self.output_changes = 0
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self.regs[:] = bytes(256)
        self.regs[MODE1] = MODE1_SLEEP | MODE1_ALLCALL
        self.regs[MODE2] = 0x04
        self.regs[PRE_SCALE] = 0x1E
        for ch in range(CHANNELS):
            self.regs[LED0_ON_L + 4 * ch + 3] = FULL
        self._publish()

    def pwm_hz(self) -> float:
        return self.oscillator_hz / (4096 * (self.regs[PRE_SCALE] + 1))

    def pulses_us(self) -> list[float | None]:
        if self.regs[MODE1] & MODE1_SLEEP:
            return [None] * CHANNELS
        period_us = 1e6 / self.pwm_hz()
        out: list[float | None] = []
        for ch in range(CHANNELS):
            base = LED0_ON_L + 4 * ch
            on_l, on_h, off_l, off_h = self.regs[base : base + 4]
            if off_h & FULL:
                out.append(None)
            elif on_h & FULL:
                out.append(period_us)
            else:
                on = ((on_h & 0x0F) << 8) | on_l
                off = ((off_h & 0x0F) << 8) | off_l
                out.append(((off - on) % 4096) * period_us / 4096)
        return out

    def _publish(self) -> None:
        now = self.pulses_us()
        if now != self.outputs:
            self.outputs = now
            self.output_changes += 1
            if self.on_outputs is not None:
                self.on_outputs(list(now))

    def i2c_write(self, data: bytes) -> None:
        if not data:
            return
        self._ptr = data[0]
        for value in data[1:]:
            self._write_reg(self._ptr, value)
            self._step()
        self._publish()

    def _step(self) -> None:
        if self.regs[MODE1] & MODE1_AI:
            self._ptr = 0 if self._ptr in (LAST_LED_REG, 0xFF) else self._ptr + 1

    def _write_reg(self, reg: int, value: int) -> None:
        if reg == PRE_SCALE:
            if self.regs[MODE1] & MODE1_SLEEP:
                self.regs[reg] = value
            return
        if ALL_LED_ON_L <= reg <= ALL_LED_OFF_H:
            for ch in range(CHANNELS):
                self.regs[LED0_ON_L + 4 * ch + (reg - ALL_LED_ON_L)] = value
            return
        if reg == MODE1:
            # RESTART is cleared by writing 1 (7.3.1.1); the emulator has no restart delay.
            value &= ~MODE1_RESTART
        self.regs[reg] = value

    def i2c_read(self, n: int) -> bytes:
        out = bytearray(n)
        for i in range(n):
            reg = self._ptr
            out[i] = 0 if ALL_LED_ON_L <= reg <= ALL_LED_OFF_H else self.regs[reg]
            self._step()
        return bytes(out)
