"""Emulated VC0706 serial JPEG camera (REFERENCE.md "VC0706") behind a pty or a serial port.

Answers the commands the driver uses, renders a frame from ``frame_source`` on freeze and
serves it as a JPEG in chunks, paced at its baud (both ways: a command is acted on once its
last byte would have arrived). The source returns greyscale (H, W) for a navigation camera or
colour (H, W, 3) for photos; either is encoded as the camera would (colour at 4:2:2).

Time truth: the sensor streams video at ``frame_period_ns`` with a rolling shutter read out
over the whole period, exposing ``exposure_ns``; "stop current frame" keeps the last whole
frame, so the frozen picture's true mid-exposure (its centre row) is half a readout plus half
an exposure before that frame ended, which was up to one period before the freeze. The source
is asked for the picture at that instant; every freeze is recorded (``freezes``, and the
``on_freeze`` hook, for a backend's truth). The freeze is acknowledged at once, as a camera
does, and the picture rendered before the next command is heard.

On a pty it reads the baud the driver set (``line_baud``) and ignores bytes sent at the wrong
one, the way framing errors look to a real camera. Faults (``CameraFaults``) apply per reply:
garbage before it, cut short, a byte short (the known field failure), a flipped data byte, no
reply; ``timestamp_shift_ns`` delays the freeze acknowledgement (the host's only timestamp).

Where drivers in the wild differ from the datasheet (REFERENCE.md "VC0706 in the wild"):
- Commands that take no arguments are answered on their 4-byte header whatever the length
  byte says: a widely used driver sends the version command as ``56 00 11 01`` with no data
  byte and real cameras answer it at once, so their parser does not wait for arguments such a
  command does not take. Waiting would swallow the first byte of the next command (that
  driver's image-size change was silently lost). The field evidence is for version; reset and
  motion-monitoring status take no arguments either and are treated alike.
- The read-frame address is 32 bits. A driver that fills only the low 16 gets exactly the bytes
  it asked for: it works below 64 KB and wraps above, as on a real camera.
- Set-port dividers are matched on their high byte when not one of the datasheet's five: that
  driver sends 1C1C for 57600 (datasheet 1C4C), and the five differ in the high byte, which we
  take as the coarse divider. A real camera's rate for 1C1C is not documented: this is an
  assumption, counted in ``inexact_dividers``. Unknown high bytes get an error status.
- Motion monitoring (COMM_MOTION_CTRL 0x37, COMM_MOTION_STATUS 0x38) is kept as a flag;
  ``report_motion()`` sends the camera's unsolicited COMM_MOTION_DETECTED (0x39) notice. The
  emulator does not look for motion itself.
"""

from __future__ import annotations

import io
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from PIL import Image

from sim_hal.camera_emu_base import (
    CameraFaults,
    EmulatorThread,
    FrameSource,
    HostNow,
    PtyTransport,
    Transport,
    paced_write,
)

log = logging.getLogger(__name__)

CMD, REPLY = 0x56, 0x76
SIZES = {0x00: (640, 480), 0x11: (320, 240), 0x22: (160, 120)}
DIVIDER_BAUDS = {0xAEC8: 9600, 0x56E4: 19200, 0x2AF2: 38400, 0x1C4C: 57600, 0x0DA6: 115200}
COARSE_DIVIDER_BAUDS = {div >> 8: baud for div, baud in DIVIDER_BAUDS.items()}
NO_ARG_CMDS = frozenset((0x11, 0x26, 0x38))  # GEN_VERSION, SYSTEM_RESET, COMM_MOTION_STATUS
STATUS_OK, STATUS_BAD_FORMAT = 0, 3  # datasheet: 3 = "data format error"
SIZE_REG = bytes((0x04, 0x01, 0x00, 0x19))
DEFAULT_BANNER = b"VC0703 1.00\r\nCtrl infr exist\r\nUser-defined sensor\r\n525\r\nInit end\r\n"
SIZE_SETTLE_NS = 200_000_000  # a size change only takes after a pause (field reports)
SENSOR_FRAME_NS = 33_333_333  # 30 frames/s at VGA (its spec sheet)
FREEZES_KEPT = 256


