"""Raw-frame camera stream over a fast UART: wire format, incremental parser, driver.

Wire format v2 is specified in docs/camera-stream.md (sync, version, seq, device mid-exposure
time in us, exposure, size, pixel format, header CRC-32, payload CRC-32 chained from the
header's; little-endian). The board has its own clock; the driver maps it onto the host clock
with ``ClockMapper`` using the time the last byte arrived minus the frame's wire time and the
board's fixed tx delay.

The reader thread, port and frame queue come from ``hal.serial_reader``, shared with
``hal.vc0706``. A little over the ~400-line guide on purpose: one protocol, one file (wire
format, parser and driver change together when the format does).
"""

from __future__ import annotations

import contextlib
import logging
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from hal.interfaces import Clock
from hal.serial_reader import (
    BITS_PER_BYTE,
    SERIAL_ERRORS,
    Backoff,
    CameraThread,
    FrameQueue,
    PortSpec,
    RxOverrunWatch,
    SerialPort,
    open_port,
    wire_time_ns,
)
from hal.timesync import ClockMapper
from hal.tomlschema import rng
from hal.types import NS_PER_S, DeviceHealth, DriverCounters, Frame

log = logging.getLogger(__name__)

# --- wire format v2 (docs/camera-stream.md) -------------------------------------------------
SYNC = b"\xc3\x3c\xa5\x5a"
# v2: the payload CRC is chained from the header CRC, so it binds the payload to its header
# (v1's plain payload CRC let a header, or another frame's payload, pass as this frame's)
VERSION = 2
PIXFMT_GRAY8 = 0
BYTES_PER_PIXEL = {PIXFMT_GRAY8: 1}
# sync, version, pixfmt, reserved, seq, t_mid_us, exposure_us, width, height, payload_len
_HDR = struct.Struct("<4sBBHIQIHHI")
_CRC = struct.Struct("<I")
HEADER_LEN = _HDR.size + _CRC.size  # 36
TRAILER_LEN = _CRC.size  # 4
OVERHEAD = HEADER_LEN + TRAILER_LEN  # 40


def payload_crc(header_crc: int, payload: bytes | bytearray | memoryview) -> int:
    """CRC-32 of header bytes 0..31 then the payload: the payload's CRC continued from the
    header's. Not over the header CRC too: a block followed by its own CRC-32 always has the
    same CRC (0x2144DF1C), which would make the result independent of the header again."""
    return zlib.crc32(payload, header_crc)


def encode_frame(
    seq: int, t_mid_us: int, exposure_us: int, image: np.ndarray[Any, np.dtype[np.uint8]]
) -> bytes:
    """One frame on the wire; ``image`` is uint8 (height, width) grayscale."""
    img = np.ascontiguousarray(image, dtype=np.uint8)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D (height, width), got shape {img.shape}")
    height, width = img.shape
    payload = img.tobytes()
    hdr = _HDR.pack(
        SYNC, VERSION, PIXFMT_GRAY8, 0, seq & 0xFFFFFFFF, t_mid_us & 0xFFFFFFFFFFFFFFFF,
        exposure_us & 0xFFFFFFFF, width, height, len(payload),
    )
    hdr_crc = zlib.crc32(hdr)
    return b"".join(
        (hdr, _CRC.pack(hdr_crc), payload, _CRC.pack(payload_crc(hdr_crc, payload)))
    )


class ParsedFrame(NamedTuple):
    seq: int
    t_mid_us: int
    exposure_us: int
    width: int
    height: int
    pixfmt: int
    payload: bytes
    wire_bytes: int  # whole frame on the wire, header and CRCs included


class _Header(NamedTuple):
    seq: int
    t_mid_us: int
    exposure_us: int
    width: int
    height: int
    pixfmt: int
    payload_len: int
    crc: int  # the header CRC: where the payload CRC starts from


@dataclass(slots=True)
class ParserStats:
    frames: int = 0
    bytes_in: int = 0
    bytes_skipped: int = 0  # bytes discarded that were not part of a delivered frame
    resyncs: int = 0  # times the parser had to search for the sync word
    bad_header: int = 0  # header CRC failed or header implausible (v1 headers included)
    bad_payload: int = 0  # payload CRC failed
    truncated: int = 0  # a valid header turned up inside a frame's claimed payload
    gaps: int = 0  # sequence discontinuities
    lost: int = 0  # frames missing according to the sequence numbers
    restarts: int = 0  # sequence went backwards or jumped absurdly: board restarted

    @property
    def bad_data(self) -> int:
        return self.bad_header + self.bad_payload + self.truncated


