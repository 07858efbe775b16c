"""Offline replay: feed a flight log's sensor inputs back through navigation and the watchdog.

The recorder logs everything one control cycle consumed: the samples each cycle drained, the
health counters and clock statistics the watchdog read, the executive's counters and every
vision displacement. Replay rebuilds the flight software from the logged configuration and
plan, and calls its cycle once per logged cycle with exactly those inputs (no world, no
actuators). With the logged configuration it reproduces the logged LAND_NOW on the same cycle;
with other thresholds it tells when, or whether, LAND_NOW would have fired.

Limits, by construction: inputs that depend on the vehicle's own motion are the logged ones,
so a replay that lands earlier still "sees" the logged flight afterwards; and frames whose
displacement was never computed in flight (after vision was distrusted) carry none in replay.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware.config import FlightConfig, FlightPlan
from firmware.contingency import CHECK_SOURCES
from firmware.executive import ExecStats
from firmware.flight import FlightSoftware
from firmware.ulog_reader import ULogData, read_ulog
from firmware.vision import FlowResult
from hal.interfaces import Hal
from hal.tomlschema import ConfigError, load
from hal.types import (
    NS_PER_S,
    ActuatorCommand,
    ClockStats,
    DeviceHealth,
    Frame,
    ImuSample,
    RangeSample,
)

CHECKS = list(CHECK_SOURCES)
NO_IMAGE = np.zeros((0, 0), dtype=np.uint8)


@dataclass
class LandNow:
    check: str
    cycle: int
    t_s: float  # from the first cycle


@dataclass
class ReplayResult:
    logged: LandNow | None
    replayed: LandNow | None
    cycles: int
    config_source: str

    @property
    def reproduced(self) -> bool:
        a, b = self.logged, self.replayed
        if a is None or b is None:
            return a is b
        return a.check == b.check and a.cycle == b.cycle


class _Clock:
    def __init__(self) -> None:
        self.t = 0

    def now_ns(self) -> int:
        return self.t

    def sleep_until(self, t_ns: int) -> None:
        self.t = max(self.t, t_ns)


class _Device:
    """A device whose poll() returns what the logged cycle drained."""

    def __init__(self, name: str, rate_hz: float) -> None:
        self.name = name
        self.rate_hz = rate_hz
        self.batch: list[Any] = []
        self._health = DeviceHealth()
        self.width = self.height = 0
        self.focal_px = 0.0
        self.motor_count = 4

    def open(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> DeviceHealth:
        return self._health

    def poll(self) -> list[Any]:
        return self.batch

    def write(self, cmd: ActuatorCommand) -> None: ...

    def disarm(self) -> None: ...


def _group(rows: list[tuple[Any, ...]], cycle_index: int) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        out.setdefault(int(r[cycle_index]), []).append(r)
    return out


def _rows(log: ULogData, topic: str, names: list[str]) -> list[tuple[Any, ...]]:
    try:
        data = log.topic(topic).data
    except KeyError:
        return []
    missing = [n for n in names if n not in (data.dtype.names or ())]
    if missing:
        raise ConfigError(f"{topic}: no field {missing[0]!r} (a log from another "
                          "flightsw version?)")
    cols = [data[n].tolist() for n in names]
    return list(zip(*cols, strict=True))


def _logged_land_now(log: ULogData, cycle_of_row: list[int]) -> tuple[int, int] | None:
    trip = log.topic("contingency").data["tripped"]
    idx = np.flatnonzero(trip >= 0)
    if len(idx) == 0:
        return None
    i = int(idx[0])
    return cycle_of_row[i], int(trip[i])


def load_logged_config(log: ULogData) -> tuple[FlightConfig, FlightPlan]:
    try:
        cfg_raw = json.loads(str(log.info["config_json"]))
        plan_raw = json.loads(str(log.info["plan_json"]))
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"log has no usable configuration to replay with ({exc})") from None
    source = cfg_raw.pop("source", "(log)")
    cfg = load(FlightConfig, cfg_raw, "(logged config)")
    cfg.source = source
    return cfg, load(FlightPlan, plan_raw, "(logged plan)")


def replay(path: Path, config: FlightConfig | None = None) -> ReplayResult:
    try:
        return _replay(path, config)
    except ConfigError as exc:
        text = str(exc)
        raise ConfigError(text if text.startswith(str(path)) else f"{path}: {text}") from None


def _replay(path: Path, config: FlightConfig | None) -> ReplayResult:
    log = read_ulog(path)
    logged_cfg, plan = load_logged_config(log)
    if config is not None:
        cfg = dataclasses.replace(logged_cfg, contingency=config.contingency)
        cfg.source = config.source
    else:
        cfg = logged_cfg
    info = log.info
    clock = _Clock()
    imu = _Device("imu", float(info["imu_rate_hz"]))
    rng = _Device("altimeter", 50.0)
    cam = _Device("camera", float(info["camera_rate_hz"]))
    cam.width, cam.height = int(info["camera_width"]), int(info["camera_height"])
    cam.focal_px = float(info["camera_focal_px"])
    motors = _Device("motors", 0.0)
    imu_h, cam_h = imu.health(), cam.health()
    imu_clock, cam_clock = ClockStats(), ClockStats()
    imu_h.clock, cam_h.clock = imu_clock, cam_clock
    hal = Hal(backend=f"replay:{info.get('backend', '?')}", clock=clock, imu=imu,
              rangefinder=rng, camera=cam, actuators=motors)
    stats = ExecStats(round(NS_PER_S / cfg.loop.rate_hz))
    fsw = FlightSoftware(cfg, hal, plan, float(info["gravity"]), stats)

    flows = {int(r[0]): FlowResult(r[1], r[2], r[3]) for r in
             _rows(log, "vision_flow", ["frame_seq", "drow", "dcol", "quality"])}
    fsw.nav.flow_begin = lambda fr: None
    fsw.nav.flow_advance = lambda: False
    fsw.nav.flow_finish = lambda fr: flows.get(fr.seq)

    imu_rows = _group(_rows(log, "sensor_imu", ["t_ns", "seq", "accel_mps2", "gyro_rps",
                                                 "temp_c", "device_t_ns", "cycle"]), 6)
    rng_rows = _group(_rows(log, "sensor_range", ["t_ns", "seq", "distance_m", "valid",
                                                   "cycle"]), 4)
    cam_rows = _group(_rows(log, "camera_frame", ["t_ns", "seq", "t_rx_ns", "device_t_ns",
                                                   "exposure_ns", "cycle"]), 5)
    cyc = _rows(log, "cycle_inputs", [
        "now_ns", "cycle", "exec_cycles", "exec_overruns", "imu_overflows", "imu_errors",
        "imu_resets", "imu_clock_skew_ppm", "imu_clock_updates", "cam_clock_residual_ns",
        "cam_clock_skew_ppm", "cam_clock_updates", "cam_lost", "cam_errors", "cam_connected",
        "exec_slips", "cam_overflows", "imu_clock_settled", "cam_clock_settled"])
    if not cyc:
        raise ConfigError(f"{path}: no cycle_inputs topic: not a flightsw log")
    t0 = cyc[0][0]
    replayed: LandNow | None = None
    for (now, c, ex_c, ex_o, i_ovf, i_err, i_res, i_skew, i_upd, c_res, c_skew, c_upd,
         c_lost, c_err, c_conn, ex_s, c_ovf, i_set, c_set) in cyc:
        clock.t = now
        stats.cycles, stats.overruns, stats.slips = ex_c, ex_o, ex_s
        imu_h.overflows, imu_h.errors, imu_h.resets = i_ovf, i_err, i_res
        imu_clock.skew_ppm, imu_clock.updates, imu_clock.settled = i_skew, i_upd, bool(i_set)
        cam_clock.residual_ns, cam_clock.skew_ppm, cam_clock.updates = c_res, c_skew, c_upd
        cam_clock.settled = bool(c_set)
        cam_h.lost, cam_h.errors, cam_h.connected = c_lost, c_err, bool(c_conn)
        cam_h.overflows = c_ovf
        imu.batch = [ImuSample(t, s, tuple(a), tuple(g), tc, d or None)
                     for t, s, a, g, tc, d, _ in imu_rows.get(c, ())]
        rng.batch = [RangeSample(t, s, dist, bool(v)) for t, s, dist, v, _ in rng_rows.get(c, ())]
        cam.batch = [Frame(t, s, rx, NO_IMAGE, d or None, e)
                     for t, s, rx, d, e, _ in cam_rows.get(c, ())]
        fsw.cycle(now, c)
        if replayed is None and fsw.watchdog.trip is not None:
            replayed = LandNow(fsw.watchdog.trip.check, c, (now - t0) / NS_PER_S)
        stats.cycles += 1

    logged = None
    lc = _logged_land_now(log, [int(r[1]) for r in cyc])
    if lc is not None:
        c, k = lc
        now = next(r[0] for r in cyc if r[1] == c)
        logged = LandNow(CHECKS[k], c, (now - t0) / NS_PER_S)
    return ReplayResult(logged, replayed, len(cyc), cfg.source)


def describe(r: ReplayResult) -> str:
    def one(x: LandNow | None) -> str:
        return "no LAND_NOW" if x is None else \
            f"LAND_NOW '{x.check}' at cycle {x.cycle} (t = {x.t_s:.3f} s)"

    lines = [f"replayed {r.cycles} cycles with config {r.config_source}",
             f"  logged:   {one(r.logged)}", f"  replayed: {one(r.replayed)}"]
    if r.reproduced:
        lines.append("  the replay reproduces the logged outcome exactly")
    elif r.logged is not None and r.replayed is not None:
        dt = r.replayed.t_s - r.logged.t_s
        lines.append(f"  LAND_NOW would have fired {abs(dt):.3f} s "
                     f"{'later' if dt > 0 else 'earlier'}" +
                     ("" if r.replayed.check == r.logged.check else
                      f", by '{r.replayed.check}'"))
    elif r.replayed is None:
        lines.append("  with this configuration LAND_NOW would not have fired")
    else:
        lines.append("  with this configuration LAND_NOW would have fired where the flight "
                     "had none")
    return "\n".join(lines)
