"""Flight software configuration, flight plans and scenarios, validated before arming.

Every value has a default here; TOML files override what they name. Unknown keys, wrong types
and out-of-range values are refused with one line naming file, key and problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from firmware.checks import CHECKS, CheckRow
from firmware.time_offset import TimeOffsetConfig
from hal.realtime import RtSettings
from hal.tomlschema import ConfigError, describe, key_path, load, read_toml, rng

PLANETS = {"mars": 3.71, "earth": 9.81}
T = TypeVar("T")


@dataclass
class LoopConfig:
    rate_hz: float = field(default=500.0, metadata=rng(10, 4000))
    status_hz: float = field(default=10.0, metadata=rng(0.1, 100))
    max_flight_s: float = field(default=600.0, metadata=rng(1, 86_400))
    # software watchdog (real time only): a cycle stuck this many periods cuts the outputs
    # on the ground; in flight, where a cut is a crash, only a cycle stuck stall_hang_s does
    # (a shorter stall is counted, and the watchdog lands on exec_overruns)
    stall_limit_periods: int = field(default=25, metadata=rng(2, 100_000))
    stall_hang_s: float = field(default=1.0, metadata=rng(0.01, 60))


@dataclass
class VehicleConfig:
    """What the flight software believes about its airframe (control allocation)."""

    mass_kg: float = field(default=1.8, metadata=rng(0.05, 100))
    arm_m: float = field(default=0.25, metadata=rng(0.02, 5))
    inertia_kgm2: tuple[float, float, float] = field(
        default=(0.03, 0.03, 0.05), metadata=rng(1e-5, 100))
    thrust_to_weight: float = field(default=2.2, metadata=rng(1.1, 10))
    yaw_moment_m: float = field(default=0.02, metadata=rng(0.001, 1.0))
    gear_height_m: float = field(default=0.15, metadata=rng(0.0, 2))


@dataclass
class NavConfig:
    align_s: float = field(default=3.0, metadata=rng(0.1, 30))
    att_kp: float = field(default=0.6, metadata=rng(0, 20))
    att_ki: float = field(default=0.01, metadata=rng(0, 5))
    accel_gate: float = field(default=0.15, metadata=rng(0.01, 1))
    accel_noise_mps2: float = field(default=0.35, metadata=rng(0.001, 10))
    accel_bias_noise: float = field(default=0.002, metadata=rng(0, 1))
    vision_noise_mps: float = field(default=0.15, metadata=rng(0.001, 10))
    vision_gate_mps: float = field(default=3.0, metadata=rng(0.1, 100))
    vision_min_alt_m: float = field(default=1.0, metadata=rng(0, 100))
    # Side (px) of the square correlation window kept around the point below the vehicle
    # (see vision.VisionFlowEngine), at most the image's shorter side; 0: the whole image.
    vision_window_px: int = field(default=64, metadata=rng(0, 4096))
    # Unrelated 64 px windows of rendered ground score up to 0.2 (0.11 for whole 160x120
    # images): a peak below 0.3 may be chance.
    vision_min_quality: float = field(default=0.3, metadata=rng(0, 1))
    range_noise_m: float = field(default=0.04, metadata=rng(0.001, 10))
    range_gate_m: float = field(default=2.0, metadata=rng(0.01, 100))
    # the ground's slope assumed where a tilted altimeter's beam lands off the point below
    # (its reading's extra uncertainty and gate: slope * range * sin(tilt))
    range_terrain_slope: float = field(default=0.15, metadata=rng(0, 10))
    # valid altimeter readings all refused by the gate for this long: the height and climb
    # rate are reset to the altimeter's (PX4's EKF2 resets its height on a fusion timeout)
    range_reset_s: float = field(default=1.0, metadata=rng(0.05, 60))
    history_s: float = field(default=2.5, metadata=rng(0.1, 10))
    # When vision is condemned, the horizontal state goes back this far and dead-reckons
    # forward on the IMU: what vision said while the checks were still gathering evidence is
    # not trusted either. Within history_s; 0 disables.
    vision_rewind_s: float = field(default=2.0, metadata=rng(0, 10))
    # added to every frame stamp: the camera's images were really exposed this much later
    # than their stamps say (VINS-Mono's td). `flightsw calibrate camera-imu LOG` measures it;
    # the online estimator ([time_offset]) follows what is left
    camera_time_offset_ms: float = field(default=0.0, metadata=rng(-500, 500))


@dataclass
class ControlConfig:
    pos_p: float = field(default=0.9, metadata=rng(0, 20))
    vel_p: float = field(default=1.2, metadata=rng(0, 50))
    vel_i: float = field(default=0.3, metadata=rng(0, 50))
    alt_p: float = field(default=1.2, metadata=rng(0, 20))
    vz_p: float = field(default=3.0, metadata=rng(0, 50))
    vz_i: float = field(default=1.0, metadata=rng(0, 50))
    att_p: float = field(default=7.0, metadata=rng(0, 100))
    yaw_p: float = field(default=2.0, metadata=rng(0, 100))
    rate_p: float = field(default=25.0, metadata=rng(0, 1000))  # rad/s^2 per rad/s
    rate_i: float = field(default=5.0, metadata=rng(0, 1000))
    yaw_rate_p: float = field(default=8.0, metadata=rng(0, 1000))
    # The tilt authority (PX4's MPC_TILTMAX_AIR): the velocity loop's integrator, which holds
    # a steady wind, may use all of it; its proportional part (manoeuvres, gust corrections)
    # at most max_accel_mps2 (1.35 = 20 deg on Mars, the limit before wind came in)
    max_tilt_deg: float = field(default=40.0, metadata=rng(1, 60))
    max_accel_mps2: float = field(default=1.35, metadata=rng(0.1, 50))
    # the most tilt held into the wind over the last decimetres (the vehicle tips over its
    # legs beyond some tilt, and drifts downwind short of the tilt the wind needs)
    touchdown_tilt_deg: float = field(default=25.0, metadata=rng(0, 60))
    # LAND holds its height in the slow zone while the wind needs more tilt than that, for at
    # most this long in all (a gust passes; a steady gale does not). 0: never waits
    land_wind_wait_s: float = field(default=20.0, metadata=rng(0, 600))
    max_climb_mps: float = field(default=1.5, metadata=rng(0.1, 20))
    max_descent_mps: float = field(default=1.0, metadata=rng(0.1, 20))
    land_speed_mps: float = field(default=0.4, metadata=rng(0.05, 5))
    land_now_descent_mps: float = field(default=1.0, metadata=rng(0.05, 5))
    # without a trusted altimeter there is no slowing down near the ground: the whole
    # descent goes at this rate
    blind_descent_mps: float = field(default=0.6, metadata=rng(0.05, 5))
    land_slow_alt_m: float = field(default=1.5, metadata=rng(0, 50))
    acceptance_radius_m: float = field(default=0.8, metadata=rng(0.05, 100))
    # High-wind abort (PX4's COM_WIND_MAX with a land action): tilt-limited for this long,
    # more than wind_abort_error_m off the setpoint and not closing on it (slower than
    # wind_abort_closing_mps), the vehicle cannot hold against the air: the mission is
    # abandoned for a LAND where it is. 0 disables.
    wind_abort_s: float = field(default=15.0, metadata=rng(0, 3600))
    wind_abort_error_m: float = field(default=3.0, metadata=rng(0.1, 1000))
    wind_abort_closing_mps: float = field(default=0.2, metadata=rng(0, 100))


@dataclass
class CheckConfig:
    enabled: bool = True
    # every check's value is a magnitude, count or fraction (>= 0): a negative threshold
    # would trip on the first evaluation
    threshold: float = field(default=0.0, metadata=rng(0, None))
    persistence: int = field(default=1, metadata=rng(1, 100_000))


def _with_check_fields(cls: type[T]) -> type[T]:
    """Add one ``CheckConfig`` field per row of the watchdog's table (``firmware.checks``),
    defaulting to the row's threshold and persistence: ``[contingency.<check>]``."""
    for row in CHECKS:
        def default(row: CheckRow = row) -> CheckConfig:
            return CheckConfig(True, row.threshold, row.persistence)
        cls.__annotations__[row.name] = "CheckConfig"
        setattr(cls, row.name, field(default_factory=default))
    return cls


