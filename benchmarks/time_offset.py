"""Camera-IMU time alignment figures (issue 12): accuracy of the online estimate, detection of
the content-time faults, the hazard with the check off, correction of a configured offset,
the offline calibration, and the estimator's cost.

    python benchmarks/time_offset.py [--seeds 20] [--jobs 1] [--only accuracy,detection,...]

Every flight is a lockstep simulation (deterministic for its seed); the truth is the
simulator's own: the camera's stamps against its images' true mid-exposures, less the IMU's
against its samples' (``time_error_us`` in the summary). Prints figures and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.boot import prepare  # noqa: E402
from app.session import fly  # noqa: E402
from firmware.flight import AIRBORNE, FlightSoftware  # noqa: E402

SCEN = ROOT / "config/scenarios"
PLANS = ("nominal_hover", "nominal_box", "nominal_flight6", "nominal_flight53")
SETTLE_S = 10.0  # "after 10 s of flight"


def _scenario(base: str, faults: list[dict[str, Any]], tmp: Path) -> Path:
    """A scenario file: ``base`` with ``faults`` added (written next to nothing of ours)."""
    if not faults:
        return SCEN / f"{base}.toml"
    text = (SCEN / f"{base}.toml").read_text().replace(
        'plan = "plans/', f'plan = "{ROOT}/config/plans/')
    for f in faults:
        text += "\n[[faults]]\n" + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in f.items())
    p = tmp / f"{base}_{abs(hash(text)) % 10**9}.toml"
    p.write_text(text)
    return p


def flight(job: dict[str, Any]) -> dict[str, Any]:
    """One flight; the summary's verdict, the truth offset and the estimate trace."""
    with tempfile.TemporaryDirectory() as d:
        scen = _scenario(job["base"], job.get("faults", []), Path(d))
        setup = prepare(None, scen, job["seed"])
        cfg = setup.cfg
        cfg.log.enabled = False
        cfg.nav.camera_time_offset_ms = job.get("configured_ms", 0.0)
        cfg.time_offset.correct = job.get("correct", True)
        cfg.time_offset.enabled = job.get("estimator", True)
        for name in job.get("disable", []):
            cfg.contingency.check(name).enabled = False
        trace: list[tuple[float, float, float, bool]] = []
        takeoff: list[float] = []
        feed_ns: list[int] = []

        def hooks(fsw: FlightSoftware) -> None:
            def done(f: FlightSoftware, now: int) -> None:
                if not takeoff and f.mode in AIRBORNE:
                    takeoff.append(f.mission_time(now))
                e = f.rec.offset
                if e is not None:
                    trace.append((f.mission_time(now), e.offset_s, e.sigma_s, e.confident))
            fsw.on_cycle_done = done
            if job.get("time_feed"):
                nav = fsw.nav
                inner = nav._update_offset

                def timed(*a: Any) -> None:
                    t0 = time.perf_counter_ns()
                    inner(*a)
                    feed_ns.append(time.perf_counter_ns() - t0)
                nav._update_offset = timed  # type: ignore[method-assign]

        log_path = Path(d) / "f.ulg" if job.get("log") else None
        if log_path is not None:
            cfg.log.enabled = True
        t0 = time.perf_counter()
        res = fly(setup, hooks=hooks, log_path=log_path)
        wall = time.perf_counter() - t0
        s = res.summary
        te = s.time_error_us
        truth_ms = (te.get("imu", {}).get("signed_median_us", 0.0)
                    - te.get("camera", {}).get("signed_median_us", 0.0)) / 1e3
        out = {"job": job, "land_now": s.land_now_reason, "land_now_t_s": s.land_now_t_s,
               "first_fault_t_s": s.first_fault_t_s, "safe": s.safe_landing,
               "crashed": s.crashed, "touchdown_mps": s.touchdown_speed_mps,
               "landing_error_m": s.final_position_error_m,
               "max_velocity_error_after_fault_mps": s.max_velocity_error_after_fault_mps,
               "max_tilt_after_fault_deg": s.max_tilt_after_fault_deg,
               "velocity_error_rms_mps": s.velocity_error_rms_mps,
               "truth_offset_ms": truth_ms, "takeoff_s": takeoff[0] if takeoff else None,
               "trace": trace, "offset": s.camera_imu_offset, "wall_s": wall,
               "sim_s": s.duration_s, "feed_us": [n / 1e3 for n in feed_ns]}
        if log_path is not None:
            from ground.calibrate_camera_imu import calibrate

            cal = calibrate(log_path)
            out["offline"] = {"total_ms": cal.total_ms, "sigma_ms": cal.sigma_ms,
                              "confident": cal.confident, "span_s": cal.span_s}
        return out


