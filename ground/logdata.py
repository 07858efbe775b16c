"""What the log tools read out of a flight log: its topics' checked columns, the first cycle,
LAND_NOW, the outcome, the thresholds and the plan.

Times shown are seconds from the first control cycle (the first record of a per-cycle topic),
the same origin as the mission times ``fly`` prints, so "LAND_NOW at 54.08 s" means the same
thing everywhere. Works on any ULog file; topics, fields and events are found through the
schema in ``firmware.log_topics``.

A damaged log is reported, never a traceback: where one of our topics holds a field of
another type or shape than the recorder writes, the tools stop with one ``LogToolError``
line naming the file, the topic and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware import log_topics as lt
from firmware.flight import Mode
from ground.logfile import FlightLog, LogFileError, Topic, read_log

LEVEL_NAMES = {0: "EMERG", 1: "ALERT", 2: "CRIT", 3: "ERROR", 4: "WARNING", 5: "NOTICE",
               6: "INFO", 7: "DEBUG"}


class LogToolError(Exception):
    """A log-tool failure reported as one line (unreadable file, missing matplotlib...)."""


class BadFieldError(LogToolError):
    """A topic field of another type or shape than the tools need (a damaged log)."""


def save_png(fig: Any, out_png: str | Path) -> Path:
    """A matplotlib figure written as PNG (its directory made if needed); a failure is one
    ``LogToolError`` line naming the file."""
    out = Path(out_png)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    except OSError as exc:
        raise LogToolError(f"{out}: cannot write PNG: {exc.strerror}") from None
    return out


def read(path: Path) -> FlightLog:
    """The log at ``path``, or ``LogToolError`` naming the file and the problem."""
    try:
        return read_log(path)
    except FileNotFoundError:
        raise LogToolError(f"{path}: file not found") from None
    except LogFileError as exc:
        raise LogToolError(f"{path}: {exc}") from None
    except OSError as exc:
        raise LogToolError(f"{path}: cannot read: {exc.strerror}") from None


def topic(d: FlightLog, t: lt.TopicDef) -> Topic | None:
    """The topic's records (first instance), None if it has none."""
    found = d.topics.get((t.name, 0))
    return found if found is not None and len(found) else None


def column(t: Topic, name: str, width: int = 0, kinds: str = "biuf"
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


def relative_s(t: Topic, t0_us: int) -> npt.NDArray[np.float64]:
    """Record times in seconds from ``t0_us`` (in doubles: exact to the microsecond for
    285 years, and no int64 overflow whatever a damaged timestamp holds)."""
    return (t.timestamps_us.astype(np.float64) - float(t0_us)) / 1e6


def plain(value: Any) -> Any:
    """An info value as JSON can hold it (an info of a type the reader does not know stays
    raw bytes: shown in hex)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def json_value(text: Any) -> Any:
    """An info value parsed as JSON; None if it is not JSON text."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def first_cycle_us(d: FlightLog) -> int:
    """Timestamp of the first control cycle; falls back to the earliest record, then the
    header's start time (logs from other writers)."""
    for td in lt.PER_CYCLE_TOPICS:
        t = topic(d, td)
        if t is not None:
            return int(t.timestamps_us[0])
    firsts = [int(t.timestamps_us.min()) for t in d.topics.values() if len(t)]
    return min(firsts) if firsts else d.start_us


def last_us(d: FlightLog) -> int:
    lasts = [int(t.timestamps_us.max()) for t in d.topics.values() if len(t)]
    lasts += [s.timestamp_us for s in d.strings]
    return max(lasts) if lasts else d.start_us


def check_names(d: FlightLog) -> list[str]:
    """Check order as the log's own ``contingency`` format gives it (``tripped`` indexes it)."""
    fmt = d.formats.get(lt.CONTINGENCY.name)
    return [] if fmt is None else lt.check_fields([f.name for f in fmt])


@dataclass(frozen=True, slots=True)
class LandNow:
    reason: str  # the check that tripped
    detail: str  # "value > threshold" when the event says
    t_s: float  # from the first cycle
    text: str  # the event's text ('' when found in the contingency topic)

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "detail": self.detail, "t_s": self.t_s,
                "text": self.text}


