"""The flight summary: one typed record of how a flight went, read by the command line, the
tests, the benchmarks and (as ``--summary-json``) by scripts and campaign tools.

The JSON is a contract: its field names and their order are this dataclass's fields in
declaration order, so add a field at the end and never rename one. Where the truth is known
(a simulation) the outcome is judged by it; elsewhere by what the flight software believes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from app.boot import FlightSetup
from app.scoring import AfterFault
from firmware import __version__
from firmware.contingency import TIMESTAMP_CHECKS
from firmware.flight import AIRBORNE, FlightSoftware, Mode
from firmware.timing import StallGuard
from hal.interfaces import Hal
from hal.types import NS_PER_S

SAFE_TOUCHDOWN_MPS = 1.0
SAFE_TOUCHDOWN_TILT_DEG = 10.0


@dataclass
class FlightSummary:
    scenario: str
    seed: int
    backend: str
    duration_s: float
    land_now: bool
    land_now_reason: str | None
    land_now_t_s: float | None  # mission time, s
    first_fault_t_s: float | None
    landed: bool  # on the ground after having flown, uncrashed
    crashed: bool
    touchdown_speed_mps: float  # NaN without truth
    max_tilt_deg: float  # NaN without truth
    final_position_error_m: float  # from the LAND_NOW point if it fired in the air
    cycles: int
    overruns: int
    wall_s: float
    touchdown_tilt_deg: float  # NaN without truth
    safe_landing: bool
    on_ground: bool
    timestamp_related: bool  # LAND_NOW came from a timestamp check
    final_mode: str
    slips: int
    version: str
    airborne_at_end: bool
    realtime: bool
    timing: dict[str, dict[str, float]]  # wake_latency_us, cycle_time_us histograms
    stall_guard: str | None  # why the stall guard cut the outputs, if it did
    transient_stalls: int
    max_transient_stall_ms: float
    close_errors: list[str]  # what closing the backend could not do
    time_error_us: dict[str, Any]  # sensor stamps against truth, per sensor (sim only)
    max_tilt_after_fault_deg: float | None
    max_velocity_error_after_fault_mps: float | None
    # the horizontal velocity estimate against the truth, RMS over the airborne flight (sim)
    velocity_error_rms_mps: float | None = None
    # the online camera-IMU time offset estimate (firmware.time_offset) at the end of the flight
    camera_imu_offset: dict[str, Any] = dataclasses.field(default_factory=dict)
    # mission time of the last touchdown (sim; None without truth or never down after flying):
    # a fault that begins after it cannot endanger the flight, and is no missed detection
    last_touchdown_t_s: float | None = None
    # the still camera's photos: triggered, written, failed, dropped; and on simulated
    # backends each geotag against the truth (app.scoring.PhotoTally)
    photos: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The ``--summary-json`` object (fields in declaration order)."""
        return dataclasses.asdict(self)


def summarize(setup: FlightSetup, fsw: FlightSoftware, hal: Hal, wall_s: float,
              guard: StallGuard | None, after_fault: AfterFault,
              photos: dict[str, Any] | None = None) -> FlightSummary:
    """The summary of a finished flight (after the backend closed: its close errors count)."""
    scen = setup.scenario
    stats = fsw.exec_stats
    now = hal.clock.now_ns()
    t0 = fsw.t0_ns or now
    trip = fsw.land_now
    land_now_airborne = trip is not None and fsw.mode in (Mode.LAND_NOW, Mode.LANDED) and \
        any(e.text.startswith("mode LAND_NOW") for e in fsw.events)
    truth = hal.truth.truth() if hal.truth is not None else None
    if truth is not None:
        pos = truth.position_ned
        landed = truth.on_ground and truth.airborne_once and not truth.crashed
        crashed = truth.crashed
        touchdown = truth.touchdown_speed_mps
        td_tilt = truth.touchdown_tilt_deg
        max_tilt = truth.max_tilt_deg
    else:
        pos = fsw.nav.position_ned
        landed = fsw.mode == Mode.LANDED
        crashed = False
        touchdown = float("nan")
        td_tilt = float("nan")
        max_tilt = float("nan")
    ref = fsw.land_now_pos if land_now_airborne else scen.plan.landing_point()
    err = math.hypot(pos[0] - ref[0], pos[1] - ref[1])
    return FlightSummary(
        scenario=scen.name,
        seed=setup.seed,
        backend=hal.backend,
        duration_s=round((now - t0) / NS_PER_S, 6),
        land_now=trip is not None,
        land_now_reason=trip.check if trip else None,
        land_now_t_s=round((trip.t_ns - t0) / NS_PER_S, 6) if trip else None,
        first_fault_t_s=scen.first_fault_s(),
        landed=landed,
        crashed=crashed,
        touchdown_speed_mps=round(touchdown, 4),
        max_tilt_deg=round(max_tilt, 3),
        final_position_error_m=round(err, 4),
        cycles=stats.cycles,
        overruns=stats.overruns,
        wall_s=round(wall_s, 3),
        touchdown_tilt_deg=round(td_tilt, 3),
        safe_landing=bool(landed and touchdown <= SAFE_TOUCHDOWN_MPS
                          and td_tilt <= SAFE_TOUCHDOWN_TILT_DEG),
        on_ground=bool(truth.on_ground) if truth is not None else fsw.mode == Mode.LANDED,
        timestamp_related=bool(trip and trip.check in TIMESTAMP_CHECKS),
        final_mode=fsw.mode.name,
        slips=stats.slips,
        version=__version__,
        airborne_at_end=fsw.mode in AIRBORNE,
        realtime=hal.realtime,
        timing={"wake_latency_us": stats.wake_hist.summary(),
                "cycle_time_us": stats.cycle_hist.summary()},
        stall_guard=guard.reason if guard is not None and guard.tripped else None,
        transient_stalls=guard.transient_stalls if guard is not None else 0,
        max_transient_stall_ms=(round(guard.max_transient_ns / 1e6, 1)
                                if guard is not None else 0.0),
        close_errors=list(hal.close_errors),
        time_error_us=hal.truth.timing_report() if hal.truth is not None else {},
        max_tilt_after_fault_deg=after_fault.max_tilt_deg,
        max_velocity_error_after_fault_mps=after_fault.max_velocity_error_mps,
        velocity_error_rms_mps=after_fault.velocity_error_rms_mps,
        camera_imu_offset=fsw.offset_report(),
        last_touchdown_t_s=(round((truth.last_touchdown_ns - t0) / NS_PER_S, 6)
                            if truth is not None and truth.last_touchdown_ns is not None
                            else None),
        photos={**fsw.photos.counts, **(photos or {})} if fsw.photos.wants_photos else {},
    )
