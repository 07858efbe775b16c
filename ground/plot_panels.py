"""The anomaly plot's top row, one function each: the ground track against the plan, the
camera frames around LAND_NOW (or the fault), the tripping check around its trip, and a
text panel saying what happened. (The panels over time: ``ground.plot_series``.)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from firmware import log_topics as lt
from ground import logdata as ld
from ground import plot_series as ps
from ground.plot_draw import draw_panel, legend_above
from ground.plot_flight import (
    FAULT_COLOR,
    LAND_NOW_COLOR,
    MAX_EVENTS_SHOWN,
    TOUCHDOWN_COLOR,
    Flight,
    Series,
    worst_check,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ZOOM_BEFORE_S, ZOOM_AFTER_S = 1.0, 1.0  # the zooms' window around what they zoom on


def track_panel(ax: Axes, f: Flight) -> None:
    """The ground track against the plan, with where the fault, LAND_NOW and touchdown
    were."""
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
        ax.plot(e_est, n_est, color=ps.EST_COLOR, lw=1.3, label="estimate")
        for t, marker, color, ms, label in (
                (f.fault_s, "D", FAULT_COLOR, 7, "first fault"),
                (f.land.t_s if f.land else None, "X", LAND_NOW_COLOR, 10, "LAND_NOW"),
                (f.touchdown_s, "v", TOUCHDOWN_COLOR, 8, "touchdown")):
            i = int(np.searchsorted(st.t, t)) if t is not None else len(st.t)
            if i < len(st.t):
                ax.plot(e_est[i], n_est[i], marker, color=color, ms=ms, mec="w", mew=0.6,
                        label=label, zorder=4)
    else:
        ax.text(0.5, 0.5, "no position in this log", transform=ax.transAxes, ha="center",
                va="center", color="0.45")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("east [m]", fontsize=8.5)
    ax.set_ylabel("north [m]", fontsize=8.5)
    ax.tick_params(labelsize=7.5)
    ax.grid(alpha=0.3)
    legend_above(ax, title="ground track vs plan")


def zoom_panel(ax: Axes, f: Flight) -> None:
    """Frame by frame around the fault and LAND_NOW (else the worst timestamp check): what
    the timestamp checks judged."""
    rate = f.d.info.get(lt.INFO_CAMERA_RATE_HZ)
    period_ms = None
    if isinstance(rate, int | float) and not isinstance(rate, bool) and 0 < rate < math.inf:
        period_ms = 1e3 / rate
    land, fault_s, cam = f.land, f.fault_s, f.camera
    worst = worst_check(f) if land is None and fault_s is None else None
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
    title = f"frames around {what}"
    if worst is not None:
        ax.axvline(worst[1], color="0.3", lw=1.0, ls="-.", label=worst[0])
    from matplotlib.ticker import MaxNLocator

    if not marks or not cam.has("t_ns") or not cam.has("latency_s") or len(cam.t) < 2:
        ax.axis("off")
        ax.set_title(title, fontsize=10)
        ax.text(0.5, 0.5, "no LAND_NOW or fault onset:\nnothing to zoom on", ha="center",
                va="center", transform=ax.transAxes, color="0.5")
        return
    lo, hi = min(marks) - ZOOM_BEFORE_S, max(marks) + ZOOM_AFTER_S
    sel = (cam.t >= lo) & (cam.t <= hi)
    t = cam.t[sel]
    ax.plot(t, cam.col("latency_s")[sel] * 1e3, "o-", color="C5", ms=3, lw=0.8,
            label="latency t_rx - t")
    if cam.has("seq"):
        _interval_per_step(ax, cam, sel)
    if period_ms is not None:
        ax.axhline(period_ms, color="C0", ls=":", lw=1.0, label=f"period {period_ms:.1f} ms")
    if fault_s is not None:
        ax.axvline(fault_s, color=FAULT_COLOR, lw=1.2, ls="--", label="first fault")
    if land is not None:
        ax.axvline(land.t_s, color=LAND_NOW_COLOR, lw=1.2, label="LAND_NOW")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel(f.time_label, fontsize=8.5)
    ax.set_ylabel("[ms]", fontsize=8.5)
    ax.tick_params(labelsize=7.5)
    ax.grid(alpha=0.3)
    legend_above(ax, title=title)


def _interval_per_step(ax: Axes, cam: Series, sel: np.ndarray) -> None:
    """The measurement interval per sequence step: what frame_interval judges."""
    dt_ms = np.diff(cam.col("t_ns")) / 1e6
    dseq = np.diff(cam.col("seq"))
    step = np.where(dseq > 0, dt_ms / np.maximum(dseq, 1), np.nan)
    ax.plot(cam.t[1:][sel[1:]], step[sel[1:]], "s-", color="C0", ms=3, lw=0.8,
            label="interval per seq step")
    gap = sel[1:] & (dseq > 1)
    if gap.any():
        ax.plot(cam.t[1:][gap], step[gap], "v", color="red", ms=8, label="seq gap")


def trip_zoom_panel(ax: Axes, f: Flight) -> None:
    """The tripping check sample by sample from a second before it went over its threshold
    (or before the fault) to a second after the trip."""
    p = ps.tripping_check(f)
    trip = f.trip
    if trip is not None:
        start = min(x for x in (trip.over_s, f.fault_s, trip.t_s) if x is not None)
        window = (start - ZOOM_BEFORE_S, trip.t_s + ZOOM_AFTER_S)
        title = f"{trip.check} around the trip"
    else:
        worst = worst_check(f)
        if worst is None or not p.traces:
            ax.axis("off")
            ax.text(0.5, 0.5, "no LAND_NOW, and no timestamp check\ncame near its threshold",
                    ha="center", va="center", transform=ax.transAxes, color="0.5")
            return
        window = (worst[1] - ZOOM_BEFORE_S, worst[1] + ZOOM_AFTER_S)
        title = f"{worst[0]} around its peak (no trip)"
    draw_panel(ax, p, f, zoom=window, title=title)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel(f.time_label, fontsize=8.5)


def event_panel(ax: Axes, f: Flight, panel: ps.Panel) -> None:
    """``panel`` zoomed on the event (``plot_series.event_window``): the response to it."""
    window = ps.event_window(f)
    if window is None:
        ax.axis("off")
        ax.text(0.5, 0.5, f"{panel.ylabel}: nothing to zoom on", ha="center", va="center",
                transform=ax.transAxes, color="0.5")
        return
    lo, hi, what = window
    draw_panel(ax, panel, f, zoom=(lo, hi),
               title=f"{panel.ylabel.split(' [')[0]} around {what}")
    ax.set_xlabel(f.time_label, fontsize=8.5)


def text_panel(ax: Axes, f: Flight) -> None:
    """What happened, in words: LAND_NOW, the fault, touchdown, the worst tilt and body rate,
    the motors' saturation, dropouts, events."""
    ax.axis("off")
    d, land, fault_s = f.d, f.land, f.fault_s
    lines = []
    if land is not None:
        lines.append(f"LAND_NOW at {land.t_s:.3f} s")
        lines.append(f"  check {land.reason}")
        if land.detail:
            lines.append(f"  ({land.detail})")
    else:
        lines.append("no LAND_NOW")
    if f.fault_unreached_s is not None:
        lines.append(f"first fault planned at {f.fault_unreached_s:.3f} s:")
        lines.append("  after the log's end, not reached")
    if fault_s is not None:
        lines.append(f"first fault at {fault_s:.3f} s")
        if land is not None:
            lines.append(f"  LAND_NOW {land.t_s - fault_s:.3f} s later")
    if f.touchdown_s is not None:
        lines.append(f"touchdown at {f.touchdown_s:.3f} s")
    if d.info.get(lt.INFO_CONTINGENCY) == 0:
        lines.append("contingency watchdog DISABLED")
    lines += _dynamics_lines(f)
    lines.append(f"dropouts: {len(d.dropouts)}"
                 + (f" ({sum(x.duration_ms for x in d.dropouts)} ms)" if d.dropouts else "")
                 + ("; log TRUNCATED" if d.truncated else ""))
    lines.append("")
    lines.append("events (s from first cycle):")
    for ev in d.strings[:MAX_EVENTS_SHOWN]:
        text = ev.text if len(ev.text) <= 30 else ev.text[:29] + "\u2026"
        lines.append(f"{(ev.timestamp_us - f.t0) / 1e6:7.2f} {text}")
    if len(d.strings) > MAX_EVENTS_SHOWN:
        lines.append(f"   ... {len(d.strings) - MAX_EVENTS_SHOWN} more (see log info)")
    # parse_math off: an event's '$' would start mathtext, which fails on arbitrary text
    ax.text(0.0, 1.0, "\n".join(lines), transform=ax.transAxes, va="top", ha="left",
            family="monospace", fontsize=8, parse_math=False)


