"""The PX4 topics in the flight log: PX4's names and types, read back with pyulog, and values
that agree with our own topics of the same flight.

One short simulated flight (take off to 3 m, 4 m north; the camera stalls at 14 s: LAND_NOW,
then touchdown). The field tables below were typed from PX4-Autopilot's msg/*.msg and
msg/versioned/*.msg (PX4 main as documented in 2025), not generated from our schema: a field
our log gets wrong, misnames or drops fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pyulog import ULog

from app.boot import prepare
from app.session import FlightResult, fly
from tests.conftest import ROOT

# -- PX4's messages, as their .msg files declare them (constants left out) -------------------
PX4_MSGS: dict[str, str] = {
    "vehicle_attitude": """
        uint64 timestamp
        uint64 timestamp_sample
        float32[4] q
        float32[4] delta_q_reset
        uint8 quat_reset_counter""",
    "estimator_status": """
        uint64 timestamp
        uint64 timestamp_sample
        float32[3] output_tracking_error
        uint16 gps_check_fail_flags
        uint64 control_mode_flags
        uint32 filter_fault_flags
        float32 pos_horiz_accuracy
        float32 pos_vert_accuracy
        float32 hdg_test_ratio
        float32 vel_test_ratio
        float32 pos_test_ratio
        float32 hgt_test_ratio
        float32 tas_test_ratio
        float32 hagl_test_ratio
        float32 beta_test_ratio
        uint16 solution_status_flags
        uint8 reset_count_vel_ne
        uint8 reset_count_vel_d
        uint8 reset_count_pos_ne
        uint8 reset_count_pod_d
        uint8 reset_count_quat
        float32 time_slip
        bool pre_flt_fail_innov_heading
        bool pre_flt_fail_innov_height
        bool pre_flt_fail_innov_pos_horiz
        bool pre_flt_fail_innov_vel_horiz
        bool pre_flt_fail_innov_vel_vert
        bool pre_flt_fail_mag_field_disturbed
        uint32 accel_device_id
        uint32 gyro_device_id
        uint32 baro_device_id
        uint32 mag_device_id
        uint8 health_flags
        uint8 timeout_flags
        float32 mag_inclination_deg
        float32 mag_inclination_ref_deg
        float32 mag_strength_gs
        float32 mag_strength_ref_gs""",
    "vehicle_angular_velocity": """
        uint64 timestamp
        uint64 timestamp_sample
        float32[3] xyz
        float32[3] xyz_derivative""",
    "vehicle_local_position": """
        uint64 timestamp
        uint64 timestamp_sample
        bool xy_valid
        bool z_valid
        bool v_xy_valid
        bool v_z_valid
        float32 x
        float32 y
        float32 z
        float32[2] delta_xy
        uint8 xy_reset_counter
        float32 delta_z
        uint8 z_reset_counter
        float32 vx
        float32 vy
        float32 vz
        float32 z_deriv
        float32[2] delta_vxy
        uint8 vxy_reset_counter
        float32 delta_vz
        uint8 vz_reset_counter
        float32 ax
        float32 ay
        float32 az
        float32 heading
        float32 heading_var
        float32 unaided_heading
        float32 delta_heading
        uint8 heading_reset_counter
        bool heading_good_for_control
        float32 tilt_var
        bool xy_global
        bool z_global
        uint64 ref_timestamp
        float64 ref_lat
        float64 ref_lon
        float32 ref_alt
        bool dist_bottom_valid
        float32 dist_bottom
        float32 dist_bottom_var
        float32 delta_dist_bottom
        uint8 dist_bottom_reset_counter
        uint8 dist_bottom_sensor_bitfield
        float32 eph
        float32 epv
        float32 evh
        float32 evv
        bool dead_reckoning
        float32 vxy_max
        float32 vz_max
        float32 hagl_min
        float32 hagl_max_z
        float32 hagl_max_xy""",
    "vehicle_local_position_setpoint": """
        uint64 timestamp
        float32 x
        float32 y
        float32 z
        float32 yaw
        float32 yawspeed
        float32 vx
        float32 vy
        float32 vz
        float32[3] acceleration
        float32[3] jerk
        float32[3] thrust""",
    "vehicle_attitude_setpoint": """
        uint64 timestamp
        float32 yaw_sp_move_rate
        float32[4] q_d
        float32[3] thrust_body""",
    "vehicle_rates_setpoint": """
        uint64 timestamp
        float32 roll
        float32 pitch
        float32 yaw
        float32[3] thrust_body
        bool reset_integral""",
    "actuator_outputs": """
        uint64 timestamp
        uint32 noutputs
        float32[16] output""",
    "actuator_motors": """
        uint64 timestamp
        uint64 timestamp_sample
        uint16 reversible_flags
        float32[12] control""",
    "vehicle_thrust_setpoint": """
        uint64 timestamp
        uint64 timestamp_sample
        float32[3] xyz""",
    "vehicle_torque_setpoint": """
        uint64 timestamp
        uint64 timestamp_sample
        float32[3] xyz""",
    "vehicle_status": """
        uint64 timestamp
        uint64 armed_time
        uint64 takeoff_time
        uint8 arming_state
        uint8 latest_arming_reason
        uint8 latest_disarming_reason
        uint64 nav_state_timestamp
        uint8 nav_state_user_intention
        uint8 nav_state
        uint8 executor_in_charge
        uint32 valid_nav_states_mask
        uint32 can_set_nav_states_mask
        uint16 failure_detector_status
        uint8 hil_state
        uint8 vehicle_type
        bool failsafe
        bool failsafe_and_user_took_over
        uint8 failsafe_defer_state
        bool gcs_connection_lost
        uint8 gcs_connection_lost_counter
        bool high_latency_data_link_lost
        bool is_vtol
        bool is_vtol_tailsitter
        bool in_transition_mode
        bool in_transition_to_fw
        uint8 system_type
        uint8 system_id
        uint8 component_id
        bool safety_button_available
        bool safety_off
        bool power_input_valid
        bool usb_connected
        bool open_drone_id_system_present
        bool open_drone_id_system_healthy
        bool parachute_system_present
        bool parachute_system_healthy
        bool rc_calibration_in_progress
        bool calibration_enabled
        bool pre_flight_checks_pass""",
    "sensor_combined": """
        uint64 timestamp
        float32[3] gyro_rad
        uint32 gyro_integral_dt
        int32 accelerometer_timestamp_relative
        float32[3] accelerometer_m_s2
        uint32 accelerometer_integral_dt
        uint8 accelerometer_clipping
        uint8 gyro_clipping
        uint8 accel_calibration_count
        uint8 gyro_calibration_count""",
    "distance_sensor": """
        uint64 timestamp
        uint32 device_id
        float32 min_distance
        float32 max_distance
        float32 current_distance
        float32 variance
        int8 signal_quality
        uint8 type
        float32 h_fov
        float32 v_fov
        float32[4] q
        uint8 orientation
        uint8 mode""",
    "vehicle_optical_flow": """
        uint64 timestamp
        uint64 timestamp_sample
        uint32 device_id
        float32[2] pixel_flow
        float32[3] delta_angle
        float32 distance_m
        uint32 integration_timespan_us
        uint8 quality
        float32 max_flow_rate
        float32 min_ground_distance
        float32 max_ground_distance""",
}
# PX4 logs the ground truth of its simulations in the estimates' own message types.
PX4_MSGS["vehicle_local_position_groundtruth"] = PX4_MSGS["vehicle_local_position"]
PX4_MSGS["vehicle_attitude_groundtruth"] = PX4_MSGS["vehicle_attitude"]

# .msg type -> ULog type
ULOG_TYPE = {"float32": "float", "float64": "double", "bool": "bool", "int8": "int8_t",
             "uint8": "uint8_t", "uint16": "uint16_t", "int32": "int32_t",
             "uint32": "uint32_t", "uint64": "uint64_t"}

# Our modes (firmware.flight.Mode values) -> PX4 nav_state, as the README documents: IDLE
# Hold (4), ARMED and TAKEOFF Takeoff (17), MISSION Mission (3), LAND and LANDED Land (18),
# LAND_NOW Descend (12) once it no longer trusts vision (a camera fault, as here).
NAV_STATE = {0: 4, 1: 17, 2: 17, 3: 3, 4: 18, 5: 12, 6: 18}
LAND_NOW = 5
MARS_G = 3.71

PLAN = """name = "short"
takeoff_alt_m = 3.0
takeoff_hold_s = 1.0

