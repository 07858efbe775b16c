"""The anomaly plot's panels over time, as data: what each panel shows, in which units, and
what the log lacks for it. The PNG (``ground.logplot``) and the interactive page
(``ground.plot_html``) draw the same panels, so they cannot tell different stories.

Each panel is one small function of the ``Flight``. Setpoints come from our own topics where
both old and new logs have them (``setpoint``), else from PX4's topics (rates, yaw, velocity,
thrust: logs written before the PX4 topics lack them, and the panel says so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from firmware.flight import AIRBORNE
from ground import logdata as ld
from ground.plot_flight import (
    CHECK_UNITS,
    LAND_NOW_COLOR,
    PALETTE,
    PLOT_CHECKS,
    Flight,
    Series,
    worst_check,
)

F64 = npt.NDArray[np.float64]
EST, TRUTH, SETPOINT, DATA, SAMPLES, POINTS, STEP = (
    "estimate", "truth", "setpoint", "data", "samples", "points", "step")
EST_COLOR, SP_COLOR, TRUTH_COLOR = PALETTE[0], PALETTE[1], "#000000"
MOTOR_COLORS = (PALETTE[0], PALETTE[2], PALETTE[4], PALETTE[8])
SATURATED_COLOR = "#d62728"
# the tripping check: not red, which LAND_NOW's line (at its spike) already is
TRIP_CHECK_COLOR = "#08519c"
# a motor command this close to 0 or 1 is pinned there (the mixer clips to exactly 0 and 1)
PINNED = 1e-4
AIRBORNE_NAMES = frozenset(m.name for m in AIRBORNE)
RATIO_FLOOR = 1e-3  # value/threshold below this is drawn at it (a log axis has no zero)
# A line longer than this is thinned to each time bin's lowest and highest point: a column
# of the page is under 1000 pixels wide, and an hour at 500 Hz would take minutes to draw.
MAX_POINTS = 20_000


@dataclass(frozen=True)
class Trace:
    label: str
    t: F64
    y: F64
    role: str  # EST, TRUTH, SETPOINT, DATA, SAMPLES (dots), POINTS (markers), STEP
    color: str
    marker: str = ""  # POINTS: matplotlib's marker letter ("*", "v", "o")


@dataclass(frozen=True)
class HLine:
    y: float
    label: str
    color: str


@dataclass
class Panel:
    key: str
    ylabel: str  # quantity [unit]
    traces: list[Trace] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the log lacks for this panel
    empty: str = ""  # said in the panel when it has no trace at all
    hlines: list[HLine] = field(default_factory=list)
    bands: list[tuple[float, float]] = field(default_factory=list)  # spans to flag
    band_label: str = ""
    yscale: str = "linear"
    ylim: tuple[float, float] | None = None

    def add(self, label: str, t: F64, y: F64, role: str, color: str, marker: str = "") -> None:
        self.traces.append(Trace(label, t, y, role, color, marker))


# -- translation ---------------------------------------------------------------------------
def altitude(f: Flight) -> Panel:
    p = Panel("altitude", "altitude [m]", empty="no altitude in this log")
    st, tr, sp, rg = f.state, f.truth, f.setpoint, f.ranges
    if rg.has("distance_m"):
        ok = rg.col("valid") > 0 if rg.has("valid") else np.ones(len(rg.t), bool)
        p.add("altimeter (slant range)", rg.t[ok], rg.col("distance_m")[ok], SAMPLES, "#a0a0a0")
    if st.has("position", 3):
        p.add("estimate", st.t, -st.col("position", 2), EST, EST_COLOR)
    if sp.has("alt"):
        p.add("setpoint", sp.t, sp.col("alt"), SETPOINT, SP_COLOR)
    if tr.has("position", 3):
        p.add("truth", tr.t, -tr.col("position", 2), TRUTH, TRUTH_COLOR)
    return p


def position(f: Flight, k: int) -> Panel:
    """North (k 0) or east (k 1) on an axis of its own: on a diagonal leg they coincide."""
    name = ("north", "east")[k]
    p = Panel(f"position_{name}", f"{name} [m]", empty=f"no {name} position in this log")
    st, tr, sp = f.state, f.truth, f.setpoint
    if st.has("position", 3):
        p.add("estimate", st.t, st.col("position", k), EST, EST_COLOR)
    if sp.has(name):
        p.add("setpoint", sp.t, sp.col(name), SETPOINT, SP_COLOR)
    if tr.has("position", 3):
        p.add("truth", tr.t, tr.col("position", k), TRUTH, TRUTH_COLOR)
    return p


def velocity(f: Flight, k: int) -> Panel:
    """v north, east, down (NED) against the controller's velocity setpoint (PX4's topic);
    an older log has only our feed-forward and climb rate, shown as such."""
    name = ("north", "east", "down")[k]
    p = Panel(f"velocity_{name}", f"v {name} [m/s]", empty=f"no {name} velocity in this log")
    st, tr, sp, px = f.state, f.truth, f.setpoint, f.pos_sp
    if st.has("velocity", 3):
        p.add("estimate", st.t, st.col("velocity", k), EST, EST_COLOR)
    field_px = ("vx", "vy", "vz")[k]
    if px.has(field_px):
        p.add("setpoint", px.t, px.col(field_px), SETPOINT, SP_COLOR)
    else:
        ff = ("vn_ff", "ve_ff", "climb_rate")[k]
        if sp.has(ff):
            y = -sp.col(ff) if k == 2 else sp.col(ff)
            label = "setpoint: -climb rate" if k == 2 else "feed-forward"
            p.add(label, sp.t, y, SETPOINT, SP_COLOR)
        p.notes.append("no velocity setpoint in this log")
    if tr.has("velocity", 3):
        p.add("truth", tr.t, tr.col("velocity", k), TRUTH, TRUTH_COLOR)
    return p


# -- rotation and actuation ----------------------------------------------------------------
def _yaw_deg(q: F64) -> F64:
    """Yaw of Hamilton quaternions (w, x, y, z), body FRD to NED, in degrees."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.degrees(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))


