"""The chip and camera emulators plus the hooks the scenario faults need."""

from __future__ import annotations

import threading
import time
from typing import Any

from hal.types import NS_PER_S
from sim_hal.camera_stream_emu import StreamCameraEmulator
from sim_hal.mpu6050_emu import USER_CTRL, USER_FIFO_EN, Mpu6050Emulator


class HilMpu6050Emulator(Mpu6050Emulator):
    """The chip emulator plus three fault hooks: a stopped sample clock, a FIFO overrun, and
    SCL held low for a while inside the next transaction (clock stretching)."""

    stalled = False
    stretch_ns = 0  # consumed by the next transaction
    forced_overflows = 0

    def _advance(self, now: int) -> None:
        if self.stalled:
            self._running = False  # on resume the sample clock restarts from then
            return
        super()._advance(now)

    def force_overflow(self) -> None:
        """As if the host had not read for longer than the FIFO holds: it fills past its size
        and loses the oldest bytes (and frame alignment, 1024 not being a multiple of the
        frame). Padded with copies of the newest frame: a driver must discard an overflowed
        FIFO unread, so what the bytes say does not matter."""
        self._advance(self.clock.now_ns())
        fs = self.frame_size()
        if not self.regs[USER_CTRL] & USER_FIFO_EN or fs == 0:
            return
        last = bytes(self.fifo[-fs:]) if len(self.fifo) >= fs else bytes(fs)
        reps = (self.fifo_size - len(self.fifo)) // fs + 2
        self.fifo += last * reps
        self._overflow(len(self.fifo))
        del self.fifo[: len(self.fifo) - self.fifo_size]
        self.forced_overflows += 1

    def i2c_write(self, data: bytes) -> None:
        delay = self.stretch_ns
        if delay > 0:
            self.stretch_ns = 0
            time.sleep(delay / NS_PER_S)
        super().i2c_write(data)


class HilStreamEmulator(StreamCameraEmulator):
    """Adds ``drop(count)``: the next ``count`` frames are exposed (seq advances) but never
    sent, as the lockstep sim's camera.drop does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._drop_lock = threading.Lock()
        self._drop_next = 0
        self.dropped_by_request = 0

    def drop(self, count: int) -> None:
        with self._drop_lock:
            self._drop_next += count

    @property
    def drops_pending(self) -> int:
        return self._drop_next

    @property
    def stalled(self) -> bool:
        return self._now() < self._stall_until

    def _send(self, t_mid: int) -> None:
        with self._drop_lock:
            drop = self._drop_next > 0
            if drop:
                self._drop_next -= 1
                self.dropped_by_request += 1
        if drop:
            self._seq += 1
            return
        super()._send(t_mid)

