"""The anomaly plot's data: a flight log's series (times in seconds from the first control
cycle, the seconds ``fly`` prints), what happened when (modes, the fault, LAND_NOW and the
check that tripped it, touchdown), and the colours the figure and the page share.

Nothing here draws: ``ground.plot_series`` turns this into panels, ``ground.logplot`` and
``ground.plot_html`` draw them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from firmware import log_topics as lt
from firmware.checks import CHECKS
from firmware.flight import Mode
from ground import logdata as ld
from ground.logfile import FlightLog

log = logging.getLogger(__name__)

# Timestamp checks drawn against their thresholds (value / threshold, one log-scale panel).
PLOT_CHECKS = tuple(lt.CONTINGENCY.field(c) for c in (
    "frame_latency", "frame_interval", "camera_clock_residual", "camera_clock_skew"))
# Each check's unit, for the axis of the check that tripped (a log from another version may
# have a check this table does not know: no unit then).
CHECK_UNITS: dict[str, str] = {row.name: row.unit for row in CHECKS}
MAX_EVENTS_SHOWN = 18
# Colours as hex, so the PNG (matplotlib) and the page (Plotly) draw the same figure.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
FAULT_COLOR = "#9400d3"
LAND_NOW_COLOR = "#e31a1c"
TOUCHDOWN_COLOR = "#000000"
MODE_COLORS: dict[str, str] = {
    Mode.IDLE.name: "#d9d9d9", Mode.ARMED.name: "#bdbdbd", Mode.TAKEOFF.name: "#9ecae1",
    Mode.MISSION.name: "#a1d99b", Mode.LAND.name: "#fdd49e", Mode.LAND_NOW.name: "#fb6a4a",
    Mode.LANDED.name: "#d9d9d9"}
OTHER_MODE_COLOR = "#f0f0f0"  # a mode this version does not know
MAX_MODE_SPANS = 200  # a flight has a handful


class Series:
    """A topic's columns with times in seconds from the first cycle."""

    def __init__(self, d: FlightLog, topic: lt.TopicDef, t0_us: int) -> None:
        self.schema = topic
        self.topic = ld.topic(d, topic)
        self.ok = self.topic is not None
        self.t = ld.relative_s(self.topic, t0_us) if self.topic is not None else np.zeros(0)

    def has(self, field: str, width: int = 0) -> bool:
        """The field is there, numeric, one a record (or an array of at least ``width``)."""
        name = self.schema.field(field)
        return self.topic is not None and ld.column(self.topic, name, width) is not None

    def col(self, field: str, index: int | None = None) -> npt.NDArray[np.float64]:
        """A column ``has`` accepted (``index`` below the width it was asked for)."""
        assert self.topic is not None
        c = self.topic.data[field]
        if index is not None:
            c = c[:, index]
        return np.asarray(c, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class ModeSpan:
    name: str
    t0: float
    t1: float


@dataclass(frozen=True, slots=True)
class Trip:
    """The check that tripped LAND_NOW, as its own logged values tell it."""

    check: str
    t_s: float  # the trip: LAND_NOW
    threshold: float | None
    value: float | None  # the check's logged value at the trip
    over_s: float | None  # where the run of values over the threshold that tripped began


@dataclass
class Flight:
    """What the panels draw: the log, its series and what happened when."""

    d: FlightLog
    t0: int
    land: ld.LandNow | None
    fault_s: float | None
    t_end: float
    thresholds: dict[str, float]
    outcome: str
    state: Series
    truth: Series
    setpoint: Series
    ranges: Series
    camera: Series
    checks: Series
    motors: Series
    # PX4's view of the same flight: absent from logs written before the PX4 topics
    att_sp: Series
    rates_sp: Series
    pos_sp: Series
    thrust_sp: Series
    modes: list[ModeSpan] = field(default_factory=list)
    touchdown_s: float | None = None
    # the scenario's first fault when it was planned after the log's end (a log cut short):
    # not drawn as a fault, which never happened in this log
    fault_unreached_s: float | None = None
    trip: Trip | None = None

    @classmethod
    def of(cls, d: FlightLog) -> Flight:
        t0 = ld.first_cycle_us(d)
        land = ld.land_now(d, t0)
        t_end = (ld.last_us(d) - t0) / 1e6
        unreached = ld.fault_after_end_s(d)
        f = cls(d, t0, land, None if unreached is not None else ld.first_fault_s(d), t_end,
                ld.thresholds(d), ld.outcome(d, land, ld.final_mode(d)),
                Series(d, lt.VEHICLE_STATE, t0), Series(d, lt.TRUTH, t0),
                Series(d, lt.SETPOINT, t0), Series(d, lt.SENSOR_RANGE, t0),
                Series(d, lt.CAMERA_FRAME, t0), Series(d, lt.CONTINGENCY, t0),
                Series(d, lt.MOTOR_OUTPUTS, t0),
                Series(d, lt.PX4_VEHICLE_ATTITUDE_SETPOINT, t0),
                Series(d, lt.PX4_VEHICLE_RATES_SETPOINT, t0),
                Series(d, lt.PX4_VEHICLE_LOCAL_POSITION_SETPOINT, t0),
                Series(d, lt.PX4_VEHICLE_THRUST_SETPOINT, t0))
        f.fault_unreached_s = unreached
        f.modes = mode_spans(f)
        f.touchdown_s = touchdown_s(f)
        f.trip = trip_of(f)
        return f

    @property
    def time_label(self) -> str:
        return "time from the first control cycle [s]"


def _mode_name(value: int) -> str:
    try:
        return Mode(value).name
    except ValueError:
        return f"mode {value}"


def mode_spans(f: Flight) -> list[ModeSpan]:
    """Each stretch of one flight mode: from the mode logged every cycle, else (a log from
    another writer) from the mode-change events. A damaged log's mode may change every
    cycle: only the first ``MAX_MODE_SPANS`` are drawn (each is a band on every panel)."""
    spans = _mode_spans(f)
    if len(spans) > MAX_MODE_SPANS:
        log.warning("%d mode changes (a damaged log?): the first %d shown", len(spans),
                    MAX_MODE_SPANS)
    return spans[:MAX_MODE_SPANS]


def _mode_spans(f: Flight) -> list[ModeSpan]:
    st = f.state
    if st.has("mode") and len(st.t):
        mode = st.col("mode").astype(np.int64)
        starts = np.r_[0, np.flatnonzero(np.diff(mode)) + 1]
        ends = np.r_[st.t[starts[1:]], max(f.t_end, float(st.t[-1]))]
        return [ModeSpan(_mode_name(int(mode[i])), float(st.t[i]), float(e))
                for i, e in zip(starts, ends, strict=True)]
    changes = [(s.timestamp_us, ev.subject) for s in f.d.strings
               if (ev := lt.parse_event(s.text)).kind == lt.EVENT_MODE]
    out: list[ModeSpan] = []
    for k, (us, name) in enumerate(changes):
        t1 = (changes[k + 1][0] - f.t0) / 1e6 if k + 1 < len(changes) else f.t_end
        out.append(ModeSpan(name, (us - f.t0) / 1e6, max(t1, (us - f.t0) / 1e6)))
    return out


def touchdown_s(f: Flight) -> float | None:
    """When the flight software saw the vehicle down after flying: its first LANDED."""
    return next((m.t0 for m in f.modes if m.name == Mode.LANDED.name), None)


def trip_of(f: Flight) -> Trip | None:
    """The tripping check's threshold, its value at the trip, and where the run of values
    over the threshold began (a check with persistence trips some evaluations after its
    value first went over)."""
    land = f.land
    if land is None:
        return None
    th = f.thresholds.get(land.reason)
    ct = f.checks
    if ct.topic is None or ld.column(ct.topic, land.reason) is None or not len(ct.t):
        return Trip(land.reason, land.t_s, th, None, None)
    v = ct.col(land.reason)
    # the record of the trip's cycle (its stamp is LAND_NOW's), else the last one before it
    i = max(0, int(np.searchsorted(ct.t, land.t_s + 1e-7)) - 1)
    value = float(v[i]) if np.isfinite(v[i]) else None
    over_s = None
    if th is not None and value is not None and value > th:
        below = np.flatnonzero(~(v[: i + 1] > th))
        over_s = float(ct.t[below[-1] + 1]) if below.size else float(ct.t[0])
    return Trip(land.reason, land.t_s, th, value, over_s)


def worst_check(f: Flight) -> tuple[str, float, float] | None:
    """(name, time, value/threshold) of the first timestamp check over its threshold, else
    of the highest one if it came near (0.5): where a flight without LAND_NOW (a disabled
    watchdog, a loose threshold) would have had one, or came closest."""
    ct, th = f.checks, f.thresholds
    first: tuple[str, float, float] | None = None
    peak: tuple[str, float, float] | None = None
    for name in PLOT_CHECKS:
        if not ct.has(name) or not th.get(name) or not len(ct.t):
            continue
        ratio = np.nan_to_num(ct.col(name) / th[name], nan=0.0)
        over = np.flatnonzero(ratio > 1.0)
        if over.size and (first is None or ct.t[over[0]] < first[1]):
            first = (name, float(ct.t[over[0]]), float(ratio[over[0]]))
        i = int(np.argmax(ratio))
        if ratio[i] >= 0.5 and (peak is None or ratio[i] > peak[2]):
            peak = (name, float(ct.t[i]), float(ratio[i]))
    return first if first is not None else peak


def mode_color(name: str) -> str:
    return MODE_COLORS.get(name, OTHER_MODE_COLOR)


@dataclass(frozen=True, slots=True)
class Mark:
    """A vertical line every time panel has, with its label's text for the strip."""

    t: float
    label: str
    color: str
    ls: str
    side: str  # where the label goes from the line: "left" or "right"


def marks(f: Flight) -> list[Mark]:
    """The first fault, LAND_NOW and touchdown: three styles, so none hides another."""
    out = []
    if f.fault_s is not None:
        out.append(Mark(f.fault_s, f"first fault {f.fault_s:.2f} s", FAULT_COLOR, "--", "left"))
    if f.land is not None:
        out.append(Mark(f.land.t_s, f"LAND_NOW {f.land.t_s:.2f} s ({f.land.reason})",
                        LAND_NOW_COLOR, "-", "right"))
    if f.touchdown_s is not None:
        out.append(Mark(f.touchdown_s, f"touchdown {f.touchdown_s:.2f} s", TOUCHDOWN_COLOR,
                        "-.", "left"))
    return out


def headline(f: Flight) -> str:
    """Scenario, seed, backend, planet: the flight's name, for the title."""
    info = f.d.info
    return " \u00b7 ".join(str(x) for x in (
        info.get(lt.INFO_SCENARIO, "?"), f"seed {info.get(lt.INFO_SEED, '?')}",
        f"backend {info.get(lt.INFO_BACKEND, '?')}", info.get(lt.INFO_PLANET)) if x)
