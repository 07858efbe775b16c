"""The anomaly plot's panels, one function each: a panel draws on its axes from the ``Flight``.

The top row: the ground track against the plan, the camera frames around LAND_NOW (or the
fault), a text panel saying what happened. Then the panels over time, sharing one time axis
(seconds from the first control cycle): altitude, horizontal position, velocity, attitude,
frame latency and the timestamp checks against their thresholds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from firmware import log_topics as lt
from ground import logdata as ld
from ground.plot_flight import (
    CHECK_COLORS,
    FAULT_COLOR,
    MAX_EVENTS_SHOWN,
    PLOT_CHECKS,
    SETPOINT_STYLE,
    TRUTH_STYLE,
    Flight,
    Series,
    no_data,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes


# -- the top row ----------------------------------------------------------------------------
def track_panel(ax: Axes, f: Flight) -> None:
    """The ground track against the plan, with where LAND_NOW and the first fault were."""
    plan = ld.plan_points(f.d)
    if plan:
        pn, pe = zip(*plan, strict=True)
        ax.plot(pe, pn, "o-", color="0.55", lw=1.0, ms=5, label="plan")
        for i, (n, e) in enumerate(plan[1:], start=1):
            ax.annotate(f"WP{i}", (e, n), xytext=(4, 4), textcoords="offset points",
                        fontsize=8, color="0.35")
    tr, st = f.truth, f.state
    if tr.has("position", 3):
        ax.plot(tr.col("position", 1), tr.col("position", 0), color="k", lw=1.0, ls="--",
                label="truth")
    if st.has("position", 3):
        e_est, n_est = st.col("position", 1), st.col("position", 0)
        ax.plot(e_est, n_est, color="C0", lw=1.3, label="estimate")
        if f.land is not None:
            i = int(np.searchsorted(st.t, f.land.t_s))
            if i < len(st.t):
                ax.plot(e_est[i], n_est[i], "X", color="red", ms=10, label="LAND_NOW")
        if f.fault_s is not None:
            i = int(np.searchsorted(st.t, f.fault_s))
            if i < len(st.t):
                ax.plot(e_est[i], n_est[i], "D", color=FAULT_COLOR, ms=7, label="first fault")
    else:
        no_data(ax, "position")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("east [m]")
    ax.set_ylabel("north [m]")
    ax.set_title("ground track vs plan", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def zoom_panel(ax: Axes, f: Flight) -> None:
    """Frame by frame around the fault and LAND_NOW (else the worst timestamp check): what
    the timestamp checks judged."""
    rate = f.d.info.get(lt.INFO_CAMERA_RATE_HZ)
    period_ms = None
    if isinstance(rate, int | float) and not isinstance(rate, bool) and 0 < rate < math.inf:
        period_ms = 1e3 / rate
    land, fault_s, cam = f.land, f.fault_s, f.camera
    worst = _worst_check(f.checks, f.thresholds) if land is None and fault_s is None else None
    marks = [x for x in (fault_s, land.t_s if land else None) if x is not None]
    if land is not None:
        what = "LAND_NOW"
    elif fault_s is not None:
        what = "the fault"
    elif worst is not None:
        what = f"{worst[0]} at {worst[2]:.2g} x threshold"
        marks = [worst[1]]
    else:
        what = "LAND_NOW"
    ax.set_title(f"frames around {what}", fontsize=10)
    if worst is not None:
        ax.axvline(worst[1], color="0.3", lw=1.0, ls="-.", label=worst[0])
    from matplotlib.ticker import MaxNLocator

    if not marks or not cam.has("t_ns") or not cam.has("latency_s") or len(cam.t) < 2:
        ax.axis("off")
        ax.text(0.5, 0.5, "no LAND_NOW or fault onset:\nnothing to zoom on", ha="center",
                va="center", transform=ax.transAxes, color="0.5")
        return
    lo, hi = min(marks) - 1.0, max(marks) + 1.0
    sel = (cam.t >= lo) & (cam.t <= hi)
    t = cam.t[sel]
    ax.plot(t, cam.col("latency_s")[sel] * 1e3, "o-", color="C5", ms=3, lw=0.8,
            label="latency t_rx - t")
    if cam.has("seq"):
        # the measurement interval per sequence step is what frame_interval judges
        dt_ms = np.diff(cam.col("t_ns")) / 1e6
        dseq = np.diff(cam.col("seq"))
        step = np.where(dseq > 0, dt_ms / np.maximum(dseq, 1), np.nan)
        ax.plot(cam.t[1:][sel[1:]], step[sel[1:]], "s-", color="C0", ms=3, lw=0.8,
                label="interval per seq step")
        gap = sel[1:] & (dseq > 1)
        if gap.any():
            ax.plot(cam.t[1:][gap], step[gap], "v", color="red", ms=8, label="seq gap")
    if period_ms is not None:
        ax.axhline(period_ms, color="C0", ls=":", lw=1.0, label=f"period {period_ms:.1f} ms")
    if fault_s is not None:
        ax.axvline(fault_s, color=FAULT_COLOR, lw=1.2, ls="--", label="first fault")
    if land is not None:
        ax.axvline(land.t_s, color="red", lw=1.2, label="LAND_NOW")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel("time from the first control cycle [s]")
    ax.set_ylabel("[ms]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center", bbox_to_anchor=(0.5, 0.72), ncol=2, framealpha=0.85)


def _worst_check(ct: Series, th: dict[str, float]) -> tuple[str, float, float] | None:
    """(name, time, value/threshold) of the first timestamp check over its threshold, else
    of the highest one if it came near (0.5): where a flight without LAND_NOW (a disabled
    watchdog, a loose threshold) would have had one, or came closest."""
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


def text_panel(ax: Axes, f: Flight) -> None:
    """What happened, in words: LAND_NOW, the fault, the worst tilt, dropouts, events."""
    ax.axis("off")
    d, land, fault_s, tr = f.d, f.land, f.fault_s, f.truth
    lines = []
    if land is not None:
        lines.append(f"LAND_NOW at {land.t_s:.3f} s")
        lines.append(f"  check {land.reason}")
        if land.detail:
            lines.append(f"  ({land.detail})")
    else:
        lines.append("no LAND_NOW")
    if fault_s is not None:
        lines.append(f"first fault at {fault_s:.3f} s")
        if land is not None:
            lines.append(f"  LAND_NOW {land.t_s - fault_s:.3f} s later")
    if d.info.get(lt.INFO_CONTINGENCY) == 0:
        lines.append("contingency watchdog DISABLED")
    if tr.has("roll_deg") and tr.has("pitch_deg"):
        tilt = np.degrees(np.arccos(np.clip(np.cos(np.radians(tr.col("roll_deg")))
                                            * np.cos(np.radians(tr.col("pitch_deg"))), -1, 1)))
        lines.append(f"max true tilt: {float(tilt.max()):.1f} deg")
    lines.append(f"dropouts: {len(d.dropouts)}"
                 + (f" ({sum(x.duration_ms for x in d.dropouts)} ms)" if d.dropouts else "")
                 + ("; log TRUNCATED" if d.truncated else ""))
    lines.append("")
    lines.append("events (s from first cycle):")
    for ev in d.strings[:MAX_EVENTS_SHOWN]:
        text = ev.text if len(ev.text) <= 34 else ev.text[:33] + "\u2026"
        lines.append(f"{(ev.timestamp_us - f.t0) / 1e6:7.2f} {text}")
    if len(d.strings) > MAX_EVENTS_SHOWN:
        lines.append(f"   ... {len(d.strings) - MAX_EVENTS_SHOWN} more (see log info)")
    # parse_math off: an event's '$' would start mathtext, which fails on arbitrary text
    ax.text(0.0, 1.0, "\n".join(lines), transform=ax.transAxes, va="top", ha="left",
            family="monospace", fontsize=8.5, parse_math=False)


# -- the panels over time ---------------------------------------------------------------------
def altitude_panel(ax: Axes, f: Flight) -> None:
    st, tr, sp, rg = f.state, f.truth, f.setpoint, f.ranges
    if st.has("position", 3):
        ax.plot(st.t, -st.col("position", 2), color="C0", lw=1.3, label="estimate")
    if tr.has("position", 3):
        ax.plot(tr.t, -tr.col("position", 2), color="k", label="truth", **TRUTH_STYLE)
    if sp.has("alt"):
        ax.plot(sp.t, sp.col("alt"), color="C2", label="setpoint", **SETPOINT_STYLE)
    if rg.has("distance_m"):
        ok = rg.col("valid") > 0 if rg.has("valid") else np.ones(len(rg.t), bool)
        ax.plot(rg.t[ok], rg.col("distance_m")[ok], ".", color="0.75", ms=1.0,
                label="altimeter (slant range)", zorder=1)
    if not (st.ok or tr.ok):
        no_data(ax, "altitude")
    ax.set_ylabel("altitude [m]")


def position_panel(ax: Axes, f: Flight) -> None:
    st, tr, sp = f.state, f.truth, f.setpoint
    for k, (name, color) in enumerate((("north", "C0"), ("east", "C1"))):
        if st.has("position", 3):
            ax.plot(st.t, st.col("position", k), color=color, lw=1.3, label=f"{name} est")
        if tr.has("position", 3):
            ax.plot(tr.t, tr.col("position", k), label=f"{name} truth",
                    **{**TRUTH_STYLE, "color": "k" if k == 0 else "0.45"})
        if sp.has(name):
            ax.plot(sp.t, sp.col(name), color=color, label=f"{name} setpoint",
                    **{**SETPOINT_STYLE, "alpha": 0.8})
    if not st.ok:
        no_data(ax, "position")
    ax.set_ylabel("position [m]")


def velocity_panel(ax: Axes, f: Flight) -> None:
    st, tr = f.state, f.truth
    for k, (name, color) in enumerate((("v north", "C0"), ("v east", "C1"))):
        if st.has("velocity", 2):
            ax.plot(st.t, st.col("velocity", k), color=color, lw=1.3, label=f"{name} est")
        if tr.has("velocity", 2):
            ax.plot(tr.t, tr.col("velocity", k), label=f"{name} truth",
                    **{**TRUTH_STYLE, "color": "k" if k == 0 else "0.45"})
    if not st.ok:
        no_data(ax, "velocity")
    ax.set_ylabel("velocity [m/s]")


def attitude_panel(ax: Axes, f: Flight) -> None:
    st, tr = f.state, f.truth
    for name, color, tcolor in (("roll", "C2", "k"), ("pitch", "C4", "0.45")):
        if st.has(f"{name}_deg"):
            ax.plot(st.t, st.col(f"{name}_deg"), color=color, lw=1.3, label=f"{name} est")
        if tr.has(f"{name}_deg"):
            ax.plot(tr.t, tr.col(f"{name}_deg"), label=f"{name} truth",
                    **{**TRUTH_STYLE, "color": tcolor})
    if not st.ok:
        no_data(ax, "attitude")
    ax.set_ylabel("attitude [deg]")


def latency_panel(ax: Axes, f: Flight) -> None:
    """Frame latency: receive time minus measurement time, and where sequence gaps were."""
    cam = f.camera
    if cam.has("latency_s"):
        ax.plot(cam.t, cam.col("latency_s") * 1e3, ".-", color="C5", ms=2, lw=0.7,
                label="frame latency (t_rx - t)")
        if cam.has("seq") and len(cam.t) > 1:
            gaps = np.flatnonzero(np.diff(cam.col("seq")) > 1) + 1
            if gaps.size:
                ax.plot(cam.t[gaps], cam.col("latency_s")[gaps] * 1e3, "v", color="red",
                        ms=6, label="after a sequence gap")
    else:
        no_data(ax, "camera frames")
    ax.set_ylabel("frame latency [ms]")


def checks_panel(ax: Axes, f: Flight) -> None:
    """The timestamp checks (and the one that tripped) as value / threshold, peak per bin."""
    ct, th = f.checks, f.thresholds
    names = list(PLOT_CHECKS)
    if f.land is not None and f.land.reason not in names:
        names.append(f.land.reason)
    floor = 1e-3
    drawn = 0
    bin_s = max(f.t_end, 1.0) / 500
    for k, name in enumerate(names):
        if not _has_check(ct, name) or not th.get(name):
            continue
        tb, vb = _bin_max(ct.t, ct.col(name) / th[name], bin_s)
        ax.step(tb, np.maximum(vb, floor), where="post",
                color=CHECK_COLORS[k % len(CHECK_COLORS)], lw=1.1,
                label=f"{name} (threshold {th[name]:.3g})")
        drawn += 1
    if drawn:
        ax.set_yscale("log")
        ax.set_ylim(floor * 0.8, 1e4)
        ax.set_title(f"timestamp checks, max per {bin_s * 1e3:.0f} ms", fontsize=8,
                     loc="right", pad=2)
        ax.axhline(1.0, color="red", lw=1.0, ls="-.", label="trip (value = threshold)")
    else:
        no_data(ax, "contingency check values")
    ax.set_ylabel("check value / threshold")
    ax.set_xlabel("time from the first control cycle [s]")


def _has_check(ct: Series, name: str) -> bool:
    """A check's column; the log's own check list may differ from this version's schema."""
    return ct.topic is not None and ld.column(ct.topic, name) is not None


def _bin_max(t: npt.NDArray[np.float64], v: npt.NDArray[np.float64], bin_s: float
             ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Max of each time bin: a 500 Hz held value is unreadable at full density, and the
    peaks are what is compared with the threshold."""
    if len(t) == 0:
        return t, v
    idx = np.floor((t - t[0]) / bin_s).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(idx) != 0])
    peaks = np.maximum.reduceat(np.nan_to_num(v, nan=0.0), starts)
    return t[starts], peaks
