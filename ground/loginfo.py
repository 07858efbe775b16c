"""``flightsw log info``: a flight log summarised: the flight, duration, outcome, LAND_NOW,
dropouts, topics and their rates, events (times in s from the first control cycle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware import log_topics as lt
from ground import logdata as ld
from ground.logfile import FlightLog


def _summary(d: FlightLog, path: Path) -> dict[str, Any]:
    t0 = ld.first_cycle_us(d)
    topics: dict[str, dict[str, Any]] = {}
    for (name, multi), t in sorted(d.topics.items()):
        ts = t.timestamps_us
        n = len(t)
        span = (int(ts.max()) - int(ts.min())) / 1e6 if n else 0.0
        rate = round((n - 1) / span, 3) if n > 1 and span > 0 else None
        topics[name if multi == 0 else f"{name}.{multi}"] = {"samples": n, "rate_hz": rate}
    events = [{"t_s": round((s.timestamp_us - t0) / 1e6, 6),
               "level": ld.LEVEL_NAMES.get(s.level, str(s.level)), "text": s.text}
              for s in d.strings]
    land = ld.land_now(d, t0)
    mode = ld.final_mode(d)
    keys = (lt.INFO_SYS_NAME, lt.INFO_VER_SW, lt.INFO_BACKEND, lt.INFO_SCENARIO, lt.INFO_SEED,
            lt.INFO_PLANET, lt.INFO_PLAN, lt.INFO_CONTINGENCY)
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "ulog_version": d.version,
        "first_cycle_us": t0,
        "duration_s": round((ld.last_us(d) - t0) / 1e6, 6),
        **{k: ld.plain(d.info.get(k)) for k in keys},
        "topics": topics,
        "events": events,
        "land_now": None if land is None else land.as_dict(),
        "first_fault_t_s": ld.first_fault_s(d),
        "final_mode": mode,
        "outcome": ld.outcome(d, land, mode),
        "dropouts": {"count": len(d.dropouts),
                     "total_ms": int(sum(x.duration_ms for x in d.dropouts))},
        "truncated": d.truncated,
        "closed": ld.closed(d),
        "bad_messages": d.bad_messages,
        "params": len(d.params),
    }


def log_info_dict(path: str | Path) -> dict[str, Any]:
    """The summary as plain JSON-serialisable data (one ``json.dumps`` line for scripts)."""
    p = Path(path)
    d = ld.read(p)
    try:
        return _summary(d, p)
    except ld.BadFieldError as exc:
        raise ld.LogToolError(f"{p}: {exc}") from None


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
    fault = s["first_fault_t_s"]
    if fault is not None and fault > s["duration_s"]:
        lines.append(f"fault      first fault planned at {fault:.3f} s, after the log's end: "
                     "not reached in this log")
    elif fault is not None:
        lines.append(f"fault      first fault at {fault:.3f} s")
    do = s["dropouts"]
    lines.append(f"dropouts   {do['count']} ({do['total_ms']} ms lost)" if do["count"]
                 else "dropouts   none")
    end = "TRUNCATED: the last message is cut short" if s["truncated"] else "complete"
    if s["closed"] is False:
        last = ("TRUNCATED: the last message is cut short" if s["truncated"]
                else "every message whole")
        end = (f"NOT CLOSED at {s['duration_s']:.3f} s (the process stopped without closing "
               f"the log: killed, lost power or hung), {last}")
    elif s["closed"]:
        end += ", closed by the flight software"
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

