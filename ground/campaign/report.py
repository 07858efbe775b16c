"""``flightsw campaign report DB``: a Markdown report (and PNG figures when matplotlib is
installed) written next to the database: ``<db stem>_report.md``, ``<db stem>_landing.png``,
``<db stem>_latency.png``."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from ground.campaign.analysis import (
    GroupStats,
    by_fault_kind,
    by_scenario,
    fault_group,
    group_stats,
    latency_s,
    why_bad,
    worst_runs,
)
from ground.campaign.stats import Rate
from ground.campaign.store import read_runs

log = logging.getLogger(__name__)


def _f(x: float, digits: int = 2) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _r(rate: Rate) -> str:
    return "-" if rate.n == 0 else rate.text()


def _trio(values: list[float], digits: int = 2) -> str:
    return " / ".join(_f(v, digits) for v in values)


def group_table(groups: list[GroupStats], title: str) -> list[str]:
    lines = [f"## {title}", "",
             "| group | runs | LAND_NOW [95 % CI] | false alarms | missed | early "
             "| after touchdown | crashes | unsafe | latency p50/p95/max s "
             "| touchdown m/s p50/p95/max | tilt deg p50/p95/max | CEP50 / CEP95 m | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        lines.append(
            f"| {g.name} | {g.runs} | {_r(g.land_now)} | {_r(g.false_alarms)} | "
            f"{_r(g.missed)} | {g.early} | {g.after_touchdown} | {_r(g.crashes)} | "
            f"{_r(g.unsafe)} | "
            f"{_trio(g.latency_p50_p95_max_s, 3)} | {_trio(g.touchdown_speed_p50_p95_max)} | "
            f"{_trio(g.touchdown_tilt_p50_p95_max, 1)} | {_f(g.cep50_m)} / {_f(g.cep95_m)} | "
            f"{g.errors} |")
    return lines + [""]


def render_markdown(db: Path, rows: list[dict[str, Any]], figures: list[Path]) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    lines = [f"# Campaign report: {db.name}", "",
             f"{len(rows)} runs ({len(ok)} flown, {len(rows) - len(ok)} errors). Rates are "
             "k/n with the exact 95 % Clopper-Pearson interval. A false alarm is LAND_NOW in a "
             "run without a fault; missed: a fault run without LAND_NOW (over the runs whose "
             "fault met the flight); early: LAND_NOW before the fault began; after touchdown: "
             "the fault began once the vehicle was down for good (neither caught nor missed). "
             "Landing dispersion (CEP) is over the runs without LAND_NOW.", ""]
    scenarios = by_scenario(rows)
    if len(scenarios) > 1:  # the campaign's own figure: every run together
        scenarios.append(group_stats("all scenarios", rows))
    lines += group_table(scenarios, "Per scenario")
    lines += group_table(by_fault_kind(rows), "Per fault kind")
    lines += [f"![{p.stem}]({p.name})" for p in figures] + [""]
    # the run index (what --run-index takes), not the database's row number
    lines += ["## Worst runs", "", "| run index | scenario | faults | why | reproduce |",
              "|---|---|---|---|---|"]
    for r in worst_runs(rows):
        lines.append(f"| {r['run_index']} | {r.get('scenario') or r['scenario_path']} | "
                     f"{fault_group(r) if r['status'] == 'ok' else '-'} | {why_bad(r)} | "
                     f"`{r['reproduce']}` |")
    return "\n".join(lines) + "\n"


def write_report(db: Path) -> Path:
    """Write the report next to ``db``; the Markdown file's path."""
    rows = read_runs(db)
    stem = db.with_suffix("")
    figures: list[Path] = []
    try:
        from ground.campaign.plots import landing_scatter, latency_plot

        figures.append(landing_scatter(by_scenario(rows), Path(f"{stem}_landing.png")))
        lat: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            x = latency_s(r) if r["status"] == "ok" else None
            if x is not None:
                lat[fault_group(r)].append(x)
        if lat:
            figures.append(latency_plot(dict(lat), Path(f"{stem}_latency.png")))
    except ImportError:
        log.warning("matplotlib is not installed: the report has no figures")
    out = Path(f"{stem}_report.md")
    out.write_text(render_markdown(db, rows, figures))
    return out