def attitude(f: Flight, k: int) -> Panel:
    """Roll, pitch (our setpoint topic, in every log) or yaw (PX4's attitude setpoint)."""
    name = ("roll", "pitch", "yaw")[k]
    p = Panel(f"attitude_{name}", f"{name} [deg]", empty=f"no {name} in this log")
    st, tr, sp, att = f.state, f.truth, f.setpoint, f.att_sp
    if st.has(f"{name}_deg"):
        p.add("estimate", st.t, st.col(f"{name}_deg"), EST, EST_COLOR)
    if k < 2 and sp.has(f"{name}_sp_deg"):
        p.add("setpoint", sp.t, sp.col(f"{name}_sp_deg"), SETPOINT, SP_COLOR)
    elif k == 2 and att.has("q_d", 4):
        q = np.stack([att.col("q_d", i) for i in range(4)], axis=1)
        p.add("setpoint", att.t, _yaw_deg(q), SETPOINT, SP_COLOR)
    else:
        p.notes.append(f"no {name} setpoint in this log")
    if tr.has(f"{name}_deg"):
        p.add("truth", tr.t, tr.col(f"{name}_deg"), TRUTH, TRUTH_COLOR)
    return p


def body_rate(f: Flight, k: int) -> Panel:
    """p, q, r about body FRD in deg/s, against PX4's rate setpoint topic."""
    name = ("p", "q", "r")[k]
    about = ("roll", "pitch", "yaw")[k]
    p = Panel(f"rate_{name}", f"{about} rate {name} [deg/s]",
              empty="no body rates in this log")
    st, rs = f.state, f.rates_sp
    if st.has("rate", 3):
        p.add("estimate", st.t, np.degrees(st.col("rate", k)), EST, EST_COLOR)
    if rs.has(about):
        p.add("setpoint", rs.t, np.degrees(rs.col(about)), SETPOINT, SP_COLOR)
    else:
        p.notes.append("no rate setpoint in this log")
    return p


def motors(f: Flight) -> Panel:
    """Each motor's 0..1 thrust command, their mean (the collective delivered, over the most
    the motors make) and the collective asked for (PX4's normalised thrust setpoint); where
    a motor is pinned at 0 or 1 in flight is flagged: the mixer has no authority left."""
    p = Panel("motors", "motor command [0..1]", empty="no motor outputs in this log",
              ylim=(-0.05, 1.08), band_label="a motor pinned at 0 or 1 in flight")
    mo, th = f.motors, f.thrust_sp
    width = _width(mo, "motors")
    if width:
        cmd = np.stack([mo.col("motors", i) for i in range(width)], axis=1)
        for i in range(width):
            p.add(f"motor {i + 1}", mo.t, cmd[:, i], DATA, MOTOR_COLORS[i % len(MOTOR_COLORS)])
        p.add("collective (mean)", mo.t, cmd.mean(axis=1), DATA, "#000000")
        armed = mo.col("armed") > 0 if mo.has("armed") else np.ones(len(mo.t), bool)
        pinned = ((cmd <= PINNED) | (cmd >= 1.0 - PINNED)).any(axis=1) & armed
        p.bands = _spans(mo.t, pinned & _airborne(f, mo.t))
    if th.has("xyz", 3):
        p.add("collective asked", th.t, -th.col("xyz", 2), SETPOINT, SP_COLOR)
    elif width:
        p.notes.append("no thrust setpoint in this log")
    return p


