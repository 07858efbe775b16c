"""The flight as PX4 logs one: PX4's topics filled from our state, so PX4's tools read our log.

The shapes are ``firmware.log_topics.PX4_TOPICS``; this module decides what goes in them. Our
own topics stay the full record (every sample with its time story, every check); these repeat
the estimates, setpoints and outputs in PX4's names, frames and units, at
``[log] px4_rate_hz`` (default 100 Hz), plus ``distance_sensor`` and ``vehicle_optical_flow``
on every new range sample and vision result.

Frames and units are PX4's and already ours: time in microseconds on the log's clock (flight
time, ``firmware.log_topics.LogClock``, as ``timestamp`` everywhere in the log), quaternions
Hamilton (w, x, y, z) body FRD to NED, positions and velocities NED in metres relative to the
take-off point, rates in rad/s about body FRD. Our vertical estimate is the altimeter's
height above the ground below (there is no terrain state), so ``z`` is minus that height and
``dist_bottom`` is that height.

Normalisations (PX4 normalises, we fly in newtons):
- thrust: the collective thrust asked of the mixer over the most the motors make together
  (``thrust_to_weight`` times the weight), as ``-z`` in body FRD: 0 none, -1 all motors full.
- torque: each body torque asked of the mixer over the most the motors make about that axis
  (two motors full, two stopped: ``n/2`` motors' full thrust times the lever arm, or times
  ``yaw_moment_m`` for yaw), so +-1 is full authority about that axis. It is the demand:
  past +-1 in a hard manoeuvre, where the mixer scales it down.
- motors: ``actuator_outputs.output`` and ``actuator_motors.control`` hold the command each
  motor got, 0..1 thrust (the PWM pulse is the rig driver's affair, ``hal.pca9685``'s
  min_us..max_us); stopped is 0 in ``actuator_outputs`` and NaN in ``actuator_motors``, as
  PX4 marks a disarmed motor there.

Modes -> ``vehicle_status.nav_state`` (PX4's NAVIGATION_STATE_*): IDLE -> AUTO_LOITER (4,
on the ground, not armed), ARMED and TAKEOFF -> AUTO_TAKEOFF (17), MISSION -> AUTO_MISSION
(3), LAND and LANDED -> AUTO_LAND (18), LAND_NOW -> AUTO_LAND (18) while it holds its
position with vision, DESCEND (12) once it has stopped trusting vision (PX4's own failsafe
landing without a position estimate). ``failsafe`` is true from the LAND_NOW trip on (the
latch is never cleared), and ``nav_state_user_intention`` then stays what the plan was doing.

The periodic topics go out in four groups on consecutive cycles of each period (estimates,
setpoints, outputs and status, sensor_combined and ground truth), so no one cycle carries them
all: each record is stamped with the cycle that wrote it, as PX4's modules publish apart.

A field we have no value for is written as PX4 leaves it: NaN for a float we do not know, 0
or false for a flag or counter; each is marked below. Nothing here packs or writes: each
record is a tuple appended to the async writer's queue.
"""

from __future__ import annotations

from typing import Protocol

from firmware.flight import AIRBORNE, FlightSoftware, Mode
from firmware.log_topics import (
    PX4_ACTUATOR_MOTORS,
    PX4_ACTUATOR_OUTPUTS,
    PX4_DISTANCE_SENSOR,
    PX4_ESTIMATOR_STATUS,
    PX4_SENSOR_COMBINED,
    PX4_VEHICLE_ANGULAR_VELOCITY,
    PX4_VEHICLE_ATTITUDE,
    PX4_VEHICLE_ATTITUDE_GROUNDTRUTH,
    PX4_VEHICLE_ATTITUDE_SETPOINT,
    PX4_VEHICLE_LOCAL_POSITION,
    PX4_VEHICLE_LOCAL_POSITION_GROUNDTRUTH,
    PX4_VEHICLE_LOCAL_POSITION_SETPOINT,
    PX4_VEHICLE_OPTICAL_FLOW,
    PX4_VEHICLE_RATES_SETPOINT,
    PX4_VEHICLE_STATUS,
    PX4_VEHICLE_THRUST_SETPOINT,
    PX4_VEHICLE_TORQUE_SETPOINT,
    LogClock,
)
from firmware.vision import FlowResult
from hal.geometry import euler_to_quat, quat_to_matrix
from hal.types import ImuSample, RangeSample, TruthState

