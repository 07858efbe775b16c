"""Regressions of wire format v1's plain payload CRC (docs/camera-stream.md, "Why v2").

v1 accepted (1) a header read as a payload: a header claiming a 32-byte image, then any whole
frame, was delivered with the next header's bytes 0..31 as its image, since a header's CRC is
the CRC of those bytes; (2) another frame's image under this frame's header and timestamp:
``a[:36] + b[36:]``, the flight 6 failure made by the wire format itself.
"""

from __future__ import annotations

import struct
import threading
import time
import zlib

import numpy as np
import pytest
import serial

from hal.camera_stream import (
    HEADER_LEN,
    ParsedFrame,
    StreamCamera,
    StreamCameraSettings,
    StreamParser,
    encode_frame,
)
from hal.types import Frame

W, H = 160, 120  # the HIL camera's frames
PERIOD_US = 33_333


def parsed(seq: int, t_mid_us: int, exposure_us: int, image: np.ndarray) -> ParsedFrame:
    h, w = image.shape
    return ParsedFrame(seq, t_mid_us, exposure_us, w, h, 0, image.tobytes(), 40 + w * h)


def feed(p: StreamParser, data: bytes, chunk: int) -> list[ParsedFrame]:
    """All at once (chunk 0) or in pieces of ``chunk`` bytes."""
    if chunk == 0:
        return p.feed(data)
    out: list[ParsedFrame] = []
    for i in range(0, len(data), chunk):
        out += p.feed(data[i : i + chunk])
    return out


def real_frames(n: int = 3) -> list[tuple[int, int, int, np.ndarray]]:
    """Consecutive 160x120 frames as a board sends them: seq + 1, t + one period."""
    rng = np.random.default_rng(6)
    base = np.add.outer(np.arange(H), np.arange(W)).astype(np.uint8)  # a textured scene
    return [(1 + k, 54_000_000 + k * PERIOD_US, 2000,
             base + rng.integers(0, 16, (H, W), dtype=np.uint8)) for k in range(n)]


# --- (1) a header read as a payload ------------------------------------------------------------

FOLLOWERS = {
    "same-size": (2, 2000, 100, np.zeros((4, 8), np.uint8)),
    "tiny": (2, 2000, 100, np.arange(6, dtype=np.uint8).reshape(2, 3)),
    "32x1": (7, 9, 1, np.full((1, 32), 0xC3, np.uint8)),
    "random": (2, 2000, 100, np.random.default_rng(1).integers(0, 256, (6, 12), np.uint8)),
}


@pytest.mark.parametrize("chunk", [0, 1, 13])
@pytest.mark.parametrize("name", sorted(FOLLOWERS))
def test_a_header_is_never_read_as_a_payload(name: str, chunk: int) -> None:
    lone = encode_frame(1, 1000, 100, np.zeros((4, 8), np.uint8))[:HEADER_LEN]  # claims 32 B
    follower = FOLLOWERS[name]
    p = StreamParser(max_width=64, max_height=64)
    got = feed(p, lone + encode_frame(*follower), chunk)
    assert got == [parsed(*follower)]
    assert p.stats.bad_payload == 1


# --- (2) another frame's image under this frame's header ---------------------------------------


def spliced() -> tuple[bytes, tuple[int, int, int, np.ndarray]]:
    """A's header, then B's image and payload CRC, then C whole: a lost stretch that ends
    exactly where it started, one frame later."""
    a, b, c = (encode_frame(*f) for f in real_frames())
    assert len(a) == len(b)
    return a[:HEADER_LEN] + b[HEADER_LEN:] + c, real_frames()[2]


@pytest.mark.parametrize("chunk", [0, 1, 4096, 333])
def test_another_frames_image_never_passes_under_this_header(chunk: int) -> None:
    data, c = spliced()
    p = StreamParser(max_width=W, max_height=H)
    got = feed(p, data, chunk)
    assert got == [parsed(*c)]
    assert p.stats.bad_payload == 1 and p.stats.bad_data == 1


class MonoClock:
    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        time.sleep(max(0, t_ns - self.now_ns()) / 1e9)


def test_another_frames_image_never_reaches_the_camera_under_this_stamp() -> None:
    data, (seq, t_us, exp_us, image) = spliced()
    port = serial.serial_for_url("loop://", timeout=0.01)
    s = StreamCameraSettings(width=W, height=H, baud=6_000_000)
    cam = StreamCamera(lambda: port, MonoClock(), s)
    frames: list[Frame] = []
    cam.open()
    # loop:// holds 4 KiB: write from a thread while the camera's reader drains it
    writer = threading.Thread(target=port.write, args=(data,), daemon=True)
    writer.start()
    try:
        end = time.monotonic() + 10.0
        while time.monotonic() < end and not any(f.seq == seq for f in frames):
            frames += cam.poll()
            time.sleep(0.005)
    finally:
        writer.join(timeout=5.0)
        cam.close()
    frames += cam.poll()
    # C is the last frame sent, so by the time it arrived A's header had been judged
    assert [(f.seq, f.device_t_ns, f.exposure_ns) for f in frames] == [
        (seq, t_us * 1000, exp_us * 1000)]
    assert np.array_equal(frames[0].image, image)
    h = cam.health()
    assert h.bad_data == 1 and h.counters.bad_payload == 1


# --- v1 is refused -----------------------------------------------------------------------------


def v1_frame(seq: int, t_mid_us: int, exposure_us: int, image: np.ndarray) -> bytes:
    """Wire format v1 by hand: version 1, payload CRC of the payload alone."""
    h, w = image.shape
    hdr = struct.pack("<4sBBHIQIHHI", b"\xc3\x3c\xa5\x5a", 1, 0, 0, seq, t_mid_us, exposure_us,
                      w, h, w * h)
    payload = image.tobytes()
    return b"".join((hdr, struct.pack("<I", zlib.crc32(hdr)), payload,
                     struct.pack("<I", zlib.crc32(payload))))


def test_v1_frames_are_refused_as_bad_headers() -> None:
    old = (1, 1000, 100, np.zeros((4, 6), np.uint8))
    new = (2, 2000, 100, np.ones((4, 6), np.uint8))
    p = StreamParser()
    got = p.feed(v1_frame(*old) + encode_frame(*new))
    assert got == [parsed(*new)]
    assert (p.stats.bad_header, p.stats.bad_payload) == (1, 0)