class StreamParser:
    """Incremental parser: ``feed(bytes) -> frames``. Never raises on any input.

    Every byte fed is, at any time, either in a delivered frame, counted in
    ``stats.bytes_skipped``, or still ``buffered``.
    """

    def __init__(self, max_width: int = 4096, max_height: int = 4096) -> None:
        self.max_width = max_width
        self.max_height = max_height
        self.stats = ParserStats()
        self._buf = bytearray()
        self._scan = 0  # where to continue looking for a header inside a pending payload
        self._last_seq: int | None = None
        # for each frame the last feed() delivered: stats.bytes_skipped when it was delivered
        self.discarded_at: list[int] = []

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame (or of a sync word)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget partial data (after a reconnect); sequence tracking continues."""
        self.stats.bytes_skipped += len(self._buf)
        self._buf.clear()
        self._scan = 0

    def _discard(self, n: int) -> None:
        del self._buf[:n]
        self.stats.bytes_skipped += n
        self._scan = 0

    def _header(self, at: int) -> _Header | None:
        """A valid, plausible header at ``at`` (length checked by the caller), else None."""
        raw = bytes(self._buf[at : at + HEADER_LEN])
        (crc,) = _CRC.unpack_from(raw, _HDR.size)
        if zlib.crc32(raw[: _HDR.size]) != crc:
            return None
        _, ver, fmt, reserved, seq, t_us, exp_us, w, h, plen = _HDR.unpack_from(raw)
        bpp = BYTES_PER_PIXEL.get(fmt)
        if (
            ver != VERSION
            or bpp is None
            or reserved != 0
            or not 1 <= w <= self.max_width
            or not 1 <= h <= self.max_height
            or plen != w * h * bpp
        ):
            return None
        return _Header(seq, t_us, exp_us, w, h, fmt, plen, crc)

    def _inner_header(self) -> int | None:
        """Offset of a valid header after the start of the pending frame, if one has arrived."""
        buf = self._buf
        pos = max(1, self._scan)
        while True:
            j = buf.find(SYNC, pos)
            if j < 0:
                self._scan = max(1, len(buf) - len(SYNC) + 1)
                return None
            if j + HEADER_LEN > len(buf):
                self._scan = j
                return None
            if self._header(j) is not None:
                return j
            pos = j + 1

    def feed(self, data: bytes | bytearray | memoryview) -> list[ParsedFrame]:
        st = self.stats
        st.bytes_in += len(data)
        buf = self._buf
        buf += data
        out: list[ParsedFrame] = []
        self.discarded_at = []
        while True:
            i = buf.find(SYNC)
            if i < 0:
                keep = len(SYNC) - 1  # a sync word may be split across reads
                if len(buf) > keep:
                    st.resyncs += 1
                    self._discard(len(buf) - keep)
                break
            if i > 0:
                st.resyncs += 1
                self._discard(i)
            if len(buf) < HEADER_LEN:
                break
            hdr = self._header(0)
            if hdr is None:
                st.bad_header += 1
                self._discard(1)
                continue
            end = HEADER_LEN + hdr.payload_len
            total = end + TRAILER_LEN
            if len(buf) < total:
                j = self._inner_header()
                if j is None:
                    break
                st.truncated += 1
                self._discard(j)
                continue
            with memoryview(buf) as mv:
                crc = payload_crc(hdr.crc, mv[HEADER_LEN:end])
            if crc != _CRC.unpack_from(buf, end)[0]:
                st.bad_payload += 1
                self._discard(1)
                continue
            payload = bytes(buf[HEADER_LEN:end])
            del buf[:total]
            self._scan = 0
            self._count_seq(hdr.seq)
            st.frames += 1
            self.discarded_at.append(st.bytes_skipped)
            out.append(ParsedFrame(
                hdr.seq, hdr.t_mid_us, hdr.exposure_us, hdr.width, hdr.height, hdr.pixfmt,
                payload, total,
            ))
        return out

    def _count_seq(self, seq: int) -> None:
        last = self._last_seq
        self._last_seq = seq
        if last is None:
            return
        d = (seq - last) & 0xFFFFFFFF
        if d == 0 or d > 1 << 31:
            self.stats.restarts += 1
        elif d > 1:
            self.stats.gaps += 1
            self.stats.lost += d - 1


# --- stream driver --------------------------------------------------------------------------


@dataclass
class StreamCameraSettings:
    baud: int = field(default=3_000_000, metadata=rng(9600, 12_000_000))
    width: int = field(default=96, metadata=rng(1, 4096))
    height: int = field(default=72, metadata=rng(1, 4096))
    rate_hz: float = field(default=30.0, metadata=rng(0.1, 1000))
    focal_px: float = field(default=100.0, metadata=rng(1.0, 100_000.0))
    # board's delay from mid-exposure to the first byte on the wire (exposure/2 + readout)
    fixed_latency_ns: int = field(default=2_000_000, metadata=rng(0, NS_PER_S))
    read_timeout_s: float = field(default=0.05, metadata=rng(0.001, 1.0))
    queue_len: int = field(default=8, metadata=rng(1, 1000))
    reconnect_min_s: float = field(default=0.05, metadata=rng(0.001, 60))
    reconnect_max_s: float = field(default=2.0, metadata=rng(0.001, 600))
    # ~8.5 s at 30 Hz: with 64 points the hull-edge slope, extrapolated half a window, gave
    # up to ~280 us error at 1 ms jitter (benchmarks/camera_stream.py); 256 stays < 100 us
    clock_window: int = field(default=256, metadata=rng(2, 10_000))
    clock_slew_ns_per_s: float = field(default=2_000_000.0, metadata=rng(0, 1e9))
    clock_step_ns: float = field(default=200_000_000.0, metadata=rng(1, 1e12))

    def validate(self) -> str:
        if self.reconnect_max_s < self.reconnect_min_s:
            return "reconnect_max_s must be >= reconnect_min_s"
        wire_s = (OVERHEAD + self.width * self.height) * BITS_PER_BYTE / self.baud
        if wire_s * self.rate_hz > 1.0:
            return (
                f"a {self.width}x{self.height} frame takes {wire_s * 1e3:.1f} ms at {self.baud} "
                f"baud, longer than the {self.rate_hz:g} Hz frame period: raise baud, lower "
                "rate_hz or the size"
            )
        return ""


@dataclass(slots=True)
class StreamCameraCounters(DriverCounters):
    """The parser's counters (``ParserStats``) and the driver's own, as of the last health()."""

    resyncs: int = 0
    bytes_skipped: int = 0
    gaps: int = 0
    truncated: int = 0
    bad_header: int = 0
    bad_payload: int = 0
    seq_restarts: int = 0
    wrong_size: int = 0  # whole frames of another size than configured, dropped
    rx_overruns: int = 0  # reads that found the host's receive path overrun or full
    rx_lost: int = 0  # frames lost in a stream hole while it was: the host's loss


class FrameTimestamper:
    """Device mid-exposure time -> host time, from receive times of last bytes."""

    def __init__(self, settings: StreamCameraSettings) -> None:
        self.baud = settings.baud
        self.fixed_latency_ns = settings.fixed_latency_ns
        self.mapper = ClockMapper(
            window=settings.clock_window,
            slew_ns_per_s=settings.clock_slew_ns_per_s,
            step_ns=settings.clock_step_ns,
        )

    def stamp(self, pf: ParsedFrame, t_rx_ns: int) -> Frame:
        dev_ns = pf.t_mid_us * 1000
        seen = t_rx_ns - wire_time_ns(pf.wire_bytes, self.baud) - self.fixed_latency_ns
        self.mapper.observe(dev_ns, seen)
        image = np.frombuffer(pf.payload, dtype=np.uint8).reshape(pf.height, pf.width)
        return Frame(
            t_ns=self.mapper.to_host(dev_ns), seq=pf.seq, t_rx_ns=t_rx_ns, image=image,
            device_t_ns=dev_ns, exposure_ns=pf.exposure_us * 1000,
        )


class StreamCamera(CameraThread):
    """hal.interfaces.Camera for the raw-frame stream. Frame images are read-only arrays."""

    def __init__(
        self, port: PortSpec, clock: Clock, settings: StreamCameraSettings | None = None,
        name: str = "camera",
    ) -> None:
        self.settings = s = settings or StreamCameraSettings()
        self.name = name
        self.rate_hz = s.rate_hz
        self.width = s.width
        self.height = s.height
        self.focal_px = s.focal_px
        self._spec = port
        self._clock = clock
        self.parser = StreamParser(max_width=s.width, max_height=s.height)
        self.stamper = FrameTimestamper(s)
        self._queue = FrameQueue(s.queue_len)
        self.counters = StreamCameraCounters()
        self._health = DeviceHealth(connected=False, clock=self.stamper.mapper.stats,
                                    counters=self.counters)
        self._init_thread()
        self._port: SerialPort | None = None
        self._ever_connected = False
        self._wrong_size = 0
        self._rx_watch = RxOverrunWatch()
        self._rx_lost = 0
        # the previous delivered frame: its seq and the parser's discarded bytes then
        self._last_seq: int | None = None
        self._discarded_at_last = 0

    def _join_timeout_s(self) -> float:
        return 5.0 + 2 * self.settings.read_timeout_s

    def health(self) -> DeviceHealth:
        h, ps = self._health, self.parser.stats
        h.bad_data = ps.bad_data + self._wrong_size
        h.lost = ps.lost + self._queue.dropped
        h.overflows = self._queue.dropped + self._rx_lost
        c = self.counters
        c.rx_overruns = self._rx_watch.episodes
        c.rx_lost = self._rx_lost
        c.resyncs, c.bytes_skipped, c.gaps = ps.resyncs, ps.bytes_skipped, ps.gaps
        c.truncated, c.bad_header, c.bad_payload = ps.truncated, ps.bad_header, ps.bad_payload
        c.seq_restarts, c.wrong_size = ps.restarts, self._wrong_size
        return h

    # reader thread
    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*SERIAL_ERRORS):
                port.close()

    def _connect(self, backoff: Backoff) -> bool:
        s = self.settings
        try:
            self._port = open_port(self._spec, s.baud, s.read_timeout_s)
        except Exception as exc:  # any failure to open is retried with backoff
            self._health.note_error(f"open: {exc}")
            self._stop.wait(backoff.fail())
            return False
        backoff.ok()
        self._rx_watch.attach(self._port)
        if self._ever_connected:
            self._health.reconnects += 1
            log.info("%s: reconnected", self.name)
        self._ever_connected = True
        self._health.connected = True
        return True

    def _run(self) -> None:
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        while not self._stop.is_set():
            port = self._port
            if port is None:
                self._connect(backoff)
                continue
            try:
                position = self.parser.stats.bytes_in  # where this read starts in the stream
                data = port.read(1)  # bounded by the port's timeout
                if data:
                    n = port.in_waiting
                    if n:
                        data += port.read(n)
                    # bytes waiting when the read began: the first one was taken
                    self._rx_watch.after_read(n + 1, position + len(data))
            except Exception as exc:  # the reader must outlive any port failure
                if not isinstance(exc, SERIAL_ERRORS):
                    log.exception("%s: unexpected error in reader", self.name)
                else:
                    log.warning("%s: serial error, reopening: %s", self.name, exc)
                self._health.note_error(f"read: {exc}")
                self._health.connected = False
                self._close_port()
                self.parser.reset()
                self._stop.wait(backoff.fail())
                continue
            if not data:
                continue
            t_rx = self._clock.now_ns()
            try:
                self._deliver(data, t_rx, position)
            except Exception:  # never expected; keep reading, count it
                log.exception("%s: parser failure", self.name)
                self._health.note_error("parser failure")
                self.parser.reset()
        self._close_port()

    def _deliver(self, data: bytes, t_rx: int, position: int = 0) -> None:
        frames = self.parser.feed(data)
        for pf, discarded in zip(frames, self.parser.discarded_at, strict=True):
            if pf.width != self.width or pf.height != self.height:
                self._wrong_size += 1
                continue
            self._attribute_loss(pf.seq, discarded, position)
            self._queue.put(self.stamper.stamp(pf, t_rx))
            self._health.samples += 1

    def _attribute_loss(self, seq: int, discarded: int, position: int) -> None:
        """Frames missing before this one are the host's loss when the stream had a hole
        (bytes discarded) in bytes read within reach of a read that found the receive path
        overrun or full (``RxOverrunWatch``); otherwise the camera or the wire lost them, and
        the watchdog's sequence checks judge that."""
        overran = self._rx_watch.covers(position)
        last, self._last_seq = self._last_seq, seq
        hole, self._discarded_at_last = discarded > self._discarded_at_last, discarded
        if overran and hole and last is not None:
            missing = ((seq - last) & 0xFFFFFFFF) - 1
            if 0 < missing < 1 << 31:  # not a restart (the parser counts those)
                self._rx_lost += missing