class Freeze(NamedTuple):
    """One freeze that stopped the buffer: when it took effect and the frozen picture's true
    mid-exposure, host clock."""

    t_freeze_ns: int
    t_mid_ns: int


PhotoSource = Callable[[int], npt.NDArray[np.uint8]]  # true mid-exposure -> (h, w[, 3])


class Vc0706Emulator(EmulatorThread):
    thread_name = "vc0706-emu"

    def __init__(
        self,
        frame_source: FrameSource | PhotoSource,
        *,
        transport: Transport | None = None,
        baud: int = 38400,
        size_code: int = 0x00,
        jpeg_quality: int = 85,
        faults: CameraFaults | None = None,
        seed: int = 0,
        paced: bool = True,
        host_now: HostNow = time.monotonic_ns,
        version: bytes = b"VC0703 1.00",
        banner: bytes = DEFAULT_BANNER,
        frame_period_ns: int = SENSOR_FRAME_NS,
        exposure_ns: int = 10_000_000,
        on_freeze: Callable[[Freeze], None] | None = None,
    ) -> None:
        self.frame_source = frame_source
        self.transport: Transport = transport if transport is not None else PtyTransport()
        self.baud = baud
        self.size_code = size_code
        self.jpeg_quality = jpeg_quality
        self.faults = faults or CameraFaults()
        self.paced = paced
        self.version = version
        self.banner = banner
        self._frozen: bytes | None = None  # the frozen picture's JPEG; None: not frozen
        self._rendered = threading.Event()  # cleared from a freeze until its picture exists
        self._rendered.set()
        self.last_jpeg_len = 0
        self.frozen_image: npt.NDArray[np.uint8] | None = None
        self.t_freeze_ns = 0  # host time the last freeze took effect
        self.t_mid_ns = 0  # the frozen picture's true mid-exposure
        self.frame_period_ns = frame_period_ns
        self.exposure_ns = min(exposure_ns, frame_period_ns)
        self.freezes: deque[Freeze] = deque(maxlen=FREEZES_KEPT)
        self.on_freeze = on_freeze
        self.commands = 0
        self.faulted_replies = 0
        self.mismatched_bytes = 0
        self.motion_enabled = False
        self.inexact_dividers = 0
        self._pending_size: tuple[int, int] | None = None
        self._rng = random.Random(seed)
        self._phase_ns = self._rng.randrange(max(1, frame_period_ns))  # sensor vs host clock
        self._init_runner(host_now)
        self._up_at: int | None = None
        self._t_read = 0  # when the bytes being parsed were read

    # --- main loop ------------------------------------------------------------------------
    def _run(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            self._link_events()
            data = self.transport.read(4096, 0.01)
            if not data:
                continue
            line = self.transport.line_baud()
            if line is not None and line != self.baud:
                self.mismatched_bytes += len(data)
                continue
            self._t_read = self._now()
            if self._t_read < self._stall_until:
                continue
            buf += data
            self._parse(buf)

    def _link_events(self) -> None:
        now = self._now()
        if self._down_request is not None:
            down = self._down_request
            self._down_request = None
            self.transport.disconnect()
            self._up_at = None if down == float("inf") else now + round(down * 1e9)
        if self._up_at is not None and now >= self._up_at:
            self._up_at = None
            self.transport.reconnect()

    def _parse(self, buf: bytearray) -> None:
        while True:
            i = buf.find(CMD)
            if i < 0:
                buf.clear()
                return
            del buf[:i]
            if len(buf) < 4:
                return
            if buf[1] != 0x00:
                del buf[:1]
                continue
            n = 0 if buf[2] in NO_ARG_CMDS else buf[3]
            if len(buf) < 4 + n:
                return
            cmd, args = buf[2], bytes(buf[4 : 4 + n])
            del buf[: 4 + n]
            self.commands += 1
            if self.paced:  # a pty delivers at once; a UART's last byte comes later
                self._sleep_until(self._t_read + 10 * (4 + n) * 1_000_000_000 // self.baud)
            self._handle(cmd, args)

    def _sleep_until(self, t_ns: int) -> None:
        delay = t_ns - self._now()
        if delay > 0:
            time.sleep(delay / 1e9)

    # --- replies --------------------------------------------------------------------------
    def _write(self, data: bytes, t_start: int | None = None) -> None:
        paced_write(
            self.transport, data, self.baud, self._now() if t_start is None else t_start,
            paced=self.paced, host_now=self._now,
        )

    def _faulty(self, reply: bytes, data_span: tuple[int, int] | None = None) -> bytes | None:
        """Apply the fault switches to one reply; None means: do not answer."""
        f, rng = self.faults, self._rng
        out = reply
        hit = False
        if rng.random() < f.drop_prob:
            self.faulted_replies += 1
            return None
        if data_span is not None and data_span[1] > data_span[0]:
            lo, hi = data_span
            if rng.random() < f.corrupt_prob:
                i = rng.randrange(lo, hi)
                out = out[:i] + bytes([out[i] ^ 0x5A]) + out[i + 1 :]
                hit = True
            if rng.random() < f.byte_short_prob or f.byte_short_count > 0:
                f.byte_short_count = max(0, f.byte_short_count - 1)
                i = rng.randrange(lo, hi)
                out = out[:i] + out[i + 1 :]
                hit = True
        if rng.random() < f.truncate_prob:
            out = out[: rng.randrange(1, len(out))]
            hit = True
        if rng.random() < f.garbage_prob:
            out = rng.randbytes(rng.randint(1, max(1, f.garbage_max_bytes))) + out
            hit = True
        self.faulted_replies += hit
        return out

    def _ack(self, cmd: int, data: bytes = b"", status: int = 0) -> None:
        reply = self._faulty(bytes((REPLY, 0x00, cmd, status, len(data))) + data)
        if reply is not None:
            self._write(reply)

    def _effective_size(self) -> int:
        p = self._pending_size
        if p is not None and self._now() - p[1] >= SIZE_SETTLE_NS:
            self.size_code = p[0]
            self._pending_size = None
        return self.size_code

    def exposed_at(self, t_freeze_ns: int) -> int:
        """True mid-exposure of the picture a freeze at ``t_freeze_ns`` keeps (module doc)."""
        p = self.frame_period_ns
        if p <= 0:
            return t_freeze_ns
        t_done = t_freeze_ns - (t_freeze_ns - self._phase_ns) % p  # the last whole frame
        return t_done - p // 2 - self.exposure_ns // 2

    @property
    def frozen(self) -> bytes | None:
        """The frozen picture's JPEG (None: not frozen); waits for a render under way."""
        self._rendered.wait(5.0)
        return self._frozen

    def _freeze(self) -> None:
        """Stop the buffer and acknowledge at once, as the camera does; the picture is
        rendered after the acknowledgement, before the next command is heard."""
        self._rendered.clear()
        now = self._now()
        rec = Freeze(now, self.exposed_at(now))
        self.t_freeze_ns, self.t_mid_ns = rec
        self.freezes.append(rec)
        if self.on_freeze is not None:
            self.on_freeze(rec)
        try:
            shift = self.faults.timestamp_shift_ns
            if shift > 0:
                self._stop.wait(shift / 1e9)
            self._ack(0x36)
            self._frozen = self._render_jpeg(rec.t_mid_ns)
        finally:
            self._rendered.set()

    def _render_jpeg(self, t_mid_ns: int) -> bytes:
        w, h = SIZES[self._effective_size()]
        img = np.ascontiguousarray(self.frame_source(t_mid_ns), dtype=np.uint8)
        pil = Image.fromarray(img)  # (h, w): greyscale; (h, w, 3): colour
        if pil.size != (w, h):
            pil = pil.resize((w, h), Image.Resampling.BILINEAR)
        self.frozen_image = np.asarray(pil, dtype=np.uint8)
        out = io.BytesIO()
        # colour at 4:2:2 chroma subsampling, as the camera's encoder
        pil.save(out, format="JPEG", quality=self.jpeg_quality, subsampling=1)
        self.last_jpeg_len = out.tell()
        return out.getvalue()

    def _handle(self, cmd: int, args: bytes) -> None:
        if cmd == 0x26:  # reset
            self._ack(cmd)
            if self._pending_size is not None:
                self.size_code = self._pending_size[0]
                self._pending_size = None
            self._frozen = None
            self.motion_enabled = False
            self._stop.wait(0.01)
            self._write(self.banner)
        elif cmd == 0x11:  # version
            self._ack(cmd, self.version)
        elif cmd == 0x30 and args == SIZE_REG:  # read image size
            self._ack(cmd, bytes((self._effective_size(),)))
        elif cmd == 0x31 and args[:4] == SIZE_REG and len(args) == 5 and args[4] in SIZES:
            self._effective_size()
            self._pending_size = (args[4], self._now())
            self._ack(cmd)
        elif cmd == 0x36 and args in (b"\x00", b"\x03"):  # freeze / resume
            # a stopped buffer is not refreshed: "stop current frame" again keeps the picture
            if args == b"\x00" and self._frozen is None:
                self._freeze()
                return
            if args == b"\x03":
                self._frozen = None
            self._ack(cmd)
        elif cmd == 0x34:  # frame length
            if self._frozen is None:  # not frozen: the newest whole frame
                self._frozen = self._render_jpeg(self.exposed_at(self._now()))
            self._ack(cmd, len(self._frozen).to_bytes(4, "big"))
        elif cmd == 0x32 and len(args) == 12:
            self._read_fbuf(args)
        elif cmd == 0x24 and len(args) == 3 and args[1] in COARSE_DIVIDER_BAUDS:
            self._set_port(args[1] << 8 | args[2])
        elif cmd == 0x37 and args in (b"\x00", b"\x01"):  # motion monitoring off / on
            self.motion_enabled = args == b"\x01"
            self._ack(cmd)
        elif cmd == 0x38:
            self._ack(cmd, bytes((self.motion_enabled,)))
        else:
            self._ack(cmd, status=STATUS_BAD_FORMAT)

    def _set_port(self, divider: int) -> None:
        baud = DIVIDER_BAUDS.get(divider)
        if baud is None:
            baud = COARSE_DIVIDER_BAUDS[divider >> 8]
            self.inexact_dividers += 1
            log.info("vc0706 emulator: divider %04X taken as %d baud", divider, baud)
        self._ack(0x24)
        self.baud = baud
        self.transport.set_baud(baud)

    def report_motion(self) -> bool:
        """Send the COMM_MOTION_DETECTED notice if motion monitoring is on; True if sent.

        A test hook: call it while no command is being answered."""
        if self.motion_enabled:
            self._write(bytes((REPLY, 0x00, 0x39, STATUS_OK, 0x00)))
        return self.motion_enabled

    def _read_fbuf(self, args: bytes) -> None:
        # 32-bit address: a driver filling only the low 16 bits gets those bytes, and wraps
        addr = int.from_bytes(args[2:6], "big")
        n = int.from_bytes(args[6:10], "big")
        delay_ns = int.from_bytes(args[10:12], "big") * 10_000
        frame = self._frozen or b""
        data = frame[addr : addr + n]
        data += bytes(n - len(data))  # past the end the buffer reads as zeros
        head = bytes((REPLY, 0x00, 0x32, 0x00, 0x00))
        reply = self._faulty(head + data + head, (len(head), len(head) + n))
        if reply is None:
            return
        t0 = self._now()
        # header, then the configured delay before the data (the camera's own pacing)
        self._write(reply[:5], t0)
        if self.paced:
            t0 += 5 * 10 * 1_000_000_000 // self.baud + delay_ns
        self._write(reply[5:], t0)
