"""Flight-log tools: a summary, CSV export and an anomaly-report plot of a ULog flight log.

Times shown are seconds from the first control cycle (the first ``cycle_inputs`` record), the
same origin as the mission times ``fly`` prints, so "LAND_NOW at 54.08 s" means the same thing
everywhere. Works on any ULog file; the plot needs our topic names (``vehicle_state``, ...).
matplotlib is the optional extra ``plot``, imported only by ``log_plot``.

A damaged log is reported, never a traceback: where one of our topics holds a field of
another type or shape than the recorder writes, the tools stop with one ``LogToolError``
line naming the file, the topic and the field. Text from the log (events, info) is shown as
text, never interpreted (no mathtext in the plot, no path in a CSV file name).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from firmware.flight import Mode
from firmware.ulog_reader import Topic, ULogData, ULogError, read_ulog

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)

LEVEL_NAMES = {0: "EMERG", 1: "ALERT", 2: "CRIT", 3: "ERROR", 4: "WARNING", 5: "NOTICE",
               6: "INFO", 7: "DEBUG"}
# Timestamp checks drawn against their thresholds in the plot's last panel.
PLOT_CHECKS = ("frame_latency", "frame_interval", "camera_clock_residual", "camera_clock_skew")
FAULT_COLOR = "darkviolet"
CHECK_COLORS = ("C0", "C1", "C2", "C9", "C8")
FIRST_CYCLE_TOPICS = ("cycle_inputs", "vehicle_state", "executive")

_LAND_NOW_RE = re.compile(r"^LAND_NOW:\s*(\w+)\s*(.*)$")
_MODE_LAND_NOW_RE = re.compile(r"^mode LAND_NOW \((\w+)\)")


class LogToolError(Exception):
    """A log-tool failure reported as one line (unreadable file, missing matplotlib...)."""


class BadFieldError(LogToolError):
    """A topic field of another type or shape than the tools need (a damaged log)."""


# -- reading ------------------------------------------------------------------------------
def _read(path: Path) -> ULogData:
    try:
        return read_ulog(path)
    except FileNotFoundError:
        raise LogToolError(f"{path}: file not found") from None
    except ULogError as exc:
        raise LogToolError(f"{path}: {exc}") from None
    except OSError as exc:
        raise LogToolError(f"{path}: cannot read: {exc.strerror}") from None


def _topic(d: ULogData, name: str) -> Topic | None:
    t = d.topics.get((name, 0))
    return t if t is not None and len(t) else None


def _column(t: Topic, name: str, width: int = 0, kinds: str = "biuf"
            ) -> npt.NDArray[Any] | None:
    """Field ``name`` of ``t`` if it holds numbers of ``kinds``: one a record (``width`` 0)
    or an array of at least ``width``. None if the topic has no such field; a field of
    another type or shape raises ``BadFieldError``."""
    fields: dict[str, Any] = dict(t.data.dtype.fields or {})
    if name not in fields:
        return None
    dt: np.dtype[Any] = fields[name][0]
    shape_ok = dt.shape == () if width == 0 else (len(dt.shape) == 1 and dt.shape[0] >= width)
    if not shape_ok or dt.base.kind not in kinds:
        what = {"iu": "integer", "biuf": "number"}.get(kinds, "number")
        want = f"an array of {width} {what}s" if width else f"one {what}"
        got = f"{dt.base}{list(dt.shape) if dt.shape else ''}"
        raise BadFieldError(f"{t.name}.{name}: {got}, expected {want} per record")
    return t.data[name]


def _relative_s(t: Topic, t0_us: int) -> npt.NDArray[np.float64]:
    """Record times in seconds from ``t0_us`` (in doubles: exact to the microsecond for
    285 years, and no int64 overflow whatever a damaged timestamp holds)."""
    return (t.timestamps_us.astype(np.float64) - float(t0_us)) / 1e6


def _plain(value: Any) -> Any:
    """An info value as JSON can hold it (an info of a type the reader does not know stays
    raw bytes: shown in hex)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json(text: Any) -> Any:
    """An info value parsed as JSON; None if it is not JSON text."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def first_cycle_us(d: ULogData) -> int:
    """Timestamp of the first control cycle; falls back to the earliest record, then the
    header's start time (logs from other writers)."""
    for name in FIRST_CYCLE_TOPICS:
        t = _topic(d, name)
        if t is not None:
            return int(t.timestamps_us[0])
    firsts = [int(t.timestamps_us.min()) for t in d.topics.values() if len(t)]
    return min(firsts) if firsts else d.start_us


