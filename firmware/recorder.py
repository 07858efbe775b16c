"""The flight recorder: every input the cycle consumed, and what it made of them, in ULog.

Two purposes, one log:
- Engineers open it in pyulog, PlotJuggler or Flight Review: state, setpoints, outputs,
  modes, every contingency check's value against its threshold, executive timing.
- ``flightsw replay`` feeds it back through navigation and the watchdog. For that the log
  holds *every* input at full precision (int64 nanoseconds, doubles): each IMU, range and
  frame sample with the cycle that drained it, the health counters and clock statistics the
  watchdog read, and each vision displacement (the images themselves are not logged: 35 MB a
  minute; the flow result is what navigation used).

The cycle only appends tuples to the async writer's queue (no packing, no I/O).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from firmware import __version__
from firmware.contingency import CHECK_SOURCES
from firmware.flight import Event, FlightSoftware
from firmware.ulog import AsyncLogWriter
from firmware.vision import FlowResult
from hal.types import Frame, ImuSample, RangeSample

log = logging.getLogger(__name__)

CHECKS = list(CHECK_SOURCES)

FORMATS: dict[str, list[tuple[str, str]]] = {
    "sensor_imu": [("uint64_t", "timestamp"), ("int64_t", "t_ns"), ("int64_t", "device_t_ns"),
                   ("uint32_t", "seq"), ("uint32_t", "cycle"), ("double[3]", "accel_mps2"),
                   ("double[3]", "gyro_rps"), ("double", "temp_c")],
    "sensor_range": [("uint64_t", "timestamp"), ("int64_t", "t_ns"), ("uint32_t", "seq"),
                     ("uint32_t", "cycle"), ("double", "distance_m"), ("bool", "valid")],
    "camera_frame": [("uint64_t", "timestamp"), ("int64_t", "t_ns"), ("int64_t", "t_rx_ns"),
                     ("int64_t", "device_t_ns"), ("int64_t", "exposure_ns"), ("uint32_t", "seq"),
                     ("uint32_t", "cycle"), ("double", "latency_s")],
    "vision_flow": [("uint64_t", "timestamp"), ("uint32_t", "frame_seq"), ("uint32_t", "cycle"),
                    ("double", "drow"), ("double", "dcol"), ("double", "quality")],
    "cycle_inputs": [("uint64_t", "timestamp"), ("int64_t", "now_ns"), ("uint32_t", "cycle"),
                     ("uint32_t", "exec_cycles"), ("uint32_t", "exec_overruns"),
                     ("uint32_t", "imu_overflows"), ("uint32_t", "imu_errors"),
                     ("uint32_t", "imu_resets"), ("double", "imu_clock_skew_ppm"),
                     ("uint32_t", "imu_clock_updates"), ("double", "cam_clock_residual_ns"),
                     ("double", "cam_clock_skew_ppm"), ("uint32_t", "cam_clock_updates"),
                     ("uint32_t", "cam_lost"), ("uint32_t", "cam_errors"),
                     ("bool", "cam_connected"), ("uint32_t", "exec_slips"),
                     ("uint32_t", "cam_overflows"), ("bool", "imu_clock_settled"),
                     ("bool", "cam_clock_settled")],
    "vehicle_state": [("uint64_t", "timestamp"), ("uint8_t", "mode"), ("double[3]", "position"),
                      ("double[3]", "velocity"), ("double[4]", "q"), ("float", "roll_deg"),
                      ("float", "pitch_deg"), ("float", "yaw_deg"), ("float[3]", "rate"),
                      ("float", "height_m"), ("float", "vision_vn"), ("float", "vision_ve"),
                      ("float", "vision_innovation")],
    "setpoint": [("uint64_t", "timestamp"), ("float", "north"), ("float", "east"),
                 ("float", "alt"), ("float", "vn_ff"), ("float", "ve_ff"),
                 ("float", "climb_rate"), ("float", "roll_sp_deg"), ("float", "pitch_sp_deg"),
                 ("float", "thrust_n")],
    "actuator_outputs": [("uint64_t", "timestamp"), ("float[4]", "motors"), ("bool", "armed")],
    "executive": [("uint64_t", "timestamp"), ("uint32_t", "cycles"), ("uint32_t", "overruns"),
                  ("uint32_t", "slips"), ("float", "cycle_us"), ("float", "wake_latency_us"),
                  ("float", "max_cycle_us")],
    "contingency": [("uint64_t", "timestamp"), ("int8_t", "tripped")]
    + [("float", c) for c in CHECKS] + [("uint16_t", f"{c}_fails") for c in CHECKS],
    "contingency_thresholds": [("uint64_t", "timestamp")] + [("float", c) for c in CHECKS],
    "truth": [("uint64_t", "timestamp"), ("double[3]", "position"), ("double[3]", "velocity"),
              ("float", "roll_deg"), ("float", "pitch_deg"), ("float", "yaw_deg"),
              ("bool", "on_ground")],
}

PUMP_EVERY = 25  # 50 ms of flight: a kill loses at most that much

LEVELS = {logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def flatten(obj: Any, prefix: str = "") -> dict[str, int | float]:
    """A config dataclass as ULog parameters (numbers and booleans; strings go to info)."""
    out: dict[str, int | float] = {}
    if not is_dataclass(obj):
        return out
    for f in fields(obj):
        v = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(v):
            out.update(flatten(v, key + "."))
        elif isinstance(v, bool):
            out[key] = int(v)
        elif isinstance(v, int | float):
            out[key] = v
        elif isinstance(v, tuple) and all(isinstance(x, int | float) for x in v):
            for i, x in enumerate(v):
                out[f"{key}_{i}"] = x
    return out


class FlightRecorder:
    def __init__(self, path: Path, fsw: FlightSoftware, info: dict[str, str | int | float],
                 lockstep: bool, truth_every: int = 10) -> None:
        self.path = path
        self.fsw = fsw
        path.parent.mkdir(parents=True, exist_ok=True)
        # A lockstep simulation runs many times faster than real time: a writer thread would
        # fall behind, so the recorder packs and writes in line every PUMP_EVERY cycles, which
        # also makes the file the same for the same seed. In real time the thread does it.
        self.lockstep = lockstep
        self.w = AsyncLogWriter(path, fsw.hal.clock.now_ns() // 1000, threaded=not lockstep,
                                max_batch=1_000_000 if lockstep else 1_000)
        w = self.w
        for name, fmt in FORMATS.items():
            w.add_format(name, fmt)
        w.info("sys_name", "flightsw")
        w.info("ver_sw", __version__)
        for k, v in info.items():
            w.info(k, v)
        cam = fsw.hal.camera
        w.info("camera_width", cam.width)
        w.info("camera_height", cam.height)
        w.info("camera_focal_px", float(cam.focal_px))
        w.info("camera_rate_hz", float(cam.rate_hz))
        w.info("imu_rate_hz", float(fsw.hal.imu.rate_hz))
        w.info("gravity", float(fsw.g))
        # ULog parameters are float32: fine for tools, not for an exact replay, which reads
        # the whole resolved configuration (and the plan) from these info strings instead.
        w.info("config_json", json.dumps(dataclasses.asdict(fsw.cfg)))
        w.info("plan_json", json.dumps(dataclasses.asdict(fsw.plan)))
        for k, v in flatten(fsw.cfg).items():
            w.param(k[:60], v)
        w.end_definitions()
        self.ids = {name: w.add_logged(name) for name in FORMATS}
        self.truth_every = truth_every
        self._cycle = 0
        self._flow_cycle: list[tuple[int, FlowResult | None]] = []
        self._wrap_flow()
        fsw.on_inputs = self.on_inputs
        fsw.on_cycle_done = self.on_cycle
        prev_event = fsw.on_event
        if prev_event is not None:
            def both(ev: Event) -> None:
                self.on_event(ev)
                prev_event(ev)
            fsw.on_event = both
        else:
            fsw.on_event = self.on_event
        self._thresholds_logged = False

    def _wrap_flow(self) -> None:
        nav = self.fsw.nav
        finish = nav.flow_finish

        def recorded(fr: Frame) -> FlowResult | None:
            res = finish(fr)
            self._flow_cycle.append((fr.seq, res))
            return res

        nav.flow_finish = recorded

    # -- per cycle ------------------------------------------------------------------------
    def on_inputs(self, now: int, imu: list[ImuSample], ranges: list[RangeSample],
                  frames: list[Frame]) -> None:
        w, ids, c = self.w, self.ids, self.fsw.exec_stats.cycles
        self._cycle = c
        ts = now // 1000
        for s in imu:
            w.data(ids["sensor_imu"], (s.t_ns // 1000, s.t_ns, s.device_t_ns or 0, s.seq, c,
                                       s.accel_mps2, s.gyro_rps, s.temp_c))
        for r in ranges:
            w.data(ids["sensor_range"], (r.t_ns // 1000, r.t_ns, r.seq, c, r.distance_m, r.valid))
        for f in frames:
            w.data(ids["camera_frame"], (f.t_ns // 1000, f.t_ns, f.t_rx_ns, f.device_t_ns or 0,
                                         f.exposure_ns, f.seq, c, (f.t_rx_ns - f.t_ns) / 1e9))
        hal = self.fsw.hal
        ih, ch = hal.imu.health(), hal.camera.health()
        ic, cc = ih.clock, ch.clock
        w.data(ids["cycle_inputs"], (
            ts, now, c, self.fsw.exec_stats.cycles, self.fsw.exec_stats.overruns,
            ih.overflows, ih.errors, ih.resets,
            ic.skew_ppm if ic else 0.0, ic.updates if ic else 0,
            cc.residual_ns if cc else 0.0, cc.skew_ppm if cc else 0.0, cc.updates if cc else 0,
            ch.lost, ch.errors, ch.connected, self.fsw.exec_stats.slips, ch.overflows,
            bool(ic and ic.settled), bool(cc and cc.settled)))

    def on_cycle(self, fsw: FlightSoftware, now: int) -> None:
        w, ids, c = self.w, self.ids, self._cycle
        ts = now // 1000
        if self.lockstep and c % PUMP_EVERY == 0:
            w.pump()
        for seq, res in self._flow_cycle:
            if res is None:
                continue
            w.data(ids["vision_flow"], (ts, seq, c, res.drow, res.dcol, res.quality))
        self._flow_cycle.clear()
        nav = fsw.nav
        roll, pitch, yaw = nav.euler()
        vv = nav.last_vision_vel
        w.data(ids["vehicle_state"], (
            ts, int(fsw.mode), nav.position_ned, nav.velocity_ned, tuple(nav.q),
            math.degrees(roll), math.degrees(pitch), math.degrees(yaw), nav.rate, nav.height_m,
            vv[0], vv[1], nav.last_vision_innov))
        sp = fsw.rec.setpoint
        att = fsw.ctrl.last_att_sp
        w.data(ids["setpoint"], (ts, sp.north, sp.east, sp.alt, sp.vn_ff, sp.ve_ff,
                                 sp.climb_rate if sp.climb_rate is not None else float("nan"),
                                 math.degrees(att[0]), math.degrees(att[1]),
                                 fsw.ctrl.last_thrust))
        w.data(ids["actuator_outputs"], (ts, fsw.rec.motors, fsw.mode.value in (1, 2, 3, 4, 5)))
        st = fsw.exec_stats
        w.data(ids["executive"], (ts, st.cycles, st.overruns, st.slips, st.last_cycle_ns / 1e3,
                                  st.last_wake_latency_ns / 1e3, st.max_cycle_ns / 1e3))
        checks = fsw.watchdog.checks
        trip = fsw.watchdog.trip
        tripped = CHECKS.index(trip.check) if trip is not None else -1
        w.data(ids["contingency"], (ts, tripped, *(checks[n].value for n in CHECKS),
                                    *(min(checks[n].fails, 65535) for n in CHECKS)))
        if not self._thresholds_logged:
            self._thresholds_logged = True
            w.data(ids["contingency_thresholds"],
                   (ts, *(checks[n].cfg.threshold for n in CHECKS)))
        truth = fsw.hal.truth
        if truth is not None and c % self.truth_every == 0:
            t = truth.truth()
            w.data(ids["truth"], (ts, t.position_ned, t.velocity_ned, math.degrees(t.roll),
                                  math.degrees(t.pitch), math.degrees(t.yaw), t.on_ground))

    def on_event(self, ev: Event) -> None:
        self.w.log_string(LEVELS.get(ev.level, 6), ev.t_ns // 1000, ev.text)

    def close(self) -> None:
        self.w.close()
        st = self.w.stats
        if st.records_dropped or st.io_errors:
            log.warning("flight log %s: %d records dropped, %d I/O errors", self.path,
                        st.records_dropped, st.io_errors)