def _width(s: Series, name: str) -> int:
    """How many elements the array field holds (0: none, or not an array)."""
    if s.topic is None or ld.column(s.topic, name, 1) is None:
        return 0
    return int(s.topic.data[name].shape[1])


def _airborne(f: Flight, t: F64) -> npt.NDArray[np.bool_]:
    out = np.zeros(len(t), bool)
    for m in f.modes:
        if m.name in AIRBORNE_NAMES:
            out |= (t >= m.t0) & (t < m.t1)
    return out


def _spans(t: F64, flag: npt.NDArray[np.bool_]) -> list[tuple[float, float]]:
    """The stretches of ``t`` where ``flag`` holds, each as (first, last) time."""
    if not flag.any():
        return []
    edges = np.diff(np.r_[0, flag.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(float(t[a]), float(t[b])) for a, b in zip(starts, ends, strict=True)]


# -- the timestamp story --------------------------------------------------------------------
def latency(f: Flight) -> Panel:
    """Frame latency (receive time minus measurement time) and where sequence gaps were."""
    p = Panel("latency", "frame latency [ms]", empty="no camera frames in this log")
    cam = f.camera
    if cam.has("latency_s"):
        lat = cam.col("latency_s") * 1e3
        p.add("frame latency (t_rx - t)", cam.t, lat, DATA, PALETTE[5])
        if cam.has("seq") and len(cam.t) > 1:
            gaps = np.flatnonzero(np.diff(cam.col("seq")) > 1) + 1
            if gaps.size:
                p.add("after a sequence gap", cam.t[gaps], lat[gaps], POINTS, "#ff0000", "v")
    return p


def checks_ratio(f: Flight) -> Panel:
    """The timestamp checks (and the one that tripped) as value / threshold, peak per bin."""
    p = Panel("checks", "timestamp checks [value / threshold]", yscale="log",
              ylim=(RATIO_FLOOR * 0.8, 1e4), empty="no contingency check values in this log")
    ct, th = f.checks, f.thresholds
    names = list(PLOT_CHECKS)
    if f.land is not None and f.land.reason not in names:
        names.append(f.land.reason)
    bin_s = max(f.t_end, 1.0) / 500
    colors = (PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[9], PALETTE[8])
    for k, name in enumerate(names):
        if ct.topic is None or ld.column(ct.topic, name) is None or not th.get(name):
            continue
        tb, vb = bin_max(ct.t, ct.col(name) / th[name], bin_s)
        p.add(f"{name} (threshold {th[name]:.3g})", tb, np.maximum(vb, RATIO_FLOOR), STEP,
              colors[k % len(colors)])
    if p.traces:
        p.hlines.append(HLine(1.0, "trip (value = threshold)", LAND_NOW_COLOR))
        p.ylabel += f"\n(max per {bin_s * 1e3:.0f} ms)"
    return p


def bin_max(t: F64, v: F64, bin_s: float) -> tuple[F64, F64]:
    """Max of each time bin: a 500 Hz held value is unreadable at full density, and the
    peaks are what is compared with the threshold."""
    if len(t) == 0:
        return t, v
    idx = np.floor((t - t[0]) / bin_s).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(idx) != 0])
    peaks = np.maximum.reduceat(np.nan_to_num(v, nan=0.0), starts)
    return t[starts], peaks


def tripping_check(f: Flight) -> Panel:
    """The check that tripped LAND_NOW in its own units: its value over time, its threshold,
    where it went over and the trip. Without a LAND_NOW: the timestamp check that came
    closest (or went over with the watchdog disabled)."""
    trip = f.trip
    if trip is not None:
        name, threshold = trip.check, trip.threshold
    else:
        worst = worst_check(f)
        name = worst[0] if worst is not None else ""
        threshold = f.thresholds.get(name)
    p = Panel("trip", "tripping check [none]",
              empty="no check tripped, none came near its threshold")
    ct = f.checks
    if not name or ct.topic is None or ld.column(ct.topic, name) is None:
        if trip is not None:
            p.empty = f"no values of the tripping check {trip.check} in this log"
        return p
    unit = CHECK_UNITS.get(name, "")
    p.ylabel = f"{name} [{unit}]" if unit else name
    p.add(name if trip is not None else f"{name} (closest to its threshold; no trip)",
          ct.t, ct.col(name), STEP, TRIP_CHECK_COLOR)
    if threshold is not None:
        p.hlines.append(HLine(threshold, f"threshold {threshold:.4g}", "#000000"))
    if trip is not None and trip.value is not None:
        if trip.over_s is not None and trip.over_s < trip.t_s:
            i = int(np.searchsorted(ct.t, trip.over_s))
            p.add(f"over the threshold {trip.over_s:.3f} s", ct.t[i : i + 1],
                  ct.col(name)[i : i + 1], POINTS, "#ff7f00", "o")
        p.add(f"trip {trip.t_s:.3f} s: {trip.value:.4g} > {threshold:.4g}"
              if threshold is not None else f"trip {trip.t_s:.3f} s",
              np.array([trip.t_s]), np.array([trip.value]), POINTS, LAND_NOW_COLOR, "*")
    return p