def _last_us(d: ULogData) -> int:
    lasts = [int(t.timestamps_us.max()) for t in d.topics.values() if len(t)]
    lasts += [s.timestamp_us for s in d.strings]
    return max(lasts) if lasts else d.start_us


def check_names(d: ULogData) -> list[str]:
    """Check order as the log's own ``contingency`` format gives it (``tripped`` indexes it)."""
    fmt = d.formats.get("contingency")
    if fmt is None:
        return []
    return [f.name for f in fmt.fields
            if f.name not in ("timestamp", "tripped") and not f.name.endswith("_fails")
            and not f.name.startswith("_padding")]


def _land_now(d: ULogData, t0_us: int) -> dict[str, Any] | None:
    """The first LAND_NOW: from its event, else the mode-change event, else the watchdog topic."""
    for s in d.strings:
        m = _LAND_NOW_RE.match(s.text)
        if m:
            return {"reason": m.group(1), "detail": m.group(2).strip().strip("()"),
                    "t_s": round((s.timestamp_us - t0_us) / 1e6, 6), "text": s.text}
    for s in d.strings:
        m = _MODE_LAND_NOW_RE.match(s.text)
        if m:
            return {"reason": m.group(1), "detail": "",
                    "t_s": round((s.timestamp_us - t0_us) / 1e6, 6), "text": s.text}
    t = _topic(d, "contingency")
    names = check_names(d)
    tripped = _column(t, "tripped", kinds="iu") if t is not None else None
    if t is not None and tripped is not None:
        hit = np.flatnonzero(tripped >= 0)
        if hit.size:
            i = int(hit[0])
            idx = int(tripped[i])
            reason = names[idx] if idx < len(names) else f"check #{idx}"
            return {"reason": reason, "detail": "",
                    "t_s": round((int(t.timestamps_us[i]) - t0_us) / 1e6, 6), "text": ""}
    return None


def _final_mode(d: ULogData) -> str | None:
    t = _topic(d, "vehicle_state")
    mode = _column(t, "mode", kinds="iu") if t is not None else None
    if mode is None:
        return None
    m = int(mode[-1])
    try:
        return Mode(m).name
    except ValueError:
        return str(m)


def _outcome(d: ULogData, land_now: dict[str, Any] | None, final_mode: str | None) -> str:
    texts = [s.text for s in d.strings]
    crash = next((x for x in texts if x.startswith("CRASH")), None)
    if crash is not None:
        end = crash
    elif any(x.startswith("mode LANDED") for x in texts):
        end = "landed"
    elif any(x.startswith("flight time limit") for x in texts):
        end = "flight time limit reached"
    else:
        end = f"log ends in mode {final_mode}" if final_mode else "log ends"
    if land_now is None:
        return f"no LAND_NOW, {end}"
    return f"LAND_NOW ({land_now['reason']}) at {land_now['t_s']:.2f} s, {end}"


def _first_fault_s(d: ULogData) -> float | None:
    """The scenario's first fault time; the recorder writes -1 for a flight without one."""
    v = d.info.get("first_fault_t_s")
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) and f >= 0 else None


def _summary(d: ULogData, path: Path) -> dict[str, Any]:
    t0 = first_cycle_us(d)
    topics: dict[str, dict[str, Any]] = {}
    for (name, multi), t in sorted(d.topics.items()):
        ts = t.timestamps_us
        n = len(t)
        span = (int(ts.max()) - int(ts.min())) / 1e6 if n else 0.0
        rate = round((n - 1) / span, 3) if n > 1 and span > 0 else None
        topics[name if multi == 0 else f"{name}.{multi}"] = {"samples": n, "rate_hz": rate}
    events = [{"t_s": round((s.timestamp_us - t0) / 1e6, 6),
               "level": LEVEL_NAMES.get(s.level, str(s.level)), "text": s.text}
              for s in d.strings]
    land_now = _land_now(d, t0)
    final_mode = _final_mode(d)
    keys = ("sys_name", "ver_sw", "backend", "scenario", "seed", "planet", "plan", "contingency")
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "ulog_version": d.version,
        "first_cycle_us": t0,
        "duration_s": round((_last_us(d) - t0) / 1e6, 6),
        **{k: _plain(d.info.get(k)) for k in keys},
        "topics": topics,
        "events": events,
        "land_now": land_now,
        "first_fault_t_s": _first_fault_s(d),
        "final_mode": final_mode,
        "outcome": _outcome(d, land_now, final_mode),
        "dropouts": {"count": len(d.dropouts),
                     "total_ms": int(sum(x.duration_ms for x in d.dropouts))},
        "truncated": d.truncated,
        "bad_messages": d.bad_messages,
        "params": len(d.params),
    }