@dataclass
@_with_check_fields
class ContingencyConfig:
    """The watchdog's settings. Each check of ``firmware.checks.CHECKS`` adds a field of its
    name (its ``threshold``, ``persistence``, ``enabled``); read it with ``check(name)``."""

    enabled: bool = True
    learn_frames: int = field(default=30, metadata=rng(3, 10_000))
    # clock fits must have a full window before their skew is worth a baseline
    learn_min_clock_updates: int = field(default=64, metadata=rng(0, 100_000))
    drop_window_s: float = field(default=2.0, metadata=rng(0.1, 100))
    # frame_latency judges the lowest latency of the frames received within this window: a
    # busy host delays some receptions (the bytes wait in the kernel's tty layer or for the
    # reader thread), a slower camera link delays every one of them
    latency_window_s: float = field(default=0.3, metadata=rng(0.0, 10))
    window_s: float = field(default=1.0, metadata=rng(0.05, 100))
    # Not a check: with no IMU sample for this long the controller holds collective and
    # commands no torque until the IMU is back (imu_stale lands if it stays away).
    imu_lost_s: float = field(default=0.01, metadata=rng(0.001, 1))

    def check(self, name: str) -> CheckConfig:
        value = getattr(self, name)
        assert isinstance(value, CheckConfig), name
        return value


