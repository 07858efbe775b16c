"""``flightsw replay``: feed a flight log's inputs back through navigation and the watchdog.

The recorder logs everything one control cycle consumed: the samples each cycle drained, the
health counters and clock statistics the watchdog read, the executive's counters and every
vision displacement. Replay rebuilds the flight software from the logged configuration and
plan, and calls its cycle once per logged cycle with exactly those inputs (no world, no
actuators). With the logged configuration it reproduces the logged LAND_NOW on the same cycle;
with other thresholds it tells when, or whether, LAND_NOW would have fired.

Limits, by construction: inputs that depend on the vehicle's own motion are the logged ones,
so a replay that lands earlier still "sees" the logged flight afterwards; and frames whose
displacement was never computed in flight (after vision was distrusted) carry none in replay.

What it reads is checked first (``ground.replay_inputs``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware import log_topics as lt
from firmware.config import FlightConfig
from firmware.executive import ExecStats
from firmware.flight import FlightSoftware
from firmware.vision import FlowResult
from ground.logfile import read_log
from ground.replay_inputs import (
    CYCLE,
    FLOW,
    FRAME,
    IMU,
    RANGE,
    check_log,
    cycle_column,
    load_logged_config,
    rows,
)
from hal.interfaces import Hal
from hal.tomlschema import ConfigError
from hal.types import (
    NS_PER_S,
    ActuatorCommand,
    ClockStats,
    DeviceHealth,
    Frame,
    ImuSample,
    RangeSample,
)

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


class LoggedFlow:
    """The flow engine of a replay: each frame's displacement as the flight computed it
    (none for a frame whose displacement was not computed in flight)."""

    def __init__(self, by_frame_seq: dict[int, FlowResult]) -> None:
        self.by_frame_seq = by_frame_seq

    def begin(self, frame: Frame, aim: tuple[float, float]) -> None:
        return None  # the logged result says where its window was

    def advance(self) -> bool:
        return False  # ready at once: finished on the cycle after the frame began

    def finish(self, frame: Frame) -> FlowResult | None:
        return self.by_frame_seq.get(frame.seq)


def _group(rows: list[tuple[Any, ...]], cycle_index: int) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        out.setdefault(int(r[cycle_index]), []).append(r)
    return out


def replay(path: Path, config: FlightConfig | None = None) -> ReplayResult:
    """Replay the log at ``path``, with ``config``'s contingency settings if given.

    ``ConfigError`` (one line, naming the file) for a log replay cannot use; ``LogFileError``
    for a file that is no readable ULog; ``OSError`` for one that cannot be read."""
    try:
        return _replay(path, config)
    except ConfigError as exc:
        text = str(exc)
        raise ConfigError(text if text.startswith(str(path)) else f"{path}: {text}") from None


def _replay(path: Path, config: FlightConfig | None) -> ReplayResult:
    log = read_log(path)
    logged_cfg, plan = load_logged_config(log)
    inputs = check_log(log, path)
    if config is not None:
        cfg = dataclasses.replace(logged_cfg, contingency=config.contingency)
        cfg.source = config.source
    else:
        cfg = logged_cfg
    info, tables = inputs.info, inputs.tables
    clock = _Clock()
    imu = _Device("imu", info[lt.INFO_IMU_RATE_HZ])
    rng = _Device("altimeter", 50.0)
    cam = _Device("camera", info[lt.INFO_CAMERA_RATE_HZ])
    cam.width = int(info[lt.INFO_CAMERA_WIDTH])
    cam.height = int(info[lt.INFO_CAMERA_HEIGHT])
    cam.focal_px = info[lt.INFO_CAMERA_FOCAL_PX]
    motors = _Device("motors", 0.0)
    imu_h, cam_h = imu.health(), cam.health()
    imu_clock, cam_clock = ClockStats(), ClockStats()
    imu_h.clock, cam_h.clock = imu_clock, cam_clock
    hal = Hal(backend=f"replay:{log.info.get(lt.INFO_BACKEND, '?')}", clock=clock, imu=imu,
              rangefinder=rng, camera=cam, actuators=motors)
    stats = ExecStats(round(NS_PER_S / cfg.loop.rate_hz))
    flows = LoggedFlow({int(r[0]): FlowResult(r[1], r[2], r[3], r[4], r[5])
                        for r in rows(tables[FLOW], FLOW)})
    fsw = FlightSoftware(cfg, hal, plan, info[lt.INFO_GRAVITY], stats, flow_engine=flows)

    imu_rows = _group(rows(tables[IMU], IMU), cycle_column(IMU))
    rng_rows = _group(rows(tables[RANGE], RANGE), cycle_column(RANGE))
    cam_rows = _group(rows(tables[FRAME], FRAME), cycle_column(FRAME))
    cyc = rows(tables[CYCLE], CYCLE)
    t0 = cyc[0][0]
    replayed: LandNow | None = None
    for (now, c, ex_c, ex_o, i_ovf, i_err, i_res, i_skew, i_upd, c_res, c_skew, c_upd,
         c_lost, c_err, c_conn, ex_s, c_ovf, i_set, c_set, i_skew_lo, i_skew_hi) in cyc:
        clock.t = now
        stats.cycles, stats.overruns, stats.slips = ex_c, ex_o, ex_s
        imu_h.overflows, imu_h.errors, imu_h.resets = i_ovf, i_err, i_res
        imu_clock.skew_ppm, imu_clock.updates, imu_clock.settled = i_skew, i_upd, bool(i_set)
        imu_clock.skew_lo_ppm, imu_clock.skew_hi_ppm = i_skew_lo, i_skew_hi
        cam_clock.residual_ns, cam_clock.skew_ppm, cam_clock.updates = c_res, c_skew, c_upd
        cam_clock.skew_lo_ppm = cam_clock.skew_hi_ppm = c_skew  # a clock with stamps: a point
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
    if inputs.logged is not None:
        row, check = inputs.logged
        logged = LandNow(check, cyc[row][1], (cyc[row][0] - t0) / NS_PER_S)
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
