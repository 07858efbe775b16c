"""Both camera drivers over a real pseudo-terminal against the sim_hal emulators."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import serial

from hal.camera_stream import StreamCamera, StreamCameraSettings
from hal.types import Frame
from hal.vc0706 import Vc0706Camera, Vc0706Settings
from sim_hal.camera_emu_base import DeviceClock, PtyTransport, gradient_source
from sim_hal.camera_stream_emu import StreamCameraEmulator
from sim_hal.vc0706_emu import Vc0706Emulator

pytestmark = pytest.mark.realtime  # run serially, as on the bench (Makefile)

W, H = 64, 48


class MonoClock:
    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        time.sleep(max(0, t_ns - self.now_ns()) / 1e9)


def noise_source(t_ns: int) -> np.ndarray:
    return np.random.default_rng(t_ns % 2**32).integers(0, 256, (H, W), dtype=np.uint8)


def collect(
    cam: StreamCamera | Vc0706Camera, until: Callable[[list[Frame]], bool], timeout_s: float = 8.0
) -> list[Frame]:
    """Poll like the control cycle does until ``until`` holds (bounded wait, no timing asserts)."""
    frames: list[Frame] = []
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and not until(frames):
        frames += cam.poll()
        time.sleep(0.005)
    return frames


@pytest.fixture
def stream_pair(tmp_path: Path):  # type: ignore[no-untyped-def]
    link = tmp_path / "camera"
    emu = StreamCameraEmulator(
        noise_source, transport=PtyTransport(link), width=W, height=H, rate_hz=50.0,
        device_clock=DeviceClock(offset_ns=-3_000_000_000, skew_ppm=200.0),
        tx_delay_ns=1_000_000, seed=1,
    )
    s = StreamCameraSettings(
        width=W, height=H, rate_hz=50.0, fixed_latency_ns=1_000_000, reconnect_min_s=0.02,
        reconnect_max_s=0.1, clock_window=64,
    )
    cam = StreamCamera(str(link), MonoClock(), s)
    emu.start()
    cam.open()
    yield emu, cam
    cam.close()
    emu.stop()


def test_stream_frames_in_order_intact_and_time_mapped(stream_pair) -> None:  # type: ignore[no-untyped-def]
    emu, cam = stream_pair
    frames = collect(cam, lambda fr: len(fr) >= 60)
    assert len(frames) >= 60
    sent = {s.seq: s for s in emu.sent}
    seqs = [f.seq for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for f in frames:
        assert np.array_equal(f.image, sent[f.seq].image)
        assert f.t_rx_ns >= sent[f.seq].t_last_byte_ns  # received after it was sent
    # device clock is 3 s off and 200 ppm fast; the mapped times approach the true ones
    errs = [abs(f.t_ns - sent[f.seq].t_mid_ns) for f in frames]
    assert max(errs[-20:]) < 3_000_000
    h = cam.health()
    assert h.connected and h.lost == 0 and h.bad_data == 0 and h.clock is not None
    assert h.clock.updates >= 60


def test_stream_faults_are_counted_and_never_delivered(stream_pair) -> None:  # type: ignore[no-untyped-def]
    emu, cam = stream_pair
    collect(cam, lambda fr: len(fr) >= 3)
    emu.faults.garbage_prob = 0.3
    emu.faults.corrupt_prob = 0.2
    emu.faults.truncate_prob = 0.1
    emu.faults.drop_prob = 0.1
    frames = collect(cam, lambda fr: len(fr) >= 40)
    emu.faults.garbage_prob = emu.faults.corrupt_prob = 0.0
    emu.faults.truncate_prob = emu.faults.drop_prob = 0.0
    sent = {s.seq: s for s in emu.sent}
    for f in frames:
        assert sent[f.seq].fault in ("", "garbage"), "a damaged frame was delivered"
        assert np.array_equal(f.image, sent[f.seq].image)
    h = cam.health()
    assert h.bad_data > 0 and h.lost > 0 and h.counters.resyncs > 0


def test_stream_disconnect_reported_then_reconnects(stream_pair) -> None:  # type: ignore[no-untyped-def]
    emu, cam = stream_pair
    assert len(collect(cam, lambda fr: len(fr) >= 5)) >= 5
    emu.disconnect(0.4)
    down = collect(cam, lambda fr: not cam.health().connected)
    h = cam.health()
    assert not h.connected and h.errors >= 1
    after = collect(cam, lambda fr: cam.health().reconnects >= 1 and len(fr) >= 5)
    h = cam.health()
    assert h.connected and h.reconnects >= 1 and len(after) >= 5
    assert after[-1].seq > (down[-1].seq if down else 0)


def test_stream_stall_and_timestamp_shift_are_visible(stream_pair) -> None:  # type: ignore[no-untyped-def]
    emu, cam = stream_pair
    # a lie is judged against a settled mapping: while the fit is still acquiring (its first
    # window) it follows the envelope freely, so a late first frame is unlearnt at once
    before = collect(cam, lambda fr: len(fr) >= 30 and bool(cam.health().clock.settled))
    emu.stall(0.25)  # the board hangs: no exposures, so no sequence gap, only a time gap
    emu.faults.timestamp_shift_ns = 20_000_000  # every later frame claims to be 20 ms younger
    after = collect(cam, lambda fr: len(fr) >= 10)
    emu.faults.timestamp_shift_ns = 0
    # a frame already on the wire when stall() was called may arrive first: look for the
    # time gap anywhere across the boundary, and no sequence gap at all
    span = [before[-1], *after]
    assert all(b.seq == a.seq + 1 for a, b in zip(span, span[1:], strict=False))
    assert cam.health().lost == 0
    assert max(b.t_rx_ns - a.t_rx_ns for a, b in zip(span, span[1:], strict=False)) > 200_000_000
    lat_before = sorted(f.t_rx_ns - f.t_ns for f in before[-10:])[5]
    lat_after = sorted(f.t_rx_ns - f.t_ns for f in after[:10])[5]
    # the lie shows as a latency drop the watchdog can see, not absorbed by the mapping at once
    assert lat_before - lat_after > 5_000_000  # a quarter of the 20 ms lie, slewing or not
    h = cam.health()
    assert h.clock is not None and h.clock.residual_ns < -5_000_000


def test_stream_stays_down_without_hang(tmp_path: Path) -> None:
    emu = StreamCameraEmulator(noise_source, transport=PtyTransport(tmp_path / "cam"),
                               width=W, height=H, rate_hz=50.0)
    cam = StreamCamera(str(tmp_path / "cam"), MonoClock(),
                       StreamCameraSettings(width=W, height=H, reconnect_max_s=0.05))
    emu.start()
    cam.open()
    collect(cam, lambda fr: len(fr) >= 2)
    emu.disconnect(None)
    collect(cam, lambda fr: not cam.health().connected)
    emu.stop()  # the link disappears too: reopen keeps failing, counted
    errors = cam.health().errors
    collect(cam, lambda fr: cam.health().errors > errors + 2)
    t0 = time.monotonic()
    cam.close()
    assert time.monotonic() - t0 < 5.0
    assert not cam.health().connected and cam.health().errors > errors + 2


class StarvedPort:
    """The driver's real pty port, with a reader that can be made to sleep through a read (a
    flight computer too busy to schedule it)."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, baudrate=3_000_000, timeout=0.05)
        self.baudrate = self.port.baudrate
        self.starve_s = 0.0

    def read(self, size: int = 1) -> bytes:
        if self.starve_s:
            time.sleep(self.starve_s)
            self.starve_s = 0.0
        return bytes(self.port.read(size))

    @property
    def in_waiting(self) -> int:
        return int(self.port.in_waiting)

    def fileno(self) -> int:
        return int(self.port.fileno())

    def write(self, data: bytes) -> int | None:
        return self.port.write(data)

    def reset_input_buffer(self) -> None:
        self.port.reset_input_buffer()

    def close(self) -> None:
        self.port.close()