NAN = float("nan")
INF = float("inf")
NAN3 = (NAN, NAN, NAN)
NO_RESET_Q = (1.0, 0.0, 0.0, 0.0)  # delta_q_reset with no attitude reset: the identity

# PX4's vehicle_status constants (VehicleStatus.msg).
NAV_STATE_AUTO_MISSION = 3
NAV_STATE_AUTO_LOITER = 4
NAV_STATE_DESCEND = 12
NAV_STATE_AUTO_TAKEOFF = 17
NAV_STATE_AUTO_LAND = 18
ARMING_STATE_DISARMED = 1
ARMING_STATE_ARMED = 2
VEHICLE_TYPE_ROTARY_WING = 1
MAV_TYPE_QUADROTOR = 2  # MAVLink MAV_TYPE: four rotors (firmware.control's quad X)
# PX4's defaults for MAV_SYS_ID and MAV_COMP_ID (we have no MAVLink link to number)
SYSTEM_ID = 1
COMPONENT_ID = 1
# distance_sensor constants (DistanceSensor.msg)
DISTANCE_SENSOR_LASER = 0
ROTATION_DOWNWARD_FACING = 25
DISTANCE_SENSOR_MODE_ENABLED = 1
DIST_BOTTOM_SENSOR_RANGE = 1  # VehicleLocalPosition.msg: dist_bottom from a range sensor
# estimator_status bits (EstimatorStatus.msg): control_mode_flags' CS_* and
# solution_status_flags' numbered bits
CS_TILT_ALIGN, CS_YAW_ALIGN, CS_OPT_FLOW, CS_IN_AIR, CS_RNG_HGT, CS_VEHICLE_AT_REST = (
    0, 1, 3, 7, 10, 26)
SOL_ATTITUDE, SOL_VEL_HORIZ, SOL_VEL_VERT, SOL_POS_HORIZ_REL, SOL_POS_VERT_AGL = 0, 1, 2, 3, 6
# health_flags and timeout_flags (the .msg's "(vel, pos, hgt)"): bit 0 velocity and bit 1
# horizontal position aiding, both from vision (position is its velocity integrated), bit 2
# height aiding, from the altimeter. A health bit is set while that aiding is distrusted
# or its last measurement was refused; a timeout bit while it is wanted (airborne, and for
# vision above vision_min_alt_m) and nothing has been fused for AIDING_TIMEOUT_S.
AID_VEL, AID_POS, AID_HGT = 1, 2, 4
AIDING_TIMEOUT_S = 0.5
GROUPS = 4  # of periodic topics, written on consecutive cycles (Px4Log.cycle)
PX4_ACTUATOR_OUTPUTS_LEN = 16
PX4_ACTUATOR_MOTORS_LEN = 12

NAV_STATE_OF_MODE: dict[Mode, int] = {
    Mode.IDLE: NAV_STATE_AUTO_LOITER,
    Mode.ARMED: NAV_STATE_AUTO_TAKEOFF,
    Mode.TAKEOFF: NAV_STATE_AUTO_TAKEOFF,
    Mode.MISSION: NAV_STATE_AUTO_MISSION,
    Mode.LAND: NAV_STATE_AUTO_LAND,
    Mode.LAND_NOW: NAV_STATE_AUTO_LAND,
    Mode.LANDED: NAV_STATE_AUTO_LAND,
}
# Every nav_state we ever report (vehicle_status.valid_nav_states_mask).
VALID_NAV_STATES_MASK = sum(
    1 << s for s in {*NAV_STATE_OF_MODE.values(), NAV_STATE_DESCEND})


def nav_state(mode: Mode, holds_position: bool) -> int:
    """PX4's nav_state for our mode; ``holds_position``: LAND_NOW still trusts vision."""
    if mode == Mode.LAND_NOW and not holds_position:
        return NAV_STATE_DESCEND
    return NAV_STATE_OF_MODE[mode]


def is_armed(mode: Mode) -> bool:
    """PX4's arming state: motors allowed to spin (the stall guard's cut is PX4's kill
    switch, which leaves the vehicle armed)."""
    return mode == Mode.ARMED or mode in AIRBORNE


class RecordSink(Protocol):
    """Where the records go (``firmware.ulog_writer.AsyncLogWriter``)."""

    def data(self, msg_id: int, values: tuple[object, ...]) -> None: ...


