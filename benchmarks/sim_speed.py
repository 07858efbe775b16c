"""Simulated time over wall time for a full flight 6 run (goal: at least 20x real time).

    python benchmarks/sim_speed.py [--runs 3] [--scenario config/scenarios/flight6.toml]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.boot import prepare  # noqa: E402
from app.session import fly  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenario", type=Path, default=ROOT / "config/scenarios/flight6.toml")
    a = ap.parse_args()
    ratios = []
    for seed in range(1, a.runs + 1):
        t0 = time.perf_counter()
        s = fly(prepare(None, a.scenario, seed)).summary
        wall = time.perf_counter() - t0
        ratios.append(s.duration_s / wall)
        print(f"seed {seed}: {s.duration_s:.1f} s simulated in {wall:.2f} s wall "
              f"= {ratios[-1]:.1f}x real time")
    med = statistics.median(ratios)
    print(f"median {med:.1f}x real time (goal >= 20x)")
    print(json.dumps({"bench": "sim_speed", "scenario": a.scenario.stem,
                      "ratio_median": round(med, 2), "ratios": [round(r, 2) for r in ratios]}))


if __name__ == "__main__":
    main()
