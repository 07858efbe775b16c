"""A campaign's speed-up on a real local Dask cluster: the same runs on 1 worker, then on 2.

    python benchmarks/campaign_dask.py [--runs 12] [--scenario config/scenarios/nominal_box.toml]
                                       [--dispersion config/dispersions/vehicle_sensors.toml]

Starts ``dask scheduler`` and N ``dask worker`` processes (one process, one thread each) on
127.0.0.1, flies the campaign, stops them, for N = 1 then 2; the same runs both times (fresh
databases), and checks that both gave the same rows. Prints the wall times, runs per minute and
the speed-up 2-vs-1 measured in one run of this script, and a JSON line. Needs the 'cluster'
extra (pip install -e '.[cluster]').
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.campaign.campaign import CampaignPlan, run_campaign  # noqa: E402
from app.campaign.engine import DaskCluster  # noqa: E402
from app.campaign.local_cluster import dask_command, local_cluster  # noqa: E402
from ground.campaign.store import read_runs  # noqa: E402

HOST_FIELDS = {"run_id", "wall_s", "timing"}


def _on_cluster(workers: int, plan: CampaignPlan, db: Path) -> float:
    with local_cluster(workers, ROOT) as address:
        t0 = time.perf_counter()
        result = run_campaign(plan, db, DaskCluster(address))
        wall = time.perf_counter() - t0
    if result.errors:
        sys.exit(f"campaign_dask: {result.errors} runs failed on {workers} worker(s)")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--scenario", type=Path,
                    default=ROOT / "config/scenarios/nominal_box.toml")
    ap.add_argument("--dispersion", type=Path,
                    default=ROOT / "config/dispersions/vehicle_sensors.toml")
    a = ap.parse_args()
    if dask_command() is None:
        sys.exit("campaign_dask: the 'dask' command is not installed (pip install -e '.[cluster]')")
    plan = CampaignPlan([a.scenario.resolve()], [a.dispersion.resolve()],
                        ROOT / "config/sim.toml", a.runs)
    walls: dict[int, float] = {}
    rows: dict[int, dict[int, dict[str, object]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            db = Path(tmp) / f"w{workers}.sqlite"
            walls[workers] = _on_cluster(workers, plan, db)
            rows[workers] = {r["run_index"]: {k: v for k, v in r.items() if k not in HOST_FIELDS}
                             for r in read_runs(db)}
            print(f"{workers} worker(s): {a.runs} runs in {walls[workers]:.1f} s "
                  f"= {60.0 * a.runs / walls[workers]:.1f} runs/min")
    same = rows[1] == rows[2]
    speedup = walls[1] / walls[2]
    load = os.getloadavg()[0]
    print(f"speed-up 2 workers vs 1: {speedup:.2f}x on {os.cpu_count()} cores "
          f"(load average at the end {load:.2f}); rows identical: {same}")
    print(json.dumps({"bench": "campaign_dask", "runs": a.runs, "scenario": a.scenario.stem,
                      "wall_1_s": round(walls[1], 2), "wall_2_s": round(walls[2], 2),
                      "speedup": round(speedup, 3), "rows_identical": same,
                      "loadavg": round(load, 2)}))
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
