"""VC0706 serial JPEG camera (REFERENCE.md "VC0706"), host-stamped, on its own capture thread.

Command ``56 00 <cmd> <len> <args>``, reply ``76 00 <cmd> <status> <len> <data>``. The camera has
no clock: a frame's ``t_ns`` is when the freeze acknowledgement arrived, ``t_rx_ns`` when the
last JPEG byte did. Every read is bounded by a deadline; replies are found by scanning for
``76 00 <cmd>`` so a stray or missing byte costs one retry, not the rest of the session.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from hal.camera_stream import (
    SERIAL_ERRORS,
    Backoff,
    CameraThread,
    FrameQueue,
    PortSpec,
    SerialPort,
    open_port,
    wire_time_ns,
)
from hal.interfaces import Clock
from hal.tomlschema import rng
from hal.types import DeviceHealth, Frame

log = logging.getLogger(__name__)

CMD = 0x56
REPLY = 0x76
SERIAL_NO = 0x00
CMD_RESET = 0x26
CMD_VERSION = 0x11
CMD_SET_BAUD = 0x24
CMD_READ_DATA = 0x30  # used for "read image size"
CMD_WRITE_DATA = 0x31  # used for "set image size"
CMD_READ_FBUF = 0x32
CMD_FBUF_LEN = 0x34
CMD_FBUF_CTRL = 0x36
FBUF_FREEZE = 0x00
FBUF_RESUME = 0x03
SIZE_ARGS = bytes((0x04, 0x01, 0x00, 0x19))  # image-size register: 1 byte at 0x0019
READ_FBUF_MODE = bytes((0x00, 0x0A))  # current frame, data over the UART
BANNER_END = b"Init end\r\n"
IMAGE_SIZES = {
    "640x480": (0x00, 640, 480), "320x240": (0x11, 320, 240), "160x120": (0x22, 160, 120),
}
BAUD_DIVIDERS = {9600: 0xAEC8, 19200: 0x56E4, 38400: 0x2AF2, 57600: 0x1C4C, 115200: 0x0DA6}
JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"


class Vc0706Error(Exception):
    """No reply, a malformed or error reply, or a frame that failed every retry."""


CONNECT_ERRORS: tuple[type[Exception], ...] = (Vc0706Error, *SERIAL_ERRORS)


@dataclass
class Vc0706Settings:
    baud: int = 38400
    scan_bauds: list[int] = field(default_factory=lambda: [38400, 115200, 57600, 19200, 9600])
    fast_baud: int = 0  # switch to this after init; 0 keeps the found one
    image_size: Literal["640x480", "320x240", "160x120"] = "160x120"
    chunk_size: int = field(default=512, metadata=rng(8, 65535))
    chunk_delay_10us: int = field(default=10, metadata=rng(0, 65535))  # units of 0.01 ms
    rate_hz: float = field(default=2.0, metadata=rng(0.01, 30))
    focal_px: float = field(default=130.0, metadata=rng(1.0, None))
    io_timeout_s: float = field(default=0.02, metadata=rng(0.001, 1.0))  # bounds each read
    reply_timeout_s: float = field(default=0.5, metadata=rng(0.01, 10))  # plus wire time
    reset_timeout_s: float = field(default=3.0, metadata=rng(0.1, 30))
    size_settle_s: float = field(default=0.2, metadata=rng(0.0, 5))
    retries: int = field(default=3, metadata=rng(0, 100))
    reset_on_open: bool = True
    max_failures: int = field(default=3, metadata=rng(1, 1000))  # in a row, then re-init
    queue_len: int = field(default=4, metadata=rng(1, 1000))
    reconnect_min_s: float = field(default=0.1, metadata=rng(0.001, 60))
    reconnect_max_s: float = field(default=2.0, metadata=rng(0.001, 600))

    def validate(self) -> str:
        for b in [self.baud, *self.scan_bauds]:
            if b not in BAUD_DIVIDERS:
                return f"baud {b} is not one of {sorted(BAUD_DIVIDERS)}"
        if self.fast_baud and self.fast_baud not in BAUD_DIVIDERS:
            return f"fast_baud {self.fast_baud} is not one of {sorted(BAUD_DIVIDERS)}"
        if self.reconnect_max_s < self.reconnect_min_s:
            return "reconnect_max_s must be >= reconnect_min_s"
        return ""


def decode_jpeg(data: bytes, width: int, height: int) -> np.ndarray | None:
    """Grayscale uint8 (height, width), or None if the data is not a whole JPEG of that size."""
    if not data.startswith(JPEG_SOI) or data.rfind(JPEG_EOI) < len(data) - 32:
        return None  # the frame buffer may pad after EOI, but not by much
    try:
        with Image.open(io.BytesIO(data)) as im:
            gray = im.convert("L")
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None
    if gray.size != (width, height):
        return None
    return np.asarray(gray, dtype=np.uint8)


class Vc0706Camera(CameraThread):
    thread_role = "capture"

    """hal.interfaces.Camera for a VC0706 on a serial port."""

    def __init__(
        self, port: PortSpec, clock: Clock, settings: Vc0706Settings | None = None,
        name: str = "camera",
    ) -> None:
        self.settings = s = settings or Vc0706Settings()
        self.name = name
        self.rate_hz = s.rate_hz
        self.size_code, self.width, self.height = IMAGE_SIZES[s.image_size]
        self.focal_px = s.focal_px
        self.version_text = ""
        self.banner = ""
        self._spec = port
        self._clock = clock
        self._port: SerialPort | None = None
        self._line_baud = s.baud
        self._queue = FrameQueue(s.queue_len)
        self._health = DeviceHealth(connected=False)
        self._init_thread()
        self._seq = 0
        self._ever_connected = False
        self.chunk_retries = 0
        self.garbage_bytes = 0

    # --- Camera protocol ------------------------------------------------------------------
    def _join_timeout_s(self) -> float:
        return 10.0

    def health(self) -> DeviceHealth:
        h = self._health
        h.overflows = self._queue.dropped
        h.extra.update(
            chunk_retries=self.chunk_retries, garbage_bytes=self.garbage_bytes,
            baud=self._line_baud, dropped=self._queue.dropped,
        )
        return h

    # --- byte level -----------------------------------------------------------------------
    def _p(self) -> SerialPort:
        if self._port is None:
            raise Vc0706Error("port not open")
        return self._port

    def _deadline(self, nbytes: int, extra_s: float = 0.0) -> int:
        wire = wire_time_ns(nbytes, self._line_baud)
        return self._clock.now_ns() + wire + round((self.settings.reply_timeout_s + extra_s) * 1e9)

    def _read_exact(self, n: int, deadline_ns: int) -> bytes:
        """Up to ``n`` bytes; fewer only if the deadline passed (each read is bounded too)."""
        port = self._p()
        buf = b""
        while len(buf) < n:
            buf += port.read(n - len(buf))
            if len(buf) < n and self._clock.now_ns() >= deadline_ns:
                break
        return buf

    def _drain(self) -> None:
        """Let a garbled reply finish arriving, then throw it away."""
        port = self._p()
        end = self._clock.now_ns() + round(self.settings.reply_timeout_s * 1e9)
        while self._clock.now_ns() < end:
            n = max(1, port.in_waiting)
            if not port.read(n):  # quiet for one io timeout
                break
        port.reset_input_buffer()

    def _send(self, cmd: int, args: bytes = b"") -> None:
        self._p().write(bytes((CMD, SERIAL_NO, cmd, len(args))) + args)

    def _reply(self, cmd: int, deadline_ns: int) -> tuple[int, bytes]:
        """Find ``76 00 cmd status len`` (skipping garbage), then its data. Status, data."""
        want = bytes((REPLY, SERIAL_NO, cmd))
        buf = self._read_exact(5, deadline_ns)
        while len(buf) < 5 or buf[:3] != want:
            if len(buf) < 5 or self._clock.now_ns() >= deadline_ns:
                # the second case: a line babbling garbage (wrong baud, noise) must not hold us
                raise Vc0706Error(f"cmd {cmd:#04x}: no reply")
            i = buf.find(want[:1], 1)
            skip = i if i > 0 else len(buf)
            self.garbage_bytes += skip
            buf = buf[skip:]
            buf += self._read_exact(5 - len(buf), deadline_ns)
        status, dlen = buf[3], buf[4]
        data = self._read_exact(dlen, deadline_ns)
        if len(data) < dlen:
            raise Vc0706Error(f"cmd {cmd:#04x}: reply short ({len(data)} of {dlen})")
        return status, data

    def command(
        self, cmd: int, args: bytes = b"", expect_len: int | None = None,
        retries: int | None = None,
    ) -> bytes:
        """One command with retries; returns the reply data."""
        last = ""
        for _ in range((self.settings.retries if retries is None else retries) + 1):
            port = self._p()
            port.reset_input_buffer()  # anything pending is stale: it would offset the reply
            self._send(cmd, args)
            try:
                status, data = self._reply(cmd, self._deadline(5 + (expect_len or 0)))
            except Vc0706Error as exc:
                last = str(exc)
                self._health.note_error(last)
                self._drain()
                continue
            if status != 0:
                last = f"cmd {cmd:#04x}: status {status}"
            elif expect_len is not None and len(data) != expect_len:
                last = f"cmd {cmd:#04x}: {len(data)} data bytes, expected {expect_len}"
            else:
                return data
            self._health.note_error(last)
            self._drain()
        raise Vc0706Error(last)

    # --- operations -----------------------------------------------------------------------
    def reset(self) -> str:
        """Reset; returns the banner text (ends ``Init end``)."""
        self.command(CMD_RESET, expect_len=0)
        deadline = self._clock.now_ns() + round(self.settings.reset_timeout_s * 1e9)
        text = b""
        while not text.endswith(BANNER_END):
            b = self._read_exact(1, deadline)
            if not b:
                raise Vc0706Error("reset: no 'Init end' banner")
            text += b
            if len(text) > 4096:
                raise Vc0706Error("reset: banner too long")
        self._health.resets += 1
        self.banner = text.decode("ascii", "replace")
        return self.banner

    def version(self, retries: int | None = None) -> str:
        data = self.command(CMD_VERSION, retries=retries)
        self.version_text = data.decode("ascii", "replace")
        return self.version_text

    def get_size(self) -> int:
        return self.command(CMD_READ_DATA, SIZE_ARGS, expect_len=1)[0]

    def set_size(self, code: int) -> None:
        self.command(CMD_WRITE_DATA, SIZE_ARGS + bytes((code,)), expect_len=0)
        # field reports: a size change is ignored unless the camera gets a pause (or a reset)
        self._stop.wait(self.settings.size_settle_s)

    def freeze(self) -> int:
        """Freeze the frame buffer; returns the host time the acknowledgement arrived."""
        self.command(CMD_FBUF_CTRL, bytes((FBUF_FREEZE,)), expect_len=0)
        return self._clock.now_ns()

    def resume(self) -> None:
        self.command(CMD_FBUF_CTRL, bytes((FBUF_RESUME,)), expect_len=0)

    def frame_length(self) -> int:
        return int.from_bytes(self.command(CMD_FBUF_LEN, b"\x00", expect_len=4), "big")

    def set_baud(self, baud: int) -> None:
        div = BAUD_DIVIDERS[baud]
        self.command(CMD_SET_BAUD, bytes((0x01, div >> 8, div & 0xFF)), expect_len=0)
        self._p().baudrate = baud
        self._line_baud = baud
        self._stop.wait(0.05)  # the camera switches after its ack
        self.version()

    def _read_chunk(self, addr: int, n: int) -> bytes:
        s = self.settings
        args = (
            READ_FBUF_MODE + addr.to_bytes(4, "big") + n.to_bytes(4, "big")
            + s.chunk_delay_10us.to_bytes(2, "big")  # 32-bit address: frames > 64 KB work
        )
        footer = bytes((REPLY, SERIAL_NO, CMD_READ_FBUF, 0, 0))
        last = ""
        for attempt in range(s.retries + 1):
            if attempt:
                self.chunk_retries += 1
            port = self._p()
            port.reset_input_buffer()
            self._send(CMD_READ_FBUF, args)
            deadline = self._deadline(10 + n, s.chunk_delay_10us * 1e-5)
            try:
                status, _ = self._reply(CMD_READ_FBUF, deadline)
                if status != 0:
                    raise Vc0706Error(f"read frame: status {status}")
                data = self._read_exact(n, deadline)
                if len(data) < n:
                    raise Vc0706Error(f"read frame: {len(data)} of {n} bytes at {addr}")
                # byte by byte: a reply a byte short shows at the first footer byte, no timeout
                for want in footer:
                    got = self._read_exact(1, deadline)
                    if got != bytes((want,)):
                        raise Vc0706Error(f"read frame: bad trailer at {addr} (byte short?)")
                return data
            except Vc0706Error as exc:
                last = str(exc)
                self._health.note_error(last)
                self._drain()
        raise Vc0706Error(last)

    def read_frame(self, length: int) -> tuple[bytes, int]:
        """The frozen JPEG in chunks; returns it and the host time its last byte arrived."""
        parts: list[bytes] = []
        addr = 0
        chunk = self.settings.chunk_size
        while addr < length:
            n = min(chunk, length - addr)
            parts.append(self._read_chunk(addr, n))
            addr += n
            if self._stop.is_set():
                raise Vc0706Error("stopped")
        return b"".join(parts), self._clock.now_ns()

    def capture(self) -> Frame | None:
        """Freeze, read, resume, decode. None when the JPEG did not decode (counted)."""
        seq = self._seq
        self._seq += 1
        t_ns = self.freeze()
        try:
            length = self.frame_length()
            if not 0 < length < 1 << 24:
                raise Vc0706Error(f"implausible frame length {length}")
            data, t_rx = self.read_frame(length)
        finally:
            self.resume()
        image = decode_jpeg(data, self.width, self.height)
        if image is None:
            self._health.bad_data += 1
            self._health.lost += 1
            return None
        return Frame(t_ns=t_ns, seq=seq, t_rx_ns=t_rx, image=image)

    def identify(self) -> dict[str, str | int]:
        """What the bench command prints (cached at the last init, no serial traffic)."""
        return {"version": self.version_text, "baud": self._line_baud,
                "size": f"{self.width}x{self.height}", "banner": self.banner.strip()}

    # --- connection and capture thread ----------------------------------------------------
    def _find_baud(self) -> int:
        s = self.settings
        order = [s.baud] + [b for b in s.scan_bauds if b != s.baud]
        port = self._p()
        for baud in order:
            port.baudrate = baud
            self._line_baud = baud
            try:
                self.version(retries=0)
                return baud
            except Vc0706Error:
                log.info("%s: no answer at %d baud", self.name, baud)
        raise Vc0706Error(f"no answer at any of {order} baud")

    def init_camera(self) -> None:
        """Find the baud, reset, identify, set the image size, optionally go faster."""
        s = self.settings
        self._find_baud()
        if s.reset_on_open:
            self.reset()
        self.version()
        if self.get_size() != self.size_code:
            self.set_size(self.size_code)
            if self.get_size() != self.size_code:
                raise Vc0706Error(f"camera ignored image size {s.image_size}")
        if s.fast_baud and s.fast_baud != self._line_baud:
            self.set_baud(s.fast_baud)
        log.info("%s: %s at %d baud, %s", self.name, self.version_text, self._line_baud,
                 s.image_size)

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*SERIAL_ERRORS):
                port.close()

    def connect(self) -> None:
        """Open the port and initialise the camera (raises Vc0706Error or a serial error)."""
        self._close_port()
        self._port = open_port(self._spec, self.settings.baud, self.settings.io_timeout_s)
        self._line_baud = self.settings.baud
        try:
            self.init_camera()
        except BaseException:
            self._close_port()
            raise

    def _run(self) -> None:
        s = self.settings
        backoff = Backoff(s.reconnect_min_s, s.reconnect_max_s)
        period_ns = round(1e9 / s.rate_hz)
        t_next = self._clock.now_ns()
        failures = 0
        while not self._stop.is_set():
            if self._port is None:
                try:
                    self.connect()
                except Exception as exc:  # retried with backoff, never fatal
                    if not isinstance(exc, CONNECT_ERRORS):
                        log.exception("%s: unexpected error connecting", self.name)
                    self._health.note_error(f"connect: {exc}")
                    self._health.connected = False
                    self._stop.wait(backoff.fail())
                    continue
                backoff.ok()
                if self._ever_connected:
                    self._health.reconnects += 1
                self._ever_connected = True
                self._health.connected = True
                failures = 0
            wait_ns = t_next - self._clock.now_ns()
            if wait_ns > 0 and self._stop.wait(wait_ns / 1e9):
                break
            t_next = max(t_next + period_ns, self._clock.now_ns())
            try:
                frame = self.capture()
            except Vc0706Error as exc:
                if self._stop.is_set():
                    break
                self._health.note_error(str(exc))
                self._health.lost += 1
                failures += 1
                if failures >= s.max_failures:
                    log.warning("%s: %d failed captures, re-initialising", self.name, failures)
                    self._close_port()
                continue
            except Exception as exc:  # the thread must outlive any port failure
                if not isinstance(exc, SERIAL_ERRORS):
                    log.exception("%s: unexpected error in capture", self.name)
                else:
                    log.warning("%s: serial error, reopening: %s", self.name, exc)
                self._health.note_error(f"serial: {exc}")
                self._health.lost += 1
                self._health.connected = False
                self._close_port()
                self._stop.wait(backoff.fail())
                continue
            failures = 0
            if frame is not None:
                self._queue.put(frame)
                self._health.samples += 1
        self._close_port()

