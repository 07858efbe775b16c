"""Composition root: the one place that chooses a backend and wires the flight software.

Everything is loaded and validated here before anything arms; a problem surfaces as one
``ConfigError`` line. This is the only firmware module allowed to import a backend.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware import __version__
from firmware.config import FlightConfig, Scenario, load_config, load_scenario
from firmware.contingency import TIMESTAMP_CHECKS
from firmware.executive import Executive
from firmware.flight import AIRBORNE, FlightSoftware, Mode
from firmware.preflight import PreflightReport, run_preflight
from firmware.timing import StallGuard
from hal.interfaces import Hal
from hal.realtime import GcPolicy, RtRestore, RtSettings, apply_rt_settings, rt_warning_line
from hal.tomlschema import ConfigError
from hal.types import NS_PER_S

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_CONFIG = CONFIG_DIR / "sim.toml"
DEFAULT_SCENARIO = CONFIG_DIR / "scenarios" / "flight6.toml"
_warned: set[str] = set()


def _warn_once(line: str) -> None:
    """A process flying many flights (a campaign, a test session) says a setup problem once."""
    if line not in _warned:
        _warned.add(line)
        log.warning("%s", line)


@contextlib.contextmanager
def realtime_applied(rt: RtSettings) -> Iterator[str]:
    """The config's real-time settings for the calling thread (and the threads it starts),
    undone on exit; yields the one-line warning of what was not permitted ("" if all was)."""
    before = RtRestore()
    warning = rt_warning_line(apply_rt_settings(rt))
    if warning:
        _warn_once(warning)
    try:
        yield warning
    finally:
        before.restore(rt)


@dataclass
class FlightSetup:
    cfg: FlightConfig
    scenario: Scenario
    seed: int
    contingency: bool = True
    arm: bool = False  # rig only: outputs live (also needs outputs enabled in the config)
    skip_preflight: bool = False
    preflight_s: float = 3.0
    extra: dict[str, Any] = field(default_factory=dict)


def prepare(config: Path | None, scenario: Path | None, seed: int,
            contingency: bool = True) -> FlightSetup:
    cfg_path = config if config is not None else (
        DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    cfg = load_config(cfg_path)
    scen = load_scenario(scenario if scenario is not None else DEFAULT_SCENARIO)
    if not contingency:
        cfg.contingency.enabled = False
    setup = FlightSetup(cfg, scen, seed, contingency)
    _backend_parts(setup, t0_ns=0)  # validates the backend's own settings and faults
    return setup


def _backend_parts(setup: FlightSetup, t0_ns: int) -> tuple[Any, Any]:
    """The backend's validated settings and fault set (faults only where they can be made)."""
    cfg, scen = setup.cfg, setup.scenario
    from sim_hal.faults import FaultSet, parse_faults

    if cfg.backend == "sim":
        from sim_hal.backend import load_sim_settings

        settings: Any = load_sim_settings(cfg.sim, cfg.source)
    elif cfg.backend == "hil":
        from sim_hal.hil import load_hil_settings

        settings = load_hil_settings(cfg.hil, cfg.source)
    else:
        from hal.rig import load_rig_settings

        settings = load_rig_settings(cfg.rig, cfg.source)
        if scen.faults_raw:
            raise ConfigError(f"{scen.path}: faults: the rig backend cannot inject faults")
    faults = parse_faults(scen.faults_raw, str(scen.path), t0_ns=t0_ns)
    return settings, FaultSet(faults)


def build_backend(setup: FlightSetup) -> Hal:
    backend = setup.cfg.backend
    if backend == "sim":
        from sim_hal.backend import T0_NS, build_sim

        settings, faults = _backend_parts(setup, t0_ns=T0_NS)
        return build_sim(settings, setup.scenario.planet, faults, setup.seed)
    if backend == "hil":
        from sim_hal.hil import build_hil

        settings, faults = _backend_parts(setup, t0_ns=0)
        return build_hil(settings, setup.scenario.planet, faults, setup.seed)
    from hal.rig import build_rig

    settings, _ = _backend_parts(setup, t0_ns=0)
    return build_rig(settings, arm=setup.arm)