[[waypoints]]
north_m = 4.0
east_m = 0.0
alt_m = 3.0
speed_mps = 1.0

[[waypoints]]
north_m = 0.0
east_m = 0.0
alt_m = 3.0
speed_mps = 1.0
"""


def msg_fields(text: str) -> list[tuple[str, str]]:
    """(ULog type, name) of each field of a .msg text."""
    out = []
    for line in text.strip().splitlines():
        msg_type, name = line.split()
        base, bracket, count = msg_type.partition("[")
        out.append((ULOG_TYPE[base] + (bracket + count if bracket else ""), name))
    return out


@pytest.fixture(scope="module")
def flight(tmp_path_factory: pytest.TempPathFactory) -> tuple[ULog, FlightResult]:
    d = tmp_path_factory.mktemp("px4")
    (d / "plan.toml").write_text(PLAN)
    scenario = d / "camera_stall.toml"
    scenario.write_text(f'plan = "{d / "plan.toml"}"\nplanet = "mars"\n\n'
                        '[[faults]]\nkind = "camera.stall"\nat_s = 14.0\n')
    setup = prepare(ROOT / "config" / "sim.toml", scenario, seed=3)
    result = fly(setup, log_path=d / "flight.ulg")
    assert result.summary.land_now_reason  # the flight this file is about
    return ULog(str(d / "flight.ulg")), result


def data(u: ULog, name: str) -> dict[str, npt.NDArray[Any]]:
    return u.get_dataset(name).data  # type: ignore[no-any-return]


def at(u: ULog, ours: str, theirs: str, every: bool = True
       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our topic's and the PX4 topic's records at the same timestamps (both are stamped with
    the cycle's time). ``every``: each PX4 record has its twin in ours."""
    a, b = data(u, ours), data(u, theirs)
    common, ia, ib = np.intersect1d(a["timestamp"], b["timestamp"], return_indices=True)
    if every:
        assert len(common) == len(b["timestamp"])
    assert len(common) > 100
    return {k: v[ia] for k, v in a.items()}, {k: v[ib] for k, v in b.items()}