def land_now(d: FlightLog, t0_us: int) -> LandNow | None:
    """The first LAND_NOW: from its event, else the mode-change event, else the watchdog topic."""
    events = [(s, lt.parse_event(s.text)) for s in d.strings]
    for s, ev in events:
        if ev.kind == lt.EVENT_LAND_NOW:
            return LandNow(ev.subject, ev.detail, round((s.timestamp_us - t0_us) / 1e6, 6),
                           s.text)
    for s, ev in events:
        if ev.kind == lt.EVENT_MODE and ev.subject == Mode.LAND_NOW.name and ev.detail:
            return LandNow(ev.detail, "", round((s.timestamp_us - t0_us) / 1e6, 6), s.text)
    t = topic(d, lt.CONTINGENCY)
    names = check_names(d)
    tripped = column(t, lt.CONTINGENCY.field("tripped"), kinds="iu") if t is not None else None
    if t is not None and tripped is not None:
        hit = np.flatnonzero(tripped >= 0)
        if hit.size:
            i = int(hit[0])
            idx = int(tripped[i])
            reason = names[idx] if idx < len(names) else f"check #{idx}"
            return LandNow(reason, "", round((int(t.timestamps_us[i]) - t0_us) / 1e6, 6), "")
    return None


def final_mode(d: FlightLog) -> str | None:
    t = topic(d, lt.VEHICLE_STATE)
    mode = column(t, lt.VEHICLE_STATE.field("mode"), kinds="iu") if t is not None else None
    if mode is None:
        return None
    m = int(mode[-1])
    try:
        return Mode(m).name
    except ValueError:
        return str(m)


def closed(d: FlightLog) -> bool | None:
    """Whether the flight software closed this log (its last record says so); None for a log
    from before close records (or another writer), which cannot tell."""
    if d.info.get(lt.INFO_CLOSE_RECORD) != 1:
        return None
    return any(s.text == lt.EVENT_LOG_CLOSED for s in d.strings)


def outcome(d: FlightLog, land: LandNow | None, mode: str | None) -> str:
    events = [(s.text, lt.parse_event(s.text)) for s in d.strings]
    crash = next((text for text, ev in events if ev.kind == lt.EVENT_CRASH), None)
    if crash is not None:
        end = crash
    elif any(ev.kind == lt.EVENT_MODE and ev.subject == Mode.LANDED.name for _, ev in events):
        end = "landed"
    elif any(ev.kind == lt.EVENT_TIME_LIMIT for _, ev in events):
        end = lt.EVENT_TIME_LIMIT
    elif closed(d) is False:
        end = f"log cut short in mode {mode}" if mode else "log cut short"
    else:
        end = f"log ends in mode {mode}" if mode else "log ends"
    if land is None:
        return f"no LAND_NOW, {end}"
    return f"LAND_NOW ({land.reason}) at {land.t_s:.2f} s, {end}"


def fault_after_end_s(d: FlightLog) -> float | None:
    """The scenario's first fault when it was planned after the log's last record (a log cut
    short): it never happened in this log. None otherwise."""
    planned = first_fault_s(d)
    if planned is None or planned <= (last_us(d) - first_cycle_us(d)) / 1e6:
        return None
    return planned


def first_fault_s(d: FlightLog) -> float | None:
    """The scenario's first fault time; the recorder writes -1 for a flight without one."""
    v = d.info.get(lt.INFO_FIRST_FAULT_T_S)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) and f >= 0 else None


def thresholds(d: FlightLog) -> dict[str, float]:
    """Each check's threshold: the logged thresholds topic, else the logged configuration."""
    t = topic(d, lt.CONTINGENCY_THRESHOLDS)
    if t is not None:
        out: dict[str, float] = {}
        for n in t.data.dtype.names or ():
            col = column(t, n) if n != "timestamp" else None
            if col is not None:
                out[n] = float(col[-1])
        return out
    try:  # older logs: the resolved configuration
        cont = json_value(d.info.get(lt.INFO_CONFIG_JSON, "{}")).get("contingency", {})
        return {k: float(v["threshold"]) for k, v in cont.items()
                if isinstance(v, dict) and "threshold" in v}
    except (ValueError, TypeError, AttributeError, OverflowError):
        return {}


def plan_points(d: FlightLog) -> list[tuple[float, float]]:
    """Plan waypoints (north, east), starting from the take-off point at the origin."""
    try:
        plan = json_value(d.info.get(lt.INFO_PLAN_JSON, ""))
        pts = [(float(w["north_m"]), float(w["east_m"])) for w in plan.get("waypoints", [])]
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return []
    if not all(math.isfinite(x) for pt in pts for x in pt):
        return []
    return [(0.0, 0.0), *pts] if pts else []