def test_starved_reader_loss_is_counted_as_the_hosts(tmp_path: Path) -> None:
    """A reader asleep for 0.5 s while 7 KB frames arrive at 3 Mbaud: the pty's ~20 KiB fill,
    the emulator's writes fail (bytes lost, as on a UART), and every frame lost in that hole is
    counted as the host's loss (overflows), not as the camera's sequence gap."""
    w, h = 96, 72
    emu = StreamCameraEmulator(lambda t: np.full((h, w), t % 251, np.uint8),
                               transport=PtyTransport(tmp_path / "cam"), width=w, height=h,
                               rate_hz=30.0, baud=3_000_000, seed=3)
    ports: list[StarvedPort] = []

    def factory() -> StarvedPort:
        ports.append(StarvedPort(str(tmp_path / "cam")))
        return ports[-1]

    cam = StreamCamera(factory, MonoClock(), StreamCameraSettings(width=w, height=h,
                                                                  queue_len=256))
    emu.start()
    cam.open()
    try:
        frames = collect(cam, lambda fr: len(fr) >= 5)
        ports[-1].starve_s = 0.5
        frames += collect(cam, lambda fr: len(fr) >= 20)
    finally:
        cam.close()
        emu.stop()
    seqs = [f.seq for f in frames]
    missing = seqs[-1] - seqs[0] + 1 - len(seqs)
    assert emu.transport.tx_dropped > 0 and missing > 0  # the starvation really lost frames
    hl = cam.health()
    assert hl.counters.rx_overruns >= 1
    assert hl.counters.rx_lost == missing and hl.overflows == missing and hl.lost == missing