def test_every_px4_topic_has_px4s_fields_names_and_types(flight: tuple[ULog, FlightResult]
                                                         ) -> None:
    u, _ = flight
    names = {d.name for d in u.data_list}
    for topic, msg in PX4_MSGS.items():
        assert topic in names, topic
        logged = [(f"{t}[{n}]" if n else t, name)
                  for t, n, name in u.message_formats[topic].fields
                  if not name.startswith("_padding")]
        assert logged == msg_fields(msg), topic
    assert u.initial_parameters["MAV_TYPE"] == 2  # quadrotor
    # the PX4 topics run at [log] px4_rate_hz (100 Hz: every 5th cycle of 500 Hz)
    cycles = len(data(u, "vehicle_state")["timestamp"])
    assert len(data(u, "vehicle_attitude")["timestamp"]) == pytest.approx(cycles / 5, abs=1)


def test_local_position_and_attitude_are_our_estimate_in_ned(
        flight: tuple[ULog, FlightResult]) -> None:
    u, _ = flight
    ours, lp = at(u, "vehicle_state", "vehicle_local_position")
    for i, axis in enumerate("xyz"):
        np.testing.assert_allclose(lp[axis], ours[f"position[{i}]"], atol=1e-5, rtol=1e-6)
        np.testing.assert_allclose(lp[f"v{axis}"], ours[f"velocity[{i}]"], atol=1e-5, rtol=1e-6)
    flying = ours["mode"] == 3
    assert flying.any() and lp["x"][flying].max() > 2.0  # flew north: +x in NED
    assert lp["z"][flying].max() < -2.0  # 3 m up: z negative
    # height above the ground below: the estimate's, with the altimeter trusted
    np.testing.assert_allclose(lp["dist_bottom"], ours["height_m"], atol=1e-5, rtol=1e-6)
    assert lp["dist_bottom_valid"][flying].all() and lp["z_valid"][flying].all()
    np.testing.assert_allclose(lp["heading"], np.radians(ours["yaw_deg"]), atol=1e-4)
    ours, att = at(u, "vehicle_state", "vehicle_attitude")
    for i in range(4):
        np.testing.assert_allclose(att[f"q[{i}]"], ours[f"q[{i}]"], atol=1e-6)
    ours, rates = at(u, "vehicle_state", "vehicle_angular_velocity")
    for i in range(3):
        np.testing.assert_allclose(rates[f"xyz[{i}]"], ours[f"rate[{i}]"], atol=1e-6)