# -- info ---------------------------------------------------------------------------------
def log_info_dict(path: str | Path) -> dict[str, Any]:
    """The summary as plain JSON-serialisable data (one ``json.dumps`` line for scripts)."""
    p = Path(path)
    d = _read(p)
    try:
        return _summary(d, p)
    except BadFieldError as exc:
        raise LogToolError(f"{p}: {exc}") from None


def log_info(path: str | Path) -> str:
    """A human summary: file, flight, duration, topics and rates, events, LAND_NOW, dropouts."""
    s = log_info_dict(path)
    size = s["size_bytes"]
    lines = [f"file       {s['file']} ({size / 1e6:.2f} MB, ULog v{s['ulog_version']})"]
    who = ", ".join(f"{k} {s[k]}" for k in ("seed", "backend", "planet", "plan")
                    if s.get(k) is not None)
    lines.append(f"flight     {s.get('scenario') or '(no scenario info)'}"
                 + (f" ({who})" if who else "")
                 + (f", {s['sys_name']} {s['ver_sw']}" if s.get("ver_sw") else ""))
    if s.get("contingency") == 0:
        lines.append("           contingency watchdog DISABLED for this flight")
    lines.append(f"duration   {s['duration_s']:.3f} s from the first cycle")
    lines.append(f"outcome    {s['outcome']}")
    ln = s["land_now"]
    if ln is None:
        lines.append("LAND_NOW   no LAND_NOW")
    else:
        det = f" ({ln['detail']})" if ln["detail"] else ""
        lines.append(f"LAND_NOW   {ln['reason']} at {ln['t_s']:.3f} s{det}")
    if s["first_fault_t_s"] is not None:
        lines.append(f"fault      first fault at {s['first_fault_t_s']:.3f} s")
    do = s["dropouts"]
    lines.append(f"dropouts   {do['count']} ({do['total_ms']} ms lost)" if do["count"]
                 else "dropouts   none")
    end = "TRUNCATED: the last message is cut short" if s["truncated"] else "complete"
    if s["bad_messages"]:
        end += f", {s['bad_messages']} undecodable messages"
    lines.append(f"file end   {end}")
    lines.append(f"topics     {len(s['topics'])} (samples, mean rate)")
    width = max((len(k) for k in s["topics"]), default=0)
    for name, t in s["topics"].items():
        rate = f"{t['rate_hz']:9.1f} Hz" if t["rate_hz"] is not None else "        - "
        lines.append(f"  {name:<{width}} {t['samples']:>9} {rate}")
    lines.append(f"events     {len(s['events'])} (s from the first cycle)")
    for e in s["events"]:
        lines.append(f"  {e['t_s']:9.3f}  {e['level']:<7} {e['text']}")
    return "\n".join(lines)


# -- csv ----------------------------------------------------------------------------------
def _as_cells(col: npt.NDArray[Any]) -> list[Any]:
    """Cells that read back to the same value: Python's repr of a double and numpy's str of
    a float32 are both the shortest round-trip text (a float32 as a double would print 17
    digits of noise)."""
    if col.dtype.kind == "b":
        return col.astype(np.uint8).tolist()
    if col.dtype.kind == "S":
        return np.char.decode(col, "utf-8", "replace").tolist()
    if col.dtype.kind == "f" and col.dtype.itemsize < 8:
        return col.astype(str).tolist()
    return col.tolist()


