"""What the two serial camera emulators (``camera_stream_emu``, ``vc0706_emu``) share: the byte
transports (a pty pair, or a named port for a second machine with a USB-UART on the bench),
the device clock (offset, skew, steps), the fault switches, the serving thread's lifecycle, and
baud-rate pacing (a pty moves bytes instantly; a UART does not, and the drivers' timing depends
on that). The command that serves one of them is ``sim_hal.camera_emulator``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import serial

log = logging.getLogger(__name__)

FrameSource = Callable[[int], npt.NDArray[np.uint8]]  # host t_ns (mid-exposure) -> (h, w)
HostNow = Callable[[], int]

_STD_BAUDS = (
    9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000,
    1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000,
)
_BAUD_OF_CODE = {getattr(termios, f"B{b}"): b for b in _STD_BAUDS if hasattr(termios, f"B{b}")}


class Transport(Protocol):
    @property
    def path(self) -> str: ...

    def write(self, data: bytes) -> int: ...

    def read(self, n: int, timeout_s: float) -> bytes: ...

    def line_baud(self) -> int | None:
        """Baud the other end configured, if this transport can see it (a pty can)."""
        ...

    def set_baud(self, baud: int) -> None: ...

    def disconnect(self) -> None: ...

    def reconnect(self) -> None: ...

    def close(self) -> None: ...


class PtyTransport:
    """The emulator holds the master; the driver opens ``path`` (the slave, or ``link``).

    With ``link`` (a symlink path) a disconnect/reconnect cycle gets a new pty behind the same
    name, the way a USB-UART re-enumerates under a udev symlink.
    """

    def __init__(self, link: str | Path | None = None) -> None:
        self.link = str(link) if link is not None else None
        self.tx_dropped = 0
        self._master = -1
        self._slave = -1
        self.tty_path = ""
        self._open()

    @property
    def path(self) -> str:
        return self.link or self.tty_path

    def _open(self) -> None:
        m, s = os.openpty()
        # raw before the driver opens it: no echo, no CR/LF translation of binary data
        tty.setraw(s)
        os.set_blocking(m, False)
        self._master, self._slave = m, s
        self.tty_path = os.ttyname(s)
        if self.link:
            tmp = f"{self.link}.tmp{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.tty_path, tmp)
            os.replace(tmp, self.link)

    def write(self, data: bytes) -> int:
        if self._master < 0:
            self.tx_dropped += len(data)
            return 0
        try:
            n = os.write(self._master, data)
        except (BlockingIOError, OSError):
            n = 0  # nobody reading and the pty buffer is full: the bytes are lost, as on a UART
        self.tx_dropped += len(data) - n
        return n

    def read(self, n: int, timeout_s: float) -> bytes:
        if self._master < 0:
            time.sleep(timeout_s)
            return b""
        try:
            ready, _, _ = select.select([self._master], [], [], timeout_s)
            if not ready:
                return b""
            return os.read(self._master, n)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno not in (errno.EIO, errno.EBADF):
                raise
            time.sleep(timeout_s)
            return b""

    def line_baud(self) -> int | None:
        if self._master < 0:
            return None
        try:
            # on Linux a pty master's termios calls act on the slave: the driver's settings
            return _BAUD_OF_CODE.get(termios.tcgetattr(self._master)[5])
        except termios.error:
            return None

    def set_baud(self, baud: int) -> None:
        pass  # the pty has no line; mismatch is emulated by comparing line_baud()

    def disconnect(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def reconnect(self) -> None:
        self.disconnect()
        self._open()

    def close(self) -> None:
        self.disconnect()
        if self.link:
            with contextlib.suppress(OSError):
                os.unlink(self.link)


class SerialTransport:
    """A real serial port (USB-UART) on a second machine wired to the rig's camera UART."""

    def __init__(self, port: str, baud: int) -> None:
        self.path = port
        self._baud = baud
        self._ser: Any = serial.Serial(port, baud, timeout=0)
        self.tx_dropped = 0

    def write(self, data: bytes) -> int:
        if self._ser is None:
            self.tx_dropped += len(data)
            return 0
        n = self._ser.write(data)
        return int(n or 0)

    def read(self, n: int, timeout_s: float) -> bytes:
        if self._ser is None:
            time.sleep(timeout_s)
            return b""
        self._ser.timeout = timeout_s
        first: bytes = self._ser.read(1)
        if first and n > 1:
            more = min(n - 1, self._ser.in_waiting)
            if more:
                first += self._ser.read(more)
        return first

    def line_baud(self) -> int | None:
        return None  # a real line shows a mismatch by itself

    def set_baud(self, baud: int) -> None:
        self._baud = baud
        if self._ser is not None:
            self._ser.baudrate = baud

    def disconnect(self) -> None:
        # A real line cannot be unplugged from here: the camera goes silent instead.
        if self._ser is not None:
            self._ser.close()
            self._ser = None

    def reconnect(self) -> None:
        self.disconnect()
        self._ser = serial.Serial(self.path, self._baud, timeout=0)

    def close(self) -> None:
        self.disconnect()