@dataclass
class PreflightConfig:
    """What preflight requires before arming (ArduPilot refuses to arm on a slow loop)."""

    min_loop_fraction: float = field(default=0.9, metadata=rng(0, 1))  # of loop.rate_hz
    min_rate_fraction: float = field(default=0.9, metadata=rng(0, 1))  # of each device's rate
    max_overrun_fraction: float = field(default=0.01, metadata=rng(0, 1))  # of the cycles


@dataclass
class PhotoConfig:
    """The still camera's photos (firmware.photos): geotags, and how the plan's shots are flown."""

    enabled: bool = True  # false: the plan's photos are skipped (and said so once)
    # Geotags: (north, east) from the take-off point become latitude and longitude on a
    # sphere of planet_radius_m around this origin (default: Wright Brothers Field, Jezero
    # crater, Ingenuity's first airfield; Mars' mean radius). A rig on Earth sets its own
    # origin and 6371000. origin_alt_m: the take-off point's altitude above the datum (Mars:
    # the areoid), which camera_capture.alt adds to the height; 0 unless configured.
    origin_lat_deg: float = field(default=18.4447, metadata=rng(-90, 90))
    origin_lon_deg: float = field(default=77.4508, metadata=rng(-180, 180))
    origin_alt_m: float = field(default=0.0, metadata=rng(-20_000, 30_000))
    planet_radius_m: float = field(default=3_389_500.0, metadata=rng(1_000, 100_000_000))
    # look_at: the heading setpoint turns at most this fast (a slow turn keeps the vision
    # windows overlapping), and the shot waits until the heading is within tolerance and
    # has been for settle_s
    yaw_rate_dps: float = field(default=20.0, metadata=rng(1, 180))
    heading_tolerance_deg: float = field(default=3.0, metadata=rng(0.1, 45))
    settle_s: float = field(default=0.5, metadata=rng(0, 30))
    # a shot the camera is too busy to take (still reading the last) is retried each cycle
    # for this long, then dropped and said so
    busy_retry_s: float = field(default=10.0, metadata=rng(0, 600))
    # an arrival shot whose exposure the camera has not confirmed this long after the
    # trigger no longer holds the vehicle at the waypoint
    exposure_timeout_s: float = field(default=2.0, metadata=rng(0.01, 60))
    # after landing, the loop goes on (outputs off) this long for a photo still being read
    drain_s: float = field(default=30.0, metadata=rng(0, 600))


@dataclass
class LogConfig:
    dir: str = "logs"
    enabled: bool = True
    # The PX4 topics (estimates, setpoints, outputs, status, sensor_combined, ground truth;
    # firmware.px4_log) are written this often, not at the loop rate: they repeat what our own
    # per-cycle topics hold in full, and PX4's tools plot at about this rate (PX4's logger
    # default for estimates and setpoints is 50-100 Hz). distance_sensor and
    # vehicle_optical_flow are written on each new sample whatever this is. 0: none. A rate
    # that does not divide the loop rate is rounded to a whole number of cycles.
    px4_rate_hz: float = field(default=100.0, metadata=rng(0, 4000))


