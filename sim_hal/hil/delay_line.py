"""A transport that delays the camera board's bytes (camera.latency)."""

from __future__ import annotations

import threading
import time
from collections import deque

from hal.types import NS_PER_S
from sim_hal.camera_emu_base import Transport


class DelayLine:
    """A ``Transport`` that hands bytes on ``delay_ns`` after they were written, in order: a
    camera board whose output buffers up (camera.latency). With no delay and nothing queued
    a write goes straight through."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.delay_ns = 0
        self._q: deque[tuple[int, bytes]] = deque()
        self._last_due = 0
        self._inflight = False
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        return self.inner.path

    def write(self, data: bytes) -> int:
        with self._cv:
            direct = self.delay_ns <= 0 and not self._q and not self._inflight
            if not direct:
                due = max(time.monotonic_ns() + self.delay_ns, self._last_due)
                self._last_due = due
                self._q.append((due, bytes(data)))
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="hil-delay",
                                                    daemon=True)
                    self._thread.start()
                self._cv.notify()
        if direct:
            return self.inner.write(data)
        return len(data)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop:
                    if self._q:
                        wait = (self._q[0][0] - time.monotonic_ns()) / NS_PER_S
                        if wait <= 0:
                            break
                        self._cv.wait(wait)
                    else:
                        self._cv.wait()
                if self._stop:
                    return
                _, data = self._q.popleft()
                self._inflight = True
            try:
                self.inner.write(data)
            finally:
                with self._cv:
                    self._inflight = False

    def read(self, n: int, timeout_s: float) -> bytes:
        return self.inner.read(n, timeout_s)

    def line_baud(self) -> int | None:
        return self.inner.line_baud()

    def set_baud(self, baud: int) -> None:
        self.inner.set_baud(baud)

    def disconnect(self) -> None:
        self.inner.disconnect()

    def reconnect(self) -> None:
        self.inner.reconnect()

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        t = self._thread
        if t is not None:
            t.join(timeout=2.0)
        self.inner.close()

