"""The contingency watchdog's checks: one table, one row per check.

A row names the check, the source it condemns (what LAND_NOW stops trusting, see
``TRIP_ACTIONS``), the unit of its value, whether it judges timestamps (Ingenuity flights 6
and 53), its default threshold and persistence, when it is evaluated and the function that
computes its value from that moment's facts. Everything else is derived from here: the
``[contingency.<check>]`` config schema (``firmware.config``), the source map and the
timestamp class (``firmware.contingency``), and the README's list of checks
(``readme_table``, tested against the README).

Adding a check is one row and its value function. Rows are in the flight log's order (the
contingency topic indexes checks by position): append new rows, never insert or reorder.

What the watchdog judges arrives once per cycle as a frozen ``WatchdogInputs``; the watchdog
turns it into the facts of each phase (``When``) and runs that phase's rows in ``precedence``
order (when one evaluation trips several checks, LAND_NOW names the first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, NamedTuple

from firmware.time_offset import OffsetEstimate
from hal.types import NS_PER_S, ClockStats, Frame, ImuSample, RangeSample

Source = Literal["vision", "imu", "range", "exec", "nav", "operator"]


class When(Enum):
    """When a check is evaluated. A cycle runs DEADLINES, IMU, FRAME, AGES, COUNTERS, OFFSET in
    that order; innovations interleave with frames (the frame begun in an earlier cycle first, then
    each frame's own after its frame checks)."""

    DEADLINES = "each cycle while armed, once window_s of deadlines is held"
    IMU = "each cycle that drained IMU samples"
    FRAME = "each frame"
    INNOVATION = "each vision innovation while airborne"
    AGES = "each cycle while armed"
    COUNTERS = "each cycle while armed, once window_s of counters is held"
    OFFSET = "each new camera-IMU time offset estimate while airborne"


# -- what one cycle hands the watchdog -----------------------------------------------------
class SkewRange(NamedTuple):
    """The skews (ppm) a clock estimate allows: a point for a clock with stamps, an interval
    for one read through a FIFO (``hal.timesync.SkewBounds``)."""

    lo: float
    hi: float

    def minus(self, other: SkewRange) -> SkewRange:
        return SkewRange(self.lo - other.hi, self.hi - other.lo)

    def distance(self, other: SkewRange) -> float:
        """How far apart the two ranges are (0 when they overlap)."""
        return max(0.0, self.lo - other.hi, other.lo - self.hi)


class ClockReading(NamedTuple):
    """A device clock fit as the cycle saw it (the driver's ``ClockStats`` keeps changing)."""

    skew_ppm: float
    residual_ns: float
    updates: int
    settled: bool
    skew_lo_ppm: float | None = None  # None: the point skew_ppm
    skew_hi_ppm: float | None = None

    @property
    def skew_range(self) -> SkewRange:
        lo = self.skew_ppm if self.skew_lo_ppm is None else min(self.skew_lo_ppm, self.skew_ppm)
        hi = self.skew_ppm if self.skew_hi_ppm is None else max(self.skew_hi_ppm, self.skew_ppm)
        return SkewRange(lo, hi)

    @staticmethod
    def of(stats: ClockStats | None) -> ClockReading | None:
        if stats is None:
            return None
        return ClockReading(stats.skew_ppm, stats.residual_ns, stats.updates, stats.settled,
                            stats.skew_lo_ppm, stats.skew_hi_ppm)


class WatchdogInputs(NamedTuple):
    """Everything the watchdog judges in one cycle, gathered once by the cycle."""

    now_ns: int
    deadlines: int  # the executive's deadlines so far (cycles run and deadlines skipped)
    missed: int  # of those, skipped
    imu: Sequence[ImuSample]
    ranges: Sequence[RangeSample]
    frames: Sequence[Frame]
    camera_overflows: int  # frames the host lost (its queue, its receive buffer), so far
    camera_clock: ClockReading | None
    imu_clock: ClockReading | None
    imu_overflows: int
    imu_errors: int
    polls: int  # sensor polls so far
    imu_rejected: int  # IMU samples navigation refused, so far
    tilt_deg: float
    airborne: bool
    vision_expected: bool  # navigation fuses vision and is high enough to
    # vision innovations (m/s): of the frame begun in an earlier cycle, then one per frame
    earlier_innovation: float | None = None
    frame_innovations: tuple[float | None, ...] = ()
    camera_offset: OffsetEstimate | None = None  # a new estimate this cycle


# -- the facts each phase's value functions read --------------------------------------------
class DeadlineWindow(NamedTuple):
    deadlines: int  # deadlines within the last window_s
    missed: int


class ImuBatch(NamedTuple):
    samples: Sequence[ImuSample]
    newest_before_ns: int  # newest stamp seen before this batch


class FrameFacts(NamedTuple):
    frame: Frame
    previous: Frame | None
    dseq: int  # sequence step from the previous frame (0 without one)
    dt_ns: int  # stamp step from the previous frame
    gap: int  # frames lost before this one, those the host lost excluded
    burst: int  # frames lost within drop_window_s
    period_ns: float  # the camera's nominal frame period
    latency_ns: int  # t_rx_ns - t_ns
    latency_floor_ns: int  # the lowest latency of the frames received within latency_window_s
    latency_baseline_ns: float | None  # learned before take-off
    rel_skew_ppm: SkewRange  # camera clock skew minus IMU clock skew
    skew_baseline_ppm: SkewRange | None
    camera_clock: ClockReading | None
    learn_frames: int

    @property
    def advanced(self) -> bool:
        """There is a previous frame and the sequence moved forward from it."""
        return self.previous is not None and self.dseq > 0


class Ages(NamedTuple):
    imu_s: float  # since the newest IMU stamp
    range_s: float  # since a range sample last arrived
    range_valid_s: float  # since a valid one did
    frame_s: float  # since a frame last arrived
    frames_expected: bool
    tilt_deg: float
    inputs: WatchdogInputs


class CounterWindow(NamedTuple):
    """Counter increments over the last window_s."""

    overflows: float
    errors: float
    polls: float  # at least 1
    bad: float


# -- value functions: None when there is nothing to judge this time -----------------------
def exec_overruns(w: DeadlineWindow) -> float | None:
    return w.missed / max(1, w.deadlines)


def imu_nonmonotonic(b: ImuBatch) -> float | None:
    newest, backwards = b.newest_before_ns, 0
    for s in b.samples:
        if s.t_ns <= newest:
            backwards += 1
        else:
            newest = s.t_ns
    return float(backwards)


def frame_nonmonotonic(f: FrameFacts) -> float | None:
    if f.previous is None:
        return None
    return 1.0 if (f.dseq <= 0 or f.dt_ns <= 0) else 0.0


def frame_seq_gap(f: FrameFacts) -> float | None:
    return float(f.gap) if f.advanced else None


def frame_drop_burst(f: FrameFacts) -> float | None:
    return float(f.burst) if f.advanced else None


def frame_interval(f: FrameFacts) -> float | None:
    if not f.advanced:
        return None
    return abs(f.dt_ns / f.dseq - f.period_ns) / f.period_ns


def frame_latency(f: FrameFacts) -> float | None:
    """How far the camera link's latency is off its baseline. Late: the *lowest* latency in
    the window, since host lateness (a late reader, bytes held in the kernel's tty layer under
    load) delays some receptions while a slower link delays all of them. Early: this frame
    alone, since nothing on the host makes a reception early."""
    if f.latency_baseline_ns is None:
        return None
    late = f.latency_floor_ns - f.latency_baseline_ns
    early = f.latency_baseline_ns - f.latency_ns
    return max(late, early, 0.0) / NS_PER_S


def camera_clock_skew(f: FrameFacts) -> float | None:
    """How far the relative skew is off its baseline beyond what the clock estimates can
    resolve: an IMU read through its FIFO by a loop locked to its sample rate cannot tell its
    skew closer than about a period over the fit window for seconds at a time."""
    if f.skew_baseline_ppm is None:
        return None
    return f.rel_skew_ppm.distance(f.skew_baseline_ppm)


def camera_clock_residual(f: FrameFacts) -> float | None:
    c = f.camera_clock
    if c is None or c.updates <= f.learn_frames:
        return None
    return abs(c.residual_ns) / NS_PER_S


def vision_innovation(innovation_mps: float) -> float | None:
    return innovation_mps


def imu_stale(a: Ages) -> float | None:
    return a.imu_s


def range_stale(a: Ages) -> float | None:
    return a.range_s


def range_invalid(a: Ages) -> float | None:
    return a.range_valid_s


def frame_stale(a: Ages) -> float | None:
    return a.frame_s if a.frames_expected else None


def tilt(a: Ages) -> float | None:
    return a.tilt_deg


def imu_fifo_overflow(w: CounterWindow) -> float | None:
    return w.overflows


def imu_bus_errors(w: CounterWindow) -> float | None:
    return w.errors / w.polls


def imu_bad_data(w: CounterWindow) -> float | None:
    return w.bad


def camera_imu_offset(e: OffsetEstimate) -> float | None:
    """How far the images' true exposure times are at least (the near edge of the estimate's
    2-sigma interval) from where the stamps and the configured offset put them."""
    return e.least_abs_s


# -- the table ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CheckRow:
    name: str
    source: Source  # what LAND_NOW stops trusting when it trips (TRIP_ACTIONS)
    unit: str
    timestamp: bool  # a timestamp check (the class flights 6 and 53 belong to)
    threshold: float  # default; trips when the value is above it
    persistence: int  # default: consecutive failing evaluations before it trips
    when: When
    precedence: int  # order within its phase: of several trips at once, the first is named
    value: Callable[[Any], float | None]  # the phase's facts -> value (None: not judged)
    what: str  # one line for the README


# The literals below are the defaults as they always were (ints stay ints: the logged config
# and the LAND_NOW line print them as given).
CHECKS: tuple[CheckRow, ...] = (
    CheckRow("frame_latency", "vision", "s", True, 0.008, 3, When.FRAME, 5, frame_latency,
             "frame latency (t_rx - t) off its baseline learned before take-off: the "
             "lowest within latency_window_s if later, this frame's if earlier"),
    CheckRow("frame_interval", "vision", "fraction", True, 0.25, 1, When.FRAME, 4,
             frame_interval, "stamp interval per sequence step off the nominal period"),
    CheckRow("frame_seq_gap", "vision", "frames", False, 3, 1, When.FRAME, 2, frame_seq_gap,
             "frames lost in one sequence gap (frames the host lost excluded)"),
    CheckRow("frame_drop_burst", "vision", "frames", False, 6, 1, When.FRAME, 3,
             frame_drop_burst, "frames lost within drop_window_s"),
    CheckRow("frame_nonmonotonic", "vision", "count", True, 0, 1, When.FRAME, 1,
             frame_nonmonotonic, "a frame whose sequence or stamp does not move forward"),
    CheckRow("camera_clock_residual", "vision", "s", True, 0.005, 3, When.FRAME, 7,
             camera_clock_residual, "camera clock fit's last residual"),
    CheckRow("camera_clock_skew", "vision", "ppm", True, 300.0, 10, When.FRAME, 6,
             camera_clock_skew, "camera-vs-IMU clock skew off its learned baseline, beyond "
             "what the clock estimates resolve"),
    CheckRow("frame_stale", "vision", "s", False, 0.3, 1, When.AGES, 4, frame_stale,
             "age of the newest frame, while vision is expected"),
    CheckRow("vision_innovation", "vision", "m/s", False, 1.5, 8, When.INNOVATION, 1,
             vision_innovation, "vision velocity against the estimate"),
    CheckRow("imu_nonmonotonic", "imu", "count", True, 0, 1, When.IMU, 1, imu_nonmonotonic,
             "IMU samples in a batch whose stamp does not move forward"),
    CheckRow("imu_stale", "imu", "s", False, 0.02, 1, When.AGES, 1, imu_stale,
             "age of the newest IMU sample"),
    CheckRow("imu_fifo_overflow", "imu", "count", False, 3, 1, When.COUNTERS, 1,
             imu_fifo_overflow, "IMU FIFO overflows within window_s"),
    CheckRow("imu_bus_errors", "imu", "fraction", False, 0.2, 1, When.COUNTERS, 2,
             imu_bus_errors, "IMU bus errors per poll within window_s"),
    CheckRow("imu_bad_data", "imu", "count", False, 20, 1, When.COUNTERS, 3, imu_bad_data,
             "non-finite or implausible IMU samples within window_s"),
    CheckRow("range_stale", "range", "s", False, 0.3, 1, When.AGES, 2, range_stale,
             "time since a range sample arrived"),
    CheckRow("range_invalid", "range", "s", False, 0.5, 1, When.AGES, 3, range_invalid,
             "time with only invalid range readings"),
    CheckRow("exec_overruns", "exec", "fraction", False, 0.2, 1, When.DEADLINES, 1,
             exec_overruns, "deadlines missed within window_s"),
    CheckRow("tilt", "nav", "deg", False, 60.0, 25, When.AGES, 5, tilt,
             "estimated tilt (loss of control: well above the tilt limit, as PX4's FD_FAIL_R/P)"),
    CheckRow("camera_imu_offset", "vision", "s", True, 0.012, 10, When.OFFSET, 1,
             camera_imu_offset, "camera-IMU time offset estimated from image motion against "
             "the gyro, the near edge of its 2-sigma interval, off the configured one (also the "
             "bound within which navigation corrects for it)"),
)


# -- what a trip stops trusting (PX4's failsafe action rows) -------------------------------
@dataclass(frozen=True, slots=True)
class TripAction:
    """What LAND_NOW does beyond stopping and descending, by the source that failed."""

    distrust_vision: bool = False  # dead-reckon on the IMU and the altimeter
    distrust_range: bool = False  # no altimeter: a blind descent at blind_descent_mps


TRIP_ACTIONS: Mapping[Source, TripAction] = {
    "vision": TripAction(distrust_vision=True),
    "range": TripAction(distrust_range=True),
}
LAND_ON_ALL = TripAction()  # any other source: land on everything navigation has


def trip_action(source: Source) -> TripAction:
    return TRIP_ACTIONS.get(source, LAND_ON_ALL)


def readme_table() -> str:
    """The README's list of checks, generated from the table."""
    lines = ["| check | source | unit | timestamp | threshold | persistence | evaluated | "
             "value |", "|---|---|---|---|---|---|---|---|"]
    for r in CHECKS:
        lines.append(f"| `{r.name}` | {r.source} | {r.unit} | {'yes' if r.timestamp else ''} "
                     f"| {r.threshold:g} | {r.persistence} | {r.when.value} | {r.what} |")
    return "\n".join(lines)
