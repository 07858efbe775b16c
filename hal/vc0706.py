"""VC0706 serial JPEG camera (REFERENCE.md "VC0706"), host-stamped, on its own capture thread.

Command ``56 00 <cmd> <len> <args>``, reply ``76 00 <cmd> <status> <len> <data>``. The camera has
no clock: the host stamps the freeze command's send and its acknowledgement, and
``freeze_exposure`` turns that bracket into a mid-exposure estimate with a bound (the frozen
picture is the last whole video frame before the freeze took effect); ``t_rx_ns`` is when the
frame had been read (and verified). Replies are found by scanning for ``76 00 <cmd>`` so a stray
or missing byte costs one retry, not the rest of the session.

The camera has no CRC, and a flipped bit in JPEG data still decodes (to a wrong picture) most of
the time. So nothing is trusted on one reading: the frame buffer stays frozen until resume, and
every chunk and the frame length are read until two readings agree (``verify_reads``). The
frame length is bounded by the image size and must match the JPEG's own markers. One capture,
freeze to resume, never outlasts ``capture_timeout_s``, and resume is sent on every path.

Two uses of one chip: ``Vc0706Device`` is the protocol, the connection and the capture thread's
skeleton; ``Vc0706Camera`` here captures at ``rate_hz`` as a (slow) navigation camera, and
``hal.vc0706_still.Vc0706StillCamera`` takes a photo when triggered. Longer than the ~400-line
guide on purpose: one chip, one file (DESIGN.md, as its emulator): the protocol constants, the
JPEG checks the camera's lack of a CRC makes necessary, and the capture state machine; the
thread and port plumbing are in ``hal.serial_reader``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
from PIL import Image

from hal.interfaces import Clock
from hal.serial_reader import (
    SERIAL_ERRORS,
    Backoff,
    CameraThread,
    FrameQueue,
    PortSpec,
    SerialPort,
    SerialThread,
    open_port,
    wire_time_ns,
)
from hal.tomlschema import rng
from hal.types import NS_PER_S, DeviceHealth, DriverCounters, Frame

log = logging.getLogger(__name__)

# --- protocol (datasheet command names in comments) ---------------------------------------
CMD = 0x56  # protocol sign, host to camera
REPLY = 0x76  # protocol sign, camera to host
SERIAL_NO = 0x00
CMD_RESET = 0x26  # SYSTEM_RESET
CMD_VERSION = 0x11  # GEN_VERSION
CMD_SET_BAUD = 0x24  # SET_PORT
CMD_READ_DATA = 0x30  # READ_DATA, used for "read image size"
CMD_WRITE_DATA = 0x31  # WRITE_DATA, used for "set image size"
CMD_READ_FBUF = 0x32  # READ_FBUF
CMD_FBUF_LEN = 0x34  # GET_FBUF_LEN
CMD_FBUF_CTRL = 0x36  # FBUF_CTRL
FBUF_CURRENT = b"\x00"  # GET_FBUF_LEN / READ_FBUF: the current (frozen) frame
FBUF_FREEZE = 0x00  # FBUF_CTRL "stop current frame"
FBUF_RESUME = 0x03  # FBUF_CTRL "resume frame"
SIZE_ARGS = bytes((0x04, 0x01, 0x00, 0x19))  # image-size register: 1 byte at 0x0019
READ_FBUF_MODE = bytes((0x00, 0x0A))  # current frame, data over the UART
BANNER_END = b"Init end\r\n"
IMAGE_SIZES = {
    "640x480": (0x00, 640, 480), "320x240": (0x11, 320, 240), "160x120": (0x22, 160, 120),
}
BAUD_DIVIDERS = {9600: 0xAEC8, 19200: 0x56E4, 38400: 0x2AF2, 57600: 0x1C4C, 115200: 0x0DA6}

# --- JPEG plausibility --------------------------------------------------------------------
JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
EOI_SLACK = 32  # the frame buffer may pad after EOI, but not by much
MIN_JPEG_BYTES = 64  # SOI, quantisation and Huffman tables, SOF, SOS, EOI: never fewer
# Upper bound on a frame's length: the uncompressed RGB picture. Pure noise at the camera's
# 4:2:2 subsampling and quality 100 measured 2.7 bytes/pixel (Pillow); real scenes far less.
MAX_JPEG_BYTES_PER_PIXEL = 3
# Read-frame replies carry no address: a reply that comes late (the camera stalled past the
# reply timeout, then answered every command queued meanwhile) looks like the answer to a later
# request of the same length. So the lengths of up to CHUNK_LEN_CYCLE consecutive chunks
# differ, and a late reply fails the trailer check. A reply a whole cycle late needs a stall
# of that many reply timeouts: validate() keeps that longer than the capture's time cap.
CHUNK_LEN_CYCLE = 64
# SOFn markers carry the picture size; C4 (DHT), C8 (JPG) and CC (DAC) share the range
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

_T = TypeVar("_T")


class Vc0706Error(Exception):
    """No reply, a malformed or error reply, or a frame that failed every retry."""


class CaptureTimeout(Vc0706Error):
    """The capture used up ``capture_timeout_s``."""


CONNECT_ERRORS: tuple[type[Exception], ...] = (Vc0706Error, *SERIAL_ERRORS)


@dataclass
class Vc0706LinkSettings:
    """The line, the protocol's limits and the capture's integrity: what both uses share."""

    baud: int = 38400
    scan_bauds: list[int] = field(default_factory=lambda: [38400, 115200, 57600, 19200, 9600])
    fast_baud: int = 0  # switch to this after init; 0 keeps the found one
    image_size: Literal["640x480", "320x240", "160x120"] = "160x120"
    chunk_size: int = field(default=512, metadata=rng(8, 65535))
    chunk_delay_10us: int = field(default=10, metadata=rng(0, 65535))  # units of 0.01 ms
    io_timeout_s: float = field(default=0.02, metadata=rng(0.001, 1.0))  # bounds each read
    reply_timeout_s: float = field(default=0.5, metadata=rng(0.01, 10))  # plus wire time
    reset_timeout_s: float = field(default=3.0, metadata=rng(0.1, 30))
    size_settle_s: float = field(default=0.2, metadata=rng(0.0, 5))
    retries: int = field(default=3, metadata=rng(0, 100))
    # Read every chunk and the frame length until two readings agree. The camera has no CRC:
    # on one reading a flipped bit in JPEG data gives a wrong but decodable picture 94 % of
    # the time. Costs a second transfer of the frame, x1.9-2.0 in capture time: an 8.5 KB
    # 160x120 JPEG took 2.3 s -> 4.6 s at 38400 baud, 0.8 s -> 1.6 s at 115200
    # (benchmarks/vc0706_capture.py, emulator paced at the baud rate).
    verify_reads: bool = True
    # No capture, freeze to resume, lasts longer whatever the camera sends (a corrupted frame
    # length once meant 37 minutes of reading). Verified, ~18 KB of JPEG fit in 10 s at 38400
    # baud, ~50 KB at 115200: a larger image size or a slower line needs more.
    capture_timeout_s: float = field(default=10.0, metadata=rng(0.1, 600))
    reset_on_open: bool = True
    max_failures: int = field(default=3, metadata=rng(1, 1000))  # in a row, then re-init
    reconnect_min_s: float = field(default=0.1, metadata=rng(0.001, 60))
    reconnect_max_s: float = field(default=2.0, metadata=rng(0.001, 600))
    # The sensor's video frame period: 30 frames/s at VGA (its spec sheet; electronic rolling
    # shutter). It bounds when the frozen picture was exposed (``freeze_exposure``).
    sensor_frame_s: float = field(default=1 / 30, metadata=rng(0.001, 1.0))

    def validate(self) -> str:
        for b in [self.baud, *self.scan_bauds]:
            if b not in BAUD_DIVIDERS:
                return f"baud {b} is not one of {sorted(BAUD_DIVIDERS)}"
        if self.fast_baud and self.fast_baud not in BAUD_DIVIDERS:
            return f"fast_baud {self.fast_baud} is not one of {sorted(BAUD_DIVIDERS)}"
        if self.reconnect_max_s < self.reconnect_min_s:
            return "reconnect_max_s must be >= reconnect_min_s"
        if self.capture_timeout_s < 2 * resume_reserve_s(self):
            return (
                f"capture_timeout_s {self.capture_timeout_s:g} leaves no time to read a frame: "
                f"at least {2 * resume_reserve_s(self):g} s with reply_timeout_s "
                f"{self.reply_timeout_s:g}"
            )
        cycle = chunk_len_cycle(self.chunk_size)
        if self.capture_timeout_s >= cycle * self.reply_timeout_s:
            return (
                f"capture_timeout_s {self.capture_timeout_s:g} must stay below {cycle} reply "
                f"timeouts ({cycle * self.reply_timeout_s:g} s) with chunk_size "
                f"{self.chunk_size}: a reply that late could pass as another chunk's"
            )
        return ""

    @property
    def line_baud(self) -> int:
        """The line rate captures run at (after init)."""
        return self.fast_baud or self.baud


@dataclass
class Vc0706Settings(Vc0706LinkSettings):
    """As a navigation camera: capture at ``rate_hz`` (as fast as the line allows)."""

    rate_hz: float = field(default=2.0, metadata=rng(0.01, 30))
    focal_px: float = field(default=130.0, metadata=rng(1.0, 100_000.0))
    queue_len: int = field(default=4, metadata=rng(1, 1000))


def resume_reserve_s(s: Vc0706LinkSettings) -> float:
    """Time kept back at the end of a capture for one resume attempt and its drain."""
    return 2 * s.reply_timeout_s + 2 * s.io_timeout_s


def max_jpeg_bytes(width: int, height: int) -> int:
    return width * height * MAX_JPEG_BYTES_PER_PIXEL


def chunk_len_cycle(chunk_size: int) -> int:
    return max(1, min(CHUNK_LEN_CYCLE, chunk_size // 2))


def chunk_plan(length: int, chunk_size: int) -> list[tuple[int, int, int]]:
    """(address, length, bytes to skip) of each read covering ``length`` bytes: chunk k asks
    for ``chunk_size - k % cycle`` bytes, so lengths within a cycle differ. A last piece that
    would repeat a length in use is read as a full-length chunk ending at the frame's end,
    overlapping its predecessor (at most ``cycle`` bytes more)."""
    cycle = chunk_len_cycle(chunk_size)
    plan: list[tuple[int, int, int]] = []
    addr, k = 0, 0
    while addr < length:
        n = chunk_size - k % cycle
        rest = length - addr
        if rest >= n:
            plan.append((addr, n, 0))
        elif k == 0 or rest <= chunk_size - cycle:  # the only chunk, or shorter than any other
            plan.append((addr, rest, 0))
        else:
            plan.append((length - n, n, n - rest))
        addr += min(n, rest)
        k += 1
    return plan


# JPEG sizes at the camera's default compression, for time estimates only: a similar serial
# JPEG module's manual gives ~5, 13 and 37 KB for real scenes (measure yours: the frame length
# command tells). A busy scene can be half as large again.
TYPICAL_JPEG_BYTES = {"640x480": 37_000, "320x240": 13_000, "160x120": 5_000}
CMD_BYTES_FBUF_CTRL = 5  # 56 00 36 01 xx; its ack 76 00 36 00 00 is 5 bytes too
CMD_BYTES_READ_FBUF = 16


def capture_wire_s(s: Vc0706LinkSettings, jpeg_bytes: int) -> float:
    """Seconds one capture of a ``jpeg_bytes`` JPEG keeps the line busy: every command and
    reply (freeze, frame length, the chunks, resume; twice over with ``verify_reads``) back
    to back at the line rate, plus the camera's per-chunk delay. The floor of a capture's
    time: the host's turnarounds come on top (a few per cent on an idle host).

    640x480 (~37 KB), verified: 20.3 s at 38400 baud, 6.8 s at 115200; 160x120 (~5 KB)
    2.8 s and 0.9 s. Measured: an 8.5 KB JPEG took 4.6 s at 38400 (this says 4.7)."""
    reads = 2 if s.verify_reads else 1
    plan = chunk_plan(jpeg_bytes, s.chunk_size)
    nbytes = 2 * 2 * CMD_BYTES_FBUF_CTRL  # freeze and resume, each with its ack
    nbytes += reads * (5 + 9)  # frame length: command, and the reply with 4 length bytes
    nbytes += reads * sum(CMD_BYTES_READ_FBUF + 10 + n for _, n, _ in plan)  # + head, trailer
    delay_s = reads * len(plan) * s.chunk_delay_10us * 1e-5
    return wire_time_ns(nbytes, s.line_baud) / NS_PER_S + delay_s


def freeze_exposure(t_send_ns: int, t_ack_ns: int, baud: int, sensor_frame_s: float
                    ) -> tuple[int, int]:
    """When the frozen picture was exposed: (mid-exposure estimate, bound), host clock.

    The freeze took effect at the camera between the command's last byte arriving and its
    acknowledgement leaving: after ``t_send + wire(command)`` and before ``t_ack -
    wire(ack)``. A wide bracket is the host's own delay (a late read); it only widens the bound.
    The camera streams video at period P and freezes the last whole frame. With a rolling
    shutter the picture's centre row is read out half a readout (~P/2) before the frame ends,
    and exposed up to one frame (P) before that, so its mid-exposure is P/2 + (0..P/2) before
    the frame ended, which was 0..P before the freeze: between P/2 and 2P before it. The
    estimate is the middle of everything that allows, the bound half its width: at 30 frames/s
    and 38400 baud, about 42 ms before the freeze, +/- 25 ms plus half the bracket's slack.
    An assumption from the spec sheet, not a measurement: photograph a millisecond counter
    driven from the host clock to check it on the bench.
    """
    wire = wire_time_ns(CMD_BYTES_FBUF_CTRL, baud)
    frame_ns = round(sensor_frame_s * NS_PER_S)
    earliest = t_send_ns + wire - 2 * frame_ns
    latest = max(earliest, t_ack_ns - wire - frame_ns // 2)
    return (earliest + latest) // 2, (latest - earliest + 1) // 2


def _scan_end(data: bytes, i: int) -> int:
    """Offset of the marker ending the entropy-coded data at ``i``, or -1 if none."""
    while True:
        i = data.find(b"\xff", i)
        if i < 0 or i + 1 >= len(data):
            return -1
        nxt = data[i + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:  # stuffed 0xFF byte, restart marker
            i += 2
        elif nxt == 0xFF:  # fill byte before a marker
            i += 1
        else:
            return i


def jpeg_extent(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, end just past EOI) from the JPEG's markers alone (ITU T.81 annex B);
    None if they are broken: no SOI, a bad segment, a scan before the frame header, no EOI."""
    if not data.startswith(JPEG_SOI):
        return None
    size: tuple[int, int] | None = None
    i, n = 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            return None
        m = data[i + 1]
        if m == 0xFF:  # fill byte
            i += 1
            continue
        if m == 0xD9:
            return None if size is None else (*size, i + 2)
        if 0xD0 <= m <= 0xD7 or m == 0x01:  # RSTn, TEM: no length field
            i += 2
            continue
        if m in (0x00, 0xD8) or i + 4 > n:
            return None
        seg = int.from_bytes(data[i + 2 : i + 4], "big")
        if seg < 2:
            return None
        if m in SOF_MARKERS:
            if size is not None or seg < 8 or i + 9 > n:
                return None
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            size = (width, height)
        i += 2 + seg
        if m == 0xDA:  # SOS: entropy-coded data up to the next real marker
            if size is None:
                return None
            i = _scan_end(data, i)
            if i < 0:
                return None
    return None