class Px4Log:
    """Writes the PX4 topics of one flight; the flight recorder calls it."""

    def __init__(self, sink: RecordSink, ids: dict[str, int], fsw: FlightSoftware,
                 every_cycles: int, clock: LogClock) -> None:
        self.sink = sink
        self.clock = clock  # host ns -> the log's us (flight time)
        self.ids = ids
        self.fsw = fsw
        self.every = every_cycles
        ctrl = fsw.ctrl
        n = len(fsw.rec.motors)
        self.max_thrust_n = n * ctrl.max_thrust
        self.max_torque = (n / 2 * ctrl.max_thrust * ctrl.arm,
                           n / 2 * ctrl.max_thrust * ctrl.arm,
                           n / 2 * ctrl.max_thrust * ctrl.yaw_k)
        self.imu_dt_us = round(1e6 / fsw.hal.imu.rate_hz)
        self.focal_px = float(fsw.hal.camera.focal_px)
        self.range_var = fsw.cfg.nav.range_noise_m ** 2
        self.vision_min_alt_m = fsw.cfg.nav.vision_min_alt_m
        self.vision_gate_mps = fsw.cfg.nav.vision_gate_mps
        self.aiding_timeout_ns = round(AIDING_TIMEOUT_S * 1e9)
        # since when each aiding has been wanted (0: not wanted): a timeout runs from the
        # later of that and its last fused measurement
        self._vision_wanted_ns = 0
        self._range_wanted_ns = 0
        self.has_truth = fsw.hal.truth is not None
        self._imu: ImuSample | None = None  # the newest IMU sample not yet logged
        self._frame_t_ns: int | None = None  # the previous finished frame's stamp
        self._armed_us = 0
        self._takeoff_us = 0
        self._intention = NAV_STATE_AUTO_LOITER

    # -- on every new sample ----------------------------------------------------------------
    def imu(self, s: ImuSample) -> None:
        self._imu = s

    def range(self, r: RangeSample) -> None:
        valid = r.valid
        self.sink.data(self.ids[PX4_DISTANCE_SENSOR.name], (
            self.clock.us(r.t_ns),
            0,  # device_id: we number no devices
            NAN, NAN,  # min/max_distance: the driver's, unknown here
            r.distance_m,  # nan when invalid, as our HAL delivers it
            self.range_var if valid else 0.0,  # 0: unknown/invalid (the .msg's convention)
            -1 if valid else 0,  # signal_quality: -1 unknown, 0 invalid
            DISTANCE_SENSOR_LASER,
            NAN, NAN,  # h_fov, v_fov: unknown
            (0.0, 0.0, 0.0, 0.0),  # q: only for ROTATION_CUSTOM; PX4's drivers leave it zero
            ROTATION_DOWNWARD_FACING,
            DISTANCE_SENSOR_MODE_ENABLED))

    def flow(self, ts_us: int, frame_t_ns: int, res: FlowResult | None) -> None:
        """One finished frame (``res`` None: no displacement from it)."""
        prev, self._frame_t_ns = self._frame_t_ns, frame_t_ns
        if res is None:
            return
        f = self.focal_px
        span_us = 0 if prev is None else max(0, (frame_t_ns - prev) // 1000)
        # PX4's flow is the angle the scene turned through, + for a right-handed rotation
        # of the body about the axis: the image's columns lie along body +y (about x: +dcol)
        # and its rows along body -x (about y: +drow), as firmware.vision defines them.
        self.sink.data(self.ids[PX4_VEHICLE_OPTICAL_FLOW.name], (
            ts_us, self.clock.us(frame_t_ns),
            0,  # device_id
            (res.dcol / f, res.drow / f),
            NAN3,  # delta_angle: the gyro's over the pair is navigation's, not logged here
            NAN,  # distance_m: the camera has no range of its own (see distance_sensor)
            span_us,
            round(255 * min(1.0, max(0.0, res.quality))),
            NAN,  # max_flow_rate: unknown
            self.vision_min_alt_m,  # navigation uses vision only above this height
            NAN))  # max_ground_distance: unknown

    # -- at px4_rate_hz -----------------------------------------------------------------------
    def cycle(self, ts: int, cycle: int) -> None:
        """The periodic topics of the cycle stamped ``ts`` (us, log time), in four groups on
        four consecutive cycles of each period (all on one when the period is shorter): a
        cycle carries a quarter of the work, not all of it one cycle in ``every``."""
        phase = cycle % self.every
        if phase >= GROUPS or (self.every < GROUPS and phase):
            return
        nav_t = self.fsw.nav.t_ns
        ts_sample = self.clock.us(nav_t) if nav_t else ts
        every_group = self.every < GROUPS
        if every_group or phase == 0:
            self._estimates(ts, ts_sample)
            self._estimator_status(ts, ts_sample)
        if every_group or phase == 1:
            self._setpoints(ts, ts_sample)
        if every_group or phase == 2:
            self._outputs(ts, ts_sample)
            self._status(ts)
        if every_group or phase == 3:
            self._sensor_combined()
            if self.has_truth:
                self._truth(ts)

    def _estimates(self, ts: int, ts_sample: int) -> None:
        nav = self.fsw.nav
        ids, sink = self.ids, self.sink
        sink.data(ids[PX4_VEHICLE_ATTITUDE.name], (ts, ts_sample, tuple(nav.q), NO_RESET_Q, 0))
        # xyz_derivative: we estimate no angular acceleration
        sink.data(ids[PX4_VEHICLE_ANGULAR_VELOCITY.name], (ts, ts_sample, nav.rate, NAN3))
        xy_ok = nav.aligned and nav.use_vision
        z_ok = nav.aligned and nav.use_range
        pn, pe, pd = nav.position_ned
        vn, ve, vd = nav.velocity_ned
        an, ae, ad = nav.accel_kin
        heading = nav.euler()[2]
        resets = nav.counters.range_resets  # height and climb rate taken from the altimeter
        # how far a reset moved them is not kept: unknown once there has been one
        delta_z = 0.0 if resets == 0 else NAN
        sink.data(ids[PX4_VEHICLE_LOCAL_POSITION.name], (
            ts, ts_sample, xy_ok, z_ok, xy_ok, z_ok, pn, pe, pd,
            (0.0, 0.0), 0, delta_z, resets % 256,  # no horizontal position resets
            vn, ve, vd, vd,  # z_deriv: our filter's velocity is its position's derivative
            (0.0, 0.0), 0, delta_z, resets % 256,
            an, ae, ad,
            heading, NAN,  # heading_var: not estimated
            heading,  # unaided_heading: no magnetometer, our heading is the gyro's alone
            0.0, 0, nav.aligned,
            NAN,  # tilt_var: not estimated
            False, False, 0, NAN, NAN, NAN,  # no global (GPS) reference
            z_ok, nav.height_m,
            # dist_bottom_var: the filter's variance is brought up to date only at a
            # measurement; between them it would understate it
            NAN, delta_z, resets % 256, DIST_BOTTOM_SENSOR_RANGE if z_ok else 0,
            NAN, NAN, NAN, NAN,  # eph, epv, evh, evv: the same (see dist_bottom_var)
            not nav.use_vision,  # dead reckoning: no vision, the IMU alone carries position
            INF, INF, INF, INF, INF))  # no estimator limits on speed or height

    def _estimator_status(self, ts: int, ts_sample: int) -> None:
        fsw = self.fsw
        nav = fsw.nav
        airborne = fsw.mode in AIRBORNE
        t = nav.t_ns
        limit = self.aiding_timeout_ns
        vision_fresh = t - nav.vision_ok_t_ns <= limit
        range_fresh = t - nav.range_ok_t_ns <= limit
        wants_vision = airborne and nav.use_vision and nav.height_m > self.vision_min_alt_m
        wants_range = airborne and nav.use_range
        if not wants_vision:
            self._vision_wanted_ns = 0
        elif not self._vision_wanted_ns:
            self._vision_wanted_ns = t
        if not wants_range:
            self._range_wanted_ns = 0
        elif not self._range_wanted_ns:
            self._range_wanted_ns = t
        xy_ok = nav.aligned and nav.use_vision
        z_ok = nav.aligned and nav.use_range
        vel_ratio = nav.last_vision_innov / self.vision_gate_mps
        hgt_ratio = nav.range_test_ratio
        health = 0
        if not nav.use_vision or vel_ratio > 1.0:
            health |= AID_VEL | AID_POS
        if not nav.use_range or hgt_ratio > 1.0:
            health |= AID_HGT
        timeout = 0
        if wants_vision and t - max(nav.vision_ok_t_ns, self._vision_wanted_ns) > limit:
            timeout |= AID_VEL | AID_POS
        if wants_range and t - max(nav.range_ok_t_ns, self._range_wanted_ns) > limit:
            timeout |= AID_HGT
        mode_flags = ((nav.aligned << CS_TILT_ALIGN) | (nav.aligned << CS_YAW_ALIGN)
                      | ((xy_ok and vision_fresh) << CS_OPT_FLOW) | (airborne << CS_IN_AIR)
                      | ((z_ok and range_fresh) << CS_RNG_HGT)
                      | ((not airborne) << CS_VEHICLE_AT_REST))
        solution = ((nav.aligned << SOL_ATTITUDE) | (xy_ok << SOL_VEL_HORIZ)
                    | (z_ok << SOL_VEL_VERT) | (xy_ok << SOL_POS_HORIZ_REL)
                    | (z_ok << SOL_POS_VERT_AGL))
        resets = nav.counters.range_resets % 256
        self.sink.data(self.ids[PX4_ESTIMATOR_STATUS.name], (
            ts, ts_sample,
            NAN3,  # output_tracking_error: no output predictor
            0, mode_flags,  # no GPS checks
            0,  # filter_fault_flags: numerical faults are not detected as such
            NAN, NAN,  # pos_horiz/vert_accuracy: see dist_bottom_var in vehicle_local_position
            # test ratios, unfiltered (PX4 low-passes them): NaN where nothing is measured
            NAN, vel_ratio, NAN, hgt_ratio, NAN, hgt_ratio, NAN,
            solution,
            0, resets, 0, resets, 0,  # range resets set height and climb rate
            nav.time_slip_s,
            False, False, False, False, False, False,  # no preflight innovation checks
            0, 0, 0, 0,  # device ids: we number no devices
            health, timeout,
            NAN, NAN, NAN, NAN))  # no magnetometer

    def _normalised(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """(thrust, torque) asked of the mixer, normalised as PX4 does (module docstring)."""
        d = self.fsw.ctrl.last_demand
        mx, my, mz = self.max_torque
        return ((0.0, 0.0, -d.thrust_n / self.max_thrust_n),
                (d.tau_x / mx, d.tau_y / my, d.tau_z / mz))

    def _setpoints(self, ts: int, ts_sample: int) -> None:
        fsw = self.fsw
        sp, ctrl = fsw.rec.setpoint, fsw.ctrl
        ids, sink = self.ids, self.sink
        thrust, torque = self._normalised()
        # NaN: not controlled (PX4's convention for this topic)
        holds = sp.hold_horizontal and not (sp.level_only or sp.trim_only)
        x, y = (sp.north, sp.east) if holds else (NAN, NAN)
        z = -sp.alt if sp.climb_rate is None else NAN
        r = quat_to_matrix(ctrl.last_q_sp)
        t = thrust[2]  # body -z thrust, rotated into NED by the attitude setpoint
        thrust_ned = (r[2] * t, r[5] * t, r[8] * t)
        sink.data(ids[PX4_VEHICLE_LOCAL_POSITION_SETPOINT.name], (
            ts, x, y, z, sp.yaw,
            NAN,  # yawspeed: we command a heading, no yaw rate
            *ctrl.last_vel_sp, ctrl.last_accel_sp,
            NAN3,  # jerk: not used
            thrust_ned))
        # yaw_sp_move_rate 0: the heading setpoint never moves
        sink.data(ids[PX4_VEHICLE_ATTITUDE_SETPOINT.name], (ts, 0.0, ctrl.last_q_sp, thrust))
        p, q, rr = ctrl.last_rate_sp
        sink.data(ids[PX4_VEHICLE_RATES_SETPOINT.name], (ts, p, q, rr, thrust, False))
        sink.data(ids[PX4_VEHICLE_THRUST_SETPOINT.name], (ts, ts_sample, thrust))
        sink.data(ids[PX4_VEHICLE_TORQUE_SETPOINT.name], (ts, ts_sample, torque))

    def _outputs(self, ts: int, ts_sample: int) -> None:
        rec = self.fsw.rec
        motors = rec.motors
        n = len(motors)
        out = motors if rec.armed else (0.0,) * n
        self.sink.data(self.ids[PX4_ACTUATOR_OUTPUTS.name],
                       (ts, n, (*out, *(0.0,) * (PX4_ACTUATOR_OUTPUTS_LEN - n))))
        ctl = motors if rec.armed else (NAN,) * n
        self.sink.data(self.ids[PX4_ACTUATOR_MOTORS.name], (
            ts, ts_sample, 0,  # reversible_flags: none of our motors reverses
            (*ctl, *(NAN,) * (PX4_ACTUATOR_MOTORS_LEN - n))))

    def _status(self, ts: int) -> None:
        fsw = self.fsw
        mode = fsw.mode
        armed = is_armed(mode)
        mode_us = self.clock.us(fsw.mode_t_ns)
        if not armed:
            self._armed_us = self._takeoff_us = 0  # as PX4 clears them on disarming
        elif self._armed_us == 0:
            self._armed_us = mode_us if mode == Mode.ARMED else ts
        if mode in AIRBORNE and self._takeoff_us == 0:
            self._takeoff_us = mode_us if mode == Mode.TAKEOFF else ts
        state = nav_state(mode, fsw.nav.use_vision)
        failsafe = fsw.land_now is not None
        if not failsafe:
            self._intention = state  # in a failsafe it stays what the plan was doing
        ready = fsw.nav.aligned and fsw.watchdog.learned and not failsafe  # our arming checks
        self.sink.data(self.ids[PX4_VEHICLE_STATUS.name], (
            ts, self._armed_us, self._takeoff_us,
            ARMING_STATE_ARMED if armed else ARMING_STATE_DISARMED,
            0, 0,  # latest_arming/disarming_reason: not tracked (PX4's initial value)
            mode_us, self._intention, state,
            0,  # executor_in_charge: the autopilot
            VALID_NAV_STATES_MASK,
            0,  # can_set_nav_states_mask: nobody selects modes, the plan flies itself
            0,  # failure_detector_status: PX4's detector; our watchdog trips are failsafe
            0,  # hil_state: off (the simulated backends are SITL, where PX4 reports off)
            VEHICLE_TYPE_ROTARY_WING,
            failsafe, False, 0,  # no user to take over, no deferral
            False, 0, False,  # no ground-station link to lose
            False, False, False, False,  # not a VTOL
            MAV_TYPE_QUADROTOR, SYSTEM_ID, COMPONENT_ID,
            False, True,  # no safety button, so nothing holds the outputs: safety off
            False, False,  # power input not monitored, no USB
            False, False, False, False,  # no Open Drone ID, no parachute
            False, False,  # no RC calibration, no calibration running
            ready))

    def _sensor_combined(self) -> None:
        s = self._imu
        if s is None:
            return
        self._imu = None
        dt = self.imu_dt_us
        # timestamp: the sample's own (PX4: the gyro's is the message's); accelerometer
        # and gyro come from the same sample, so the relative stamp is 0
        self.sink.data(self.ids[PX4_SENSOR_COMBINED.name], (
            self.clock.us(s.t_ns), s.gyro_rps, dt, 0, s.accel_mps2, dt,
            0, 0,  # clipping: the driver's full scale is not known here
            0, 0))  # calibration counts: no calibration changes in flight

    def _truth(self, ts: int) -> None:
        truth = self.fsw.hal.truth
        if truth is None:
            return
        t: TruthState = truth.truth()
        ts_sample = self.clock.us(t.t_ns)
        pn, pe, pd = t.position_ned
        vn, ve, vd = t.velocity_ned
        self.sink.data(self.ids[PX4_VEHICLE_LOCAL_POSITION_GROUNDTRUTH.name], (
            ts, ts_sample, True, True, True, True, pn, pe, pd,
            (0.0, 0.0), 0, 0.0, 0, vn, ve, vd, vd, (0.0, 0.0), 0, 0.0, 0,
            NAN, NAN, NAN,  # acceleration: the truth we read has none
            t.yaw, NAN, NAN, 0.0, 0, True, NAN,
            False, False, 0, NAN, NAN, NAN,
            False, NAN, NAN, 0.0, 0, 0,  # height above the terrain: not in the truth we read
            0.0, 0.0, 0.0, 0.0,  # the truth has no error
            False, INF, INF, INF, INF, INF))
        q = euler_to_quat(t.roll, t.pitch, t.yaw)
        self.sink.data(self.ids[PX4_VEHICLE_ATTITUDE_GROUNDTRUTH.name],
                       (ts, ts_sample, q, NO_RESET_Q, 0))


def every_cycles(loop_rate_hz: float, px4_rate_hz: float) -> int:
    """Cycles between PX4 records: ``px4_rate_hz`` rounded to a whole number of cycles."""
    return max(1, round(loop_rate_hz / px4_rate_hz))

