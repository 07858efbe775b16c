"""The flight recorder: every input the cycle consumed, and what it made of them, in ULog.

Two purposes, one log:
- Engineers open it in pyulog, PlotJuggler or Flight Review: state, setpoints, outputs,
  modes, every contingency check's value against its threshold, executive timing; and the
  same flight in PX4's own topics (``firmware.px4_log``), which PX4's tools expect.
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
import time
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from firmware import __version__
from firmware import log_topics as lt
from firmware.flight import Event, FlightSoftware
from firmware.log_topics import CHECKS
from firmware.photos import TakenPhoto
from firmware.px4_log import MAV_TYPE_QUADROTOR, Px4Log, every_cycles
from firmware.ulog_writer import AsyncLogWriter
from firmware.vision import FlowResult
from hal.geometry import euler_to_quat
from hal.types import Frame, ImuSample, RangeSample

log = logging.getLogger(__name__)

PUMP_EVERY = 25  # 50 ms of flight: a kill loses at most that much

LEVELS = {logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def config_values(obj: Any, path: tuple[str | int, ...] = ()
                  ) -> Iterator[tuple[tuple[str | int, ...], int | float]]:
    """Every number and flag of a config dataclass with its path of field names and tuple
    indices (strings and tables are in the JSON copy only)."""
    if not is_dataclass(obj):
        return
    for f in fields(obj):
        v = getattr(obj, f.name)
        here = (*path, f.name)
        if is_dataclass(v):
            yield from config_values(v, here)
        elif isinstance(v, bool):
            yield here, int(v)
        elif isinstance(v, int | float):
            yield here, v
        elif isinstance(v, tuple) and all(isinstance(x, int | float) for x in v):
            for i, x in enumerate(v):
                yield (*here, i), x


def flatten(obj: Any) -> dict[str, int | float]:
    """A config dataclass as ULog parameters, named as ``log_topics.param_name`` says."""
    return {lt.param_name(path): v for path, v in config_values(obj)}


class FlightRecorder:
    def __init__(self, path: Path, fsw: FlightSoftware, info: dict[str, str | int | float],
                 lockstep: bool, truth_every: int = 10) -> None:
        self.path = path
        self.fsw = fsw
        path.parent.mkdir(parents=True, exist_ok=True)
        # A lockstep simulation runs many times faster than real time: a writer thread would
        # fall behind, so the recorder packs and writes in line every PUMP_EVERY cycles, which
        # also puts every message in the same place for the same seed (only the executive's
        # host timings differ run to run). In real time the thread does it.
        self.lockstep = lockstep
        # Stamps are flight time (lt.LogClock): the log starts at 0, the flight's zero.
        self.clock = lt.LogClock()
        self.w = AsyncLogWriter(path, 0, threaded=not lockstep,
                                max_batch=1_000_000 if lockstep else 1_000)
        w = self.w
        topics = lt.TOPICS + self._px4_topics(fsw)
        for topic in topics:
            w.add_format(topic.name, topic.format)
        w.info(lt.INFO_SYS_NAME, "flightsw")
        w.info(lt.INFO_VER_SW, __version__)
        w.info(lt.INFO_CLOSE_RECORD, 1)
        for k, v in info.items():
            w.info(k, v)
        cam = fsw.hal.camera
        w.info(lt.INFO_CAMERA_WIDTH, cam.width)
        w.info(lt.INFO_CAMERA_HEIGHT, cam.height)
        w.info(lt.INFO_CAMERA_FOCAL_PX, float(cam.focal_px))
        w.info(lt.INFO_CAMERA_RATE_HZ, float(cam.rate_hz))
        w.info(lt.INFO_IMU_RATE_HZ, float(fsw.hal.imu.rate_hz))
        w.info(lt.INFO_GRAVITY, float(fsw.g))
        # ULog parameters are float32: fine for tools, not for an exact replay, which reads
        # the whole resolved configuration (and the plan) from these info strings instead.
        w.info(lt.INFO_CONFIG_JSON, json.dumps(dataclasses.asdict(fsw.cfg)))
        w.info(lt.INFO_PLAN_JSON, json.dumps(dataclasses.asdict(fsw.plan)))
        for key, text in lt.enumerations().items():  # what the coded fields' numbers mean
            w.info(key, text)
        for k, v in flatten(fsw.cfg).items():
            w.param(k, v)
        w.param(lt.PARAM_MAV_TYPE, MAV_TYPE_QUADROTOR)  # PX4's tools tell the airframe by it
        w.end_definitions()
        self.ids = {topic.name: w.add_logged(topic.name) for topic in topics}
        px4_rate = fsw.cfg.log.px4_rate_hz
        self.px4 = None if px4_rate <= 0 else Px4Log(
            w, self.ids, fsw, every_cycles(fsw.cfg.loop.rate_hz, px4_rate), self.clock)
        self.truth_every = truth_every
        self._cycle = 0
        # (frame seq, frame t_ns, result) of each frame finished this cycle
        self._flow_cycle: list[tuple[int, int, FlowResult | None]] = []
        fsw.nav.flow_observers.append(self._on_flow)
        fsw.on_inputs = self.on_inputs
        fsw.photos.on_photo.append(self.on_photo)
        self.utc_t0_us: int | None = None  # UTC at the flight's zero (camera_capture's clock)
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

    @staticmethod
    def _px4_topics(fsw: FlightSoftware) -> tuple[lt.TopicDef, ...]:
        """The PX4 topics this flight logs: none at px4_rate_hz 0, no ground truth without a
        simulated world."""
        if fsw.cfg.log.px4_rate_hz <= 0:
            return ()
        if fsw.hal.truth is None:
            return tuple(t for t in lt.PX4_TOPICS if t not in lt.PX4_TRUTH_TOPICS)
        return lt.PX4_TOPICS

    def _on_flow(self, fr: Frame, res: FlowResult | None) -> None:
        """Every finished frame's displacement, logged with the cycle that finished it."""
        self._flow_cycle.append((fr.seq, fr.t_ns, res))

    def _t0_us(self) -> int | None:
        """The flight's zero in us (None before the first cycle): the log clock starts with
        the flight software's own zero, the moment it first has one."""
        clock = self.clock
        if clock.t0_us is None and self.fsw.t0_ns is not None:
            clock.start(self.fsw.t0_ns)
            # the wall clock's UTC now, less the flight time already run on the host clock
            since_us = (self.fsw.hal.clock.now_ns() - self.fsw.t0_ns) // 1000
            self.utc_t0_us = time.time_ns() // 1000 - since_us
        return clock.t0_us

    # -- per cycle ------------------------------------------------------------------------
    def on_inputs(self, now: int, imu: list[ImuSample], ranges: list[RangeSample],
                  frames: list[Frame]) -> None:
        w, ids, c = self.w, self.ids, self.fsw.exec_stats.cycles
        self._cycle = c
        t0 = self._t0_us() or 0  # set: the flight software set its zero before its inputs
        ts = now // 1000 - t0
        # a sample measured before the flight's zero is stamped 0 (lt.LogClock); inline, as
        # a conditional: a call to max() costs 0.2 us a sample, several times the rest
        for s in imu:
            t = s.t_ns // 1000 - t0
            w.data(ids[lt.SENSOR_IMU.name],
                   (t if t > 0 else 0, s.t_ns, s.device_t_ns or 0, s.seq, c, s.accel_mps2,
                    s.gyro_rps, s.temp_c))
        for r in ranges:
            t = r.t_ns // 1000 - t0
            w.data(ids[lt.SENSOR_RANGE.name],
                   (t if t > 0 else 0, r.t_ns, r.seq, c, r.distance_m, r.valid))
        px4 = self.px4
        if px4 is not None:
            for r in ranges:
                px4.range(r)
            if imu:
                px4.imu(imu[-1])
        for f in frames:
            t = f.t_ns // 1000 - t0
            w.data(ids[lt.CAMERA_FRAME.name],
                   (t if t > 0 else 0, f.t_ns, f.t_rx_ns, f.device_t_ns or 0, f.exposure_ns,
                    f.seq, c, (f.t_rx_ns - f.t_ns) / 1e9))
        hal = self.fsw.hal
        ih, ch = hal.imu.health(), hal.camera.health()
        ic, cc = ih.clock, ch.clock
        w.data(ids[lt.CYCLE_INPUTS.name], (
            ts, now, c, self.fsw.exec_stats.cycles, self.fsw.exec_stats.overruns,
            ih.overflows, ih.errors, ih.resets,
            ic.skew_ppm if ic else 0.0, ic.updates if ic else 0,
            cc.residual_ns if cc else 0.0, cc.skew_ppm if cc else 0.0, cc.updates if cc else 0,
            ch.lost, ch.errors, ch.connected, self.fsw.exec_stats.slips, ch.overflows,
            bool(ic and ic.settled), bool(cc and cc.settled),
            ic.skew_lo_ppm if ic else 0.0, ic.skew_hi_ppm if ic else 0.0))

    def on_cycle(self, fsw: FlightSoftware, now: int) -> None:
        w, ids, c = self.w, self.ids, self._cycle
        ts = self.clock.us(now)
        if self.lockstep and c % PUMP_EVERY == 0:
            w.pump()
        px4 = self.px4
        for seq, t_ns, res in self._flow_cycle:
            if px4 is not None:
                px4.flow(ts, t_ns, res)
            if res is None:
                continue
            w.data(ids[lt.VISION_FLOW.name], (ts, seq, c, res.drow, res.dcol, res.quality,
                                              res.at_row, res.at_col))
        self._flow_cycle.clear()
        nav = fsw.nav
        roll, pitch, yaw = nav.euler()
        vv = nav.last_vision_vel
        w.data(ids[lt.VEHICLE_STATE.name], (
            ts, int(fsw.mode), nav.position_ned, nav.velocity_ned, tuple(nav.q),
            math.degrees(roll), math.degrees(pitch), math.degrees(yaw), nav.rate, nav.height_m,
            vv[0], vv[1], nav.last_vision_innov))
        sp = fsw.rec.setpoint
        att = fsw.ctrl.last_att_sp
        w.data(ids[lt.SETPOINT.name],
               (ts, sp.north, sp.east, sp.alt, sp.vn_ff, sp.ve_ff,
                sp.climb_rate if sp.climb_rate is not None else float("nan"),
                math.degrees(att[0]), math.degrees(att[1]), fsw.ctrl.last_thrust))
        w.data(ids[lt.MOTOR_OUTPUTS.name],
               (ts, fsw.rec.motors, fsw.mode.value in (1, 2, 3, 4, 5)))
        st = fsw.exec_stats
        w.data(ids[lt.EXECUTIVE.name],
               (ts, st.cycles, st.overruns, st.slips, st.last_cycle_ns / 1e3,
                st.last_wake_latency_ns / 1e3, st.max_cycle_ns / 1e3))
        off = fsw.rec.offset
        if off is not None:
            w.data(ids[lt.CAMERA_IMU_OFFSET.name],
                   (ts, off.t_ns, off.offset_s, off.sigma_s, off.excitation_px_per_ms, off.pairs,
                    off.confident, off.at_edge, nav.offset_correction_ns))
        checks = fsw.watchdog.checks
        trip = fsw.watchdog.trip
        tripped = CHECKS.index(trip.check) if trip is not None else -1
        w.data(ids[lt.CONTINGENCY.name],
               (ts, tripped, *(checks[n].value for n in CHECKS),
                *(min(checks[n].fails, 65535) for n in CHECKS)))
        if not self._thresholds_logged:
            self._thresholds_logged = True
            w.data(ids[lt.CONTINGENCY_THRESHOLDS.name],
                   (ts, *(checks[n].cfg.threshold for n in CHECKS)))
        if px4 is not None:
            px4.cycle(ts, c)
        truth = fsw.hal.truth
        if truth is not None and c % self.truth_every == 0:
            t = truth.truth()
            w.data(ids[lt.TRUTH.name],
                   (ts, t.position_ned, t.velocity_ned, math.degrees(t.roll),
                    math.degrees(t.pitch), math.degrees(t.yaw), t.on_ground))

    def times(self, t_ns: int) -> tuple[int, int]:
        """Host ns -> (UTC us, flight-time us) as the log stamps them (camera_capture)."""
        ts = self.clock.us(t_ns)
        return (self.utc_t0_us or 0) + ts, ts

    def on_photo(self, p: TakenPhoto) -> None:
        """A finished or failed photo: ours and PX4's record, stamped at its mid-exposure."""
        ph = p.photo
        t_ns = p.exposure.t_ns if p.exposure is not None else ph.t_ns
        ts = self.clock.us(t_ns)
        nan = float("nan")
        tr = p.truth
        truth_pos = tr.position_ned if tr is not None else (nan, nan, nan)
        truth_q = euler_to_quat(tr.roll, tr.pitch, tr.yaw) if tr is not None else (nan,) * 4
        uncertainty = p.exposure.uncertainty_ns // 1000 if p.exposure is not None else 0
        ok = bool(ph.jpeg) and not ph.error
        cam = self.fsw.hal.photo_camera
        focal, mount = (float(cam.focal_px), float(cam.mount_pitch_deg)) if cam else (nan, nan)
        w, ids = self.w, self.ids
        w.data(ids[lt.PHOTO.name], (
            ts, ph.seq, t_ns, ph.trigger_ns, ph.t_rx_ns, min(uncertainty, 2**32 - 1),
            p.pose.position_ned, p.pose.q, p.pose.height_agl_m, truth_pos, truth_q, int(ok),
            len(ph.jpeg), min(ph.retries, 65535), ph.width, ph.height, focal, mount,
            p.reason))
        if lt.PX4_CAMERA_CAPTURE.name in ids:
            w.data(ids[lt.PX4_CAMERA_CAPTURE.name], (
                ts, self.times(t_ns)[0], ph.seq, p.lat_deg, p.lon_deg, p.alt_m,
                p.pose.height_agl_m, p.pose.q, 1 if ok else 0, True))

    def on_event(self, ev: Event) -> None:
        self._t0_us()
        self.w.log_string(LEVELS.get(ev.level, 6), self.clock.us(ev.t_ns), ev.text)

    def on_thread_event(self, t_ns: int, text: str, level: int) -> None:
        """An event from another thread than the cycle's (the stall guard): a logged string
        at flight time ``t_ns``, through the writer's thread-safe path; not an ``Event`` of
        the flight software, whose list and callbacks are the cycle's."""
        self.w.log_string_from_thread(LEVELS.get(level, 6), self.clock.us(t_ns), text)

    def close(self) -> None:
        # stamped at the last cycle: the flight's end as the log knows it
        self.w.log_string(LEVELS[logging.INFO], self.clock.us(self.fsw.hal.clock.now_ns()),
                          lt.EVENT_LOG_CLOSED)
        self.w.close()
        st = self.w.stats
        if st.records_dropped or st.io_errors:
            log.warning("flight log %s: %d records dropped, %d I/O errors", self.path,
                        st.records_dropped, st.io_errors)