def compact(t: F64, y: F64, max_points: int = MAX_POINTS, repeats: bool = False
            ) -> tuple[F64, F64]:
    """The line as drawn, in fewer points: a held value's repeats dropped (its first and
    last kept) unless ``repeats``, then, past ``max_points``, each bin's lowest and highest
    point (and where each gap of NaNs starts, so gaps stay gaps)."""
    if len(t) < 3:
        return t, y
    if not repeats:
        same = (y[1:-1] == y[:-2]) & (y[1:-1] == y[2:])
        keep = np.r_[True, ~same, True]
        t, y = t[keep], y[keep]
    if len(t) <= max_points:
        return t, y
    finite = np.isfinite(y)
    bins = max_points // 2
    span = float(t[-1] - t[0]) or 1.0
    b = np.minimum(((t - t[0]) / span * bins).astype(np.int64), bins - 1)
    fin = np.flatnonzero(finite)
    order = fin[np.lexsort((y[fin], b[fin]))]  # by bin, then value
    first = np.flatnonzero(np.r_[True, np.diff(b[order]) != 0])
    last = np.r_[first[1:], len(order)] - 1
    gaps = np.flatnonzero(~finite & np.r_[True, finite[:-1]])
    idx = np.unique(np.r_[order[first], order[last], gaps, 0, len(t) - 1])
    return t[idx], y[idx]


# -- the event, zoomed ---------------------------------------------------------------------
# around the event: the vehicle's response to it takes seconds
EVENT_BEFORE_S, EVENT_AFTER_S = 1.0, 3.0
AXIS_COLORS = (PALETTE[0], PALETTE[2], PALETTE[4])


def event_window(f: Flight) -> tuple[float, float, str] | None:
    """A few seconds around the fault and LAND_NOW, where the vehicle's response is; without
    either, around the highest body rate in flight. None: nothing to zoom on."""
    at = [x for x in (f.fault_s, f.land.t_s if f.land else None) if x is not None]
    if at:
        what = "LAND_NOW" if f.land is not None else "the fault"
        return min(at) - EVENT_BEFORE_S, max(at) + EVENT_AFTER_S, what
    st = f.state
    if not st.has("rate", 3) or not len(st.t):
        return None
    rates = np.abs(np.stack([st.col("rate", k) for k in range(3)], axis=1)).max(axis=1)
    rates = np.where(_airborne(f, st.t) & np.isfinite(rates), rates, -1.0)
    i = int(np.argmax(rates))
    if rates[i] < 0:
        return None
    t = float(st.t[i])
    return t - 2.0, t + 2.0, "the highest body rate"


def _together(parts: list[Panel], names: tuple[str, ...], key: str, ylabel: str) -> Panel:
    """Several axes' estimates and setpoints on one panel, one colour an axis (a zoom has
    room for it; the whole flight does not)."""
    out = Panel(key, ylabel, empty=parts[0].empty)
    for part, name, color in zip(parts, names, AXIS_COLORS, strict=False):
        for tr in part.traces:
            if tr.role in (EST, SETPOINT):
                label = name if tr.role == EST else f"{name} setpoint"
                out.add(label, tr.t, tr.y, tr.role, color)
        out.notes += [n for n in part.notes if n not in out.notes]
    return out


def rates_together(f: Flight) -> Panel:
    return _together([body_rate(f, k) for k in range(3)], ("p", "q", "r"), "rates",
                     "body rate [deg/s]")


def tilt_together(f: Flight) -> Panel:
    return _together([attitude(f, k) for k in range(2)], ("roll", "pitch"), "tilt",
                     "attitude [deg]")


# -- the layout's two columns --------------------------------------------------------------
LEFT: tuple[Callable[[Flight], Panel], ...] = (
    altitude, lambda f: position(f, 0), lambda f: position(f, 1), lambda f: velocity(f, 0),
    lambda f: velocity(f, 1), lambda f: velocity(f, 2), latency, checks_ratio)
RIGHT: tuple[Callable[[Flight], Panel], ...] = (
    motors, lambda f: attitude(f, 0), lambda f: attitude(f, 1), lambda f: attitude(f, 2),
    lambda f: body_rate(f, 0), lambda f: body_rate(f, 1), lambda f: body_rate(f, 2),
    tripping_check)


def columns(f: Flight) -> tuple[list[Panel], list[Panel]]:
    """The time panels: translation and the timestamp story on the left, rotation, motors
    and the tripping check on the right."""
    return [make(f) for make in LEFT], [make(f) for make in RIGHT]