def test_outputs_are_the_motor_commands(flight: tuple[ULog, FlightResult]) -> None:
    u, _ = flight
    ours, out = at(u, "motor_outputs", "actuator_outputs")
    assert np.all(out["noutputs"] == 4)
    armed = ours["armed"].astype(bool)
    assert armed.any() and (~armed).any()
    for i in range(4):
        np.testing.assert_allclose(out[f"output[{i}]"][armed], ours[f"motors[{i}]"][armed])
        assert np.all(out[f"output[{i}]"][~armed] == 0.0)
    for i in range(4, 16):
        assert np.all(out[f"output[{i}]"] == 0.0)
    ours, motors = at(u, "motor_outputs", "actuator_motors")
    for i in range(4):
        np.testing.assert_allclose(motors[f"control[{i}]"][armed], ours[f"motors[{i}]"][armed])
        assert np.isnan(motors[f"control[{i}]"][~armed]).all()  # PX4's stopped motor
    assert all(np.isnan(motors[f"control[{i}]"]).all() for i in range(4, 12))


def test_thrust_setpoint_is_the_collective_over_the_most_the_motors_make(
        flight: tuple[ULog, FlightResult]) -> None:
    u, result = flight
    v = result.fsw.cfg.vehicle
    max_thrust_n = v.thrust_to_weight * v.mass_kg * MARS_G
    ours, thrust = at(u, "setpoint", "vehicle_thrust_setpoint")
    state, _ = at(u, "vehicle_state", "vehicle_thrust_setpoint")
    # where the controller flew it (the cycle that enters TAKEOFF still spins up: not there)
    flown = np.isin(state["mode"], (3, LAND_NOW))
    assert flown.sum() > 100
    np.testing.assert_allclose(-thrust["xyz[2]"][flown] * max_thrust_n,
                               ours["thrust_n"][flown], rtol=1e-5)
    assert np.all(thrust["xyz[0]"] == 0.0) and np.all(thrust["xyz[1]"] == 0.0)
    hover = -thrust["xyz[2]"][state["mode"] == 3]
    assert 0.3 < np.median(hover) < 0.6  # about 1/thrust_to_weight holds it up
    _, att_sp = at(u, "vehicle_state", "vehicle_attitude_setpoint")
    np.testing.assert_array_equal(att_sp["thrust_body[2]"], thrust["xyz[2]"])
    # +-1 is full authority about an axis: a steady flight needs a few percent of it (the
    # demand itself can pass 1 in a hard manoeuvre; the mixer then scales it down)
    _, torque = at(u, "vehicle_state", "vehicle_torque_setpoint")
    for i in range(3):
        assert 0.0 < np.percentile(np.abs(torque[f"xyz[{i}]"][state["mode"] == 3]), 95) < 0.2


def test_status_maps_our_modes_and_sets_failsafe_on_land_now(
        flight: tuple[ULog, FlightResult]) -> None:
    u, _ = flight
    ours, st = at(u, "vehicle_state", "vehicle_status")
    expected = np.array([NAV_STATE[int(m)] for m in ours["mode"]])
    np.testing.assert_array_equal(st["nav_state"], expected)
    assert set(np.unique(ours["mode"])) >= {0, 1, 2, 3, LAND_NOW}
    in_land_now = ours["mode"] == LAND_NOW
    first = int(np.argmax(in_land_now))
    assert not st["failsafe"][:first].any() and st["failsafe"][first:].all()
    # the plan was flying its mission when the failsafe took over
    assert np.all(st["nav_state_user_intention"][in_land_now] == 3)
    armed = np.isin(ours["mode"], (1, 2, 3, 4, LAND_NOW))
    np.testing.assert_array_equal(st["arming_state"], np.where(armed, 2, 1))
    assert np.all(st["vehicle_type"] == 1) and np.all(st["system_type"] == 2)


def test_estimator_status_flags_say_when_vision_is_given_up(
        flight: tuple[ULog, FlightResult]) -> None:
    u, _ = flight
    ours, es = at(u, "vehicle_state", "estimator_status")
    mode = ours["mode"]
    airborne = np.isin(mode, (2, 3, 4, LAND_NOW))
    in_land_now = mode == LAND_NOW
    # health (vel, pos, hgt): vision's two bits from the LAND_NOW that stopped trusting it,
    # the altimeter's never (it never failed)
    vision_bad = (es["health_flags"] & 3) == 3
    assert not vision_bad[~in_land_now].any() and vision_bad[in_land_now].all()
    assert not (es["health_flags"] & 4).any()
    # the stall tripped the watchdog (0.3 s) before the estimator's 0.5 s timeout: no
    # timeouts, and optical flow fused (CS_OPT_FLOW) only before it
    assert not es["timeout_flags"].any()
    flags = es["control_mode_flags"].astype(np.int64)
    np.testing.assert_array_equal((flags >> 7) & 1, airborne)  # CS_IN_AIR
    flow_fused = (flags >> 3) & 1 == 1
    assert flow_fused[mode == 3].mean() > 0.99 and not flow_fused[in_land_now].any()
    assert ((flags >> 10) & 1)[airborne].mean() > 0.99  # CS_RNG_HGT: range fused
    for ratio in ("vel_test_ratio", "hgt_test_ratio"):  # measured, and never refused
        assert 0.0 < np.nanmax(es[ratio]) < 1.0, ratio
    assert np.all(es["time_slip"] == 0.0)  # no gap in the IMU data