class PreflightRefused(ConfigError):
    """Preflight failed on a hardware backend: the vehicle was never armed."""


def preflight(setup: FlightSetup, seconds: float) -> PreflightReport:
    """What ``fly`` checks before arming, with the same real-time settings."""
    hal = build_backend(setup)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(hal.close)
        if hal.realtime:
            cleanup.enter_context(realtime_applied(setup.cfg.realtime))
        return run_preflight(setup.cfg, hal, seconds)
    raise AssertionError("unreachable")  # mypy: ExitStack may swallow exceptions


def bench(config: Path | None, which: str, seconds: float, seed: int = 1) -> Any:
    """``flightsw bench i2c|camera``: identify and measure the devices of a hardware backend
    (the emulated ones of hil, or the rig's real ones)."""
    from hal.bench import bench_camera, bench_i2c

    cfg = load_config(config if config is not None else CONFIG_DIR / "hil.toml")
    if cfg.backend == "hil":
        from sim_hal.hil import hil_camera_bench_target, hil_i2c_bench_target, load_hil_settings

        hil = load_hil_settings(cfg.hil, cfg.source)
        target: Any = (hil_i2c_bench_target(hil, seed) if which == "i2c"
                       else hil_camera_bench_target(hil, seed))
    elif cfg.backend == "rig":
        from hal.rig import load_rig_settings, rig_camera_bench_target, rig_i2c_bench_target

        rig = load_rig_settings(cfg.rig, cfg.source)
        target = rig_i2c_bench_target(rig) if which == "i2c" else rig_camera_bench_target(rig)
    else:
        raise ConfigError(f"{cfg.source}: backend: bench needs a hardware backend (hil or rig), "
                          f"not {cfg.backend!r}")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(target.close)
        cleanup.enter_context(realtime_applied(cfg.realtime))  # measured as it would fly
        if which == "i2c":
            report = bench_i2c(target.bus, target.clock, target.devices, seconds)
        else:
            report = bench_camera(target.camera, target.clock, seconds, baud=target.baud)
    report.lines.insert(0, f"bench {which}: {target.description} ({cfg.source})")
    return report


@dataclass
class FlightResult:
    summary: dict[str, Any]
    fsw: FlightSoftware
    hal: Hal


def _disarm_quietly(hal: Hal) -> None:
    """Outputs off as the first cleanup step; a failure is logged and kept by ``hal.close``,
    which tries again."""
    try:
        hal.actuators.disarm()
    except Exception as exc:
        log.error("disarm failed: %s: %s", type(exc).__name__, exc)


def fly(setup: FlightSetup, on_status: Callable[[str], None] | None = None,
        hooks: Callable[[FlightSoftware], None] | None = None,
        log_path: Path | None = None, log_inline: bool | None = None) -> FlightResult:
    """Fly the setup. ``log_inline``: write the log in the cycle's thread (default: only
    for a lockstep simulation, which outruns a writer thread) or on a writer thread."""
    wall0 = time.perf_counter()
    hal = build_backend(setup)
    cfg = setup.cfg
    # One cleanup path for everything started from here on, whatever fails and wherever.
    # Callbacks run in reverse order: guard stopped, outputs off, signals and real-time
    # settings restored, log closed, then every device and the backend closed.
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(hal.close)
        exe = Executive(hal.clock, cfg.loop.rate_hz)
        fsw = FlightSoftware(cfg, hal, setup.scenario.plan, setup.scenario.gravity, exe.stats)
        if hooks is not None:
            hooks(fsw)
        if log_path is not None:
            cleanup.callback(_open_recorder(setup, hal, fsw, log_path, log_inline).close)
        guard = _realtime_setup(cfg, hal, fsw, exe, cleanup)
        cycle, after_fault = _cycle_with_scoring(setup, hal, fsw, on_status)
        pending_stops: list[str] = []

        def on_signal(signum: int, _frame: object) -> None:
            # Only note it: the cycle acts on it at its next wake-up, in its own thread.
            pending_stops.append(signal.Signals(signum).name)

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                cleanup.callback(signal.signal, sig, signal.signal(sig, on_signal))
        cleanup.callback(_disarm_quietly, hal)
        hal.open()
        if cfg.backend in ("hil", "rig") and not setup.skip_preflight:
            report = run_preflight(cfg, hal, setup.preflight_s, opened=True)
            if not report.ok:
                why = "; ".join(f"{c.name}: {c.detail}" for c in report.failures())
                raise PreflightRefused(f"preflight failed, not arming: {why}")
            fsw.event(hal.clock.now_ns(), "preflight passed")

        def run_cycle(now: int, index: int) -> bool:
            if guard is not None:
                guard.kick()
                guard.airborne = fsw.mode in AIRBORNE
            while pending_stops:
                fsw.request_stop(now, pending_stops.pop(0))
            return cycle(now, index)

        if guard is not None:
            GcPolicy(cfg.realtime.gc_policy).after_startup()
            guard.start()
            cleanup.callback(guard.stop)
        exe.run(run_cycle)
    summary = summarize(setup, fsw, hal, time.perf_counter() - wall0)
    summary["timing"] = {"wake_latency_us": exe.stats.wake_hist.summary(),
                         "cycle_time_us": exe.stats.cycle_hist.summary()}
    summary["stall_guard"] = guard.reason if guard is not None and guard.tripped else None
    summary["transient_stalls"] = guard.transient_stalls if guard is not None else 0
    summary["max_transient_stall_ms"] = (round(guard.max_transient_ns / 1e6, 1)
                                         if guard is not None else 0.0)
    summary["close_errors"] = list(hal.close_errors)
    summary["time_error_us"] = hal.truth.timing_report() if hal.truth is not None else {}
    summary.update(after_fault)
    return FlightResult(summary, fsw, hal)