# --- VC0706 --------------------------------------------------------------------------------


def vc_settings(**kw: object) -> Vc0706Settings:
    s = Vc0706Settings(chunk_size=1024, reply_timeout_s=0.2, reset_timeout_s=1.0,
                       reconnect_min_s=0.02, reconnect_max_s=0.1, rate_hz=20.0)
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_vc0706_full_capture_over_pty() -> None:
    emu = Vc0706Emulator(gradient_source(320, 240), baud=115200, paced=False)
    emu.start()
    cam = Vc0706Camera(emu.path, MonoClock(), vc_settings(fast_baud=0))
    try:
        cam.connect()  # configured 38400, finds 115200 by scanning
        assert cam.identify()["baud"] == 115200 and "Init end" in cam.banner
        assert emu.size_code == 0x22
        f = cam.capture()
        assert f is not None and f.image.shape == (120, 160)
        assert emu.frozen_image is not None
        assert np.abs(f.image.astype(int) - emu.frozen_image).mean() < 4.0  # JPEG is lossy
        # stamped at the frozen picture's estimated mid-exposure, before the freeze (bound
        # +/- 25 ms at 30 frames/s, plus half the host's delay in reading the acknowledgement)
        assert f.t_ns < emu.t_freeze_ns < f.t_rx_ns
        assert abs(f.t_ns - emu.t_mid_ns) < 40_000_000
        # a reply a byte short (the known field failure) is recovered by a chunk retry
        emu.faults.byte_short_count = 1
        g = cam.capture()
        assert g is not None and cam.chunk_retries == 1 and emu.faults.byte_short_count == 0
        assert np.abs(g.image.astype(int) - emu.frozen_image).mean() < 4.0
    finally:
        cam.close()
        emu.stop()


def test_vc0706_fast_baud_switch_and_thread_capture(tmp_path: Path) -> None:
    emu = Vc0706Emulator(noise_source, transport=PtyTransport(tmp_path / "vc"), baud=38400,
                         paced=False, seed=2)
    emu.start()
    cam = Vc0706Camera(str(tmp_path / "vc"), MonoClock(), vc_settings(fast_baud=115200))
    try:
        cam.open()
        frames = collect(cam, lambda fr: len(fr) >= 3)
        assert len(frames) >= 3 and emu.baud == 115200
        assert all(f.image.shape == (120, 160) for f in frames)
        assert [f.seq for f in frames] == sorted(f.seq for f in frames)
        emu.disconnect(0.3)  # mid-capture: counted, reported, reopened
        collect(cam, lambda fr: cam.health().reconnects >= 1 and len(fr) >= 1)
        h = cam.health()
        assert h.reconnects >= 1 and h.errors >= 1 and h.connected
    finally:
        cam.close()
        emu.stop()


def test_emulator_command_prints_its_pty() -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim_hal.camera_emulator", "--protocol", "stream",
         "--width", "32", "--height", "24"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/") and os.path.exists(path)
        cam = StreamCamera(path, MonoClock(), StreamCameraSettings(width=32, height=24))
        cam.open()
        frames = collect(cam, lambda fr: len(fr) >= 3)
        cam.close()
        assert len(frames) >= 3 and frames[0].image.shape == (24, 32)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
