"""Serve an emulated serial camera on a pseudo-terminal or a real serial port.

Shared pieces of the two camera emulators (``camera_stream_emu``, ``vc0706_emu``): the byte
transports (a pty pair, or a named port for a second machine with a USB-UART on the bench),
the device clock (offset, skew, steps), the fault switches, and baud-rate pacing (a pty moves
bytes instantly; a UART does not, and the drivers' timing depends on that).

Command: ``python -m sim_hal.camera_emulator --protocol stream|vc0706 [--port /dev/ttyUSB0]``
prints the device path it serves and runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import select
import signal
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable, Sequence
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


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sim_hal.camera_emulator", description=__doc__)
    p.add_argument("--protocol", choices=("stream", "vc0706"), default="stream")
    p.add_argument("--port", help="serve this serial port (default: a new pseudo-terminal)")
    p.add_argument("--link", help="with a pty: keep this symlink pointing at it")
    p.add_argument("--baud", type=int, help="line rate (default 3000000 stream, 38400 vc0706)")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--rate", type=float, default=30.0, help="stream frame rate, Hz")
    p.add_argument("--skew-ppm", type=float, default=0.0)
    p.add_argument("--offset-ns", type=int, default=0)
    p.add_argument("--garbage", type=float, default=0.0, help="garbage probability")
    p.add_argument("--byte-short", type=float, default=0.0, help="byte-short probability")
    p.add_argument("--drop", type=float, default=0.0, help="drop probability")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    # imported here: both emulator modules import this one
    from sim_hal.camera_stream_emu import StreamCameraEmulator
    from sim_hal.vc0706_emu import Vc0706Emulator

    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    faults = CameraFaults(garbage_prob=args.garbage, byte_short_prob=args.byte_short,
                          drop_prob=args.drop)
    baud = args.baud or (3_000_000 if args.protocol == "stream" else 38400)
    transport: Transport = (
        SerialTransport(args.port, baud) if args.port else PtyTransport(args.link)
    )
    emu: StreamCameraEmulator | Vc0706Emulator
    if args.protocol == "stream":
        emu = StreamCameraEmulator(
            gradient_source(args.width, args.height), transport=transport, width=args.width,
            height=args.height, rate_hz=args.rate, baud=baud, faults=faults, seed=args.seed,
            device_clock=DeviceClock(args.offset_ns, args.skew_ppm),
        )
    else:
        emu = Vc0706Emulator(gradient_source(640, 480), transport=transport, baud=baud,
                             faults=faults, seed=args.seed)
    # SIGTERM (and a SIGINT a non-interactive shell set to ignore) end the run cleanly too
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    emu.start()
    sys.stdout.write(f"{transport.path}\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