def log_csv(path: str | Path, out_dir: str | Path) -> list[Path]:
    """One CSV per topic (``<topic>.csv``; ``<topic>_<multi_id>.csv`` for a second instance):
    a header row, ``timestamp`` (us) first, arrays flattened as ``name[0]``, ``name[1]``...
    Plus ``events.csv`` (timestamp, t_s, level, text). Returns the files written."""
    p = Path(path)
    d = _read(p)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LogToolError(f"{out}: cannot create directory: {exc.strerror}") from None
    written: list[Path] = []
    t0 = first_cycle_us(d)
    try:
        for (name, multi), t in sorted(d.topics.items()):
            cols = t.columns()
            names = sorted(cols, key=lambda k: k != "timestamp")  # stable: field order kept
            # a topic name may hold '/' (ULog allows it): escaped, it stays inside out_dir
            stem = urllib.parse.quote(name, safe="")
            target = out / (f"{stem}.csv" if multi == 0 else f"{stem}_{multi}.csv")
            with target.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(names)
                w.writerows(zip(*(_as_cells(cols[k]) for k in names), strict=True))
            written.append(target)
        target = out / "events.csv"
        with target.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "t_s", "level", "text"])
            for s in d.strings:
                w.writerow([s.timestamp_us, f"{(s.timestamp_us - t0) / 1e6:.6f}",
                            LEVEL_NAMES.get(s.level, str(s.level)), s.text])
        written.append(target)
    except OSError as exc:
        raise LogToolError(f"{out}: cannot write CSV: {exc.strerror}") from None
    log.info("wrote %d CSV files to %s", len(written), out)
    return written


# -- plot ---------------------------------------------------------------------------------
class _Series:
    """A topic's columns with times in seconds from the first cycle."""

    def __init__(self, d: ULogData, name: str, t0_us: int) -> None:
        self.topic = _topic(d, name)
        self.ok = self.topic is not None
        self.t = _relative_s(self.topic, t0_us) if self.topic is not None else np.zeros(0)

    def has(self, field: str, width: int = 0) -> bool:
        """The field is there, numeric, one a record (or an array of at least ``width``)."""
        return self.topic is not None and _column(self.topic, field, width) is not None

    def col(self, field: str, index: int | None = None) -> npt.NDArray[np.float64]:
        """A column ``has`` accepted (``index`` below the width it was asked for)."""
        assert self.topic is not None
        c = self.topic.data[field]
        if index is not None:
            c = c[:, index]
        return np.asarray(c, dtype=np.float64)


def _thresholds(d: ULogData) -> dict[str, float]:
    t = _topic(d, "contingency_thresholds")
    if t is not None:
        out: dict[str, float] = {}
        for n in t.data.dtype.names or ():
            col = _column(t, n) if n != "timestamp" else None
            if col is not None:
                out[n] = float(col[-1])
        return out
    try:  # older logs: the resolved configuration
        cont = _json(d.info.get("config_json", "{}")).get("contingency", {})
        return {k: float(v["threshold"]) for k, v in cont.items()
                if isinstance(v, dict) and "threshold" in v}
    except (ValueError, TypeError, AttributeError, OverflowError):
        return {}


def _plan_points(d: ULogData) -> list[tuple[float, float]]:
    """Plan waypoints (north, east), starting from the take-off point at the origin."""
    try:
        plan = _json(d.info.get("plan_json", ""))
        pts = [(float(w["north_m"]), float(w["east_m"])) for w in plan.get("waypoints", [])]
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return []
    if not all(math.isfinite(x) for pt in pts for x in pt):
        return []
    return [(0.0, 0.0), *pts] if pts else []


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this log", transform=ax.transAxes, ha="center",
            va="center", color="0.5")


def _mark(ax: Axes, fault_s: float | None, land_now: dict[str, Any] | None,
          label: bool, t_end: float) -> None:
    if land_now is not None:
        t = land_now["t_s"]
        ax.axvspan(t, max(t, t_end), color="red", alpha=0.05, lw=0)
        ax.axvline(t, color="red", lw=1.2)
        if label:
            ax.annotate(f" LAND_NOW {t:.2f} s\n ({land_now['reason']})", xy=(t, 1.0),
                        xycoords=("data", "axes fraction"), xytext=(3, -3),
                        textcoords="offset points", ha="left", va="top", color="red",
                        fontsize=9, fontweight="bold")
    if fault_s is not None:
        ax.axvline(fault_s, color=FAULT_COLOR, lw=1.2, ls="--")
        if label:
            ax.annotate(f"first fault {fault_s:.2f} s ", xy=(fault_s, 1.0),
                        xycoords=("data", "axes fraction"), xytext=(-3, -3),
                        textcoords="offset points", ha="right", va="top",
                        color=FAULT_COLOR, fontsize=9, fontweight="bold")