def _open_recorder(setup: FlightSetup, hal: Hal, fsw: FlightSoftware, log_path: Path,
                   log_inline: bool | None) -> Any:
    from firmware.recorder import FlightRecorder

    first = setup.scenario.first_fault_s()
    return FlightRecorder(log_path, fsw, {
        "backend": hal.backend, "seed": setup.seed, "scenario": setup.scenario.name,
        "planet": setup.scenario.planet, "config": setup.cfg.source,
        "scenario_path": str(setup.scenario.path), "plan": setup.scenario.plan.name,
        "contingency": int(setup.contingency),
        "first_fault_t_s": -1.0 if first is None else first},
        lockstep=(hal.backend == "sim" and not hal.realtime) if log_inline is None
        else log_inline)


def _realtime_setup(cfg: FlightConfig, hal: Hal, fsw: FlightSoftware, exe: Executive,
                    cleanup: contextlib.ExitStack) -> StallGuard | None:
    """Real-time backends: scheduling, memory locking and GC policy (undone by ``cleanup``),
    and the stall guard (started by the caller once the devices are open, with
    ``gc.after_startup`` once the last start-up object exists)."""
    if not hal.realtime:
        return None
    warning = cleanup.enter_context(realtime_applied(cfg.realtime))
    if warning:
        fsw.event(hal.clock.now_ns(), warning, logging.WARNING)
    gc_policy = GcPolicy(cfg.realtime.gc_policy)
    cleanup.callback(gc_policy.restore)
    if gc_policy.mode != "default":
        exe.on_slack = gc_policy.slack
    guard: StallGuard | None = None

    def cut_outputs() -> None:
        fsw.outputs_cut = guard.reason if guard is not None else "stalled"
        hal.actuators.disarm()

    guard = StallGuard(exe.period_ns, cfg.loop.stall_limit_periods, cut_outputs,
                       hang_limit_ns=round(cfg.loop.stall_hang_s * NS_PER_S))
    return guard


