"""``flightsw campaign compare A B``: two campaigns side by side, per scenario and per fault
kind, each rate with its exact 95 % interval. A difference is called out only where the two
intervals do not overlap (a conservative test: overlapping intervals can still differ)."""

from __future__ import annotations

from pathlib import Path

from ground.campaign.analysis import GroupStats, by_fault_kind, by_scenario
from ground.campaign.stats import Rate
from ground.campaign.store import read_runs

RATES = ("land_now", "false_alarms", "missed", "crashes", "unsafe")


def _cell(rate: Rate) -> str:
    return "-" if rate.n == 0 else rate.text()


def _differs(a: Rate, b: Rate) -> bool:
    return a.n > 0 and b.n > 0 and (a.high < b.low or b.high < a.low)


def _section(title: str, a: list[GroupStats], b: list[GroupStats]) -> list[str]:
    lines = [f"## {title}", "", "| group | rate | A | B | differs |", "|---|---|---|---|---|"]
    amap, bmap = {g.name: g for g in a}, {g.name: g for g in b}
    for name in sorted(set(amap) | set(bmap)):
        ga, gb = amap.get(name), bmap.get(name)
        for rate in RATES:
            ra = getattr(ga, rate) if ga else Rate(0, 0, 0.0, 1.0)
            rb = getattr(gb, rate) if gb else Rate(0, 0, 0.0, 1.0)
            if ra.n == 0 and rb.n == 0:
                continue
            lines.append(f"| {name} | {rate} | {_cell(ra)} | {_cell(rb)} | "
                         f"{'**yes**' if _differs(ra, rb) else ''} |")
    return lines + [""]


def compare(a: Path, b: Path) -> str:
    ra, rb = read_runs(a), read_runs(b)
    lines = ["# Campaign comparison", "", f"A: {a} ({len(ra)} runs)",
             f"B: {b} ({len(rb)} runs)", ""]
    lines += _section("Per scenario", by_scenario(ra), by_scenario(rb))
    lines += _section("Per fault kind", by_fault_kind(ra), by_fault_kind(rb))
    return "\n".join(lines)