def _dynamics_lines(f: Flight) -> list[str]:
    """The worst true tilt, the peak body rate and how long a motor was pinned in flight:
    what a glance at the time panels should confirm."""
    out = []
    tr, st = f.truth, f.state
    if tr.has("roll_deg") and tr.has("pitch_deg") and len(tr.t):
        tilt = np.degrees(np.arccos(np.clip(np.cos(np.radians(tr.col("roll_deg")))
                                            * np.cos(np.radians(tr.col("pitch_deg"))), -1, 1)))
        i = int(np.nanargmax(tilt)) if np.isfinite(tilt).any() else 0
        out.append(f"max true tilt {float(tilt[i]):.1f} deg")
        out.append(f"  at {float(tr.t[i]):.2f} s")
    if st.has("rate", 3) and len(st.t):
        rates = np.abs(np.degrees(np.stack([st.col("rate", k) for k in range(3)], axis=1)))
        if np.isfinite(rates).any():
            j, k = (int(x) for x in np.unravel_index(int(np.nanargmax(rates)), rates.shape))
            out.append(f"max body rate {float(rates[j, k]):.0f} deg/s")
            out.append(f"  ({'pqr'[k]}) at {float(st.t[j]):.2f} s")
    bands = ps.motors(f).bands
    if bands:
        # each band runs first to last pinned record: one record's period more in all
        dt = float(np.median(np.diff(f.motors.t))) if len(f.motors.t) > 1 else 0.0
        total = sum(b - a + dt for a, b in bands)
        out.append(f"motor pinned at 0 or 1: {total:.2f} s")
        out.append(f"  in flight, from {bands[0][0]:.2f} s")
    return out