def decode_jpeg(data: bytes, width: int, height: int) -> np.ndarray | None:
    """Grayscale uint8 (height, width), or None if the data is not a whole JPEG of that size.

    The size is checked from the markers before Pillow sees the data, and again on Pillow's
    lazy header before anything is decoded: a corrupted SOF must not decode a huge picture.
    """
    ext = jpeg_extent(data)
    if ext is None or ext[:2] != (width, height) or len(data) - ext[2] > EOI_SLACK:
        return None
    try:
        with Image.open(io.BytesIO(data[: ext[2]]), formats=("JPEG",)) as im:
            if im.size != (width, height):
                return None
            gray = im.convert("L")
    # Pillow raises many types on hostile input (OSError, SyntaxError, ValueError,
    # DecompressionBombError, struct.error, IndexError...): any of them means "not usable"
    except Exception:
        return None
    return np.asarray(gray, dtype=np.uint8)


@dataclass(slots=True)
class Vc0706Counters(DriverCounters):
    """The driver's counters as of the last health()."""

    retries: int = 0  # commands and chunks sent again after a bad or missing reply
    chunk_retries: int = 0
    garbage_bytes: int = 0
    mismatches: int = 0  # readings that disagreed with the earlier ones
    capture_timeouts: int = 0
    resume_failures: int = 0
    baud: int = 0  # the line rate in use
    dropped: int = 0  # frames the queue dropped (the loop drained too late)


