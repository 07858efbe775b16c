"""What the flight software cannot judge about its own flight, judged beside its cycle.

A simulation knows the truth: how far the vehicle tilted and how wrong the velocity estimate
was once the first fault hit (the figures a fault scenario is scored on), and whether it
crashed. Any run also needs an end if the flight software never lands: the time limit. None of
this belongs in ``firmware/``, which must not see the truth; it runs after each cycle instead.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from firmware.config import FlightConfig, Scenario
from firmware.flight import AIRBORNE, FlightSoftware
from firmware.photos import TakenPhoto
from hal.geometry import euler_to_quat
from hal.interfaces import Hal
from hal.types import NS_PER_S

SAMPLE_EVERY = 5  # cycles between truth samples: the worst case moves slowly, truth is costly


@dataclass
class AfterFault:
    """The worst seen since the first fault; None if the scenario has no fault. And, fault or
    not, the horizontal velocity estimate's error over the whole airborne flight."""

    max_tilt_deg: float | None
    max_velocity_error_mps: float | None
    airborne_samples: int = 0
    velocity_error_sq_sum: float = 0.0

    @property
    def velocity_error_rms_mps(self) -> float | None:
        if not self.airborne_samples:
            return None
        return round(math.sqrt(self.velocity_error_sq_sum / self.airborne_samples), 4)


@dataclass
class PhotoTally:
    """Each photo's geotag against the truth at its true mid-exposure (simulated backends):
    horizontal position error (what latitude and longitude carry), attitude error, and how
    far its stamp was from the true mid-exposure."""

    position_m: list[float] = field(default_factory=list)
    attitude_deg: list[float] = field(default_factory=list)
    stamp_ms: list[float] = field(default_factory=list)

    def on_photo(self, p: TakenPhoto) -> None:
        t, exp = p.truth, p.exposure
        if t is None or exp is None or not math.isfinite(p.pose.position_ned[0]):
            return
        pn, pe, _ = p.pose.position_ned
        self.position_m.append(math.hypot(pn - t.position_ned[0], pe - t.position_ned[1]))
        qt = euler_to_quat(t.roll, t.pitch, t.yaw)
        dot = abs(sum(a * b for a, b in zip(p.pose.q, qt, strict=True)))
        self.attitude_deg.append(math.degrees(2 * math.acos(min(1.0, dot))))
        self.stamp_ms.append((exp.t_ns - t.t_ns) / 1e6)

    def report(self) -> dict[str, Any]:
        def stats(xs: list[float]) -> dict[str, float]:
            if not xs:
                return {}
            worst = max(xs, key=abs)  # the stamp error's sign says early or late
            return {"n": len(xs), "median": round(statistics.median(xs), 4),
                    "max": round(worst, 4)}
        return {"geotag_error_m": stats(self.position_m),
                "attitude_error_deg": stats(self.attitude_deg),
                "stamp_error_ms": stats(self.stamp_ms)}


class FlightScoring:
    def __init__(self, cfg: FlightConfig, scenario: Scenario, hal: Hal,
                 fsw: FlightSoftware) -> None:
        self._fsw = fsw
        self._truth = hal.truth
        self._max_ns = int(cfg.loop.max_flight_s * NS_PER_S)
        self._first_fault = scenario.first_fault_s()
        start = 0.0 if self._first_fault is not None else None
        self.after_fault = AfterFault(start, start)
        self.photos = PhotoTally()
        fsw.photos.on_photo.append(self.photos.on_photo)

    def sample(self, now: int, index: int) -> None:
        """After a cycle: fold the truth into the after-fault worst case (every few cycles)."""
        truth, first_fault = self._truth, self._first_fault
        if truth is None or index % SAMPLE_EVERY != 0:
            return
        fsw = self._fsw
        after = first_fault is not None and fsw.mission_time(now) >= first_fault
        airborne = fsw.mode in AIRBORNE
        if not (after or airborne):
            return
        t = truth.truth()
        ev = fsw.nav.velocity_ned
        verr = math.hypot(ev[0] - t.velocity_ned[0], ev[1] - t.velocity_ned[1])
        worst = self.after_fault
        if airborne and not t.on_ground:
            worst.airborne_samples += 1
            worst.velocity_error_sq_sum += verr * verr
        if not after:
            return
        verr = round(verr, 3)
        cos_tilt = max(-1.0, min(1.0, math.cos(t.roll) * math.cos(t.pitch)))
        tilt = round(math.degrees(math.acos(cos_tilt)), 3)
        worst.max_tilt_deg = max(worst.max_tilt_deg or 0.0, tilt)
        worst.max_velocity_error_mps = max(worst.max_velocity_error_mps or 0.0, verr)

    def must_stop(self, now: int) -> bool:
        """The run ends here: the vehicle crashed or the flight ran past its time limit (an
        event says which)."""
        fsw, truth = self._fsw, self._truth
        if truth is not None and truth.truth().crashed:
            fsw.event(now, f"CRASH: {truth.truth().crash_reason}", logging.ERROR)
            return True
        if fsw.t0_ns is not None and now - fsw.t0_ns > self._max_ns:
            fsw.event(now, "flight time limit reached", logging.ERROR)
            return True
        return False
