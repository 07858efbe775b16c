"""The VC0706 still (photo) driver (hal/vc0706_still.py) against the VC0706 emulator over an
in-process line (sim_hal.camera_emu_base.MemoryLine: no pty, unpaced, fast): the trigger never
waits, the exposure comes before the photo and bounds the emulator's true mid-exposure, the
JPEG is the camera's byte for byte and in colour, and every failure is delivered, counted and
followed by a resume."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from hal.types import Photo, PhotoExposure
from hal.vc0706 import IMAGE_SIZES
from hal.vc0706_still import Vc0706StillCamera, Vc0706StillSettings
from sim_hal.camera_emu_base import MemoryLine
from sim_hal.vc0706_emu import Vc0706Emulator

FREEZE = b"\x56\x00\x36\x01\x00"
RESUME = b"\x56\x00\x36\x01\x03"
READ_FBUF = 0x32


class MonoClock:
    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        time.sleep(max(0, t_ns - self.now_ns()) / 1e9)


class KeepingEmulator(Vc0706Emulator):
    """Keeps every JPEG it froze, to compare with what the driver read."""

    jpegs: list[bytes]
    damage: Callable[[bytes], bytes] | None = None  # what the frame buffer holds instead

    def _render_jpeg(self, t_mid_ns: int) -> bytes:
        out = super()._render_jpeg(t_mid_ns)
        if self.damage is not None:
            out = self.damage(out)
        self.jpegs.append(out)
        return out


def colour_source(width: int, height: int, asked: list[int]
                  ) -> Callable[[int], npt.NDArray[np.uint8]]:
    """A colour picture that changes every millisecond; records the times it was asked for."""
    yy, xx = np.mgrid[0:height, 0:width]

    def render(t_ns: int) -> npt.NDArray[np.uint8]:
        asked.append(t_ns)
        phase = (t_ns // 1_000_000) % 256
        img = np.empty((height, width, 3), np.uint8)
        img[..., 0] = (xx // 3 + phase) % 256
        img[..., 1] = (yy // 2) % 256
        img[..., 2] = ((xx + yy) // 5) % 256
        return img

    return render


@dataclass
class Bench:
    cam: Vc0706StillCamera
    emu: KeepingEmulator
    line: MemoryLine
    asked: list[int]

    def fbuf_ctrl(self) -> list[bytes]:
        """The freeze and resume commands the driver sent, in order."""
        return [c for c in self.line.host_writes if c in (FREEZE, RESUME)]


@pytest.fixture
def make_bench() -> Iterator[Callable[..., Bench]]:
    made: list[Bench] = []

    def make(size: str = "640x480", open_: bool = True, **kw: object) -> Bench:
        s = Vc0706StillSettings(reset_on_open=False, image_size=size)  # type: ignore[arg-type]
        for k, v in kw.items():
            setattr(s, k, v)
        assert not s.validate(), s.validate()
        code, w, h = IMAGE_SIZES[size]
        line = MemoryLine(s.io_timeout_s)
        asked: list[int] = []
        emu = KeepingEmulator(colour_source(w, h, asked), transport=line.camera, baud=38400,
                              size_code=code, paced=False, seed=7)
        emu.jpegs = []
        emu.start()
        cam = Vc0706StillCamera(line.open_host, MonoClock(), s)
        b = Bench(cam, emu, line, asked)
        made.append(b)
        if open_:
            cam.open()
            end = time.monotonic() + 10
            while not cam.health().connected and time.monotonic() < end:
                time.sleep(0.005)
            assert cam.health().connected, cam.health().last_error
        return b

    yield make
    for b in made:
        b.line.release()
        b.cam.close()
        b.emu.stop()


def wait_photo(cam: Vc0706StillCamera, timeout_s: float = 10.0
               ) -> tuple[list[PhotoExposure], Photo]:
    """Poll like the control cycle until a photo comes (bounded; no timing asserts)."""
    exposures: list[PhotoExposure] = []
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        exposures += cam.poll_exposures()
        photos = cam.poll()
        if photos:
            assert len(photos) == 1
            exposures += cam.poll_exposures()
            return exposures, photos[0]
        time.sleep(0.002)
    raise AssertionError(f"no photo in {timeout_s} s: {cam.health()}")


def hold_at_first_read(b: Bench) -> threading.Event:
    """Hold the line (the camera's replies stop reaching the host) when the driver sends its
    first read-frame command: the freeze is done, the read under way."""
    held = threading.Event()

    def hook(data: bytes) -> None:
        if len(data) > 2 and data[2] == READ_FBUF and not held.is_set():
            b.line.hold()
            held.set()

    b.line.on_host_write = hook
    return held


def test_exposure_then_the_cameras_jpeg_whole_in_colour_and_resumed(
    make_bench: Callable[..., Bench],
) -> None:
    b = make_bench()
    seq = b.cam.trigger()
    assert seq == 1
    exposures, photo = wait_photo(b.cam)
    (ex,) = exposures
    assert (ex.seq, photo.seq) == (seq, seq) and photo.error == ""
    assert photo.trigger_ns == ex.trigger_ns and photo.t_ns == ex.t_ns < photo.t_rx_ns
    # the source was asked once, for the frozen frame's true mid-exposure, which the
    # reported exposure bounds (the last whole frame: exposed before the trigger, even)
    freeze = b.emu.freezes[-1]
    assert ex.trigger_ns <= freeze.t_freeze_ns < photo.t_rx_ns
    assert b.asked == [freeze.t_mid_ns]
    assert abs(ex.t_ns - freeze.t_mid_ns) <= ex.uncertainty_ns < 100_000_000
    # the camera's JPEG, unchanged, decoding to the source's size in colour
    assert photo.jpeg == b.emu.jpegs[-1]
    with Image.open(io.BytesIO(photo.jpeg)) as im:
        assert im.mode == "RGB" and im.size == (640, 480) == (photo.width, photo.height)
        got = np.asarray(im, dtype=np.int16)
    assert b.emu.frozen_image is not None
    assert np.abs(got - b.emu.frozen_image).mean() < 4.0  # JPEG is lossy
    # resumed: the camera streams again
    assert b.fbuf_ctrl() == [FREEZE, RESUME] and b.emu.frozen is None
    h = b.cam.health()
    assert (h.samples, h.lost, h.errors) == (1, 0, 0) and h.counters is not None
    assert b.cam.counters.photos == 1 and b.cam.counters.baud == 115200
    assert b.cam.focal_px == pytest.approx(320 / np.tan(np.radians(30)))  # hfov 60 deg
    # the next photo is a new exposure of a new frame
    assert b.cam.trigger() == 2
    exposures, photo = wait_photo(b.cam)
    assert [e.seq for e in exposures] == [2] and photo.seq == 2 and photo.error == ""
    assert photo.jpeg == b.emu.jpegs[-1] and len(b.emu.freezes) == 2


def test_trigger_returns_at_once_while_the_read_is_held_up(
    make_bench: Callable[..., Bench],
) -> None:
    b = make_bench()
    held = hold_at_first_read(b)
    assert b.cam.trigger() == 1
    assert held.wait(5.0)
    # the capture thread is blocked in a read whose reply is held on the line: a trigger
    # that waited on the serial line could not return before the line is released
    refused = [b.cam.trigger() for _ in range(1000)]
    exposures = b.cam.poll_exposures()  # reported before the read
    photos = b.cam.poll()
    b.line.release()
    assert refused == [None] * 1000 and photos == []
    assert [e.seq for e in exposures] == [1]
    c = b.cam.health().counters
    assert c is b.cam.counters and (c.triggers, c.busy) == (1001, 1000)
    _, photo = wait_photo(b.cam)
    assert photo.seq == 1 and photo.error == "" and photo.jpeg == b.emu.jpegs[-1]
    assert b.cam.trigger() == 2  # free again once the photo is delivered


def test_corrupted_and_short_replies_still_give_the_true_jpeg(
    make_bench: Callable[..., Bench],
) -> None:
    b = make_bench()
    f = b.emu.faults
    f.corrupt_prob = 0.1  # a flipped data byte in a tenth of the chunk replies
    f.byte_short_count = 3  # the known field failure, three times
    f.garbage_prob = 0.05  # noise before a reply
    assert b.cam.trigger() == 1
    _, photo = wait_photo(b.cam, timeout_s=30.0)
    assert photo.error == "" and photo.jpeg == b.emu.jpegs[-1]
    assert photo.retries > 0 and f.byte_short_count == 0
    c = b.cam.counters
    b.cam.health()
    assert c.mismatches > 0 and c.chunk_retries >= 3 and b.cam.health().errors > 0
    assert b.fbuf_ctrl()[-1] == RESUME and b.emu.frozen is None


def test_a_camera_stall_fails_the_photo_counted_and_resumed(
    make_bench: Callable[..., Bench],
) -> None:
    b = make_bench(size="160x120", reply_timeout_s=0.05, retries=1, capture_timeout_s=2.5)

    def hook(data: bytes) -> None:
        if len(data) > 2 and data[2] == READ_FBUF and not stalled:
            stalled.append(1)
            b.emu.stall(0.6)  # hangs while the first photo is read

    stalled: list[int] = []
    b.line.on_host_write = hook
    t0 = time.monotonic()
    assert b.cam.trigger() == 1
    exposures, photo = wait_photo(b.cam)
    assert [e.seq for e in exposures] == [1]  # it was exposed, then the read failed
    assert photo.error and photo.jpeg == b"" and photo.t_ns == exposures[0].t_ns
    h = b.cam.health()
    assert (h.samples, h.lost) == (0, 1) and b.cam.counters.failed == 1 and h.errors >= 2
    time.sleep(max(0.0, t0 + 0.7 - time.monotonic()))  # the camera answers again
    assert b.cam.trigger() == 2
    exposures, photo = wait_photo(b.cam)
    assert photo.error == "" and photo.jpeg == b.emu.jpegs[-1]
    # resume on every path, and never "freeze" a buffer that may still be frozen (it would
    # keep the old picture under a new stamp)
    ctrl = b.fbuf_ctrl()
    assert ctrl[-1] == RESUME and b.emu.frozen is None
    assert all(not (a == FREEZE and c == FREEZE) for a, c in zip(ctrl, ctrl[1:], strict=False))
    assert b.cam.health().samples == 1


def test_a_buffer_that_is_not_a_whole_jpeg_is_a_failed_photo(
    make_bench: Callable[..., Bench],
) -> None:
    b = make_bench()
    b.emu.damage = lambda jpeg: jpeg[: len(jpeg) // 2]  # read faithfully, twice: no EOI
    assert b.cam.trigger() == 1
    exposures, photo = wait_photo(b.cam)
    assert [e.seq for e in exposures] == [1]
    assert photo.error == f"not a whole 640x480 JPEG ({len(b.emu.jpegs[-1])} bytes)"
    assert photo.jpeg == b"" and photo.t_ns == exposures[0].t_ns
    h = b.cam.health()
    assert (h.samples, h.lost, h.bad_data) == (0, 1, 1) and "photo 1" in h.last_error
    assert b.fbuf_ctrl() == [FREEZE, RESUME]
    b.emu.damage = None
    assert b.cam.trigger() == 2
    _, photo = wait_photo(b.cam)
    assert photo.error == "" and photo.jpeg == b.emu.jpegs[-1]


def test_no_camera_fails_the_photo_at_once(make_bench: Callable[..., Bench]) -> None:
    b = make_bench(size="160x120", reply_timeout_s=0.05, capture_timeout_s=2.5, open_=False)
    assert b.cam.trigger() == 1  # never opened: failed at once, nothing to wait for
    (photo,) = b.cam.poll()
    assert photo.seq == 1 and "not connected" in photo.error and photo.jpeg == b""
    assert b.cam.poll_exposures() == []
    b.emu.stop()  # now nothing answers on the line
    b.cam.open()
    end = time.monotonic() + 5
    while b.cam.health().errors == 0 and time.monotonic() < end:
        time.sleep(0.01)
    assert not b.cam.health().connected
    assert b.cam.trigger() == 2
    (photo,) = b.cam.poll()
    assert photo.seq == 2 and "not connected" in photo.error
    h = b.cam.health()
    assert h.lost == 2 and b.cam.counters.failed == 2 and h.samples == 0


def test_close_during_a_photo_delivers_it_failed(make_bench: Callable[..., Bench]) -> None:
    b = make_bench(size="160x120", reply_timeout_s=0.05, capture_timeout_s=2.5)
    held = hold_at_first_read(b)
    assert b.cam.trigger() == 1 and held.wait(5.0)
    b.cam.close()
    (photo,) = b.cam.poll()
    assert photo.seq == 1 and photo.error
    assert b.cam.trigger() == 2 and "not connected" in b.cam.poll()[0].error