def log_plot(path: str | Path, out_png: str | Path) -> Path:
    """One anomaly-report figure of the flight (PNG, Agg). Needs the ``plot`` extra."""
    p = Path(path)
    d = _read(p)
    try:
        return plot_data(d, out_png, source=p.name)
    except BadFieldError as exc:
        raise LogToolError(f"{p}: {exc}") from None


def plot_data(d: ULogData, out_png: str | Path, source: str = "") -> Path:
    """``log_plot`` on a log already read (lets callers add info such as a fault onset)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise LogToolError("log plot needs matplotlib: pip install 'flightsw[plot]'") from None
    out = Path(out_png)
    s = _summary_light(d)
    t0 = s["t0"]
    land_now, fault_s = s["land_now"], s["fault_s"]
    st = _Series(d, "vehicle_state", t0)
    tr = _Series(d, "truth", t0)
    sp = _Series(d, "setpoint", t0)
    rg = _Series(d, "sensor_range", t0)
    cam = _Series(d, "camera_frame", t0)
    ct = _Series(d, "contingency", t0)
    t_end = s["duration_s"]

    fig = Figure(figsize=(12, 17), dpi=110)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(7, 3, height_ratios=[2.3, 1, 1, 1, 1, 1, 1],
                          width_ratios=[1, 1, 0.8], hspace=0.14, wspace=0.22, left=0.07,
                          right=0.97, top=0.93, bottom=0.035)
    ax_track = fig.add_subplot(gs[0, 0])
    ax_zoom = fig.add_subplot(gs[0, 1])
    ax_text = fig.add_subplot(gs[0, 2])
    axes: list[Axes] = []
    for i in range(6):
        axes.append(fig.add_subplot(gs[i + 1, :], sharex=axes[0] if axes else None))
    ax_alt, ax_ne, ax_vel, ax_att, ax_lat, ax_chk = axes
    truth_kw: dict[str, Any] = {"ls": "--", "lw": 1.0, "alpha": 0.9}
    sp_kw: dict[str, Any] = {"ls": ":", "lw": 1.6}

    # ground track against the plan
    plan = _plan_points(d)
    if plan:
        pn, pe = zip(*plan, strict=True)
        ax_track.plot(pe, pn, "o-", color="0.55", lw=1.0, ms=5, label="plan")
        for i, (n, e) in enumerate(plan[1:], start=1):
            ax_track.annotate(f"WP{i}", (e, n), xytext=(4, 4), textcoords="offset points",
                              fontsize=8, color="0.35")
    if tr.has("position", 3):
        ax_track.plot(tr.col("position", 1), tr.col("position", 0), color="k", lw=1.0,
                      ls="--", label="truth")
    if st.has("position", 3):
        e_est, n_est = st.col("position", 1), st.col("position", 0)
        ax_track.plot(e_est, n_est, color="C0", lw=1.3, label="estimate")
        if land_now is not None:
            i = int(np.searchsorted(st.t, land_now["t_s"]))
            if i < len(st.t):
                ax_track.plot(e_est[i], n_est[i], "X", color="red", ms=10, label="LAND_NOW")
        if fault_s is not None:
            i = int(np.searchsorted(st.t, fault_s))
            if i < len(st.t):
                ax_track.plot(e_est[i], n_est[i], "D", color=FAULT_COLOR, ms=7,
                              label="first fault")
    else:
        _no_data(ax_track, "position")
    ax_track.set_aspect("equal", adjustable="datalim")
    ax_track.set_xlabel("east [m]")
    ax_track.set_ylabel("north [m]")
    ax_track.set_title("ground track vs plan", fontsize=10)
    ax_track.grid(alpha=0.3)
    ax_track.legend(fontsize=8, loc="best")

    rate = d.info.get("camera_rate_hz")
    period_ms = None
    if isinstance(rate, int | float) and not isinstance(rate, bool) and 0 < rate < math.inf:
        period_ms = 1e3 / rate
    _zoom(ax_zoom, cam, fault_s, land_now, period_ms,
          _worst_check(ct, s["thresholds"]) if land_now is None and fault_s is None else None)

    # text panel: what happened, in words
    ax_text.axis("off")
    lines = []
    if land_now is not None:
        lines.append(f"LAND_NOW at {land_now['t_s']:.3f} s")
        lines.append(f"  check {land_now['reason']}")
        if land_now["detail"]:
            lines.append(f"  ({land_now['detail']})")
    else:
        lines.append("no LAND_NOW")
    if fault_s is not None:
        lines.append(f"first fault at {fault_s:.3f} s")
        if land_now is not None:
            lines.append(f"  LAND_NOW {land_now['t_s'] - fault_s:.3f} s later")
    if d.info.get("contingency") == 0:
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
    for ev in d.strings[:18]:
        text = ev.text if len(ev.text) <= 34 else ev.text[:33] + "\u2026"
        lines.append(f"{(ev.timestamp_us - t0) / 1e6:7.2f} {text}")
    if len(d.strings) > 18:
        lines.append(f"   ... {len(d.strings) - 18} more (see log info)")
    # parse_math off: an event's '$' would start mathtext, which fails on arbitrary text
    ax_text.text(0.0, 1.0, "\n".join(lines), transform=ax_text.transAxes, va="top",
                 ha="left", family="monospace", fontsize=8.5, parse_math=False)

    # (1) altitude
    if st.has("position", 3):
        ax_alt.plot(st.t, -st.col("position", 2), color="C0", lw=1.3, label="estimate")
    if tr.has("position", 3):
        ax_alt.plot(tr.t, -tr.col("position", 2), color="k", label="truth", **truth_kw)
    if sp.has("alt"):
        ax_alt.plot(sp.t, sp.col("alt"), color="C2", label="setpoint", **sp_kw)
    if rg.has("distance_m"):
        ok = rg.col("valid") > 0 if rg.has("valid") else np.ones(len(rg.t), bool)
        ax_alt.plot(rg.t[ok], rg.col("distance_m")[ok], ".", color="0.75", ms=1.0,
                    label="altimeter (slant range)", zorder=1)
    if not (st.ok or tr.ok):
        _no_data(ax_alt, "altitude")
    ax_alt.set_ylabel("altitude [m]")

    # (2) horizontal position
    for k, (name, color) in enumerate((("north", "C0"), ("east", "C1"))):
        if st.has("position", 3):
            ax_ne.plot(st.t, st.col("position", k), color=color, lw=1.3, label=f"{name} est")
        if tr.has("position", 3):
            ax_ne.plot(tr.t, tr.col("position", k), label=f"{name} truth",
                       **{**truth_kw, "color": "k" if k == 0 else "0.45"})
        if sp.has(name):
            ax_ne.plot(sp.t, sp.col(name), color=color, label=f"{name} setpoint",
                       **{**sp_kw, "alpha": 0.8})
    if not st.ok:
        _no_data(ax_ne, "position")
    ax_ne.set_ylabel("position [m]")

    # (3) horizontal velocity
    for k, (name, color) in enumerate((("v north", "C0"), ("v east", "C1"))):
        if st.has("velocity", 2):
            ax_vel.plot(st.t, st.col("velocity", k), color=color, lw=1.3, label=f"{name} est")
        if tr.has("velocity", 2):
            ax_vel.plot(tr.t, tr.col("velocity", k), label=f"{name} truth",
                        **{**truth_kw, "color": "k" if k == 0 else "0.45"})
    if not st.ok:
        _no_data(ax_vel, "velocity")
    ax_vel.set_ylabel("velocity [m/s]")

    # (4) attitude
    for name, color, tcolor in (("roll", "C2", "k"), ("pitch", "C4", "0.45")):
        if st.has(f"{name}_deg"):
            ax_att.plot(st.t, st.col(f"{name}_deg"), color=color, lw=1.3, label=f"{name} est")
        if tr.has(f"{name}_deg"):
            ax_att.plot(tr.t, tr.col(f"{name}_deg"), label=f"{name} truth",
                        **{**truth_kw, "color": tcolor})
    if not st.ok:
        _no_data(ax_att, "attitude")
    ax_att.set_ylabel("attitude [deg]")

    # (5) frame latency: receive time minus measurement time
    if cam.has("latency_s"):
        ax_lat.plot(cam.t, cam.col("latency_s") * 1e3, ".-", color="C5", ms=2, lw=0.7,
                    label="frame latency (t_rx - t)")
        if cam.has("seq") and len(cam.t) > 1:
            gaps = np.flatnonzero(np.diff(cam.col("seq")) > 1) + 1
            if gaps.size:
                ax_lat.plot(cam.t[gaps], cam.col("latency_s")[gaps] * 1e3, "v", color="red",
                            ms=6, label="after a sequence gap")
    else:
        _no_data(ax_lat, "camera frames")
    ax_lat.set_ylabel("frame latency [ms]")

    # (6) timestamp checks against their thresholds
    th = s["thresholds"]
    names = list(PLOT_CHECKS)
    if land_now is not None and land_now["reason"] not in names:
        names.append(land_now["reason"])
    floor = 1e-3
    drawn = 0
    bin_s = max(t_end, 1.0) / 500
    for k, name in enumerate(names):
        if not ct.has(name) or not th.get(name):
            continue
        tb, vb = _bin_max(ct.t, ct.col(name) / th[name], bin_s)
        ax_chk.step(tb, np.maximum(vb, floor), where="post",
                    color=CHECK_COLORS[k % len(CHECK_COLORS)], lw=1.1,
                    label=f"{name} (threshold {th[name]:.3g})")
        drawn += 1
    if drawn:
        ax_chk.set_yscale("log")
        ax_chk.set_ylim(floor * 0.8, 1e4)
        ax_chk.set_title(f"timestamp checks, max per {bin_s * 1e3:.0f} ms", fontsize=8,
                         loc="right", pad=2)
        ax_chk.axhline(1.0, color="red", lw=1.0, ls="-.", label="trip (value = threshold)")
    else:
        _no_data(ax_chk, "contingency check values")
    ax_chk.set_ylabel("check value / threshold")
    ax_chk.set_xlabel("time from the first control cycle [s]")

    for i, ax in enumerate(axes):
        _mark(ax, fault_s, land_now, label=i == 0, t_end=t_end)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7.5, loc="upper left" if ax is ax_chk else "best", ncol=3,
                      framealpha=0.85)
        if ax is not ax_chk:
            ax.tick_params(labelbottom=False)
    ax_alt.set_xlim(min(0.0, float(st.t[0])) if st.ok else 0.0, max(t_end, 1e-3))

    head = " \u00b7 ".join(str(x) for x in (
        d.info.get("scenario", "?"), f"seed {d.info.get('seed', '?')}",
        f"backend {d.info.get('backend', '?')}", d.info.get("planet")) if x)
    fig.suptitle(f"{head}\n{s['outcome']}", fontsize=13, fontweight="bold", parse_math=False)
    if source:
        fig.text(0.97, 0.005, f"{source} \u00b7 flightsw {d.info.get('ver_sw', '?')}",
                 ha="right", va="bottom", fontsize=7, color="0.4", parse_math=False)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    except OSError as exc:
        raise LogToolError(f"{out}: cannot write PNG: {exc.strerror}") from None
    log.info("wrote %s", out)
    return out


def _worst_check(ct: _Series, th: dict[str, float]) -> tuple[str, float, float] | None:
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


def _zoom(ax: Axes, cam: _Series, fault_s: float | None, land_now: dict[str, Any] | None,
          period_ms: float | None, worst: tuple[str, float, float] | None) -> None:
    """Frame by frame around the fault and LAND_NOW (else the worst timestamp check): what
    the timestamp checks judged."""
    marks = [x for x in (fault_s, land_now["t_s"] if land_now else None) if x is not None]
    if land_now is not None:
        what = "LAND_NOW"
    elif fault_s is not None:
        what = "the fault"
    elif worst is not None:
        what = f"{worst[0]} at {worst[2]:.2g} x threshold"
        marks = [worst[1]]
    else:
        what = "LAND_NOW"
    ax.set_title(f"frames around {what}", fontsize=10)
    if worst is not None and land_now is None and fault_s is None:
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
    if land_now is not None:
        ax.axvline(land_now["t_s"], color="red", lw=1.2, label="LAND_NOW")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel("time from the first control cycle [s]")
    ax.set_ylabel("[ms]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center", bbox_to_anchor=(0.5, 0.72), ncol=2, framealpha=0.85)


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


def _summary_light(d: ULogData) -> dict[str, Any]:
    t0 = first_cycle_us(d)
    land_now = _land_now(d, t0)
    return {"t0": t0, "land_now": land_now, "fault_s": _first_fault_s(d),
            "duration_s": (_last_us(d) - t0) / 1e6, "thresholds": _thresholds(d),
            "outcome": _outcome(d, land_now, _final_mode(d))}
