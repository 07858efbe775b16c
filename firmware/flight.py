"""One control cycle: drain sensors, navigate, judge, choose a mode, control, actuate.

Modes: IDLE (aligning, learning baselines) -> ARMED (motors spin up) -> TAKEOFF -> MISSION ->
LAND -> LANDED, with LAND_NOW reachable from any airborne mode and never left but by landing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from firmware.checks import ClockReading, WatchdogInputs, trip_action
from firmware.config import FlightConfig, FlightPlan
from firmware.contingency import Trip, Watchdog
from firmware.control import Controller, Setpoint
from firmware.executive import ExecStats
from firmware.mission import MissionSequencer
from firmware.nav import FlowEngine, Navigator
from firmware.photos import PhotoPlanner
from firmware.time_offset import OffsetEstimate
from hal.interfaces import Hal
from hal.types import NS_PER_S, ActuatorCommand, Frame, ImuSample, RangeSample

log = logging.getLogger(__name__)

SPOOL_S = 0.5
SPOOL_COMMAND = 0.08  # every motor's command while ARMED spins them up on the ground
IDLE_MIN_S = 5.0  # on the ground at least this long before arming, on every backend
LAND_DETECT_S = 0.5
MAX_PLAN_DT_S = 0.5  # a longer gap is a stall the watchdog lands on, not time to fly through
MAX_CONTROL_DT_PERIODS = 4
GROUND_NEAR_M = 0.3
# LAND waits for a lull in the wind no lower than this above the legs: a vehicle holding its
# height within GROUND_CONTACT_M of the ground would read as landed and level in the air
LULL_FLOOR_M = 0.8
GROUND_CONTACT_M = 0.4  # low enough, and no longer descending: the legs are down


class Mode(IntEnum):
    IDLE = 0
    ARMED = 1
    TAKEOFF = 2
    MISSION = 3
    LAND = 4
    LAND_NOW = 5
    LANDED = 6


AIRBORNE = (Mode.TAKEOFF, Mode.MISSION, Mode.LAND, Mode.LAND_NOW)


@dataclass
class Event:
    t_ns: int
    text: str
    level: int = logging.INFO


@dataclass
class FlightRecord:
    """Per-cycle values a recorder may want (kept as attributes, no allocation per cycle)."""

    setpoint: Setpoint = field(default_factory=lambda: Setpoint(0.0, 0.0, 0.0))
    motors: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    armed: bool = False  # the command's armed flag (False also when the stall guard cut it)
    offset: OffsetEstimate | None = None  # a new camera-IMU time offset estimate this cycle


class FlightSoftware:
    def __init__(self, cfg: FlightConfig, hal: Hal, plan: FlightPlan, gravity: float,
                 exec_stats: ExecStats, flow_engine: FlowEngine | None = None) -> None:
        self.cfg = cfg
        self.hal = hal
        self.plan = plan
        self.g = gravity
        self.exec_stats = exec_stats
        cam = hal.camera
        self.nav = Navigator(cfg.nav, gravity, hal.imu.rate_hz, cam.width, cam.height,
                             cam.focal_px, flow_engine, cfg.time_offset,
                             cfg.contingency.check("camera_imu_offset").threshold)
        self.ctrl = Controller(cfg.control, cfg.vehicle, gravity)
        self.watchdog = Watchdog(cfg.contingency, cam.rate_hz)
        self.mission = MissionSequencer(plan, acceptance_m=cfg.control.acceptance_radius_m)
        self.photos = PhotoPlanner(cfg.photo, plan, hal, self.nav, self.event)
        self.mission.hold_gate = self.photos.hold_gate
        self.mode = Mode.IDLE
        self.mode_t_ns = 0
        self.t0_ns: int | None = None
        self.events: list[Event] = []
        self.rec = FlightRecord()
        self.land_now: Trip | None = None
        self.land_now_pos: tuple[float, float] = (0.0, 0.0)
        self.polls = 0
        self.stop_requests = 0
        self.outputs_cut: str | None = None  # set from the stall guard's thread
        self._cut_reported = False
        self.finished = False
        self._land_timer = 0.0  # land detector: how long touchdown has looked true
        self._hold_timer = 0.0  # time held at the take-off altitude
        self._wind_timer = 0.0  # time tilt-limited and losing ground (the high-wind abort)
        self._lull_wait = 0.0  # time LAND has waited low for the wind to ease (touchdown)
        self.land_point: tuple[float, float] | None = None  # LAND here instead of the plan's
        self._alt_sp = 0.0
        self._dt = exec_stats.period_ns / NS_PER_S
        self._last_ctrl_ns: int | None = None
        self.hover_thrust_n = cfg.vehicle.mass_kg * gravity
        self.on_event: Callable[[Event], None] | None = None
        # what the cycle drained (the recorder logs it; replay feeds it back)
        self.on_inputs: Callable[[int, list[ImuSample], list[RangeSample], list[Frame]],
                                 None] | None = None
        self.on_cycle_done: Callable[[FlightSoftware, int], None] | None = None
        # the camera-IMU time offset estimate: when it was first confident, its largest size
        self.offset_confident_ns: int | None = None
        self.offset_max_abs_s = 0.0

    # -- helpers --------------------------------------------------------------------------
    def event(self, now: int, text: str, level: int = logging.INFO) -> None:
        ev = Event(now, text, level)
        self.events.append(ev)
        log.log(level, "t=%.3f %s", self.mission_time(now), text)
        if self.on_event is not None:
            self.on_event(ev)

    def mission_time(self, now: int) -> float:
        return 0.0 if self.t0_ns is None else (now - self.t0_ns) / NS_PER_S

    def _set_mode(self, mode: Mode, now: int, why: str = "") -> None:
        self.mode = mode
        self.mode_t_ns = now
        self.event(now, f"mode {mode.name}" + (f" ({why})" if why else ""))

    # -- the cycle ------------------------------------------------------------------------
    def cycle(self, now: int, index: int) -> bool:
        hal = self.hal
        if self.t0_ns is None:
            self.t0_ns = now
            self._set_mode(Mode.IDLE, now, "aligning, learning baselines")
        imu = hal.imu.poll()
        ranges = hal.rangefinder.poll()
        frames = hal.camera.poll()
        self.polls += 1
        if self.on_inputs is not None:
            self.on_inputs(now, imu, ranges, frames)
        nav = self.nav
        if imu:
            if nav.aligned:
                nav.propagate(imu)
            else:
                nav.align(imu)
        if ranges and nav.aligned:
            resets = nav.counters.range_resets
            for r in ranges:
                nav.fuse_range(r)
            if nav.counters.range_resets != resets:
                self.event(now, f"height reset to the altimeter's {nav.height_m:.2f} m (its "
                           f"readings refused for {self.cfg.nav.range_reset_s:g} s)",
                           logging.WARNING)
        cam_h, imu_h = hal.camera.health(), hal.imu.health()
        earlier = nav.step_frame() if nav.aligned else None  # the frame begun in a past cycle
        innovations = tuple(nav.fuse_frame(fr) if nav.aligned else None for fr in frames)
        offset = self.rec.offset = nav.take_offset_update()
        if offset is not None and offset.confident:
            if self.offset_confident_ns is None:
                self.offset_confident_ns = now
            self.offset_max_abs_s = max(self.offset_max_abs_s, abs(offset.offset_s))
        st = self.exec_stats
        wd = self.watchdog
        wd.evaluate(WatchdogInputs(
            now, st.cycles + st.slips, st.slips, imu, ranges, frames, cam_h.overflows,
            ClockReading.of(cam_h.clock), ClockReading.of(imu_h.clock), imu_h.overflows,
            imu_h.errors, self.polls, nav.counters.imu_rejected, nav.tilt_deg(),
            self.mode in AIRBORNE,
            nav.use_vision and nav.height_m > self.cfg.nav.vision_min_alt_m + 0.5,
            earlier, innovations, offset))
        if wd.trip is not None and self.land_now is None:
            self._enter_land_now(wd.trip, now)
        motors = self._modes_and_control(now)
        self.photos.cycle(now, self.mission_time(now), self.mode == Mode.MISSION,
                          self.mission.holding, self.land_now is not None)
        armed = self.mode in (Mode.ARMED, *AIRBORNE) and self.outputs_cut is None
        if self.outputs_cut is not None and not self._cut_reported:
            self._cut_reported = True
            self.event(now, f"OUTPUTS CUT by the stall guard: {self.outputs_cut}", logging.ERROR)
        self.rec.motors = motors
        self.rec.armed = armed
        hal.actuators.write(ActuatorCommand(motors, armed))
        if self.on_cycle_done is not None:
            self.on_cycle_done(self, now)
        if self.finished and self.photos.draining(now):
            return True  # on the ground, outputs off: a photo still being read is kept
        return not self.finished

    def request_stop(self, now: int, why: str = "operator stop") -> None:
        """The operator (SIGINT/SIGTERM) wants the vehicle down: LAND_NOW when airborne, a
        second request disarms at once; on the ground, disarm and finish."""
        self.stop_requests += 1
        if self.mode in AIRBORNE and self.stop_requests == 1:
            if self.land_now is None:
                self._enter_land_now(Trip("operator_stop", "operator", now, 1.0, 0.0), now)
            return
        self.event(now, f"{why}: disarming now", logging.WARNING)
        self.mode = Mode.LANDED
        self.mode_t_ns = now
        self.finished = True

    def _enter_land_now(self, trip: Trip, now: int) -> None:
        self.land_now = trip
        self.event(now, f"LAND_NOW: {trip.check} ({trip.value:.4g} > {trip.threshold:.4g})",
                   logging.WARNING)
        if self.mode not in AIRBORNE:
            return
        action = trip_action(trip.source)
        self.nav.stop_trusting(vision=action.distrust_vision, altimeter=action.distrust_range)
        pn, pe, _ = self.nav.position_ned
        self.land_now_pos = (pn, pe)
        self._alt_sp = self.nav.height_m
        self._set_mode(Mode.LAND_NOW, now, trip.check)

    def _modes_and_control(self, now: int) -> tuple[float, ...]:
        nav = self.nav
        mode = self.mode
        t_in_mode = (now - self.mode_t_ns) / NS_PER_S
        if mode == Mode.IDLE:
            if nav.aligned and self.watchdog.learned and t_in_mode >= IDLE_MIN_S:
                self.watchdog.arm(now)
                self.ctrl.reset()
                self._set_mode(Mode.ARMED, now)
            return self.ctrl.constant(0.0)
        if mode == Mode.LANDED or self.finished:
            self.finished = True
            return self.ctrl.constant(0.0)
        if mode == Mode.ARMED:
            if t_in_mode >= SPOOL_S:
                self._alt_sp = nav.height_m
                self._set_mode(Mode.TAKEOFF, now)
            return self.ctrl.constant(SPOOL_COMMAND)
        if now - nav.t_ns > self.cfg.contingency.imu_lost_s * NS_PER_S:
            # No attitude feedback: hold collective, no torque, until the IMU is back.
            thrust = self.ctrl.last_thrust
            return self.ctrl.mix(thrust, 0.0, 0.0, 0.0)

        # The plan, hold and landing timers follow the time that really passed: a cycle that
        # missed deadlines on a busy host must not leave the flight plan behind the clock
        # (hil flight 6 fell 2-7 m behind the sim from 0.5-2 % missed deadlines). The
        # control laws get the same dt, bounded, so a stall cannot kick their integrators.
        elapsed = self._dt if self._last_ctrl_ns is None else (now - self._last_ctrl_ns) / NS_PER_S
        self._last_ctrl_ns = now
        dt = min(max(elapsed, 0.0), MAX_PLAN_DT_S)
        ctrl_dt = min(dt, MAX_CONTROL_DT_PERIODS * self._dt)
        pn, pe, _ = nav.position_ned
        height = nav.height_m
        sp = self.rec.setpoint
        sp.yaw = self.photos.yaw_sp  # 0 (north) unless a waypoint turned to face a target
        sp.vn_ff = sp.ve_ff = 0.0
        sp.hold_horizontal = True
        sp.level_only = sp.trim_only = False
        sp.climb_rate = None
        if mode == Mode.TAKEOFF:
            step = 0.8 * dt
            self._alt_sp = min(self.plan.takeoff_alt_m, self._alt_sp + step)
            sp.north, sp.east, sp.alt, sp.max_speed = 0.0, 0.0, self._alt_sp, 1.0
            if abs(height - self.plan.takeoff_alt_m) < 0.3:
                if self._hold_timer >= self.plan.takeoff_hold_s:
                    self.mission.begin(0.0, 0.0, self.plan.takeoff_alt_m)
                    self._set_mode(Mode.MISSION, now)
                self._hold_timer += dt
        elif mode == Mode.MISSION:
            self.photos.steer(now, dt, self.mission.leg, self.mission.holding)
            sp.yaw = self.photos.yaw_sp
            n, e, a, vn, ve, speed = self.mission.update(dt, pn, pe, height)
            sp.north, sp.east, sp.alt, sp.vn_ff, sp.ve_ff = n, e, a, vn, ve
            sp.max_speed = speed + 1.0
            if self.mission.done:
                self._set_mode(Mode.LAND, now)
        elif mode in (Mode.LAND, Mode.LAND_NOW):
            c = self.cfg.control
            if mode == Mode.LAND:
                sp.north, sp.east = self.land_point or self.plan.landing_point()
                fast = c.max_descent_mps
            else:
                sp.north, sp.east = self.land_now_pos
                fast = c.land_now_descent_mps
                if not nav.use_vision:
                    sp.hold_horizontal = False  # brake on the dead-reckoned velocity
            if not nav.use_range:
                fast = min(fast, c.blind_descent_mps)
            slow = nav.use_range and height < c.land_slow_alt_m
            sp.climb_rate = -(c.land_speed_mps if slow else fast)
            near = nav.use_range and height < self.cfg.vehicle.gear_height_m + GROUND_NEAR_M
            # (only well above the legs: hovering low reads as ground contact, which levels)
            lull_zone = slow and height > self.cfg.vehicle.gear_height_m + LULL_FLOOR_M
            if mode == Mode.LAND and lull_zone and self._wait_for_lull(now, dt):
                sp.climb_rate = 0.0
            # Last decimetres: no horizontal control, so a velocity error cannot tip the vehicle
            # over its legs (PX4's ground contact), but the tilt that has been balancing the
            # wind is held: levelling in the air lets a steady wind blow the vehicle into a
            # sideways touchdown (a campaign crash, 2.4 m/s in wind). Ground contact (low and
            # no longer descending) or touching: level, and stop fighting the ground's tilt.
            if self._land_timer > 0.0 or self._ground_contact():
                sp.level_only = True
            elif near:
                sp.trim_only = True
            sp.alt = height
            # in the slow zone the approach slows sideways too: legs meet the ground at speed
            sp.max_speed = c.land_speed_mps if slow else 1.0
            if self._landed(dt):
                self._set_mode(Mode.LANDED, now, "touchdown")
                self.watchdog.disarm()
                return self.ctrl.constant(0.0)
        motors = self.ctrl.update(sp, nav.position_ned, nav.velocity_ned, nav.q, nav.rate,
                                  ctrl_dt)
        if mode in (Mode.TAKEOFF, Mode.MISSION):
            self._judge_wind(sp, now, dt)
        return motors

    def _judge_wind(self, sp: Setpoint, now: int, dt: float) -> None:
        """The high-wind abort: a vehicle that has been at its tilt limit and losing ground
        (off its setpoint and not closing on it) for ``wind_abort_s`` cannot fly the plan in
        this air; it lands where it is rather than be blown away for the rest of its battery.
        Navigation is healthy: a LAND, not LAND_NOW."""
        c = self.cfg.control
        pn, pe, _ = self.nav.position_ned
        vn, ve, _ = self.nav.velocity_ned
        dn, de = sp.north - pn, sp.east - pe
        off = math.hypot(dn, de)
        closing = (vn * dn + ve * de) / off if off > 0 else 0.0
        losing = off > c.wind_abort_error_m and closing < c.wind_abort_closing_mps
        if c.wind_abort_s > 0 and self.ctrl.tilt_limited and losing:
            self._wind_timer += dt
        else:
            self._wind_timer = 0.0
        if self._wind_timer >= c.wind_abort_s > 0:
            self.land_point = (pn, pe)
            self.event(now, f"HIGH WIND: at the tilt limit for {self._wind_timer:.1f} s and "
                       f"{off:.1f} m off the setpoint: mission abandoned, landing here",
                       logging.WARNING)
            self._set_mode(Mode.LAND, now, "high wind")

    def _wait_for_lull(self, now: int, dt: float) -> bool:
        """Whether LAND holds its height in the slow zone: the wind needs more tilt than the
        legs take at touchdown (``touchdown_tilt_deg``), so touching down now would drift or
        tip over; a gust passes in seconds. At most ``land_wind_wait_s`` in all (the battery).
        """
        c = self.cfg.control
        if self._lull_wait >= c.land_wind_wait_s or \
                self.ctrl.trim_tilt_deg() <= c.touchdown_tilt_deg:
            return False
        if self._lull_wait == 0.0:
            self.event(now, f"WIND: {self.ctrl.trim_tilt_deg():.0f} deg of tilt holds the "
                       f"vehicle, over the {c.touchdown_tilt_deg:g} deg it can touch down "
                       f"with: waiting for a lull", logging.WARNING)
        self._lull_wait += dt
        return True

    def _ground_contact(self) -> bool:
        """Low and no longer descending (PX4's ground contact stage): the legs are down."""
        nav = self.nav
        low = not nav.use_range or nav.height_m < self.cfg.vehicle.gear_height_m + GROUND_CONTACT_M
        return low and abs(nav.velocity_ned[2]) < 0.3

    def _landed(self, dt: float) -> bool:
        light = self.ctrl.last_thrust < 0.8 * self.hover_thrust_n
        if self._ground_contact() and light:
            self._land_timer += dt
        else:
            self._land_timer = 0.0
        return self._land_timer >= LAND_DETECT_S

    # -- reporting ------------------------------------------------------------------------
    def status_line(self, now: int) -> str:
        vn, ve, _ = self.nav.velocity_ned
        est = self.nav.time_offset.estimate
        cam = (f"{est.offset_s * 1e3:+6.1f}+-{est.sigma_s * 1e3:.1f} ms"
               if est is not None and est.confident else "   (no estimate)")
        return (f"t={self.mission_time(now):7.2f}s  {self.mode.name:<8}  "
                f"alt={self.nav.height_m:6.2f} m  speed={math.hypot(vn, ve):5.2f} m/s  "
                f"cam-imu {cam}")

    def offset_report(self) -> dict[str, float | bool | None]:
        """The camera-IMU time offset estimate at the end, for the summary ({} when off)."""
        nav = self.nav
        if not nav.offset_cfg.enabled:
            return {}
        est = nav.time_offset.estimate
        confident_at = (None if self.offset_confident_ns is None
                        else round(self.mission_time(self.offset_confident_ns), 3))
        return {
            "configured_ms": nav.cfg.camera_time_offset_ms,
            "estimate_ms": None if est is None else round(est.offset_s * 1e3, 3),
            "sigma_ms": None if est is None or not math.isfinite(est.sigma_s)
            else round(est.sigma_s * 1e3, 3),
            "confident": bool(est is not None and est.confident),
            "confident_at_s": confident_at,
            "max_abs_ms": round(self.offset_max_abs_s * 1e3, 3),
            "excitation_px_per_ms": None if est is None else round(est.excitation_px_per_ms, 5),
            "pairs_used": nav.time_offset.pairs_used,
            "correction_ms": round(nav.offset_correction_ns / 1e6, 3),
            "rewound_s": round(nav.rewound_s, 3),
        }
