"""The VC0706 still (photo) driver over a real pseudo-terminal: against the emulator paced at
the line rate, as on the rig (a 640x480 photo takes seconds at 115200 baud), and inside the hil
backend, where each photo's truth is the simulated world at the emulator's true
mid-exposure."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hal.types import Photo, PhotoExposure
from hal.vc0706 import capture_wire_s
from hal.vc0706_still import Vc0706StillCamera, Vc0706StillSettings
from sim_hal.camera_emu_base import PtyTransport
from sim_hal.faults import FaultSet
from sim_hal.hil import build_hil, load_hil_settings
from sim_hal.hil.photo import PhotoBoard
from sim_hal.vc0706_emu import Vc0706Emulator

pytestmark = pytest.mark.realtime  # a pty paced at the baud rate: run serially

W, H = 640, 480


class MonoClock:
    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        time.sleep(max(0, t_ns - self.now_ns()) / 1e9)


def colour_source(t_ns: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    phase = (t_ns // 1_000_000) % 256
    return np.stack([(xx // 3 + phase) % 256, (yy // 2) % 256, ((xx + yy) // 5) % 256],
                    axis=-1).astype(np.uint8)


def test_photo_over_a_paced_pty(tmp_path: Path) -> None:
    emu = Vc0706Emulator(colour_source, transport=PtyTransport(tmp_path / "vc"), baud=38400,
                         size_code=0x00, paced=True, seed=3)
    emu.start()
    s = Vc0706StillSettings(reset_on_open=True)  # the shipped photo settings: 38400 -> 115200
    cam = Vc0706StillCamera(str(tmp_path / "vc"), MonoClock(), s)
    try:
        cam.open()
        end = time.monotonic() + 10
        while not cam.health().connected and time.monotonic() < end:
            time.sleep(0.01)
        assert cam.health().connected and emu.baud == 115200
        t0 = time.monotonic()
        assert cam.trigger() == 1
        exposures: list[tuple[float, PhotoExposure]] = []
        photos: list[tuple[float, Photo]] = []
        refused = 0
        while not photos and time.monotonic() < t0 + 60:
            now = time.monotonic()
            exposures += [(now, e) for e in cam.poll_exposures()]
            photos += [(now, p) for p in cam.poll()]
            if exposures and not photos:
                refused += cam.trigger() is None  # busy: refused at once, counted
            time.sleep(0.005)
        assert photos, cam.health()
        (t_ex, ex), (t_ph, photo) = exposures[0], photos[0]
        read_s = t_ph - t0
        assert photo.error == "" and len(exposures) == 1
        # exposure confirmed seconds before the JPEG had crossed the line
        assert t_ex < t_ph and refused > 10
        assert cam.health().counters is cam.counters and cam.counters.busy == refused
        freeze = emu.freezes[-1]
        assert abs(ex.t_ns - freeze.t_mid_ns) <= ex.uncertainty_ns
        with Image.open(io.BytesIO(photo.jpeg)) as im:
            assert im.mode == "RGB" and im.size == (W, H)
            got = np.asarray(im, dtype=np.int16)
        assert emu.frozen_image is not None
        assert np.abs(got - emu.frozen_image).mean() < 4.0
        assert len(photo.jpeg) == emu.last_jpeg_len and emu.frozen is None  # resumed
        # no faster than the wire allows: the emulator paces as a UART would
        wire_s = capture_wire_s(s, len(photo.jpeg))
        assert read_s > wire_s
        print(f"\n640x480 photo, {len(photo.jpeg)} B JPEG at 115200 baud, read twice: "
              f"{read_s:.2f} s trigger to photo (wire alone {wire_s:.2f} s), exposure "
              f"after {t_ex - t0:.3f} s, bound +/- {ex.uncertainty_ns / 1e6:.1f} ms, "
              f"error {(ex.t_ns - freeze.t_mid_ns) / 1e6:+.1f} ms")
    finally:
        cam.close()
        emu.stop()


def test_hil_photo_truth_is_the_world_at_the_true_mid_exposure() -> None:
    settings = load_hil_settings({"photo": {"image_size": "160x120"}}, "test")
    hal = build_hil(settings, "mars", FaultSet([]), seed=5)
    board = hal.photo_camera
    assert isinstance(board, PhotoBoard) and hal.photo_truth is not None
    try:
        hal.open()
        hal.start()
        clock = hal.clock

        def run_until(done, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
            end = time.monotonic() + timeout_s
            while not done() and time.monotonic() < end:
                clock.sleep_until(clock.now_ns() + 2_000_000)  # steps the world, as a flight

        run_until(lambda: board.health().connected)
        assert board.health().connected, board.health().last_error
        seq = board.trigger()
        assert seq == 1
        exposures: list[PhotoExposure] = []
        photos: list[Photo] = []

        def got() -> bool:
            exposures.extend(board.poll_exposures())
            photos.extend(board.poll())
            return bool(photos)

        run_until(got)
        assert [e.seq for e in exposures] == [1] and photos and photos[0].error == ""
        freeze = board.emulator.freezes[-1]
        truth = hal.photo_truth(seq)
        assert truth is not None and truth.t_ns == freeze.t_mid_ns
        assert truth.position_ned == pytest.approx(hal.parts.hw.truth_at(freeze.t_mid_ns)
                                                   .position_ned)  # type: ignore[union-attr]
        assert abs(exposures[0].t_ns - truth.t_ns) <= exposures[0].uncertainty_ns
        assert hal.photo_truth(2) is None
        with Image.open(io.BytesIO(photos[0].jpeg)) as im:
            assert im.mode == "RGB" and im.size == (160, 120)
        rep = hal.truth.timing_report()["photo_camera"]  # type: ignore[union-attr]
        assert rep["count"] == 1 and rep["outside_bound"] == 0 and rep["unmatched"] == 0
    finally:
        hal.close()
    assert hal.close_errors == [] and board.emulator._thread is None
