"""The flight software's own cost per control cycle, without the world, and vision per frame.

    python benchmarks/cycle_cost.py [--scenario config/scenarios/nominal_flight6.toml]

Flies the scenario in the simulator and times only FlightSoftware.cycle (sensor draining,
navigation, watchdog, modes, control, actuator write); the world's stepping happens inside
the sim clock's sleep_until and is excluded. Vision (phase correlation + fusion) is timed
separately per frame. Goal: median <= 150 us, p99 <= 400 us.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firmware.boot import fly, prepare  # noqa: E402
from firmware.flight import AIRBORNE, FlightSoftware  # noqa: E402
from firmware.nav import Navigator  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", type=Path,
                    default=ROOT / "config/scenarios/nominal_flight6.toml")
    a = ap.parse_args()
    cycle_ns: list[int] = []
    vision_ns: list[int] = []
    perf = time.perf_counter_ns
    orig_cycle = FlightSoftware.cycle
    orig_frame = Navigator.fuse_frame

    def timed_cycle(self: FlightSoftware, now: int, index: int) -> bool:
        t0 = perf()
        r = orig_cycle(self, now, index)
        if self.mode in AIRBORNE:
            cycle_ns.append(perf() - t0)
        return r

    def timed_frame(self: Navigator, fr):  # type: ignore[no-untyped-def]
        t0 = perf()
        r = orig_frame(self, fr)
        if r is not None:
            vision_ns.append(perf() - t0)
        return r

    FlightSoftware.cycle = timed_cycle  # type: ignore[method-assign]
    Navigator.fuse_frame = timed_frame  # type: ignore[method-assign]
    fly(prepare(None, a.scenario, 1))
    c = np.array(cycle_ns) / 1e3
    v = np.array(vision_ns) / 1e3
    out = {
        "bench": "cycle_cost", "scenario": a.scenario.stem, "cycles": len(c),
        "cycle_median_us": round(float(np.median(c)), 1),
        "cycle_p99_us": round(float(np.percentile(c, 99)), 1),
        "cycle_max_us": round(float(c.max()), 1),
        "frames": len(v),
        "vision_median_us": round(float(np.median(v)), 1),
        "vision_p99_us": round(float(np.percentile(v, 99)), 1),
    }
    print(f"flight software per cycle, airborne ({out['cycles']} cycles): median "
          f"{out['cycle_median_us']} us, p99 {out['cycle_p99_us']} us, max "
          f"{out['cycle_max_us']} us (goal median <= 150, p99 <= 400)")
    print(f"vision per frame ({out['frames']} frames): median {out['vision_median_us']} us, "
          f"p99 {out['vision_p99_us']} us")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