class Vc0706Device(SerialThread):
    """A VC0706 on a serial port: the protocol, the connection and the capture thread's loop.

    A subclass says when to capture (``_wait_for_work``) and what to make of it (``_work``);
    the loop connects (with backoff), counts failures, re-initialises after ``max_failures``
    in a row and reopens the port after a serial error."""

    thread_role = "capture"

    def __init__(
        self, port: PortSpec, clock: Clock, settings: Vc0706LinkSettings, name: str,
    ) -> None:
        self.settings = s = settings
        self.name = name
        self.size_code, self.width, self.height = IMAGE_SIZES[s.image_size]
        self.max_frame_bytes = max_jpeg_bytes(self.width, self.height)
        self.version_text = ""
        self.banner = ""
        self._spec = port
        self._clock = clock
        self._port: SerialPort | None = None
        self._line_baud = s.baud
        self.counters = self._new_counters()
        self._health = DeviceHealth(connected=False, counters=self.counters)
        self._init_thread()
        self._ever_connected = False
        self._cap_ns: int | None = None  # the running capture must be done by then
        self._maybe_frozen = False  # a freeze was sent and no resume acknowledged since
        self.retries = 0  # commands sent again after a bad or missing reply
        self.chunk_retries = 0
        self.garbage_bytes = 0
        self.mismatches = 0  # readings that disagreed with the earlier ones
        self.capture_timeouts = 0
        self.resume_failures = 0

    def _new_counters(self) -> Vc0706Counters:
        return Vc0706Counters()

    def _join_timeout_s(self) -> float:
        return 10.0 + self.settings.capture_timeout_s

    def health(self) -> DeviceHealth:
        c = self.counters
        c.retries, c.chunk_retries = self.retries + self.chunk_retries, self.chunk_retries
        c.garbage_bytes, c.mismatches = self.garbage_bytes, self.mismatches
        c.capture_timeouts, c.resume_failures = self.capture_timeouts, self.resume_failures
        c.baud = self._line_baud
        return self._health

    def repeats(self) -> int:
        """Reads so far that had to be made again: retried commands and chunks, and readings
        that disagreed (each costs one more)."""
        return self.retries + self.chunk_retries + self.mismatches

    # --- byte level -----------------------------------------------------------------------
    def _p(self) -> SerialPort:
        if self._port is None:
            raise Vc0706Error("port not open")
        return self._port

    def _now(self) -> int:
        return self._clock.now_ns()

    def _limit(self, deadline_ns: int) -> int:
        cap = self._cap_ns
        return deadline_ns if cap is None else min(deadline_ns, cap)

    def _check_cap(self) -> None:
        if self._cap_ns is not None and self._now() >= self._cap_ns:
            raise CaptureTimeout(f"capture took longer than {self.settings.capture_timeout_s} s")

    def _deadline(self, nbytes: int, extra_s: float = 0.0) -> int:
        wire = wire_time_ns(nbytes, self._line_baud)
        return self._limit(
            self._now() + wire + round((self.settings.reply_timeout_s + extra_s) * 1e9)
        )

    def _read_exact(self, n: int, deadline_ns: int) -> bytes:
        """Up to ``n`` bytes; fewer only if the deadline passed (each read is bounded too)."""
        port = self._p()
        buf = b""
        while len(buf) < n:
            buf += port.read(n - len(buf))
            if len(buf) < n and self._now() >= deadline_ns:
                break
        return buf

    def _drain(self) -> None:
        """Let a garbled reply finish arriving, then throw it away."""
        port = self._p()
        end = self._limit(self._now() + round(self.settings.reply_timeout_s * 1e9))
        while self._now() < end:
            # a big read returns after one io timeout with what came: few calls on babble
            if not port.read(max(4096, port.in_waiting)):  # quiet for one io timeout
                break
        port.reset_input_buffer()

    def _send(self, cmd: int, args: bytes = b"") -> None:
        self._p().write(bytes((CMD, SERIAL_NO, cmd, len(args))) + args)

    def _reply(
        self, cmd: int, deadline_ns: int, expect_len: int | None = None
    ) -> tuple[int, bytes]:
        """Find ``76 00 cmd status len`` (skipping garbage), then its data. Status, data.

        With ``expect_len`` an OK reply's length byte must say so: a corrupted length is an
        error, not a reason to read (and misplace) that many bytes.
        """
        want = bytes((REPLY, SERIAL_NO, cmd))
        buf = self._read_exact(5, deadline_ns)
        while len(buf) < 5 or buf[:3] != want:
            if len(buf) < 5 or self._now() >= deadline_ns:
                # the second case: a line babbling garbage (wrong baud, noise) must not hold us
                raise Vc0706Error(f"cmd {cmd:#04x}: no reply")
            i = buf.find(want[:1], 1)
            skip = i if i > 0 else len(buf)
            self.garbage_bytes += skip
            buf = buf[skip:]
            buf += self._read_exact(5 - len(buf), deadline_ns)
        status, dlen = buf[3], buf[4]
        if status == 0 and expect_len is not None and dlen != expect_len:
            raise Vc0706Error(f"cmd {cmd:#04x}: length byte {dlen}, expected {expect_len}")
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
        for attempt in range((self.settings.retries if retries is None else retries) + 1):
            self._check_cap()
            if attempt:
                self.retries += 1
            port = self._p()
            port.reset_input_buffer()  # anything pending is stale: it would offset the reply
            self._send(cmd, args)
            try:
                status, data = self._reply(
                    cmd, self._deadline(5 + (expect_len or 0)), expect_len
                )
            except Vc0706Error as exc:
                last = str(exc)
                self._health.note_error(last)
                self._drain()
                continue
            if status == 0:
                return data
            last = f"cmd {cmd:#04x}: status {status}"
            self._health.note_error(last)
            self._drain()
        raise Vc0706Error(last)

    def _read_agreed(self, what: str, read_once: Callable[[], _T]) -> _T:
        """``read_once()`` until two readings agree; one reading if ``verify_reads`` is off.

        The frozen buffer returns the same bytes every time, so agreement is the camera's only
        integrity check; a third reading settles which of two disagreeing ones was damaged.
        """
        if not self.settings.verify_reads:
            return read_once()
        seen: list[_T] = []
        for _ in range(self.settings.retries + 2):
            value = read_once()
            if value in seen:
                return value
            if seen:
                self.mismatches += 1
                self._health.bad_data += 1
                self._health.note_error(f"{what}: readings disagree")
            seen.append(value)
        raise Vc0706Error(f"{what}: no two of {len(seen)} readings agree")

    # --- operations -----------------------------------------------------------------------
    def reset(self) -> str:
        """Reset; returns the banner text (ends ``Init end``)."""
        self.command(CMD_RESET, expect_len=0)
        deadline = self._now() + round(self.settings.reset_timeout_s * 1e9)
        text = b""
        while not text.endswith(BANNER_END):
            b = self._read_exact(1, deadline)
            if not b:
                raise Vc0706Error("reset: no 'Init end' banner")
            text += b
            if len(text) > 4096:
                raise Vc0706Error("reset: banner too long")
        self._health.resets += 1
        self._maybe_frozen = False
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

    def freeze(self) -> tuple[int, int]:
        """Freeze the frame buffer; returns the host times just before the command that was
        acknowledged went out and when its acknowledgement had arrived (``freeze_exposure``).

        A camera that may still be frozen (a lost resume or freeze acknowledgement) is resumed
        first: "stop current frame" on a stopped buffer keeps the old picture, which would then
        travel with a new timestamp. For the same reason a failed freeze is not simply sent
        again.
        """
        last: Vc0706Error | None = None
        for _ in range(self.settings.retries + 1):
            if self._maybe_frozen:
                self.resume()
            self._maybe_frozen = True
            t_send = self._now()
            try:
                self.command(CMD_FBUF_CTRL, bytes((FBUF_FREEZE,)), expect_len=0, retries=0)
            except CaptureTimeout:
                raise
            except Vc0706Error as exc:
                last = exc
                continue
            return t_send, self._now()
        raise last or Vc0706Error("freeze failed")

    def resume(self) -> None:
        self.command(CMD_FBUF_CTRL, bytes((FBUF_RESUME,)), expect_len=0)
        self._maybe_frozen = False

    def _frame_length_once(self) -> int:
        n = 0
        for _ in range(self.settings.retries + 1):
            n = int.from_bytes(self.command(CMD_FBUF_LEN, FBUF_CURRENT, expect_len=4), "big")
            if MIN_JPEG_BYTES <= n <= self.max_frame_bytes:
                return n
            # bounded before anything is read: one flipped bit once meant megabytes of filler
            self._health.bad_data += 1
            self._health.note_error(f"implausible frame length {n}")
        raise Vc0706Error(
            f"implausible frame length {n} for {self.width}x{self.height} "
            f"(max {self.max_frame_bytes})"
        )

    def frame_length(self) -> int:
        return self._read_agreed("frame length", self._frame_length_once)

    def set_baud(self, baud: int) -> None:
        div = BAUD_DIVIDERS[baud]
        self.command(CMD_SET_BAUD, bytes((0x01, div >> 8, div & 0xFF)), expect_len=0)
        self._p().baudrate = baud
        self._line_baud = baud
        self._stop.wait(0.05)  # the camera switches after its ack
        self.version()

    def _read_chunk(self, addr: int, n: int) -> bytes:
        """One framed read of ``n`` bytes at ``addr``: header, data, trailer all checked."""
        s = self.settings
        args = (
            READ_FBUF_MODE + addr.to_bytes(4, "big") + n.to_bytes(4, "big")
            + s.chunk_delay_10us.to_bytes(2, "big")  # 32-bit address: frames > 64 KB work
        )
        footer = bytes((REPLY, SERIAL_NO, CMD_READ_FBUF, 0, 0))
        last = ""
        for attempt in range(s.retries + 1):
            self._check_cap()
            if attempt:
                self.chunk_retries += 1
            port = self._p()
            port.reset_input_buffer()
            self._send(CMD_READ_FBUF, args)
            deadline = self._deadline(10 + n, s.chunk_delay_10us * 1e-5)
            try:
                status, _ = self._reply(CMD_READ_FBUF, deadline, expect_len=0)
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
        """The frozen JPEG in verified chunks; returns it and the host time it was complete."""
        parts: list[bytes] = []
        for addr, n, skip in chunk_plan(length, self.settings.chunk_size):
            part = self._read_agreed(
                f"chunk at {addr}", functools.partial(self._read_chunk, addr, n)
            )
            if addr == 0 and not part.startswith(JPEG_SOI):
                self._health.bad_data += 1  # not a JPEG: no use reading the rest
                raise Vc0706Error("frame does not start with a JPEG SOI marker")
            parts.append(part[skip:])
            if self._stop.is_set():
                raise Vc0706Error("stopped")
        return b"".join(parts), self._now()

    def frozen_read(self, on_exposed: Callable[[int, int], None] | None = None
                    ) -> tuple[int, int, bytes, int]:
        """Freeze, read the frozen JPEG (verified), resume: (mid-exposure estimate, its bound,
        the JPEG as read, host time it was complete). ``on_exposed(t_ns, uncertainty_ns)`` is
        called as soon as the freeze is acknowledged, before the read.

        Raises Vc0706Error (CaptureTimeout past ``capture_timeout_s``); resume is sent on every
        path once a freeze was, and a resume that failed is sent before the next freeze.
        """
        s = self.settings
        # a blocking read may overrun a deadline by one io timeout: keep that inside the cap
        hard = self._now() + round((s.capture_timeout_s - s.io_timeout_s) * 1e9)
        self._cap_ns = hard - round(resume_reserve_s(s) * 1e9)
        try:
            t_send, t_ack = self.freeze()
            t_ns, unc = freeze_exposure(t_send, t_ack, self._line_baud, s.sensor_frame_s)
            if on_exposed is not None:
                on_exposed(t_ns, unc)
            length = self.frame_length()
            data, t_rx = self.read_frame(length)
        except CaptureTimeout:
            self.capture_timeouts += 1
            raise
        finally:
            self._cap_ns = hard
            try:
                self._resume_after_capture()
            finally:
                self._cap_ns = None
        return t_ns, unc, data, t_rx

    def _resume_after_capture(self) -> None:
        if not self._maybe_frozen:
            return
        try:
            self.resume()
        except Vc0706Error as exc:  # the next freeze resumes first; this frame is still good
            self.resume_failures += 1
            self._health.note_error(f"resume: {exc}")
            log.warning("%s: resume failed, will resume before the next freeze: %s",
                        self.name, exc)

    def identify(self) -> dict[str, str | int]:
        """What the bench command prints (cached at the last init, no serial traffic)."""
        return {"version": self.version_text, "baud": self._line_baud,
                "size": f"{self.width}x{self.height}", "banner": self.banner.strip()}

    # --- connection ----------------------------------------------------------------------
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

    # --- the capture thread -----------------------------------------------------------------
    def _wait_for_work(self) -> bool:
        """Block until there is a capture to do; False: go round the loop again (stopping, or
        nothing to do after all)."""
        raise NotImplementedError

    def _work(self) -> None:
        """One capture. Raises Vc0706Error (counted as a lost capture) or a serial error (the
        port is reopened)."""
        raise NotImplementedError

    def _connect_with_backoff(self, backoff: Backoff) -> bool:
        try:
            self.connect()
        except Exception as exc:  # retried with backoff, never fatal
            if not isinstance(exc, CONNECT_ERRORS):
                log.exception("%s: unexpected error connecting", self.name)
            self._health.note_error(f"connect: {exc}")
            self._health.connected = False
            self._stop.wait(backoff.fail())
            return False
        backoff.ok()
        if self._ever_connected:
            self._health.reconnects += 1
        self._ever_connected = True
        self._health.connected = True
        return True

    def _run(self) -> None:
        s = self.settings
        backoff = Backoff(s.reconnect_min_s, s.reconnect_max_s)
        failures = 0
        while not self._stop.is_set():
            if self._port is None:
                if not self._connect_with_backoff(backoff):
                    continue
                failures = 0
            if not self._wait_for_work():
                continue
            try:
                self._work()
            except Vc0706Error as exc:
                if self._stop.is_set():
                    break
                self._health.note_error(str(exc))
                self._health.lost += 1
                failures += 1
                if failures >= s.max_failures:
                    log.warning("%s: %d failed captures, re-initialising", self.name, failures)
                    self._health.connected = False  # not ready until init succeeds again
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
        self._close_port()


