"""Serial reader-thread base shared by the camera drivers (``hal.camera_stream``,
``hal.vc0706``): the port seen as a protocol, its opening, the errors a dead port raises, UART
wire time, a bounded drop-oldest frame queue, reconnect backoff, and the thread lifecycle.

One thread owns the port and fills the queue; the control cycle's ``poll`` only drains it, so no
serial I/O ever blocks the cycle (DESIGN.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import struct
import termios
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

import serial

from hal.types import NS_PER_S, DeviceHealth, Frame

log = logging.getLogger(__name__)

BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop


def wire_time_ns(nbytes: int, baud: int) -> int:
    return nbytes * BITS_PER_BYTE * NS_PER_S // baud


class SerialPort(Protocol):
    """The part of ``serial.Serial`` the camera drivers use."""

    baudrate: int

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    @property
    def in_waiting(self) -> int: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


PortSpec = str | Callable[[], SerialPort]


def open_port(spec: PortSpec, baud: int, timeout_s: float) -> SerialPort:
    """A port from a device path / pyserial URL (``loop://``), or from a factory."""
    if callable(spec):
        return spec()
    port: SerialPort = serial.serial_for_url(spec, baudrate=baud, timeout=timeout_s)
    return port


# termios.error is not an OSError: pyserial lets it out of e.g. reset_input_buffer on a dead tty
SERIAL_ERRORS: tuple[type[Exception], ...] = (serial.SerialException, OSError, termios.error)


# Linux's N_TTY line discipline buffers 4096 bytes and reports at most 4095 waiting: a reader
# that finds that many is at least a buffer behind the line, and on a pty (no UART counters)
# the kernel buffers behind it (about 20 KiB) are what the sender's bytes overflow next.
# (within 64 bytes: on a loaded host the kernel may not have refilled it after the first read)
LDISC_FULL_BYTES = 4095 - 64
# The most the kernel holds for a reader: the line discipline's 4 KiB and the tty layer's
# 64 KiB flip-buffer limit. A hole can only be that far past the bytes a read found waiting.
KERNEL_RX_BYTES = 4096 + 65536
# struct serial_icounter_struct: cts dsr rng dcd rx tx frame overrun parity brk buf_overrun
# reserved[9]; overrun is the UART's own FIFO, buf_overrun the tty layer's buffer.
_ICOUNT = struct.Struct("20i")
_OVERRUN, _BUF_OVERRUN = 7, 10


class RxOverrunWatch:
    """Where in the byte stream the host's receive path may have lost bytes: after a read that
    saw the serial driver's overrun counters move (TIOCGICOUNT, a real UART), or, on a port
    without them (a pty), found the line discipline's buffer full (the reader fell that far
    behind), a hole up to ``KERNEL_RX_BYTES`` further on is the host's loss.

    The camera driver judges such a hole as the host's (``DeviceHealth.overflows``), not as
    frames the camera or the wire lost."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._overruns = 0
        self.episodes = 0  # reads that found evidence, across reconnects
        self.horizon = 0  # stream position (bytes read) up to which a hole is the host's

    def attach(self, port: object) -> None:
        """A newly opened port: its counters if it has them; a hole across the reconnect is
        the link's, not a backlog."""
        self._fd, self.horizon = None, 0
        fileno = getattr(port, "fileno", None)
        if fileno is None:
            return
        with contextlib.suppress(OSError, ValueError, termios.error):
            fd = fileno()
            self._overruns = self._read_icount(fd)  # raises on a pty: no counters there
            self._fd = fd

    @staticmethod
    def _read_icount(fd: int) -> int:
        counts = _ICOUNT.unpack(fcntl.ioctl(fd, termios.TIOCGICOUNT, bytes(_ICOUNT.size)))
        return counts[_OVERRUN] + counts[_BUF_OVERRUN]

    def after_read(self, waiting: int, position: int) -> None:
        """Called by the reader after each read: how many bytes were waiting, and how many it
        has read in all."""
        evidence = waiting >= LDISC_FULL_BYTES
        if self._fd is not None:
            try:
                overruns = self._read_icount(self._fd)
            except OSError:
                overruns = self._overruns
            evidence = overruns > self._overruns
            self._overruns = overruns
        if evidence:
            self.episodes += 1
            self.horizon = position + KERNEL_RX_BYTES

    def covers(self, position: int) -> bool:
        """Whether a hole found in bytes read from ``position`` on may be the host's loss."""
        return position < self.horizon


class FrameQueue:
    """Bounded, drop-oldest; the reader thread puts, the control cycle drains."""

    def __init__(self, maxlen: int) -> None:
        self._q: deque[Frame] = deque()
        self._max = max(1, maxlen)
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._lock:
            if len(self._q) >= self._max:
                self._q.popleft()
                self.dropped += 1
            self._q.append(frame)

    def drain(self) -> list[Frame]:
        with self._lock:
            out = list(self._q)
            self._q.clear()
        return out


class Backoff:
    def __init__(self, lo_s: float, hi_s: float) -> None:
        self.lo, self.hi = lo_s, hi_s
        self.next_s = lo_s

    def fail(self) -> float:
        wait = self.next_s
        self.next_s = min(self.hi, self.next_s * 2.0)
        return wait

    def ok(self) -> None:
        self.next_s = self.lo


class SerialThread:
    """Lifecycle shared by the serial drivers: one thread owns the port; what the control
    cycle reads, it only drains (the control cycle never waits)."""

    name: str
    thread_role = "rx"
    _health: DeviceHealth

    def _init_thread(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _join_timeout_s(self) -> float:
        return 5.0

    def _run(self) -> None:
        raise NotImplementedError

    def _close_port(self) -> None:
        raise NotImplementedError

    def open(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-{self.thread_role}",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(timeout=self._join_timeout_s())
            if t.is_alive():
                log.error("%s: %s thread did not stop", self.name, self.thread_role)
        self._thread = None
        self._close_port()
        self._health.connected = False


class CameraThread(SerialThread):
    """A SerialThread that fills a bounded FrameQueue; ``poll`` only drains it."""

    _queue: FrameQueue

    def poll(self) -> list[Frame]:
        return self._queue.drain()