def run_all(jobs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    if workers <= 1:
        return [flight(j) for j in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(flight, jobs))


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q)) if xs else float("nan")


# -- figures ---------------------------------------------------------------------------------
def accuracy(seeds: int, workers: int) -> dict[str, Any]:
    """Nominal flights of every plan: |estimate - truth| once 10 s airborne, time to converge,
    false camera_imu_offset trips."""
    res = run_all([{"base": p, "seed": s} for p in PLANS for s in range(1, seeds + 1)], workers)
    out: dict[str, Any] = {}
    for plan in PLANS:
        rs = [r for r in res if r["job"]["base"] == plan]
        errs, finals, conv, unconf = [], [], [], 0
        for r in rs:
            t_settle = (r["takeoff_s"] or 0.0) + SETTLE_S
            after = [(t, o) for t, o, _, c in r["trace"] if c and t >= t_settle]
            errs += [abs(o * 1e3 - r["truth_offset_ms"]) for _, o in after]
            if after:
                finals.append(abs(after[-1][1] * 1e3 - r["truth_offset_ms"]))
            first = next((t for t, _, _, c in r["trace"] if c), None)
            if first is None:
                unconf += 1
            else:
                conv.append(first - (r["takeoff_s"] or 0.0))
        trips = sum(1 for r in rs if r["land_now"] == "camera_imu_offset")
        other = sum(1 for r in rs if r["land_now"] and r["land_now"] != "camera_imu_offset")
        out[plan] = {
            "flights": len(rs), "estimates_after_10s": len(errs),
            "error_median_ms": round(statistics.median(errs), 3) if errs else None,
            "error_p95_ms": round(pct(errs, 95), 3) if errs else None,
            "error_max_ms": round(max(errs), 3) if errs else None,
            "within_2ms_fraction": round(sum(e <= 2.0 for e in errs) / len(errs), 4)
            if errs else None,
            "final_error_median_ms": round(statistics.median(finals), 3) if finals else None,
            "converge_s_median": round(statistics.median(conv), 2) if conv else None,
            "converge_s_max": round(max(conv), 2) if conv else None,
            "never_confident": unconf, "false_camera_imu_offset_trips": trips,
            "other_land_now": other,
            "truth_offset_ms_median": round(statistics.median(
                [r["truth_offset_ms"] for r in rs]), 3),
        }
    return out


KINDS: dict[str, Callable[[float], dict[str, Any]]] = {
    "delay_error +15 ms at power-on": lambda at: {
        "kind": "camera.delay_error", "at_s": 0.0, "error_ms": 15.0},
    "delay_error -15 ms at power-on": lambda at: {
        "kind": "camera.delay_error", "at_s": 0.0, "error_ms": -15.0},
    "delay_error +33 ms at power-on": lambda at: {
        "kind": "camera.delay_error", "at_s": 0.0, "error_ms": 33.0},
    "delay_error -33 ms at power-on": lambda at: {
        "kind": "camera.delay_error", "at_s": 0.0, "error_ms": -33.0},
    "delay_error +15 ms at onset": lambda at: {
        "kind": "camera.delay_error", "at_s": at, "error_ms": 15.0},
    "delay_error -15 ms at onset": lambda at: {
        "kind": "camera.delay_error", "at_s": at, "error_ms": -15.0},
    "delay_error +33 ms at onset": lambda at: {
        "kind": "camera.delay_error", "at_s": at, "error_ms": 33.0},
    "delay_error -33 ms at onset": lambda at: {
        "kind": "camera.delay_error", "at_s": at, "error_ms": -33.0},
    "pairing_slip 1 frame at onset": lambda at: {
        "kind": "camera.pairing_slip", "at_s": at, "frames": 1},
    "delay_drift +2 ms/s at onset": lambda at: {
        "kind": "camera.delay_drift", "at_s": at, "rate_ms_per_s": 2.0},
    "delay_drift -2 ms/s at onset": lambda at: {
        "kind": "camera.delay_drift", "at_s": at, "rate_ms_per_s": -2.0},
}


