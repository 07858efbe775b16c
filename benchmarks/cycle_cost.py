"""The flight software's own cost per control cycle, without the world, and vision per frame.

    python benchmarks/cycle_cost.py [--scenario config/scenarios/nominal_flight6.toml]

Flies the scenario in the simulator and times only FlightSoftware.cycle (sensor draining,
navigation, watchdog, modes, control, actuator write); the world's stepping happens inside
the sim clock's sleep_until and is excluded. Vision (phase correlation + fusion) is timed
separately per frame. Goal: median <= 150 us, p99 <= 400 us. The same flight without the
camera-IMU time offset estimator gives its added cost per cycle. ``--px4-rate-hz`` sets the
flight log's PX4 topics' rate ([log] px4_rate_hz; 0: none): two runs, 0 and the default, give
their share of the log's cost and size.
"""

from __future__ import annotations

import argparse
import json
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
from firmware.nav import Navigator  # noqa: E402
from firmware.px4_log import GROUPS, Px4Log  # noqa: E402
from firmware.recorder import FlightRecorder  # noqa: E402
from firmware.ulog_writer import AsyncLogWriter  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", type=Path,
                    default=ROOT / "config/scenarios/nominal_flight6.toml")
    ap.add_argument("--no-log-compare", action="store_true",
                    help="skip the second flight with the flight recorder attached")
    ap.add_argument("--px4-rate-hz", type=float, default=None,
                    help="the flight log's [log] px4_rate_hz (default: the config's; 0: none)")
    a = ap.parse_args()
    base = measure(a.scenario, log=False)
    report("without flight log", base)
    out = {"bench": "cycle_cost", "scenario": a.scenario.stem, **base}
    # the camera-IMU time offset estimator's share: the same flight without it
    no_to = measure(a.scenario, log=False, time_offset=False)
    report("without flight log or time offset estimator", no_to)
    for k in ("median", "p99"):
        out[f"time_offset_added_{k}_us"] = round(
            base[f"cycle_{k}_us"] - no_to[f"cycle_{k}_us"], 1)
    print(f"time offset estimator adds {out['time_offset_added_median_us']} us median, "
          f"{out['time_offset_added_p99_us']} us p99 per cycle")
    if not a.no_log_compare:
        with tempfile.TemporaryDirectory() as d:
            share = recorder_share(a.scenario, Path(d), a.px4_rate_hz)
        out["recorder"] = share
        print(f"flight recorder in the cycle's thread (packing and writing excluded): "
              f"{share['recorder_us_per_cycle']} us per cycle, of which the PX4 topics "
              f"{share['px4_us_per_cycle']} us ({share['px4_tick_median_us']} us median, "
              f"{share['px4_tick_p99_us']} us p99 on a cycle that writes periodic ones)")
        with tempfile.TemporaryDirectory() as d:
            logged = measure(a.scenario, log=True, log_dir=Path(d), px4_rate_hz=a.px4_rate_hz)
        report("with flight log (threaded writer, as on the rig)", logged)
        out["with_log"] = logged
        out["log_added_median_us"] = round(logged["cycle_median_us"] - base["cycle_median_us"], 1)
        out["log_added_p99_us"] = round(logged["cycle_p99_us"] - base["cycle_p99_us"], 1)
        out["log_bytes_per_min"] = logged["log_bytes_per_min"]
        print(f"flight log adds {out['log_added_median_us']} us median, "
              f"{out['log_added_p99_us']} us p99 per cycle; "
              f"{logged['log_bytes_per_min'] / 1e6:.1f} MB per minute of flight")
    print(json.dumps(out))


def report(label: str, r: dict[str, float]) -> None:
    print(f"{label}: flight software per cycle, airborne ({r['cycles']} cycles): median "
          f"{r['cycle_median_us']} us, p99 {r['cycle_p99_us']} us, max {r['cycle_max_us']} us "
          f"(goal median <= 150, p99 <= 400); vision per frame ({r['frames']}): median "
          f"{r['vision_median_us']} us, p99 {r['vision_p99_us']} us")