class Vc0706Camera(Vc0706Device, CameraThread):
    """hal.interfaces.Camera for a VC0706 on a serial port: a capture every 1/``rate_hz`` or
    as fast as the line allows (a 160x120 capture takes seconds at 38400 baud)."""

    settings: Vc0706Settings

    def __init__(
        self, port: PortSpec, clock: Clock, settings: Vc0706Settings | None = None,
        name: str = "camera",
    ) -> None:
        s = settings or Vc0706Settings()
        super().__init__(port, clock, s, name)
        self.rate_hz = s.rate_hz
        self.focal_px = s.focal_px
        self._queue = FrameQueue(s.queue_len)
        self._seq = 0
        self._t_next: int | None = None

    def health(self) -> DeviceHealth:
        h = super().health()
        h.overflows = self.counters.dropped = self._queue.dropped
        return h

    def capture(self) -> Frame | None:
        """Freeze, read, resume, decode. None when the JPEG did not decode (counted).

        Raises Vc0706Error (CaptureTimeout past ``capture_timeout_s``); resume is sent on every
        path once a freeze was, and a resume that failed is sent before the next freeze.
        """
        seq = self._seq
        self._seq += 1
        t_ns, _, data, t_rx = self.frozen_read()
        image = decode_jpeg(data, self.width, self.height)
        if image is None:
            self._health.bad_data += 1
            self._health.lost += 1
            self._health.last_error = f"frame {seq}: not a whole {self.width}x{self.height} JPEG"
            return None
        return Frame(t_ns=t_ns, seq=seq, t_rx_ns=t_rx, image=image)

    def _wait_for_work(self) -> bool:
        now = self._now()
        t_next = now if self._t_next is None else self._t_next
        wait_ns = t_next - now
        if wait_ns > 0 and self._stop.wait(wait_ns / 1e9):
            return False
        self._t_next = max(t_next + round(1e9 / self.rate_hz), self._now())
        return True

    def _work(self) -> None:
        frame = self.capture()
        if frame is not None:
            self._queue.put(frame)
            self._health.samples += 1