class MemoryLine:
    """A serial line inside the process, for tests (no pty, no kernel): the emulator holds
    ``camera`` (a ``Transport``), the driver opens ``open_host()`` (the part of pyserial's
    ``Serial`` the drivers use: ``read(n)`` returns once n bytes came or its timeout passed).
    The driver's baud shows to the emulator as a pty's does (``line_baud``).

    Test hooks: ``hold()`` keeps what the camera sends from the host until ``release()`` (a
    line gone quiet); ``on_host_write`` sees every write the driver makes; ``host_writes``
    keeps them. A ``disconnect()`` makes the host's reads and writes raise until
    ``reconnect()``, as a pty whose other end closed."""

    def __init__(self, timeout_s: float = 0.02) -> None:
        self.timeout_s = timeout_s
        self._cv = threading.Condition()
        self._to_host = bytearray()
        self._held = bytearray()
        self._to_camera = bytearray()
        self._holding = False
        self._down = False
        self.baudrate = 0  # the host end's, 0 until opened
        self.host_writes: list[bytes] = []
        self.on_host_write: Callable[[bytes], None] | None = None
        self.camera = _MemoryCameraEnd(self)

    @property
    def path(self) -> str:
        return "memory://vc0706"

    def open_host(self) -> _MemoryHostEnd:
        with self._cv:
            if self._down:
                raise serial.SerialException("memory line: disconnected")
            self._to_host.clear()
        return _MemoryHostEnd(self)

    def hold(self) -> None:
        with self._cv:
            self._holding = True

    def release(self) -> None:
        with self._cv:
            self._holding = False
            self._to_host += self._held
            self._held.clear()
            self._cv.notify_all()

    # --- used by the two ends ---
    def _check(self) -> None:
        if self._down:
            raise serial.SerialException("memory line: device disconnected")

    def _host_write(self, data: bytes) -> int:
        hook = self.on_host_write
        if hook is not None:  # before the camera can hear it: a hook may hold the line
            hook(bytes(data))
        with self._cv:
            self._check()
            self._to_camera += data
            self.host_writes.append(bytes(data))
            self._cv.notify_all()
        return len(data)

    def _host_read(self, n: int) -> bytes:
        end = time.monotonic() + self.timeout_s
        with self._cv:
            while True:
                self._check()
                left = end - time.monotonic()
                if len(self._to_host) >= n or left <= 0:
                    out = bytes(self._to_host[:n])
                    del self._to_host[:n]
                    return out
                self._cv.wait(left)

    def _camera_write(self, data: bytes) -> int:
        with self._cv:
            if self._down:
                return 0
            (self._held if self._holding else self._to_host).extend(data)
            self._cv.notify_all()
        return len(data)

    def _camera_read(self, n: int, timeout_s: float) -> bytes:
        end = time.monotonic() + timeout_s
        with self._cv:
            while not self._to_camera and not self._down:
                left = end - time.monotonic()
                if left <= 0:
                    return b""
                self._cv.wait(left)
            out = bytes(self._to_camera[:n])
            del self._to_camera[:n]
            return out

    def _set_down(self, down: bool) -> None:
        with self._cv:
            self._down = down
            self._to_host.clear()
            self._held.clear()
            self._to_camera.clear()
            self._cv.notify_all()


class _MemoryHostEnd:
    """The driver's end of a MemoryLine (``hal.serial_reader.SerialPort``)."""

    def __init__(self, line: MemoryLine) -> None:
        self._line = line
        self.closed = False

    @property
    def baudrate(self) -> int:
        return self._line.baudrate

    @baudrate.setter
    def baudrate(self, baud: int) -> None:
        self._line.baudrate = baud

    def read(self, size: int = 1) -> bytes:
        return self._line._host_read(size)

    def write(self, data: bytes) -> int:
        return self._line._host_write(data)

    @property
    def in_waiting(self) -> int:
        line = self._line
        with line._cv:
            line._check()
            return len(line._to_host)

    def reset_input_buffer(self) -> None:
        line = self._line
        with line._cv:
            line._to_host.clear()

    def close(self) -> None:
        self.closed = True