@dataclass
class FlightConfig:
    backend: Literal["sim", "hil", "rig"] = "sim"
    loop: LoopConfig = field(default_factory=LoopConfig)
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    nav: NavConfig = field(default_factory=NavConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    contingency: ContingencyConfig = field(default_factory=ContingencyConfig)
    time_offset: TimeOffsetConfig = field(default_factory=TimeOffsetConfig)
    preflight: PreflightConfig = field(default_factory=PreflightConfig)
    log: LogConfig = field(default_factory=LogConfig)
    photo: PhotoConfig = field(default_factory=PhotoConfig)
    realtime: RtSettings = field(default_factory=RtSettings)
    # backend sections are validated by the backend that reads them
    sim: dict[str, Any] = field(default_factory=dict)
    hil: dict[str, Any] = field(default_factory=dict)
    rig: dict[str, Any] = field(default_factory=dict)
    source: str = "(defaults)"


def load_config(path: Path | None) -> FlightConfig:
    if path is None:
        return FlightConfig()
    data = read_toml(path)
    for key in ("source",):
        if key in data:
            raise ConfigError(f"{path}: {key}: unknown key")
    cfg = load(FlightConfig, data, str(path))
    cfg.source = str(path)
    return cfg


# -- flight plans ---------------------------------------------------------------------------
@dataclass
class Waypoint:
    north_m: float = field(metadata=rng(-100_000, 100_000))
    east_m: float = field(metadata=rng(-100_000, 100_000))
    alt_m: float = field(metadata=rng(0.5, 40))
    speed_mps: float = field(default=2.0, metadata=rng(0.1, 20))
    hold_s: float = field(default=0.0, metadata=rng(0, 3600))
    # Photos (firmware.photos): one on arrival, and/or one every photo_every_s of the hold
    # (from its start); look_at = [north_m, east_m]: turn to face it on arrival, before the
    # hold and any shot, and keep that heading after.
    photo: bool = False
    photo_every_s: float = field(default=0.0, metadata=rng(0, 3600))
    look_at: tuple[float, float] | None = field(default=None,
                                                metadata=rng(-100_000, 100_000))


@dataclass
class FlightPlan:
    name: str
    takeoff_alt_m: float = field(metadata=rng(0.5, 40))
    waypoints: list[Waypoint] = field(default_factory=list)
    description: str = ""
    takeoff_hold_s: float = field(default=1.0, metadata=rng(0, 600))
    # photos at these flight times (s from the flight's zero, as the console counts)
    photo_times_s: tuple[float, ...] = field(default=(), metadata=rng(0, 100_000))

    def landing_point(self) -> tuple[float, float]:
        if not self.waypoints:
            return (0.0, 0.0)
        wp = self.waypoints[-1]
        return (wp.north_m, wp.east_m)

    def length_m(self) -> float:
        n = e = 0.0
        total = 0.0
        for wp in self.waypoints:
            total += math.hypot(wp.north_m - n, wp.east_m - e)
            n, e = wp.north_m, wp.east_m
        return total


def load_plan(path: Path) -> FlightPlan:
    return load(FlightPlan, read_toml(path), str(path))


# -- scenarios ------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    path: Path | None
    plan: FlightPlan
    plan_path: Path
    planet: str
    gravity: float
    faults_raw: list[dict[str, Any]]
    description: str = ""
    # the scenario's [world] table (wind, terrain, ground), opaque here: the simulator
    # validates and builds it; the flight software never reads it
    world_raw: dict[str, Any] = field(default_factory=dict)

    def first_fault_s(self) -> float | None:
        times = [float(f["at_s"]) for f in self.faults_raw if "at_s" in f]
        return min(times) if times else None


SCENARIO_KEYS = {"plan", "planet", "faults", "description", "name", "world"}


def load_scenario(path: Path) -> Scenario:
    data = read_toml(path)
    src = str(path)
    for key in data:
        if key not in SCENARIO_KEYS:
            known = ", ".join(sorted(SCENARIO_KEYS))
            raise ConfigError(f"{src}: {key_path('', key)}: unknown key (known: {known})")
    plan_ref = data.get("plan")
    if not isinstance(plan_ref, str) or not plan_ref:
        raise ConfigError(f"{src}: plan: missing or not a file name (e.g. \"plans/hover.toml\")")
    planet = data.get("planet", "mars")
    # a table or array is unhashable: test the type before looking it up
    if not isinstance(planet, str) or planet not in PLANETS:
        raise ConfigError(
            f"{src}: planet: must be one of {', '.join(PLANETS)} (got {describe(planet)})")
    faults = data.get("faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
        raise ConfigError(f"{src}: faults: expected an array of tables ([[faults]])")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{src}: description: expected a string (got {describe(description)})")
    name = data.get("name", path.stem)
    if not isinstance(name, str):
        raise ConfigError(f"{src}: name: expected a string (got {describe(name)})")
    world = data.get("world", {})
    if not isinstance(world, dict):
        raise ConfigError(f"{src}: world: expected a table ([world]) (got {describe(world)})")
    plan_path = _resolve(path, plan_ref)
    if plan_path is None:
        raise ConfigError(f"{src}: plan: file not found: {plan_ref}")
    return Scenario(name, path, load_plan(plan_path), plan_path, planet, PLANETS[planet],
                    faults, description, world)


def _resolve(scenario: Path, ref: str) -> Path | None:
    """Plans are named relative to the config directory (the scenario folder's parent)."""
    bases = [scenario.parent, scenario.parent.parent]
    try:
        bases.append(Path.cwd())
    except OSError:  # the working directory was removed
        pass
    for base in bases:
        p = base / ref
        try:
            if p.is_file():
                return p
        except (OSError, ValueError):  # a name too long for the OS, or with a NUL byte
            continue
    return None