def _fault_jobs(seeds: int, extra: dict[str, Any]) -> list[dict[str, Any]]:
    jobs = []
    for name, make in KINDS.items():
        for s in range(1, seeds + 1):
            at = round(float(np.random.default_rng([s, 12]).uniform(12.0, 30.0)), 3)
            jobs.append({"base": "nominal_box", "seed": s, "faults": [make(at)], "kind": name,
                         **extra})
    return jobs


def detection(seeds: int, workers: int) -> dict[str, Any]:
    res = run_all(_fault_jobs(seeds, {}), workers)
    out: dict[str, Any] = {}
    for name in KINDS:
        rs = [r for r in res if r["job"]["kind"] == name]
        lat = [r["land_now_t_s"] - r["job"]["faults"][0]["at_s"] for r in rs
               if r["land_now_t_s"] is not None]
        # from power-on, the estimate can only form once flying: latency from take-off too
        lat_to = [r["land_now_t_s"] - (r["takeoff_s"] or 0.0) for r in rs
                  if r["land_now_t_s"] is not None]
        checks: dict[str, int] = {}
        for r in rs:
            checks[str(r["land_now"])] = checks.get(str(r["land_now"]), 0) + 1
        out[name] = {
            "flights": len(rs), "detected": len(lat), "by_check": checks,
            "safe_landings": sum(r["safe"] for r in rs),
            "crashes": sum(r["crashed"] for r in rs),
            "latency_s_p50": round(statistics.median(lat), 3) if lat else None,
            "latency_s_p95": round(pct(lat, 95), 3) if lat else None,
            "latency_s_max": round(max(lat), 3) if lat else None,
            "after_takeoff_s_max": round(max(lat_to), 3) if lat_to else None,
            "touchdown_mps_max": round(max(r["touchdown_mps"] for r in rs), 3),
        }
    return out


def hazard(seeds: int, workers: int) -> dict[str, Any]:
    """The same faults with the camera_imu_offset check off (other checks on)."""
    res = run_all(_fault_jobs(seeds, {"disable": ["camera_imu_offset"]}), workers)
    out: dict[str, Any] = {}
    for name in KINDS:
        rs = [r for r in res if r["job"]["kind"] == name]
        verr = [r["max_velocity_error_after_fault_mps"] or 0.0 for r in rs]
        tilt = [r["max_tilt_after_fault_deg"] or 0.0 for r in rs]
        checks: dict[str, int] = {}
        for r in rs:
            checks[str(r["land_now"])] = checks.get(str(r["land_now"]), 0) + 1
        out[name] = {
            "flights": len(rs), "land_now_by": checks,
            "crashes": sum(r["crashed"] for r in rs),
            "unsafe_landings": sum(not r["safe"] for r in rs),
            "max_velocity_error_mps_median": round(statistics.median(verr), 3),
            "max_velocity_error_mps_max": round(max(verr), 3),
            "max_tilt_deg_max": round(max(tilt), 2),
            "landing_error_m_max": round(max(r["landing_error_m"] for r in rs), 2),
        }
    return out