class _MemoryCameraEnd:
    """The emulator's end of a MemoryLine (``Transport``)."""

    def __init__(self, line: MemoryLine) -> None:
        self._line = line

    @property
    def path(self) -> str:
        return self._line.path

    def write(self, data: bytes) -> int:
        return self._line._camera_write(data)

    def read(self, n: int, timeout_s: float) -> bytes:
        return self._line._camera_read(n, timeout_s)

    def line_baud(self) -> int | None:
        return self._line.baudrate or None

    def set_baud(self, baud: int) -> None:
        pass  # as a pty: a mismatch shows through line_baud()

    def disconnect(self) -> None:
        self._line._set_down(True)

    def reconnect(self) -> None:
        self._line._set_down(False)

    def close(self) -> None:
        pass


class DeviceClock:
    """A device's free-running clock: offset, skew (ppm) and steps relative to the host."""

    def __init__(
        self, offset_ns: int = 0, skew_ppm: float = 0.0, host_now: HostNow = time.monotonic_ns
    ) -> None:
        self._host_now = host_now
        self._ref_host = host_now()
        self._ref_dev = self._ref_host + offset_ns
        self.skew_ppm = skew_ppm
        self._lock = threading.Lock()

    def device_ns(self, host_ns: int) -> int:
        with self._lock:
            return self._ref_dev + round((host_ns - self._ref_host) * (1.0 + self.skew_ppm * 1e-6))

    def set_skew(self, skew_ppm: float) -> None:
        """Change the rate from now on, continuously (no step)."""
        now = self._host_now()
        dev = self.device_ns(now)
        with self._lock:
            self._ref_host, self._ref_dev, self.skew_ppm = now, dev, skew_ppm

    def step(self, delta_ns: int) -> None:
        with self._lock:
            self._ref_dev += delta_ns


@dataclass
class CameraFaults:
    """Byte-level faults; change fields at any time, the emulator reads them per frame/reply.

    Probabilities are per frame (stream) or per reply (VC0706).
    """

    garbage_prob: float = 0.0  # random bytes inserted before a frame / reply
    garbage_max_bytes: int = 64
    truncate_prob: float = 0.0  # frame / reply cut short (the rest never sent)
    byte_short_prob: float = 0.0  # one byte missing from the payload (VC0706's known failure)
    byte_short_count: int = 0  # one-shot: the next N frames / data replies are a byte short
    corrupt_prob: float = 0.0  # one payload byte flipped
    drop_prob: float = 0.0  # frame not sent (stream: seq still advances) / no reply (VC0706)
    # stream: added to the device timestamps; VC0706: freeze ack delayed by this much
    timestamp_shift_ns: int = 0
    # stream: the image shows the world this much later than its mid-exposure stamp (a
    # content-time fault: sim_hal.faults.content_shift_ns), as a function of that stamp's time
    content_shift: Callable[[int], int] | None = None


class EmulatorThread:
    """Lifecycle the camera emulators share: one serving thread on a transport, plus the
    stall and disconnect faults its ``_run`` loop honours."""

    transport: Transport
    thread_name = "camera-emu"

    def _init_runner(self, host_now: Callable[[], int]) -> None:
        self._now = host_now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stall_until = 0
        self._down_request: float | None = None

    @property
    def path(self) -> str:
        return self.transport.path

    def start(self) -> str:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name,
                                            daemon=True)
            self._thread.start()
        return self.path

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self.transport.close()

    def stall(self, duration_s: float) -> None:
        """The camera hangs for ``duration_s``: no exposures, no replies."""
        self._stall_until = self._now() + round(duration_s * 1e9)

    def disconnect(self, down_s: float | None = 0.5) -> None:
        """Pull the line for ``down_s`` (None: for good); the driver's reads fail."""
        self._down_request = float("inf") if down_s is None else down_s

    def _run(self) -> None:
        raise NotImplementedError


def paced_write(
    transport: Transport, data: bytes, baud: int, t_start_ns: int, *, paced: bool = True,
    chunk: int = 1024, host_now: HostNow = time.monotonic_ns,
) -> int:
    """Write ``data`` so its bytes leave no earlier than a UART at ``baud`` would send them.

    Returns the host time just before the last byte was handed to the transport.
    """
    if not paced:
        t_last = host_now()
        transport.write(data)
        return t_last
    sent = 0
    t_last = host_now()
    while sent < len(data):
        end = min(len(data), sent + chunk)
        due = t_start_ns + end * 10 * 1_000_000_000 // baud
        delay = due - host_now()
        if delay > 0:
            time.sleep(delay / 1e9)
        t_last = host_now()
        transport.write(data[sent:end])
        sent = end
    return t_last


def gradient_source(width: int, height: int) -> FrameSource:
    """A moving gradient with a frame-dependent pattern: each frame's pixels differ."""
    yy, xx = np.mgrid[0:height, 0:width]

    def render(t_ns: int) -> npt.NDArray[np.uint8]:
        phase = (t_ns // 1_000_000) % 256
        return ((xx * 3 + yy * 5 + phase) % 256).astype(np.uint8)

    return render
