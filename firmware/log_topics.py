"""The flight log's schema: the one place its topics, their fields and types, the info keys and
the event texts the ground tools rely on are defined.

The recorder writes exactly these topics (in this order): ours (``TOPICS``), then the PX4
view of the same flight (``PX4_TOPICS``, see below); replay and the ground tools find
topics and fields through these definitions (``TopicDef.field`` fails loudly on a name the
schema does not have, so a rename here breaks the tools' tests, not their output). Renaming or
retyping a field changes the log format: old logs must still be readable, so add fields
rather than change them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from firmware.contingency import CHECK_SOURCES
from firmware.flight import Mode
from firmware.photos import PHOTO_REASONS

# The contingency checks in the order the contingency topic logs them (``tripped`` indexes it).
CHECKS: tuple[str, ...] = tuple(CHECK_SOURCES)


class LogClock:
    """The log's time: ULog timestamps in microseconds of *flight* time, 0 at the flight's
    zero (``FlightSoftware.t0_ns``, the first control cycle), so an event at mission time T
    (what the console, the summary and ``log info`` say) is stamped T * 1e6 in the file and
    pyulog, PlotJuggler and Flight Review show the same times.

    ``us(t_ns) = t_ns // 1000 - t0_ns // 1000``: exactly what the ground tools computed from
    the logs before this rule (``timestamp - first cycle's timestamp``), so their numbers
    stay the same to the microsecond. An instant before the zero is stamped 0: ULog
    timestamps are unsigned, and a record of start-up (an event before the first cycle, a
    sample measured before it and drained by it) belongs to the flight's start; the record's
    own ``*_ns`` fields keep its exact instant on the host's clock, as every ``*_ns`` field
    in the log does (``cycle_inputs.now_ns`` of the first record is the zero itself).
    Clamping keeps each topic's stamps non-decreasing. Before ``start`` every stamp is 0,
    as ``FlightSoftware.mission_time`` is 0.0 before the first cycle."""

    __slots__ = ("t0_us",)

    def __init__(self) -> None:
        self.t0_us: int | None = None

    def start(self, t0_ns: int) -> None:
        self.t0_us = t0_ns // 1000

    def us(self, t_ns: int) -> int:
        t0 = self.t0_us
        if t0 is None:
            return 0
        t = t_ns // 1000 - t0
        return t if t > 0 else 0


@dataclass(frozen=True, slots=True)
class TopicDef:
    """One topic: its name and ULog fields ``(type, name)``, ``uint64_t timestamp`` first."""

    name: str
    fields: tuple[tuple[str, str], ...]

    def field(self, name: str) -> str:
        """``name``, checked to be one of this topic's fields."""
        if not any(f == name for _, f in self.fields):
            raise KeyError(f"topic {self.name} has no field {name!r}")
        return name

    def type_of(self, name: str) -> str:
        return next(t for t, f in self.fields if f == self.field(name))

    @property
    def format(self) -> list[tuple[str, str]]:
        return list(self.fields)


def _topic(name: str, *fields: tuple[str, str]) -> TopicDef:
    return TopicDef(name, (("uint64_t", "timestamp"), *fields))


SENSOR_IMU = _topic(
    "sensor_imu", ("int64_t", "t_ns"), ("int64_t", "device_t_ns"), ("uint32_t", "seq"),
    ("uint32_t", "cycle"), ("double[3]", "accel_mps2"), ("double[3]", "gyro_rps"),
    ("double", "temp_c"))
SENSOR_RANGE = _topic(
    "sensor_range", ("int64_t", "t_ns"), ("uint32_t", "seq"), ("uint32_t", "cycle"),
    ("double", "distance_m"), ("bool", "valid"))
CAMERA_FRAME = _topic(
    "camera_frame", ("int64_t", "t_ns"), ("int64_t", "t_rx_ns"), ("int64_t", "device_t_ns"),
    ("int64_t", "exposure_ns"), ("uint32_t", "seq"), ("uint32_t", "cycle"),
    ("double", "latency_s"))
VISION_FLOW = _topic(
    "vision_flow", ("uint32_t", "frame_seq"), ("uint32_t", "cycle"), ("double", "drow"),
    ("double", "dcol"), ("double", "quality"), ("double", "at_row"), ("double", "at_col"))
# What the watchdog read each cycle besides the samples (replay feeds it back).
CYCLE_INPUTS = _topic(
    "cycle_inputs", ("int64_t", "now_ns"), ("uint32_t", "cycle"), ("uint32_t", "exec_cycles"),
    ("uint32_t", "exec_overruns"), ("uint32_t", "imu_overflows"), ("uint32_t", "imu_errors"),
    ("uint32_t", "imu_resets"), ("double", "imu_clock_skew_ppm"),
    ("uint32_t", "imu_clock_updates"), ("double", "cam_clock_residual_ns"),
    ("double", "cam_clock_skew_ppm"), ("uint32_t", "cam_clock_updates"),
    ("uint32_t", "cam_lost"), ("uint32_t", "cam_errors"), ("bool", "cam_connected"),
    ("uint32_t", "exec_slips"), ("uint32_t", "cam_overflows"), ("bool", "imu_clock_settled"),
    ("bool", "cam_clock_settled"), ("double", "imu_clock_skew_lo_ppm"),
    ("double", "imu_clock_skew_hi_ppm"))
VEHICLE_STATE = _topic(
    "vehicle_state", ("uint8_t", "mode"), ("double[3]", "position"), ("double[3]", "velocity"),
    ("double[4]", "q"), ("float", "roll_deg"), ("float", "pitch_deg"), ("float", "yaw_deg"),
    ("float[3]", "rate"), ("float", "height_m"), ("float", "vision_vn"),
    ("float", "vision_ve"), ("float", "vision_innovation"))
SETPOINT = _topic(
    "setpoint", ("float", "north"), ("float", "east"), ("float", "alt"), ("float", "vn_ff"),
    ("float", "ve_ff"), ("float", "climb_rate"), ("float", "roll_sp_deg"),
    ("float", "pitch_sp_deg"), ("float", "thrust_n"))
# The motor commands as the HAL received them (0..1 each). Named ``actuator_outputs`` before
# the PX4 topics came: PX4 owns that name (``noutputs``, ``output[16]``), and Flight Review
# crashed on ours. ground.logfile reads an old log's topic under the new name.
MOTOR_OUTPUTS = _topic("motor_outputs", ("float[4]", "motors"), ("bool", "armed"))
LEGACY_MOTOR_OUTPUTS_NAME = "actuator_outputs"
EXECUTIVE = _topic(
    "executive", ("uint32_t", "cycles"), ("uint32_t", "overruns"), ("uint32_t", "slips"),
    ("float", "cycle_us"), ("float", "wake_latency_us"), ("float", "max_cycle_us"))
# ``tripped``: index into the checks (the fields after it) of the latched trip, -1 for none.
CONTINGENCY = _topic(
    "contingency", ("int8_t", "tripped"), *(("float", c) for c in CHECKS),
    *(("uint16_t", f"{c}_fails") for c in CHECKS))
CONTINGENCY_THRESHOLDS = _topic("contingency_thresholds", *(("float", c) for c in CHECKS))
TRUTH = _topic(
    "truth", ("double[3]", "position"), ("double[3]", "velocity"), ("float", "roll_deg"),
    ("float", "pitch_deg"), ("float", "yaw_deg"), ("bool", "on_ground"))

# Each new camera-IMU time offset estimate (firmware.time_offset), relative to the configured
# offset; ``correction_ns`` is what navigation then added to frame stamps.
CAMERA_IMU_OFFSET = _topic(
    "camera_imu_offset", ("int64_t", "t_ns"), ("double", "offset_s"), ("double", "sigma_s"),
    ("double", "excitation_px_per_ms"), ("double", "pairs"), ("bool", "confident"),
    ("bool", "at_edge"), ("int64_t", "correction_ns"))

# Each still photo, finished or failed, stamped with its mid-exposure (log time). The pose is
# the estimate's at that instant (navigation's history, taken when the exposure was
# confirmed); ``truth_*`` the simulated world's at the true mid-exposure (NaN on a rig).
# ``result``: 1 written, 0 failed (``error`` in the logged message of the same seq).
# The JPEG, geotagged, is ``photo_file(log, seq)``.
PHOTO = _topic(
    "photo", ("uint32_t", "seq"), ("int64_t", "t_ns"), ("int64_t", "trigger_ns"),
    ("int64_t", "t_rx_ns"), ("uint32_t", "uncertainty_us"), ("double[3]", "position"),
    ("float[4]", "q"), ("float", "height_agl_m"), ("double[3]", "truth_position"),
    ("float[4]", "truth_q"), ("int8_t", "result"), ("uint32_t", "jpeg_bytes"),
    ("uint16_t", "retries"), ("uint16_t", "width"), ("uint16_t", "height"),
    ("float", "focal_px"), ("float", "mount_pitch_deg"), ("uint8_t", "reason"))

TOPICS: tuple[TopicDef, ...] = (
    SENSOR_IMU, SENSOR_RANGE, CAMERA_FRAME, VISION_FLOW, CYCLE_INPUTS, VEHICLE_STATE, SETPOINT,
    MOTOR_OUTPUTS, EXECUTIVE, CONTINGENCY, CONTINGENCY_THRESHOLDS, TRUTH, CAMERA_IMU_OFFSET,
    PHOTO)
# What replay feeds back through navigation and the watchdog.
INPUT_TOPICS: tuple[TopicDef, ...] = (
    SENSOR_IMU, SENSOR_RANGE, CAMERA_FRAME, VISION_FLOW, CYCLE_INPUTS, CONTINGENCY)
# Topics written once per control cycle (the first record of any is the first cycle).
PER_CYCLE_TOPICS: tuple[TopicDef, ...] = (CYCLE_INPUTS, VEHICLE_STATE, EXECUTIVE)


# -- PX4 topics ------------------------------------------------------------------------------
# The same flight as PX4 would log it, so PX4's own tools (Flight Review, PlotJuggler's PX4
# layouts, pyulog scripts written for PX4) open our logs as a PX4 log. Every field of each
# PX4 message, in its order, under its name and type, from PX4-Autopilot's msg/*.msg and
# msg/versioned/*.msg (as documented for PX4 main, 2025: ActuatorOutputs, VehicleStatus and
# VehicleAttitudeSetpoint at MESSAGE_VERSION 1...): consumers index fields by name, and a
# missing one is a KeyError in their code. No padding fields: ULog records are unaligned, and
# the format lists only real fields. What we fill in, and what we leave as PX4 leaves an
# unknown, is firmware.px4_log's business; this is only the shape.
def _px4(name: str, *fields: tuple[str, str]) -> TopicDef:
    return _topic(name, *fields)


_F3 = "float[3]"
_F4 = "float[4]"

PX4_VEHICLE_ATTITUDE = _px4(
    "vehicle_attitude", ("uint64_t", "timestamp_sample"), (_F4, "q"), (_F4, "delta_q_reset"),
    ("uint8_t", "quat_reset_counter"))
PX4_VEHICLE_ANGULAR_VELOCITY = _px4(
    "vehicle_angular_velocity", ("uint64_t", "timestamp_sample"), (_F3, "xyz"),
    (_F3, "xyz_derivative"))
_LOCAL_POSITION_FIELDS: tuple[tuple[str, str], ...] = (
    ("uint64_t", "timestamp_sample"),
    ("bool", "xy_valid"), ("bool", "z_valid"), ("bool", "v_xy_valid"), ("bool", "v_z_valid"),
    ("float", "x"), ("float", "y"), ("float", "z"),
    ("float[2]", "delta_xy"), ("uint8_t", "xy_reset_counter"), ("float", "delta_z"),
    ("uint8_t", "z_reset_counter"),
    ("float", "vx"), ("float", "vy"), ("float", "vz"), ("float", "z_deriv"),
    ("float[2]", "delta_vxy"), ("uint8_t", "vxy_reset_counter"), ("float", "delta_vz"),
    ("uint8_t", "vz_reset_counter"),
    ("float", "ax"), ("float", "ay"), ("float", "az"),
    ("float", "heading"), ("float", "heading_var"), ("float", "unaided_heading"),
    ("float", "delta_heading"), ("uint8_t", "heading_reset_counter"),
    ("bool", "heading_good_for_control"),
    ("float", "tilt_var"),
    ("bool", "xy_global"), ("bool", "z_global"), ("uint64_t", "ref_timestamp"),
    ("double", "ref_lat"), ("double", "ref_lon"), ("float", "ref_alt"),
    ("bool", "dist_bottom_valid"), ("float", "dist_bottom"), ("float", "dist_bottom_var"),
    ("float", "delta_dist_bottom"), ("uint8_t", "dist_bottom_reset_counter"),
    ("uint8_t", "dist_bottom_sensor_bitfield"),
    ("float", "eph"), ("float", "epv"), ("float", "evh"), ("float", "evv"),
    ("bool", "dead_reckoning"),
    ("float", "vxy_max"), ("float", "vz_max"), ("float", "hagl_min"), ("float", "hagl_max_z"),
    ("float", "hagl_max_xy"))
PX4_VEHICLE_LOCAL_POSITION = _px4("vehicle_local_position", *_LOCAL_POSITION_FIELDS)
PX4_VEHICLE_LOCAL_POSITION_SETPOINT = _px4(
    "vehicle_local_position_setpoint", ("float", "x"), ("float", "y"), ("float", "z"),
    ("float", "yaw"), ("float", "yawspeed"), ("float", "vx"), ("float", "vy"), ("float", "vz"),
    (_F3, "acceleration"), (_F3, "jerk"), (_F3, "thrust"))
PX4_VEHICLE_ATTITUDE_SETPOINT = _px4(
    "vehicle_attitude_setpoint", ("float", "yaw_sp_move_rate"), (_F4, "q_d"),
    (_F3, "thrust_body"))
PX4_VEHICLE_RATES_SETPOINT = _px4(
    "vehicle_rates_setpoint", ("float", "roll"), ("float", "pitch"), ("float", "yaw"),
    (_F3, "thrust_body"), ("bool", "reset_integral"))
PX4_ACTUATOR_OUTPUTS = _px4(
    "actuator_outputs", ("uint32_t", "noutputs"), ("float[16]", "output"))
PX4_ACTUATOR_MOTORS = _px4(
    "actuator_motors", ("uint64_t", "timestamp_sample"), ("uint16_t", "reversible_flags"),
    ("float[12]", "control"))
PX4_VEHICLE_THRUST_SETPOINT = _px4(
    "vehicle_thrust_setpoint", ("uint64_t", "timestamp_sample"), (_F3, "xyz"))
PX4_VEHICLE_TORQUE_SETPOINT = _px4(
    "vehicle_torque_setpoint", ("uint64_t", "timestamp_sample"), (_F3, "xyz"))
PX4_VEHICLE_STATUS = _px4(
    "vehicle_status", ("uint64_t", "armed_time"), ("uint64_t", "takeoff_time"),
    ("uint8_t", "arming_state"), ("uint8_t", "latest_arming_reason"),
    ("uint8_t", "latest_disarming_reason"), ("uint64_t", "nav_state_timestamp"),
    ("uint8_t", "nav_state_user_intention"), ("uint8_t", "nav_state"),
    ("uint8_t", "executor_in_charge"), ("uint32_t", "valid_nav_states_mask"),
    ("uint32_t", "can_set_nav_states_mask"), ("uint16_t", "failure_detector_status"),
    ("uint8_t", "hil_state"), ("uint8_t", "vehicle_type"), ("bool", "failsafe"),
    ("bool", "failsafe_and_user_took_over"), ("uint8_t", "failsafe_defer_state"),
    ("bool", "gcs_connection_lost"), ("uint8_t", "gcs_connection_lost_counter"),
    ("bool", "high_latency_data_link_lost"), ("bool", "is_vtol"),
    ("bool", "is_vtol_tailsitter"), ("bool", "in_transition_mode"),
    ("bool", "in_transition_to_fw"), ("uint8_t", "system_type"), ("uint8_t", "system_id"),
    ("uint8_t", "component_id"), ("bool", "safety_button_available"), ("bool", "safety_off"),
    ("bool", "power_input_valid"), ("bool", "usb_connected"),
    ("bool", "open_drone_id_system_present"), ("bool", "open_drone_id_system_healthy"),
    ("bool", "parachute_system_present"), ("bool", "parachute_system_healthy"),
    ("bool", "rc_calibration_in_progress"), ("bool", "calibration_enabled"),
    ("bool", "pre_flight_checks_pass"))
PX4_SENSOR_COMBINED = _px4(
    "sensor_combined", (_F3, "gyro_rad"), ("uint32_t", "gyro_integral_dt"),
    ("int32_t", "accelerometer_timestamp_relative"), (_F3, "accelerometer_m_s2"),
    ("uint32_t", "accelerometer_integral_dt"), ("uint8_t", "accelerometer_clipping"),
    ("uint8_t", "gyro_clipping"), ("uint8_t", "accel_calibration_count"),
    ("uint8_t", "gyro_calibration_count"))
PX4_DISTANCE_SENSOR = _px4(
    "distance_sensor", ("uint32_t", "device_id"), ("float", "min_distance"),
    ("float", "max_distance"), ("float", "current_distance"), ("float", "variance"),
    ("int8_t", "signal_quality"), ("uint8_t", "type"), ("float", "h_fov"), ("float", "v_fov"),
    (_F4, "q"), ("uint8_t", "orientation"), ("uint8_t", "mode"))
PX4_VEHICLE_OPTICAL_FLOW = _px4(
    "vehicle_optical_flow", ("uint64_t", "timestamp_sample"), ("uint32_t", "device_id"),
    ("float[2]", "pixel_flow"), (_F3, "delta_angle"), ("float", "distance_m"),
    ("uint32_t", "integration_timespan_us"), ("uint8_t", "quality"),
    ("float", "max_flow_rate"), ("float", "min_ground_distance"),
    ("float", "max_ground_distance"))
PX4_ESTIMATOR_STATUS = _px4(
    "estimator_status", ("uint64_t", "timestamp_sample"), (_F3, "output_tracking_error"),
    ("uint16_t", "gps_check_fail_flags"), ("uint64_t", "control_mode_flags"),
    ("uint32_t", "filter_fault_flags"), ("float", "pos_horiz_accuracy"),
    ("float", "pos_vert_accuracy"), ("float", "hdg_test_ratio"), ("float", "vel_test_ratio"),
    ("float", "pos_test_ratio"), ("float", "hgt_test_ratio"), ("float", "tas_test_ratio"),
    ("float", "hagl_test_ratio"), ("float", "beta_test_ratio"),
    ("uint16_t", "solution_status_flags"), ("uint8_t", "reset_count_vel_ne"),
    ("uint8_t", "reset_count_vel_d"), ("uint8_t", "reset_count_pos_ne"),
    ("uint8_t", "reset_count_pod_d"), ("uint8_t", "reset_count_quat"), ("float", "time_slip"),
    ("bool", "pre_flt_fail_innov_heading"), ("bool", "pre_flt_fail_innov_height"),
    ("bool", "pre_flt_fail_innov_pos_horiz"), ("bool", "pre_flt_fail_innov_vel_horiz"),
    ("bool", "pre_flt_fail_innov_vel_vert"), ("bool", "pre_flt_fail_mag_field_disturbed"),
    ("uint32_t", "accel_device_id"), ("uint32_t", "gyro_device_id"),
    ("uint32_t", "baro_device_id"), ("uint32_t", "mag_device_id"),
    ("uint8_t", "health_flags"), ("uint8_t", "timeout_flags"),
    ("float", "mag_inclination_deg"), ("float", "mag_inclination_ref_deg"),
    ("float", "mag_strength_gs"), ("float", "mag_strength_ref_gs"))
# One per photo, with the photo record's timestamp and seq (CameraCapture.msg).
PX4_CAMERA_CAPTURE = _px4(
    "camera_capture", ("uint64_t", "timestamp_utc"), ("uint32_t", "seq"), ("double", "lat"),
    ("double", "lon"), ("float", "alt"), ("float", "ground_distance"), (_F4, "q"),
    ("int8_t", "result"), ("bool", "report"))
# Ground truth (simulation only): PX4's SITL logs these under the estimate's message types.
PX4_VEHICLE_LOCAL_POSITION_GROUNDTRUTH = _px4(
    "vehicle_local_position_groundtruth", *_LOCAL_POSITION_FIELDS)
PX4_VEHICLE_ATTITUDE_GROUNDTRUTH = _px4(
    "vehicle_attitude_groundtruth", *PX4_VEHICLE_ATTITUDE.fields[1:])

PX4_TOPICS: tuple[TopicDef, ...] = (
    PX4_VEHICLE_ATTITUDE, PX4_VEHICLE_ANGULAR_VELOCITY, PX4_VEHICLE_LOCAL_POSITION,
    PX4_VEHICLE_LOCAL_POSITION_SETPOINT, PX4_VEHICLE_ATTITUDE_SETPOINT,
    PX4_VEHICLE_RATES_SETPOINT, PX4_ACTUATOR_OUTPUTS, PX4_ACTUATOR_MOTORS,
    PX4_VEHICLE_THRUST_SETPOINT, PX4_VEHICLE_TORQUE_SETPOINT, PX4_VEHICLE_STATUS,
    PX4_ESTIMATOR_STATUS, PX4_SENSOR_COMBINED, PX4_DISTANCE_SENSOR, PX4_VEHICLE_OPTICAL_FLOW,
    PX4_CAMERA_CAPTURE,
    PX4_VEHICLE_LOCAL_POSITION_GROUNDTRUTH, PX4_VEHICLE_ATTITUDE_GROUNDTRUTH)
# Simulation only: a rig has no truth, and its log has no ground-truth topics.
PX4_TRUTH_TOPICS: tuple[TopicDef, ...] = (
    PX4_VEHICLE_LOCAL_POSITION_GROUNDTRUTH, PX4_VEHICLE_ATTITUDE_GROUNDTRUTH)
# PX4's parameter for the airframe class: MAV_TYPE_QUADROTOR (the quad-X of firmware.control).
PARAM_MAV_TYPE = "MAV_TYPE"


def check_fields(field_names: list[str]) -> list[str]:
    """The check names among a contingency format's field names, in the log's own order
    (a log from another version may have other checks)."""
    return [f for f in field_names
            if f not in ("timestamp", "tripped") and not f.endswith("_fails")
            and not f.startswith("_padding")]


# -- parameters ------------------------------------------------------------------------------
# The resolved configuration as ULog parameters, one per number or flag (strings and tables
# stay in INFO_CONFIG_JSON, which is also the exact copy: parameters are float32 or int32).
# The spec allows only ``a-zA-Z0-9_-/`` in a parameter's name, so a config key's ``.`` is a
# ``/`` and a tuple's element ``[i]`` one more ``/i`` level: ``loop.rate_hz`` ->
# ``loop/rate_hz``, ``vehicle.inertia_kgm2[0]`` -> ``vehicle/inertia_kgm2/0``. ``/`` rather
# than ``_`` because our keys are full of ``_``: with ``/`` the name maps back to exactly one
# key (a number can only be an index: no config field's name starts with a digit), and
# PlotJuggler and Flight Review list the names as they are, grouped by prefix. Not shortened
# to PX4's 16 characters: that is PX4's parameter store's limit, not the format's (a key is
# up to 255 bytes with its type), and 140 abbreviations would be another table to keep right.
# Logs from before this rule named the parameters by the config key itself
# (``loop.rate_hz``; a tuple's elements ``vehicle.inertia_kgm2_0``): ``param_value`` reads both.
PARAM_NAME = re.compile(r"[a-zA-Z0-9_\-/]+")
PARAM_NAME_MAX = 249  # key_len is one byte and holds "float " too
_V = TypeVar("_V")


def param_name(path: Sequence[str | int]) -> str:
    """The parameter of a config value: its path of field names and tuple indices."""
    name = "/".join(str(p) for p in path)
    if not PARAM_NAME.fullmatch(name) or len(name) > PARAM_NAME_MAX:
        raise ValueError(f"config key {config_key(name)!r} makes no ULog parameter name")
    return name


def config_key(param: str) -> str:
    """The config key a parameter holds: ``vehicle/inertia_kgm2/0`` ->
    ``vehicle.inertia_kgm2[0]``; an old log's dotted name is its key already."""
    if "/" not in param:
        return param
    key = ""
    for part in param.split("/"):
        key += f"[{part}]" if part.isdigit() else (f".{part}" if key else part)
    return key


def param_value(params: Mapping[str, _V], key: str) -> _V | None:
    """The value of config key ``key`` (``loop.rate_hz``) in a log's parameters, under its
    name in this version's logs or in those from before the spec's character set."""
    new = key.replace("[", "/").replace("]", "").replace(".", "/")
    if new in params:
        return params[new]
    return params.get(key)


# -- enumerations ----------------------------------------------------------------------------
# Fields that hold a code, described in the log itself (info ``enum/<topic>/<field>``, value
# ``"0:IDLE,1:ARMED,..."``), generated from the code's own enumerations, so a reader needs no
# copy of this file to tell what ``vehicle_state.mode == 5`` means.
ENUM_INFO_PREFIX = "enum"


def enum_info_key(topic: TopicDef, field: str) -> str:
    return f"{ENUM_INFO_PREFIX}/{topic.name}/{topic.field(field)}"


def _enum_text(pairs: Iterator[tuple[int, str]]) -> str:
    return ",".join(f"{code}:{name}" for code, name in pairs)


def enumerations() -> dict[str, str]:
    """Info key -> ``"code:name,..."`` for every coded field of our topics."""
    return {
        enum_info_key(VEHICLE_STATE, "mode"): _enum_text((int(m), m.name) for m in Mode),
        enum_info_key(CONTINGENCY, "tripped"): _enum_text(
            iter([(-1, "none"), *enumerate(CHECKS)])),
        enum_info_key(PHOTO, "reason"): _enum_text(enumerate(PHOTO_REASONS)),
        enum_info_key(PHOTO, "result"): _enum_text(iter([(0, "failed"), (1, "written")])),
    }


def parse_enum(text: str) -> dict[int, str]:
    """An enumeration info value read back: code -> name."""
    out: dict[int, str] = {}
    for item in text.split(","):
        code, _, name = item.partition(":")
        out[int(code)] = name
    return out


# -- info keys ------------------------------------------------------------------------------
INFO_CONFIG_JSON = "config_json"  # the resolved configuration: replay's exact source
INFO_PLAN_JSON = "plan_json"
INFO_IMU_RATE_HZ = "imu_rate_hz"
INFO_CAMERA_RATE_HZ = "camera_rate_hz"
INFO_CAMERA_WIDTH = "camera_width"
INFO_CAMERA_HEIGHT = "camera_height"
INFO_CAMERA_FOCAL_PX = "camera_focal_px"
INFO_GRAVITY = "gravity"
INFO_FIRST_FAULT_T_S = "first_fault_t_s"  # -1 for a flight without a fault
INFO_CONTINGENCY = "contingency"  # 0: the watchdog was disabled
INFO_BACKEND = "backend"
INFO_SCENARIO = "scenario"
INFO_SEED = "seed"
INFO_PLANET = "planet"
INFO_PLAN = "plan"
INFO_SYS_NAME = "sys_name"
INFO_VER_SW = "ver_sw"
# 1: this log ends with EVENT_LOG_CLOSED when closed (older logs never did: not judged)
INFO_CLOSE_RECORD = "close_record"


# -- events: the logged strings the tools read ---------------------------------------------
EVENT_LAND_NOW = "LAND_NOW"  # "LAND_NOW: <check> (<value> > <threshold>)"
EVENT_MODE = "mode"  # "mode <MODE>" or "mode <MODE> (<why>)"
EVENT_CRASH = "CRASH"  # "CRASH: <reason>"
EVENT_TIME_LIMIT = "flight time limit reached"
# The recorder's last record: a log without it was not closed (the process was killed, lost
# power or hung), however whole its last message is.
EVENT_LOG_CLOSED = "log closed"


def land_now_text(check: str, value: float, threshold: float) -> str:
    return f"{EVENT_LAND_NOW}: {check} ({value:.4g} > {threshold:.4g})"


def mode_text(mode: str, why: str = "") -> str:
    return f"{EVENT_MODE} {mode}" + (f" ({why})" if why else "")


def crash_text(reason: str) -> str:
    return f"{EVENT_CRASH}: {reason}"


@dataclass(frozen=True, slots=True)
class Event:
    """A logged string read back: ``kind`` one of the EVENT_* names (None: another text)."""

    kind: str | None
    subject: str = ""  # the check (LAND_NOW), the mode (mode), the reason (CRASH)
    detail: str = ""  # LAND_NOW: "value > threshold"; mode: why


def _word(text: str) -> str:
    """The leading identifier of ``text`` ('' if it does not start with one)."""
    n = 0
    while n < len(text) and (text[n].isalnum() or text[n] == "_"):
        n += 1
    return text[:n]


def parse_event(text: str) -> Event:
    """What a logged string says, for the kinds the tools use."""
    head, colon, rest = text.partition(":")
    if colon and head == EVENT_LAND_NOW:
        body = rest.strip()
        check = _word(body)
        if check:
            return Event(EVENT_LAND_NOW, check, body[len(check):].strip().strip("()"))
    if colon and head == EVENT_CRASH:
        return Event(EVENT_CRASH, rest.strip())
    if text == EVENT_TIME_LIMIT:
        return Event(EVENT_TIME_LIMIT)
    if text == EVENT_LOG_CLOSED:
        return Event(EVENT_LOG_CLOSED)
    prefix = EVENT_MODE + " "
    if text.startswith(prefix):
        mode = _word(text[len(prefix):])
        after = text[len(prefix) + len(mode):]
        why = after[2:-1] if after.startswith(" (") and after.endswith(")") else ""
        if mode:
            return Event(EVENT_MODE, mode, why)
    return Event(None)


# -- photos ----------------------------------------------------------------------------------
def photo_dir(log_path: str) -> str:
    """Where a flight's photos go: beside its log, ``<log stem>_photos``."""
    stem = log_path[:-4] if log_path.endswith(".ulg") else log_path
    return stem + "_photos"


def photo_file(log_path: str, seq: int) -> str:
    """A photo's JPEG: ``<log stem>_photos/photo_0007.jpg`` for seq 7."""
    return f"{photo_dir(log_path)}/photo_{seq:04d}.jpg"
