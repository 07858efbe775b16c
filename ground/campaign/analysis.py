"""What a campaign's rows say, per group (a scenario, or a fault kind): rates with exact 95 %
intervals, detection latency, touchdown and landing-dispersion percentiles, the worst runs.

Definitions (a run's faults are the scenario's plus any drawn one):
- false alarm: LAND_NOW in a run without a fault;
- missed detection: a run with a fault that acted in flight and no LAND_NOW;
- after touchdown: a fault run whose first fault began once the vehicle was down for good
  (at or after its last touchdown, on the ground at the end): the fault never met the flight,
  so it is neither caught nor missed (a dispersion that draws onsets past a short plan's end);
- early LAND_NOW: in a fault run, before the first fault began (a false alarm in disguise);
- detection latency: ``land_now_t_s - first_fault_t_s`` of the fault runs that landed now.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ground.campaign.stats import Rate, cep, clopper_pearson, percentiles

NOMINAL = "nominal"
WORST_SHOWN = 10


def fault_group(row: dict[str, Any]) -> str:
    kinds = row.get("fault_kinds") or []
    return "+".join(kinds) if kinds else NOMINAL


def is_false_alarm(row: dict[str, Any]) -> bool:
    return bool(row["land_now"]) and not row.get("fault_kinds")


def after_touchdown(row: dict[str, Any]) -> bool:
    first, down = row.get("first_fault_t_s"), row.get("last_touchdown_t_s")
    return (bool(row.get("fault_kinds")) and first is not None and down is not None
            and bool(row.get("on_ground")) and float(first) >= float(down))


def is_missed(row: dict[str, Any]) -> bool:
    return bool(row.get("fault_kinds")) and not row["land_now"] and not after_touchdown(row)


def is_early(row: dict[str, Any]) -> bool:
    first, t = row.get("first_fault_t_s"), row.get("land_now_t_s")
    return bool(row.get("fault_kinds")) and t is not None and first is not None and t < first


def latency_s(row: dict[str, Any]) -> float | None:
    first, t = row.get("first_fault_t_s"), row.get("land_now_t_s")
    if not row.get("fault_kinds") or t is None or first is None or t < first:
        return None
    return float(t) - float(first)


@dataclass
class GroupStats:
    name: str
    runs: int
    land_now: Rate
    false_alarms: Rate  # over the nominal runs
    missed: Rate  # over the fault runs whose fault met the flight
    early: int
    after_touchdown: int  # fault runs whose fault began after the final touchdown
    crashes: Rate
    unsafe: Rate  # not a safe landing (crash, hard or tilted touchdown, not down)
    latency_p50_p95_max_s: list[float]
    touchdown_speed_p50_p95_max: list[float]
    touchdown_tilt_p50_p95_max: list[float]
    cep50_m: float
    cep95_m: float
    errors: int = 0
    landing_points: list[tuple[float, float]] = field(default_factory=list)


def group_stats(name: str, rows: list[dict[str, Any]]) -> GroupStats:
    ok = [r for r in rows if r["status"] == "ok"]
    nominal = [r for r in ok if not r.get("fault_kinds")]
    faulted = [r for r in ok if r.get("fault_kinds")]
    acted = [r for r in faulted if not after_touchdown(r)]
    lat = [x for x in (latency_s(r) for r in faulted) if x is not None]
    clean = [r for r in ok if not r["land_now"]]  # landing dispersion: flown to the plan
    return GroupStats(
        name=name, runs=len(ok),
        land_now=clopper_pearson(sum(bool(r["land_now"]) for r in ok), len(ok)),
        false_alarms=clopper_pearson(sum(map(is_false_alarm, nominal)), len(nominal)),
        missed=clopper_pearson(sum(map(is_missed, acted)), len(acted)),
        early=sum(map(is_early, faulted)),
        after_touchdown=len(faulted) - len(acted),
        crashes=clopper_pearson(sum(bool(r["crashed"]) for r in ok), len(ok)),
        unsafe=clopper_pearson(sum(not r["safe_landing"] for r in ok), len(ok)),
        latency_p50_p95_max_s=percentiles(lat),
        touchdown_speed_p50_p95_max=percentiles([r["touchdown_speed_mps"] for r in ok]),
        touchdown_tilt_p50_p95_max=percentiles([r["touchdown_tilt_deg"] for r in ok]),
        cep50_m=cep([r["final_position_error_m"] for r in clean], 0.5),
        cep95_m=cep([r["final_position_error_m"] for r in clean], 0.95),
        errors=len(rows) - len(ok),
        landing_points=[(r["landing_east_m"], r["landing_north_m"]) for r in clean
                        if r.get("landing_north_m") is not None],
    )


def by_scenario(rows: list[dict[str, Any]]) -> list[GroupStats]:
    return _grouped(rows, lambda r: str(r["scenario"] or r["scenario_path"]))


def by_fault_kind(rows: list[dict[str, Any]]) -> list[GroupStats]:
    return _grouped(rows, fault_group)


def _grouped(rows: list[dict[str, Any]], key: Any) -> list[GroupStats]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        name = key(r) if r["status"] == "ok" else str(r.get("scenario") or
                                                       r["scenario_path"])
        groups[name].append(r)
    return [group_stats(n, groups[n]) for n in sorted(groups)]


def badness(row: dict[str, Any]) -> tuple[float, ...]:
    """Sort key, worst first: errors, crashes, false alarms, early LAND_NOW, misses, unsafe
    landings, then the landing error."""
    if row["status"] != "ok":
        return (0,)
    return (1, -bool(row["crashed"]), -is_false_alarm(row), -is_early(row), -is_missed(row),
            -(not row["safe_landing"]), -(row.get("final_position_error_m") or 0.0))


def why_bad(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('error')}"
    reasons = [text for flag, text in (
        (row["crashed"], "crashed"), (is_false_alarm(row), "false alarm"),
        (is_early(row), "LAND_NOW before the fault"), (is_missed(row), "missed detection"),
        (not row["safe_landing"], "unsafe landing")) if flag]
    reasons.append(f"{row['final_position_error_m']:.2f} m off")
    if row["land_now"]:
        reasons.append(f"LAND_NOW {row['land_now_reason']} at {row['land_now_t_s']:.2f} s")
    return ", ".join(reasons)


def worst_runs(rows: list[dict[str, Any]], count: int = WORST_SHOWN) -> list[dict[str, Any]]:
    return sorted(rows, key=badness)[:count]
