"""The control cycle's cost with and without photos: does taking and reading them disturb it?

    python benchmarks/photo_cost.py [--scenario config/scenarios/nominal_flight51.toml]
                                    [--reps 2] [--config config/hil.toml]

Flies the scenario ``--reps`` times with its photos and as often with ``[photo] enabled =
false`` (alternating, so a change in the machine's load hits both alike), each with its flight
log and photo writer on their threads as in a real flight, and times ``FlightSoftware.cycle``
on every airborne cycle. Two comparisons:

- every airborne cycle of the flight (median, p99, max);
- the photo windows: from each trigger to the photo's delivery (in the lockstep simulation
  the camera renders and encodes on its worker thread meanwhile; on hil the VC0706 driver
  reads over the pty), taken from the flights with photos and applied by flight time to
  the flights without, so both are measured over the same part of the plan.

Also per run: missed deadlines (slips), overruns, LAND_NOW, photos written. On a real-time
backend (``--config config/hil.toml``) the cycle also waits for the GIL held by other threads,
so the figures include any disturbance the photo threads cause; in lockstep the world waits.
Prints the figures and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.boot import prepare  # noqa: E402
from app.session import fly  # noqa: E402
from firmware.flight import AIRBORNE, FlightSoftware  # noqa: E402
from firmware.photos import TakenPhoto  # noqa: E402
from hal.types import NS_PER_S  # noqa: E402


def run(scenario: Path, config: Path | None, photos: bool, log_dir: Path) -> dict[str, Any]:
    """One flight: per airborne cycle (flight time s, cost us), photo windows, counters."""
    perf = time.perf_counter_ns
    samples: list[tuple[float, float]] = []
    windows: list[tuple[float, float]] = []
    orig = FlightSoftware.cycle

    def timed(self: FlightSoftware, now: int, index: int) -> bool:
        t0 = perf()
        r = orig(self, now, index)
        dt = perf() - t0
        if self.mode in AIRBORNE:
            samples.append((self.mission_time(now), dt / 1e3))
        return r

    def hooks(fsw: FlightSoftware) -> None:
        def done(p: TakenPhoto) -> None:
            t0 = fsw.t0_ns or 0
            windows.append(((p.photo.trigger_ns - t0) / NS_PER_S,
                            (fsw.hal.clock.now_ns() - t0) / NS_PER_S))
        fsw.photos.on_photo.append(done)

    FlightSoftware.cycle = timed  # type: ignore[method-assign]
    try:
        setup = prepare(config, scenario, 1)
        setup.cfg.photo.enabled = photos
        result = fly(setup, hooks=hooks, log_path=log_dir / f"photos_{photos}.ulg",
                     log_inline=False)
    finally:
        FlightSoftware.cycle = orig  # type: ignore[method-assign]
    s = result.summary
    return {"samples": samples, "windows": windows, "slips": s.slips, "overruns": s.overruns,
            "land_now": s.land_now_reason, "photos": s.photos, "backend": s.backend}


def figures(costs: list[float]) -> dict[str, float]:
    c = np.array(costs or [0.0])
    return {"n": len(costs), "median_us": round(float(np.median(c)), 1),
            "p99_us": round(float(np.percentile(c, 99)), 1), "max_us": round(float(c.max()), 1)}


def in_windows(samples: list[tuple[float, float]], windows: list[tuple[float, float]]
               ) -> list[float]:
    return [c for t, c in samples if any(a <= t <= b for a, b in windows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", type=Path,
                    default=ROOT / "config/scenarios/nominal_flight51.toml")
    ap.add_argument("--config", type=Path, default=None, help="default: config/sim.toml")
    ap.add_argument("--reps", type=int, default=2)
    a = ap.parse_args()
    runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(a.reps):
            for photos in (True, False):
                r = run(a.scenario, a.config, photos, Path(d))
                runs[photos].append(r)
                print(f"  photos {'on ' if photos else 'off'}: {len(r['samples'])} airborne "
                      f"cycles, slips {r['slips']}, overruns {r['overruns']}, LAND_NOW "
                      f"{r['land_now']}, photos {r['photos'].get('written', 0)}", flush=True)
    windows = [w for r in runs[True] for w in r["windows"]]
    # the photo runs' windows, by flight time, in every run (the plans fly alike)
    per_run_windows = runs[True][0]["windows"]
    out: dict[str, Any] = {"bench": "photo_cost", "scenario": a.scenario.stem,
                           "backend": runs[True][0]["backend"], "reps": a.reps,
                           "load_avg_1m": round(os.getloadavg()[0], 2),
                           "photo_windows": len(windows)}
    for photos, label in ((True, "with_photos"), (False, "without_photos")):
        every = [c for r in runs[photos] for _, c in r["samples"]]
        inside = [c for r in runs[photos] for c in in_windows(
            r["samples"], r["windows"] if photos else per_run_windows)]
        out[label] = {"all": figures(every), "photo_windows": figures(inside),
                      "slips": sum(r["slips"] for r in runs[photos]),
                      "overruns": sum(r["overruns"] for r in runs[photos]),
                      "land_now": [r["land_now"] for r in runs[photos] if r["land_now"]]}
    for key in ("all", "photo_windows"):
        w, wo = out["with_photos"][key], out["without_photos"][key]
        print(f"{key:>13}: with photos median {w['median_us']} us, p99 {w['p99_us']} us, max "
              f"{w['max_us']} us ({w['n']} cycles); without: median {wo['median_us']} us, p99 "
              f"{wo['p99_us']} us, max {wo['max_us']} us ({wo['n']} cycles); ratio median "
              f"{w['median_us'] / max(wo['median_us'], 1e-9):.2f}, p99 "
              f"{w['p99_us'] / max(wo['p99_us'], 1e-9):.2f}")
        out[f"{key}_ratio_median"] = round(w["median_us"] / max(wo["median_us"], 1e-9), 3)
        out[f"{key}_ratio_p99"] = round(w["p99_us"] / max(wo["p99_us"], 1e-9), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