def _cycle_with_scoring(setup: FlightSetup, hal: Hal, fsw: FlightSoftware,
                        on_status: Callable[[str], None] | None
                        ) -> tuple[Callable[[int, int], bool], dict[str, float | None]]:
    """The flight software's cycle plus what only a simulation can judge (truth after the
    first fault, crashes) and the status line; the dict fills in as the flight goes."""
    cfg = setup.cfg
    max_ns = int(cfg.loop.max_flight_s * NS_PER_S)
    status_div = max(1, round(cfg.loop.rate_hz / cfg.loop.status_hz))
    truth = hal.truth
    first_fault = setup.scenario.first_fault_s()
    worst = {"max_tilt_after_fault_deg": 0.0 if first_fault is not None else None,
             "max_velocity_error_after_fault_mps": 0.0 if first_fault is not None else None}

    def cycle(now: int, index: int) -> bool:
        keep = fsw.cycle(now, index)
        if truth is not None and first_fault is not None and index % 5 == 0 and \
                fsw.mission_time(now) >= first_fault:
            t = truth.truth()
            cos_tilt = max(-1.0, min(1.0, math.cos(t.roll) * math.cos(t.pitch)))
            tilt = round(math.degrees(math.acos(cos_tilt)), 3)
            ev = fsw.nav.velocity_ned
            verr = round(math.hypot(ev[0] - t.velocity_ned[0], ev[1] - t.velocity_ned[1]), 3)
            worst["max_tilt_after_fault_deg"] = max(worst["max_tilt_after_fault_deg"] or 0.0,
                                                    tilt)
            worst["max_velocity_error_after_fault_mps"] = max(
                worst["max_velocity_error_after_fault_mps"] or 0.0, verr)
        if on_status is not None and index % status_div == 0:
            on_status(fsw.status_line(now))
        if truth is not None and truth.truth().crashed:
            fsw.event(now, f"CRASH: {truth.truth().crash_reason}", logging.ERROR)
            return False
        if fsw.t0_ns is not None and now - fsw.t0_ns > max_ns:
            fsw.event(now, "flight time limit reached", logging.ERROR)
            return False
        return keep

    return cycle, worst


def summarize(setup: FlightSetup, fsw: FlightSoftware, hal: Hal, wall_s: float
              ) -> dict[str, Any]:
    scen = setup.scenario
    now = hal.clock.now_ns()
    t0 = fsw.t0_ns or now
    trip = fsw.land_now
    land_now_airborne = trip is not None and fsw.mode in (Mode.LAND_NOW, Mode.LANDED) and \
        any(e.text.startswith("mode LAND_NOW") for e in fsw.events)
    truth = hal.truth.truth() if hal.truth is not None else None
    if truth is not None:
        pos = truth.position_ned
        landed = truth.on_ground and truth.airborne_once and not truth.crashed
        crashed = truth.crashed
        touchdown = truth.touchdown_speed_mps
        td_tilt = truth.touchdown_tilt_deg
        max_tilt = truth.max_tilt_deg
    else:
        pos = fsw.nav.position_ned
        landed = fsw.mode == Mode.LANDED
        crashed = False
        touchdown = float("nan")
        td_tilt = float("nan")
        max_tilt = float("nan")
    if land_now_airborne:
        ref = fsw.land_now_pos
    else:
        ref = scen.plan.landing_point()
    err = math.hypot(pos[0] - ref[0], pos[1] - ref[1])
    return {
        "scenario": scen.name,
        "seed": setup.seed,
        "backend": hal.backend,
        "duration_s": round((now - t0) / NS_PER_S, 6),
        "land_now": trip is not None,
        "land_now_reason": trip.check if trip else None,
        "land_now_t_s": round((trip.t_ns - t0) / NS_PER_S, 6) if trip else None,
        "first_fault_t_s": scen.first_fault_s(),
        "landed": landed,
        "crashed": crashed,
        "touchdown_speed_mps": round(touchdown, 4),
        "max_tilt_deg": round(max_tilt, 3),
        "final_position_error_m": round(err, 4),
        "cycles": fsw.exec_stats.cycles,
        "overruns": fsw.exec_stats.overruns,
        "wall_s": round(wall_s, 3),
        "touchdown_tilt_deg": round(td_tilt, 3),
        "safe_landing": bool(landed and touchdown <= 1.0 and td_tilt <= 10.0),
        "on_ground": bool(truth.on_ground) if truth is not None else fsw.mode == Mode.LANDED,
        "timestamp_related": bool(trip and trip.check in TIMESTAMP_CHECKS),
        "final_mode": fsw.mode.name,
        "slips": fsw.exec_stats.slips,
        "version": __version__,
        "airborne_at_end": fsw.mode in AIRBORNE,
        "realtime": hal.realtime,
    }
