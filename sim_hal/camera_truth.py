"""How wrong the bench's camera stamps are: each delivered frame's ``t_ns`` against the
emulator's true mid-exposure time of the same sequence number.

The stream driver maps the board's clock onto the host clock from receive times (hal.timesync);
on a loaded host those receive times are late. This tap is the measure of whether the mapping
kept the measurement times honest anyway. It wraps the driver as ``Hal.camera`` and only
reads what both sides already publish, so the flight software sees the driver unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hal.camera_stream import StreamCamera
from hal.types import DeviceHealth, Frame
from sim_hal.camera_stream_emu import StreamCameraEmulator
from sim_hal.stamp_report import stamp_error_report


class CameraTruthTap:
    """``hal.interfaces.Camera``: the driver, plus a record of ``t_ns - true mid-exposure``."""

    def __init__(self, driver: StreamCamera, emulator: StreamCameraEmulator) -> None:
        self.driver = driver
        self.emulator = emulator
        self.name = driver.name
        self.rate_hz = driver.rate_hz
        self.width = driver.width
        self.height = driver.height
        self.focal_px = driver.focal_px
        self.errors_ns: list[int] = []
        self.content_errors_ns: list[int] = []  # t_ns - when the world looked like the image
        self.unmatched = 0  # delivered frames whose seq the emulator no longer remembers
        self.settling = 0  # frames before the clock fit had a full window (not judged)

    def __getattr__(self, name: str) -> Any:  # the driver's own diagnostics (parser, stamper)
        return getattr(self.driver, name)

    def open(self) -> None:
        self.driver.open()

    def close(self) -> None:
        self.driver.close()

    def health(self) -> DeviceHealth:
        return self.driver.health()

    def poll(self) -> list[Frame]:
        frames = self.driver.poll()
        if frames and self.driver.stamper.mapper.stats.updates < self.driver.settings.clock_window:
            self.settling += len(frames)
        elif frames:
            truth = {s.seq: s for s in list(self.emulator.sent)[-64:]}
            for fr in frames:
                sent = truth.get(fr.seq)
                if sent is None:
                    self.unmatched += 1
                else:
                    self.errors_ns.append(fr.t_ns - sent.t_mid_ns)
                    self.content_errors_ns.append(fr.t_ns - sent.t_content_ns)
        return frames

    def report(self) -> dict[str, float]:
        """Count and |error| median, p99, max in us; the signed median shows a bias."""
        content = self.content_errors_ns
        return {**stamp_error_report(self.errors_ns), "unmatched": self.unmatched,
                "settling": self.settling,
                "content_signed_median_us": round(float(np.median(content)) / 1e3, 1)
                if content else 0.0}
