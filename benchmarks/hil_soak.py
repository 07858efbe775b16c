"""Soak the hil bench under host load: nominal flights, what fired, where they landed, and how far
the camera's stamps were from the emulator's true exposures.

    python benchmarks/hil_soak.py --flights 10 --load stress          # stress-ng --cpu 2 throughout
    python benchmarks/hil_soak.py --flights 10 --load bursts --sched-other

Scenarios alternate (default nominal_box, nominal_flight6). Each hil flight is compared with the
lockstep simulation of the same scenario and seed: the landing gap is the horizontal distance
between the two touchdown points. ``--sched-other`` flies the shipped config with SCHED_FIFO and
mlockall switched off (what a user without the permissions gets). Prints one line per flight,
the totals, then one JSON line. Never pass/fail: the figures are for the closing note.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.boot import prepare  # noqa: E402
from app.session import fly  # noqa: E402
from firmware.contingency import CHECK_SOURCES, TIMESTAMP_CHECKS  # noqa: E402

CONFIG = ROOT / "config"
HOST_CHECKS = {"exec_overruns", "imu_stale", "range_stale", "frame_stale"}


class Load:
    """stress-ng on every core, throughout or in random bursts (seeded)."""

    def __init__(self, mode: str, cpus: int, seed: int) -> None:
        self.mode, self.cpus = mode, cpus
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.on_s = 0.0

    def __enter__(self) -> Load:
        if self.mode == "none":
            return self
        if shutil.which("stress-ng") is None:
            sys.exit("stress-ng not found: apt-get install stress-ng")
        if self.mode == "stress":
            self._start()
        else:
            self._thread = threading.Thread(target=self._bursts, daemon=True)
            self._thread.start()
        return self

    def _start(self) -> None:
        self._proc = subprocess.Popen(["stress-ng", "--cpu", str(self.cpus), "--quiet"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)

    def _kill(self) -> None:
        if self._proc is not None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            self._proc.wait()
            self._proc = None

    def _bursts(self) -> None:
        while not self._stop.is_set():
            on, off = self._rng.uniform(0.5, 4.0), self._rng.uniform(0.5, 4.0)
            self._start()
            self._stop.wait(on)
            self._kill()
            self.on_s += on
            self._stop.wait(off)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._kill()


def one_flight(scenario: str, seed: int, sched_other: bool) -> dict[str, Any]:
    setup = prepare(CONFIG / "hil.toml", CONFIG / "scenarios" / f"{scenario}.toml", seed)
    setup.skip_preflight = True  # the soak judges the flight itself, not the gate
    if sched_other:
        setup.cfg.realtime.sched_fifo_priority = 0
        setup.cfg.realtime.mlockall = False
    res = fly(setup)
    s = res.summary.as_dict()
    assert res.hal.truth is not None
    s["final_ned"] = res.hal.truth.truth().position_ned
    s["camera_errors_ns"] = list(getattr(res.hal.camera, "errors_ns", []))
    counters = res.hal.camera.health().counters  # the stream driver's, under the truth tap
    s["cam_host_lost"] = getattr(counters, "rx_lost", None)
    s["cam_rx_overruns"] = getattr(counters, "rx_overruns", None)
    return s


def sim_landing(scenario: str, seed: int) -> tuple[float, ...]:
    res = fly(prepare(CONFIG / "sim.toml", CONFIG / "scenarios" / f"{scenario}.toml", seed))
    assert res.hal.truth is not None
    return tuple(res.hal.truth.truth().position_ned)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flights", type=int, default=10)
    ap.add_argument("--scenarios", default="nominal_box,nominal_flight6")
    ap.add_argument("--load", choices=("none", "stress", "bursts"), default="stress")
    ap.add_argument("--cpus", type=int, default=2, help="stress-ng workers")
    ap.add_argument("--sched-other", action="store_true")
    ap.add_argument("--seed", type=int, default=1, help="first flight seed (then +1 each)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    scenarios = args.scenarios.split(",")
    plan = [(scenarios[i % len(scenarios)], args.seed + i) for i in range(args.flights)]
    sims = {key: sim_landing(*key) for key in set(plan)}
    rows, errors = [], []
    t0 = time.monotonic()
    with Load(args.load, args.cpus, args.seed) as load:
        for scenario, seed in plan:
            s = one_flight(scenario, seed, args.sched_other)
            sim = sims[(scenario, seed)]
            gap = math.hypot(s["final_ned"][0] - sim[0], s["final_ned"][1] - sim[1])
            errors += s.pop("camera_errors_ns")
            cam = s["time_error_us"].get("camera", {})
            row = {k: s[k] for k in ("scenario", "seed", "land_now_reason", "landed", "crashed",
                                     "slips", "overruns", "transient_stalls", "stall_guard",
                                     "cam_host_lost", "cam_rx_overruns")}
            row.update(landing_gap_m=round(gap, 2), cam_p99_us=cam.get("p99_us"),
                       cam_max_us=cam.get("max_us"))
            rows.append(row)
            print(json.dumps(row), flush=True)
    wall = time.monotonic() - t0
    reasons = [r["land_now_reason"] for r in rows if r["land_now_reason"]]
    e = np.abs(np.asarray(errors, dtype=np.float64)) / 1e3 if errors else np.zeros(1)
    out = {
        "load": args.load, "sched": "SCHED_OTHER" if args.sched_other else "shipped config",
        "flights": len(rows), "land_now": len(reasons),
        "land_now_reasons": {r: reasons.count(r) for r in sorted(set(reasons))},
        "camera_clock_land_now": sum(r in TIMESTAMP_CHECKS or
                                     (CHECK_SOURCES.get(r) == "vision" and r not in HOST_CHECKS)
                                     for r in reasons),
        "crashes": sum(bool(r["crashed"]) for r in rows),
        "not_landed": sum(not r["landed"] for r in rows),
        "stall_cuts": sum(bool(r["stall_guard"]) for r in rows),
        "max_landing_gap_m": max(r["landing_gap_m"] for r in rows),
        "camera_time_error_us": {"frames": len(errors), "median": round(float(np.median(e)), 1),
                                 "p99": round(float(np.percentile(e, 99)), 1),
                                 "max": round(float(e.max()), 1)},
        "load_on_s": round(load.on_s, 1) if args.load == "bursts" else None,
        "wall_s": round(wall, 1), "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    print(f"{out['flights']} flights ({out['load']}, {out['sched']}): {out['land_now']} LAND_NOW "
          f"{out['land_now_reasons']}, {out['camera_clock_land_now']} from a camera check, "
          f"{out['crashes']} crashes, max landing gap {out['max_landing_gap_m']} m; camera time "
          f"error median {out['camera_time_error_us']['median']} us, p99 "
          f"{out['camera_time_error_us']['p99']} us, max {out['camera_time_error_us']['max']} us")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