def correction(seeds: int, workers: int) -> dict[str, Any]:
    """A configured offset 10 ms off the truth (inside the bound), corrected or not, against
    a correct one: landing error and velocity error."""
    variants = {"correct config": {"configured_ms": 0.0},
                "10 ms off, corrected": {"configured_ms": 10.0},
                "10 ms off, not corrected": {"configured_ms": 10.0, "correct": False},
                "-10 ms off, corrected": {"configured_ms": -10.0}}
    jobs = [{"base": p, "seed": s, "variant": v, **kw} for v, kw in variants.items()
            for p in ("nominal_box", "nominal_flight6") for s in range(1, seeds + 1)]
    res = run_all(jobs, workers)
    out: dict[str, Any] = {}
    for v in variants:
        rs = [r for r in res if r["job"]["variant"] == v]
        out[v] = {
            "flights": len(rs), "land_now": sum(r["land_now"] is not None for r in rs),
            "landing_error_m_median": round(statistics.median(
                r["landing_error_m"] for r in rs), 3),
            "landing_error_m_max": round(max(r["landing_error_m"] for r in rs), 3),
            "velocity_error_rms_mps_median": round(statistics.median(
                r["velocity_error_rms_mps"] for r in rs), 4),
            "final_estimate_ms_median": round(statistics.median(
                (r["offset"].get("estimate_ms") or 0.0) for r in rs), 2),
            "correction_ms_median": round(statistics.median(
                r["offset"].get("correction_ms", 0.0) for r in rs), 2),
        }
    return out


def offline(seeds: int, workers: int) -> dict[str, Any]:
    """The offline calibration on logs of nominal flights flown with a configured offset off
    the truth (so the log's stamps are off): how far its total is from the truth."""
    jobs = [{"base": p, "seed": s, "configured_ms": c, "log": True}
            for p in ("nominal_box", "nominal_flight6") for s in range(1, seeds + 1)
            for c in (-7.0, 7.0)]
    res = run_all(jobs, workers)
    errs = [abs(r["offline"]["total_ms"] - r["truth_offset_ms"]) for r in res]
    return {"logs": len(res), "span_s_min": round(min(r["offline"]["span_s"] for r in res), 1),
            "error_median_ms": round(statistics.median(errs), 3),
            "error_p95_ms": round(pct(errs, 95), 3), "error_max_ms": round(max(errs), 3),
            "within_1ms": sum(e <= 1.0 for e in errs),
            "confident": sum(r["offline"]["confident"] for r in res)}


def cost(workers: int) -> dict[str, Any]:
    """The estimator's cost per frame pair, and the flight software's cycle time with the
    estimator on against off (same flight, same machine, back to back: compare the ratio)."""
    on = flight({"base": "nominal_flight6", "seed": 1, "time_feed": True})
    feed = on["feed_us"]
    walls: dict[bool, list[float]] = {}
    for enabled in (True, False, True, False):
        r = flight({"base": "nominal_flight6", "seed": 1, "estimator": enabled})
        walls.setdefault(enabled, []).append(r["wall_s"] / r["sim_s"])
    return {"per_frame_us_median": round(statistics.median(feed), 1),
            "per_frame_us_p99": round(pct(feed, 99), 1), "frames": len(feed),
            "per_cycle_us_amortised": round(sum(feed) / (on["sim_s"] * 500), 2),
            "wall_per_sim_s_on_over_off": round(min(walls[True]) / min(walls[False]), 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--fault-seeds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--only", default="accuracy,detection,hazard,correction,offline,cost")
    a = ap.parse_args()
    parts = a.only.split(",")
    out: dict[str, Any] = {"bench": "time_offset"}
    t0 = time.perf_counter()
    if "accuracy" in parts:
        out["accuracy"] = accuracy(a.seeds, a.jobs)
        print(json.dumps({"accuracy": out["accuracy"]}, indent=1))
    if "detection" in parts:
        out["detection"] = detection(a.fault_seeds, a.jobs)
        print(json.dumps({"detection": out["detection"]}, indent=1))
    if "hazard" in parts:
        out["hazard"] = hazard(max(1, a.fault_seeds // 2), a.jobs)
        print(json.dumps({"hazard": out["hazard"]}, indent=1))
    if "correction" in parts:
        out["correction"] = correction(max(1, a.seeds // 4), a.jobs)
        print(json.dumps({"correction": out["correction"]}, indent=1))
    if "offline" in parts:
        out["offline"] = offline(max(1, a.seeds // 4), a.jobs)
        print(json.dumps({"offline": out["offline"]}, indent=1))
    if "cost" in parts:
        out["cost"] = cost(a.jobs)
        print(json.dumps({"cost": out["cost"]}, indent=1))
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