def recorder_share(scenario: Path, log_dir: Path, px4_rate_hz: float | None
                   ) -> dict[str, float]:
    """The recorder's own time in the cycle (building and queueing records), and the PX4
    topics' part of it, from one flight with the writer in line and its packing and writing
    (``pump``) subtracted: unlike a flight against a writer thread, no GIL contention with a
    writer that a lockstep simulation keeps busy all the time."""
    perf = time.perf_counter_ns
    spent = {"recorder": 0, "pump": 0, "px4": 0}
    ticks: list[int] = []
    cycles = [0]
    originals = {name: getattr(FlightRecorder, name) for name in ("on_inputs", "on_cycle")}
    px4_originals = {name: getattr(Px4Log, name) for name in ("imu", "range", "flow", "cycle")}
    orig_pump = AsyncLogWriter.pump

    def timed(fn: Any, key: str, count: bool = False) -> Any:
        def wrapper(*args: Any) -> Any:
            t0 = perf()
            r = fn(*args)
            dt = perf() - t0
            spent[key] += dt
            if count:
                cycles[0] += 1
            if fn is px4_originals["cycle"] and args[2] % args[0].every < GROUPS:
                ticks.append(dt)  # a cycle that writes some of the periodic topics
            return r
        return wrapper

    for name, fn in originals.items():
        setattr(FlightRecorder, name, timed(fn, "recorder", count=name == "on_cycle"))
    for name, fn in px4_originals.items():
        setattr(Px4Log, name, timed(fn, "px4"))
    AsyncLogWriter.pump = timed(orig_pump, "pump")  # type: ignore[method-assign]
    try:
        setup = prepare(None, scenario, 1)
        if px4_rate_hz is not None:
            setup.cfg.log.px4_rate_hz = px4_rate_hz
        fly(setup, log_path=log_dir / "share.ulg", log_inline=True)
    finally:
        for name, fn in originals.items():
            setattr(FlightRecorder, name, fn)
        for name, fn in px4_originals.items():
            setattr(Px4Log, name, fn)
        AsyncLogWriter.pump = orig_pump  # type: ignore[method-assign]
    n = max(cycles[0], 1)
    t = np.array(ticks or [0]) / 1e3
    return {
        "recorder_us_per_cycle": round((spent["recorder"] - spent["pump"]) / n / 1e3, 2),
        "px4_us_per_cycle": round(spent["px4"] / n / 1e3, 2),
        "px4_tick_median_us": round(float(np.median(t)), 1),
        "px4_tick_p99_us": round(float(np.percentile(t, 99)), 1),
    }


def measure(scenario: Path, log: bool, log_dir: Path | None = None,
            time_offset: bool = True, px4_rate_hz: float | None = None) -> dict[str, float]:
    cycle_ns: list[int] = []
    vision_ns: list[int] = []
    perf = time.perf_counter_ns
    orig_cycle = FlightSoftware.cycle
    orig_frame = Navigator.fuse_frame
    orig_step = Navigator.step_frame
    begun: list[int] = []

    def timed_cycle(self: FlightSoftware, now: int, index: int) -> bool:
        t0 = perf()
        r = orig_cycle(self, now, index)
        if self.mode in AIRBORNE:
            cycle_ns.append(perf() - t0)
        return r

    def timed_frame(self: Navigator, fr):  # type: ignore[no-untyped-def]
        t0 = perf()
        r = orig_frame(self, fr)
        begun.append(perf() - t0)
        return r

    def timed_step(self: Navigator):  # type: ignore[no-untyped-def]
        pending = self._pending is not None
        t0 = perf()
        r = orig_step(self)
        if pending and begun:
            begun[-1] += perf() - t0  # every stage of the same frame
            if r is not None:
                vision_ns.append(begun[-1])
        return r

    FlightSoftware.cycle = timed_cycle  # type: ignore[method-assign]
    Navigator.fuse_frame = timed_frame  # type: ignore[method-assign]
    Navigator.step_frame = timed_step  # type: ignore[method-assign]
    log_path = None if log_dir is None else log_dir / "bench.ulg"
    try:
        # the threaded writer, as on the rig: the cycle only enqueues
        setup = prepare(None, scenario, 1)
        setup.cfg.time_offset.enabled = time_offset
        if px4_rate_hz is not None:
            setup.cfg.log.px4_rate_hz = px4_rate_hz
        fly(setup, log_path=log_path, log_inline=False)
    finally:
        FlightSoftware.cycle = orig_cycle  # type: ignore[method-assign]
        Navigator.fuse_frame = orig_frame  # type: ignore[method-assign]
        Navigator.step_frame = orig_step  # type: ignore[method-assign]
    c = np.array(cycle_ns) / 1e3
    v = np.array(vision_ns) / 1e3
    out = {
        "cycles": len(c),
        "cycle_median_us": round(float(np.median(c)), 1),
        "cycle_p99_us": round(float(np.percentile(c, 99)), 1),
        "cycle_max_us": round(float(c.max()), 1),
        "frames": len(v),
        "vision_median_us": round(float(np.median(v)), 1),
        "vision_p99_us": round(float(np.percentile(v, 99)), 1),
    }
    if log_path is not None:
        # size from a complete log: the threaded writer drops records when the simulation
        # runs 20x faster than real time, so write one in line for the byte count
        full = log_path.with_suffix(".full.ulg")
        setup = prepare(None, scenario, 1)
        if px4_rate_hz is not None:
            setup.cfg.log.px4_rate_hz = px4_rate_hz
        res = fly(setup, log_path=full, log_inline=True)
        minutes = res.summary.duration_s / 60.0
        out["log_bytes_per_min"] = round(full.stat().st_size / minutes)
    return out


if __name__ == "__main__":
    main()
