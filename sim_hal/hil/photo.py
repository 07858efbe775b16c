"""The photo camera on hil: the VC0706 emulator behind its own pty, serving colour JPEGs of the
simulated world, the rig's still driver (``hal.vc0706_still``) reading it, and each photo's
truth: the world's state at the emulator's true mid-exposure (``Hal.photo_truth``).

The emulator's thread asks the photo source for the picture at the frozen frame's true
mid-exposure and, at the same moment, the world for its truth then (``HilWorld.truth_at``:
the pose history reaches back less than a second, a photo takes seconds to read). An exposure
the driver reports is matched to the last freeze the emulator made between its trigger and
now: no freeze of the next photo can happen before its trigger, which matches first.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
import numpy.typing as npt

from hal.interfaces import Clock
from hal.types import DeviceHealth, Photo, PhotoExposure, TruthState
from hal.vc0706 import IMAGE_SIZES
from hal.vc0706_still import Vc0706StillCamera
from sim_hal.camera_emu_base import PtyTransport
from sim_hal.hil.settings import HilSettings
from sim_hal.hil.world_link import HilWorld
from sim_hal.stamp_report import stamp_error_report
from sim_hal.vc0706_emu import Freeze, PhotoSource, Vc0706Emulator
from sim_hal.world_settings import WorldParts

FREEZES_KEPT = 64
TRUTHS_KEPT = 1024
POWER_ON_BAUD = 38400  # the camera's default: the driver scans, then switches (fast_baud)


def make_photo_source(hw: HilWorld, settings: HilSettings, seed: int,
                      parts: WorldParts | None = None) -> PhotoSource:
    """The colour picture the photo camera sees at host time ``t_ns`` (its true mid-exposure):
    the simulator's photo renderer (``sim_hal.render_photo``: terrain, sky and the scenario's
    objects) at the world's pose then, with the navigation camera's ground texture (same seed
    and texel), as the lockstep simulation renders it. Built at the first photo, on the
    emulator's thread: a flight that takes no photo never pays for its textures."""
    from sim_hal.render_photo import PhotoRenderer

    model = settings.photo.model()
    renderer: list[PhotoRenderer] = []

    def render(t_ns: int) -> npt.NDArray[np.uint8]:
        if not renderer:
            renderer.append(PhotoRenderer(parts, model, seed,
                                          texel_m=settings.camera_model.texel_m))
        with hw.lock:
            pos, _, q = hw.poses.state_at(t_ns)
        return renderer[0].render(pos, q)

    return render


class PhotoBoard:
    """``hal.interfaces.StillCamera``: the still driver, the emulator it reads (started before
    the driver opens, stopped after it closes), and each photo's truth. The flight software
    sees the driver's exposures and photos unchanged."""

    def __init__(self, driver: Vc0706StillCamera, emulator: Vc0706Emulator,
                 hw: HilWorld) -> None:
        self.driver = driver
        self.emulator = emulator
        self.hw = hw
        self.name = driver.name
        self.width, self.height = driver.width, driver.height
        self.focal_px = driver.focal_px
        self.mount_pitch_deg = driver.mount_pitch_deg
        self._lock = threading.Lock()
        self._freezes: deque[tuple[Freeze, TruthState]] = deque(maxlen=FREEZES_KEPT)
        self._exposures: deque[PhotoExposure] = deque(maxlen=FREEZES_KEPT)  # not handed on
        self._truth: dict[int, TruthState] = {}
        self.errors_ns: list[int] = []  # exposure t_ns - true mid-exposure
        self.outside_bound = 0  # exposures whose truth lay beyond their uncertainty_ns
        self.unmatched = 0  # exposures with no emulator freeze to match
        emulator.on_freeze = self._on_freeze

    def _on_freeze(self, rec: Freeze) -> None:  # the emulator's thread, before it renders
        truth = self.hw.truth_at(rec.t_mid_ns)
        with self._lock:
            self._freezes.append((rec, truth))

    def _collect(self) -> None:
        """Drain the driver's new exposures and match each to its freeze."""
        new = self.driver.poll_exposures()
        if not new:
            return
        now = time.monotonic_ns()  # hil runs on the host clock
        with self._lock:
            for ex in new:
                match = [(rec, truth) for rec, truth in self._freezes
                         if ex.trigger_ns <= rec.t_freeze_ns <= now]
                if not match:
                    self.unmatched += 1
                else:
                    rec, truth = match[-1]  # an earlier one was a freeze the driver retried
                    self._truth[ex.seq] = truth
                    err = ex.t_ns - rec.t_mid_ns
                    self.errors_ns.append(err)
                    self.outside_bound += abs(err) > ex.uncertainty_ns
                    while len(self._truth) > TRUTHS_KEPT:
                        del self._truth[next(iter(self._truth))]
            self._exposures.extend(new)

    # --- StillCamera ----------------------------------------------------------------------
    def open(self) -> None:
        self.emulator.start()  # it only answers: up before the driver's first command
        self.driver.open()

    def close(self) -> None:
        try:
            self.driver.close()
        finally:
            self.emulator.stop()

    def health(self) -> DeviceHealth:
        return self.driver.health()

    def trigger(self) -> int | None:
        self._collect()  # before any freeze of the photo this trigger may start
        return self.driver.trigger()

    def poll_exposures(self) -> list[PhotoExposure]:
        self._collect()
        with self._lock:
            out = list(self._exposures)
            self._exposures.clear()
        return out

    def poll(self) -> list[Photo]:
        self._collect()
        return self.driver.poll()

    # --- truth ----------------------------------------------------------------------------
    def photo_truth(self, seq: int) -> TruthState | None:
        """The world at photo ``seq``'s true mid-exposure; None until its exposure was
        confirmed, or when it never was."""
        self._collect()
        with self._lock:
            return self._truth.get(seq)

    def report(self) -> dict[str, float]:
        """Exposure stamps against the true mid-exposures (``stamp_error_report``), how many
        fell outside their own bound, and how many could not be matched."""
        return {**stamp_error_report(self.errors_ns), "outside_bound": self.outside_bound,
                "unmatched": self.unmatched}


def photo_board(settings: HilSettings, hw: HilWorld, clock: Clock, seed: int,
                parts: WorldParts | None = None) -> PhotoBoard | None:
    """The photo camera, driver and emulator, as ``[hil.photo]`` and ``[hil.photo_model]``
    say; None with ``protocol = "none"``."""
    ps, pm = settings.photo, settings.photo_model
    if ps.protocol == "none":
        return None
    emu_seed = int(np.random.default_rng((seed, 14)).integers(0, 2**31))
    emu = Vc0706Emulator(
        make_photo_source(hw, settings, seed, parts), transport=PtyTransport(),
        baud=POWER_ON_BAUD, size_code=IMAGE_SIZES[ps.image_size][0],
        jpeg_quality=pm.jpeg_quality, seed=emu_seed, paced=pm.paced,
        frame_period_ns=pm.frame_period_us * 1000, exposure_ns=pm.exposure_us * 1000,
    )
    driver = Vc0706StillCamera(emu.path, clock, ps)
    return PhotoBoard(driver, emu, hw)
