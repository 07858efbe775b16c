"""The flight log's schema: the one place its topics, their fields and types, the info keys and
the event texts the ground tools rely on are defined.

The recorder writes exactly these topics (in this order); replay and the ground tools find
topics and fields through these definitions (``TopicDef.field`` fails loudly on a name the
schema does not have, so a rename here breaks the tools' tests, not their output). Renaming or
retyping a field changes the log format: old logs must still be readable, so add fields
rather than change them.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.contingency import CHECK_SOURCES

# The contingency checks in the order the contingency topic logs them (``tripped`` indexes it).
CHECKS: tuple[str, ...] = tuple(CHECK_SOURCES)


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
ACTUATOR_OUTPUTS = _topic("actuator_outputs", ("float[4]", "motors"), ("bool", "armed"))
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

TOPICS: tuple[TopicDef, ...] = (
    SENSOR_IMU, SENSOR_RANGE, CAMERA_FRAME, VISION_FLOW, CYCLE_INPUTS, VEHICLE_STATE, SETPOINT,
    ACTUATOR_OUTPUTS, EXECUTIVE, CONTINGENCY, CONTINGENCY_THRESHOLDS, TRUTH, CAMERA_IMU_OFFSET)
# What replay feeds back through navigation and the watchdog.
INPUT_TOPICS: tuple[TopicDef, ...] = (
    SENSOR_IMU, SENSOR_RANGE, CAMERA_FRAME, VISION_FLOW, CYCLE_INPUTS, CONTINGENCY)
# Topics written once per control cycle (the first record of any is the first cycle).
PER_CYCLE_TOPICS: tuple[TopicDef, ...] = (CYCLE_INPUTS, VEHICLE_STATE, EXECUTIVE)


def check_fields(field_names: list[str]) -> list[str]:
    """The check names among a contingency format's field names, in the log's own order
    (a log from another version may have other checks)."""
    return [f for f in field_names
            if f not in ("timestamp", "tripped") and not f.endswith("_fails")
            and not f.startswith("_padding")]


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


# -- events: the logged strings the tools read ---------------------------------------------
EVENT_LAND_NOW = "LAND_NOW"  # "LAND_NOW: <check> (<value> > <threshold>)"
EVENT_MODE = "mode"  # "mode <MODE>" or "mode <MODE> (<why>)"
EVENT_CRASH = "CRASH"  # "CRASH: <reason>"
EVENT_TIME_LIMIT = "flight time limit reached"


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
    prefix = EVENT_MODE + " "
    if text.startswith(prefix):
        mode = _word(text[len(prefix):])
        after = text[len(prefix) + len(mode):]
        why = after[2:-1] if after.startswith(" (") and after.endswith(")") else ""
        if mode:
            return Event(EVENT_MODE, mode, why)
    return Event(None)
