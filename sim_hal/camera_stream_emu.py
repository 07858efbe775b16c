"""Emulated raw-frame stream camera (docs/camera-stream.md) behind a pty or a serial port.

A board with its own clock: every period it exposes a frame (rendered by ``frame_source`` at
the host time of mid-exposure), stamps it with its device clock, and after ``tx_delay_ns``
starts sending it, paced at the baud rate. Faults from ``CameraFaults`` are applied per frame;
``stall``, ``disconnect`` and the device clock's ``set_skew``/``step`` act at runtime.

A real board's oscillator does not care how busy the flight computer is. This thread can wake
late on a loaded host, so lateness only ever delays the *bytes* (as a slow receiver would): the
exposure time, its device stamp and the rendered content stay on the board's own schedule, and
frames are sent late rather than skipped. Only a starvation longer than ``MAX_BEHIND_PERIODS``
(a bench that cannot keep up at all) skips frames, and counts it in ``overruns``.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from hal.camera_stream import HEADER_LEN, encode_frame
from sim_hal.camera_emu_base import (
    CameraFaults,
    DeviceClock,
    EmulatorThread,
    FrameSource,
    HostNow,
    PtyTransport,
    Transport,
    paced_write,
)

log = logging.getLogger(__name__)

MAX_BEHIND_PERIODS = 150  # 5 s at 30 Hz: beyond that the bench is broken, not slow


class SentFrame(NamedTuple):
    seq: int
    t_mid_ns: int  # host clock: the truth the driver's t_ns should approach
    t_mid_dev_us: int  # what went on the wire (timestamp shift included)
    t_last_byte_ns: int  # host time the last byte was handed to the transport
    image: npt.NDArray[np.uint8]
    fault: str  # "" when sent intact
    t_content_ns: int  # host clock: when the world looked like the image (t_mid_ns unless a
    # content-time fault moved it)


class StreamCameraEmulator(EmulatorThread):
    thread_name = "stream-emu"

    def __init__(
        self,
        frame_source: FrameSource,
        *,
        transport: Transport | None = None,
        width: int = 96,
        height: int = 72,
        rate_hz: float = 30.0,
        baud: int = 3_000_000,
        exposure_us: int = 2000,
        tx_delay_ns: int = 2_000_000,
        device_clock: DeviceClock | None = None,
        faults: CameraFaults | None = None,
        seed: int = 0,
        paced: bool = True,
        host_now: HostNow = time.monotonic_ns,
        log_len: int = 256,
    ) -> None:
        self.frame_source = frame_source
        self.transport: Transport = transport if transport is not None else PtyTransport()
        self.width, self.height = width, height
        self.period_ns = round(1e9 / rate_hz)
        self.baud = baud
        self.exposure_us = exposure_us
        self.tx_delay_ns = tx_delay_ns
        self.clock = device_clock or DeviceClock(host_now=host_now)
        self.faults = faults or CameraFaults()
        self.paced = paced
        self.sent: deque[SentFrame] = deque(maxlen=log_len)
        self.overruns = 0
        self._rng = random.Random(seed)
        self._init_runner(host_now)
        self._up_at: int | None = None
        self._seq = 0

    def _wait_until(self, t_ns: int) -> bool:
        delay = t_ns - self._now()
        if delay > 0:
            return not self._stop.wait(delay / 1e9)
        return not self._stop.is_set()

    def _run(self) -> None:
        t_next = self._now() + self.period_ns
        while True:
            t_mid = t_next
            t_next += self.period_ns
            if not self._wait_until(t_mid):
                return
            now = self._now()
            if now > t_next + MAX_BEHIND_PERIODS * self.period_ns:
                self.overruns += 1  # starved for longer than a board could buffer: skip ahead
                skipped = (now - t_next) // self.period_ns
                self._seq += int(skipped)
                t_next += int(skipped) * self.period_ns
            if self._down_request is not None:
                down = self._down_request
                self._down_request = None
                self.transport.disconnect()
                self._up_at = None if down == float("inf") else now + round(down * 1e9)
                log.info("stream emulator: disconnected")
            if self._up_at is not None and now >= self._up_at:
                self._up_at = None
                self.transport.reconnect()
                log.info("stream emulator: reconnected on %s", self.path)
            if now < self._stall_until:
                continue
            self._send(t_mid)

    def _send(self, t_mid: int) -> None:
        f, rng = self.faults, self._rng
        seq = self._seq
        self._seq += 1
        if rng.random() < f.drop_prob:
            return
        shift = f.content_shift(t_mid) if f.content_shift is not None else 0
        t_content = t_mid + shift
        if shift > 0 and not self._wait_until(t_content):  # the world must get there first
            return
        image = np.ascontiguousarray(self.frame_source(t_content), dtype=np.uint8)
        # when the board's first byte leaves (never before the image it carries was exposed)
        t_start = max(t_mid + self.tx_delay_ns, t_content)
        if not self._wait_until(t_start):
            return
        # Truth never follows this thread's wake-up: a late wake only delays the bytes
        # (paced_write never sends a byte earlier than the board would have).
        t_dev_us = (self.clock.device_ns(t_mid) + f.timestamp_shift_ns) // 1000
        data = encode_frame(seq, t_dev_us, self.exposure_us, image)
        fault = ""
        if rng.random() < f.corrupt_prob:
            i = rng.randrange(HEADER_LEN, len(data))
            data = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
            fault = "corrupt"
        if rng.random() < f.byte_short_prob or f.byte_short_count > 0:
            f.byte_short_count = max(0, f.byte_short_count - 1)
            i = rng.randrange(HEADER_LEN, len(data) - 4)
            data = data[:i] + data[i + 1 :]
            fault = "byte_short"
        if rng.random() < f.truncate_prob:
            data = data[: rng.randrange(1, len(data))]
            fault = "truncated"
        if rng.random() < f.garbage_prob:
            n = rng.randint(1, max(1, f.garbage_max_bytes))
            data = rng.randbytes(n) + data
            fault = fault or "garbage"  # the frame itself is intact after the garbage
        t_last = paced_write(
            self.transport, data, self.baud, t_start, paced=self.paced, host_now=self._now
        )
        self.sent.append(SentFrame(seq, t_mid, t_dev_us, t_last, image, fault, t_content))
