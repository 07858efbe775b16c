"""Simulated time over wall time for a full flight 6 run, and flights per hour on one core.

    python benchmarks/sim_speed.py [--runs 3] [--scenario config/scenarios/flight6.toml]
    python benchmarks/sim_speed.py --profile [--scenario ...]   # where one flight's time goes
    python benchmarks/sim_speed.py --split [--scenario ...]     # flight software against world

Issue 11's figure is flight 6 in the default world with wind and terrain on:
``--scenario config/scenarios/terrain_nominal_flight6.toml`` (goal: at least 50x real time).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.boot import prepare  # noqa: E402
from app.session import fly  # noqa: E402

# a function's own time is charged to the first of these its file path contains
PARTS = (("flight software", "/firmware/"), ("HAL contract and drivers", "/hal/"),
         ("sim: rendering", "/sim_hal/render"), ("sim: world, wind, terrain", "/sim_hal/"),
         ("app (session, summary)", "/app/"), ("numpy", "numpy"))


def profile(scenario: Path) -> None:
    """One flight under cProfile: own time by part of the code, and the top functions."""
    prof = cProfile.Profile()
    prof.enable()
    s = fly(prepare(None, scenario, 1)).summary
    prof.disable()
    stats = pstats.Stats(prof)
    by_part: dict[str, float] = {}
    rows = []
    for (path, line, name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        part = next((label for label, key in PARTS if key in path), "other (Python, logging)")
        by_part[part] = by_part.get(part, 0.0) + tt
        rows.append((tt, f"{Path(path).name}:{line} {name}"))
    total = sum(by_part.values())
    print(f"{s.duration_s:.1f} s simulated, {total:.2f} s of profiled time "
          f"({s.cycles} control cycles: {1e6 * total / max(s.cycles, 1):.0f} us per cycle)")
    for part, tt in sorted(by_part.items(), key=lambda kv: -kv[1]):
        print(f"  {part:28s} {tt:7.2f} s  {100 * tt / total:5.1f} %")
    print("top functions by own time:")
    for tt, where in sorted(rows, reverse=True)[:15]:
        print(f"  {tt:7.2f} s  {where}")
    print(json.dumps({"bench": "sim_speed_profile", "scenario": scenario.stem,
                      "seconds_by_part": {k: round(v, 3) for k, v in by_part.items()}}))


def split(scenario: Path) -> None:
    """One flight unprofiled, its wall time split between the flight software's cycle and the
    simulated world's advance (sensors and rendering included): the flight software's share
    alone bounds how fast any simulator can fly it."""
    import firmware.flight as flight_mod
    import sim_hal.backend as backend_mod

    spent = {"fsw": 0, "world": 0}
    cycle = flight_mod.FlightSoftware.cycle
    advance = backend_mod.SimClock.advance_to

    def timed_cycle(self: flight_mod.FlightSoftware, now: int, index: int) -> bool:
        t = time.perf_counter_ns()
        keep = cycle(self, now, index)
        spent["fsw"] += time.perf_counter_ns() - t
        return keep

    def timed_advance(self: backend_mod.SimClock, t_ns: int) -> None:
        t = time.perf_counter_ns()
        advance(self, t_ns)
        spent["world"] += time.perf_counter_ns() - t

    flight_mod.FlightSoftware.cycle = timed_cycle  # type: ignore[method-assign]
    backend_mod.SimClock.advance_to = timed_advance  # type: ignore[method-assign]
    t0 = time.perf_counter()
    s = fly(prepare(None, scenario, 1)).summary
    wall = time.perf_counter() - t0
    n = max(s.cycles, 1)
    fsw_s, world_s = spent["fsw"] / 1e9, spent["world"] / 1e9
    rest_s = wall - fsw_s - world_s
    print(f"{s.duration_s:.1f} s simulated in {wall:.2f} s wall = {s.duration_s / wall:.1f}x "
          f"({n} cycles)")
    for label, sec in (("flight software cycle", fsw_s), ("simulated world", world_s),
                       ("session, summary, start-up", rest_s)):
        print(f"  {label:28s} {sec:6.2f} s  {1e6 * sec / n:6.1f} us per cycle  "
              f"{100 * sec / wall:5.1f} %")
    ceiling = s.duration_s / fsw_s if fsw_s > 0 else float("inf")
    print(f"with a simulator that cost nothing: {ceiling:.1f}x real time at most")
    print(json.dumps({"bench": "sim_speed_split", "scenario": scenario.stem,
                      "ratio": round(s.duration_s / wall, 2),
                      "fsw_us_per_cycle": round(1e6 * fsw_s / n, 1),
                      "world_us_per_cycle": round(1e6 * world_s / n, 1),
                      "rest_us_per_cycle": round(1e6 * rest_s / n, 1),
                      "fsw_only_ceiling": round(ceiling, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenario", type=Path, default=ROOT / "config/scenarios/flight6.toml")
    ap.add_argument("--profile", action="store_true", help="profile one flight instead")
    ap.add_argument("--split", action="store_true",
                    help="one flight's wall time: flight software against the simulated world")
    a = ap.parse_args()
    if a.profile:
        profile(a.scenario)
        return
    if a.split:
        split(a.scenario)
        return
    ratios, walls = [], []
    for seed in range(1, a.runs + 1):
        t0 = time.perf_counter()
        s = fly(prepare(None, a.scenario, seed)).summary
        wall = time.perf_counter() - t0
        ratios.append(s.duration_s / wall)
        walls.append(wall)
        print(f"seed {seed}: {s.duration_s:.1f} s simulated in {wall:.2f} s wall "
              f"= {ratios[-1]:.1f}x real time")
    med = statistics.median(ratios)
    per_hour = 3600.0 / statistics.median(walls)
    print(f"median {med:.1f}x real time; {per_hour:.0f} flights per hour on one core")
    print(json.dumps({"bench": "sim_speed", "scenario": a.scenario.stem,
                      "ratio_median": round(med, 2), "ratios": [round(r, 2) for r in ratios],
                      "flights_per_hour_per_core": round(per_hour, 1)}))


if __name__ == "__main__":
    main()