def test_sensor_records_are_our_samples(flight: tuple[ULog, FlightResult]) -> None:
    u, result = flight
    rng, ds = data(u, "sensor_range"), data(u, "distance_sensor")
    np.testing.assert_array_equal(ds["timestamp"], rng["timestamp"])  # every sample
    np.testing.assert_allclose(ds["current_distance"], rng["distance_m"].astype(np.float32))
    assert np.all(ds["orientation"] == 25)  # downward facing
    imu, sc = data(u, "sensor_imu"), data(u, "sensor_combined")
    idx = np.searchsorted(imu["timestamp"], sc["timestamp"])
    np.testing.assert_array_equal(imu["timestamp"][idx], sc["timestamp"])
    for i in range(3):
        np.testing.assert_allclose(sc[f"gyro_rad[{i}]"], imu[f"gyro_rps[{i}]"][idx], rtol=1e-6)
        np.testing.assert_allclose(sc[f"accelerometer_m_s2[{i}]"],
                                   imu[f"accel_mps2[{i}]"][idx], rtol=1e-6)
    flow, of = data(u, "vision_flow"), data(u, "vehicle_optical_flow")
    assert len(of["timestamp"]) == len(flow["timestamp"]) > 50
    f = result.hal.camera.focal_px
    np.testing.assert_allclose(of["pixel_flow[0]"], flow["dcol"] / f, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(of["pixel_flow[1]"], flow["drow"] / f, rtol=1e-5, atol=1e-9)
    period_us = 1e6 / result.hal.camera.rate_hz
    assert np.median(of["integration_timespan_us"]) == pytest.approx(period_us, rel=0.05)


def test_ground_truth_is_the_simulated_world(flight: tuple[ULog, FlightResult]) -> None:
    u, _ = flight
    # our truth topic (50 Hz) and PX4's (100 Hz, on other cycles): ours interpolated to theirs
    truth = data(u, "truth")
    t = truth["timestamp"].astype(np.float64)
    gt = data(u, "vehicle_local_position_groundtruth")
    t_gt = gt["timestamp"].astype(np.float64)
    inside = (t_gt >= t[0]) & (t_gt <= t[-1])
    for i, axis in enumerate("xyz"):
        np.testing.assert_allclose(gt[axis][inside], np.interp(
            t_gt[inside], t, truth[f"position[{i}]"]), atol=0.01)
    att = data(u, "vehicle_attitude_groundtruth")
    w, x, y, z = (att[f"q[{i}]"].astype(np.float64) for i in range(4))
    roll = np.degrees(np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)))
    pitch = np.degrees(np.arcsin(np.clip(2 * (w * y - z * x), -1, 1)))
    t_att = att["timestamp"].astype(np.float64)
    inside = (t_att >= t[0]) & (t_att <= t[-1])
    for ours, theirs in (("roll_deg", roll), ("pitch_deg", pitch)):
        off = np.abs(theirs[inside] - np.interp(t_att[inside], t, truth[ours]))
        # interpolation holds but across touchdown, where the legs snap the attitude level
        assert np.mean(off < 0.5) > 0.99 and off.max() < 5.0, ours
    assert np.abs(roll).max() > 1.0 or np.abs(pitch).max() > 1.0  # it did tilt


def test_a_log_without_px4_topics_when_the_rate_is_zero(tmp_path: Path) -> None:
    setup = prepare(ROOT / "config" / "sim.toml", ROOT / "config/scenarios/nominal_hover.toml",
                    seed=1)
    setup.cfg.log.px4_rate_hz = 0.0
    setup.cfg.loop.max_flight_s = 8.0  # on the ground: the topics are declared at the start
    fly(setup, log_path=tmp_path / "none.ulg")
    u = ULog(str(tmp_path / "none.ulg"))
    assert not set(u.message_formats) & set(PX4_MSGS)
    assert "vehicle_state" in u.message_formats
