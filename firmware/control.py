"""Cascaded controller (position -> velocity -> attitude -> rate) and the quad-X mixer.

Gains are in physical units (rad/s^2 per rad/s for the rate loop), converted to motor thrust
through the airframe description, so the same gains fly on Mars and Earth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from firmware.config import ControlConfig, VehicleConfig
from hal.geometry import Quat, euler_to_quat
from hal.types import Vec3

NAN = float("nan")

# The trim is the horizontal acceleration that has been holding the vehicle lately (against
# wind and drag): the commanded acceleration, low-passed over this time constant.
TRIM_TAU_S = 1.0

# Quad X, PX4 order: front-right, rear-left, front-left, rear-right (must match the airframe).
MOTOR_SIGNS = ((1.0, 1.0), (-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0))  # sign of x, sign of y
MOTOR_SPIN = (-1.0, -1.0, 1.0, 1.0)


class Demand(NamedTuple):
    """What the mixer was asked for: collective thrust (N) and body torques (N m, FRD)."""

    thrust_n: float
    tau_x: float
    tau_y: float
    tau_z: float


@dataclass(slots=True)
class Setpoint:
    """What the mode machine asks of the controller this cycle."""

    north: float
    east: float
    alt: float
    vn_ff: float = 0.0
    ve_ff: float = 0.0
    yaw: float = 0.0
    max_speed: float = 2.0
    hold_horizontal: bool = True  # False: no position loop (LAND_NOW without vision)
    climb_rate: float | None = None  # overrides the altitude loop (m/s, up positive)
    level_only: bool = False  # attitude held level, no horizontal control at all
    trim_only: bool = False  # no horizontal control: hold the tilt that balanced the wind


def _within(x: float, y: float, limit: float) -> tuple[float, float, bool]:
    """(x, y) scaled down to the norm ``limit`` if longer, and whether it was."""
    norm = math.hypot(x, y)
    if norm > limit:
        f = limit / norm
        return x * f, y * f, True
    return x, y, False


class Controller:
    def __init__(self, cfg: ControlConfig, vehicle: VehicleConfig, gravity: float) -> None:
        self.cfg = cfg
        self.g = gravity
        n = len(MOTOR_SIGNS)
        self.max_thrust = vehicle.thrust_to_weight * vehicle.mass_kg * gravity / n
        self.mass = vehicle.mass_kg
        self.inertia = vehicle.inertia_kgm2
        self.arm = vehicle.arm_m / math.sqrt(2.0)
        self.yaw_k = vehicle.yaw_moment_m
        # horizontal accelerations of the tilt limits (the config is fixed for a flight)
        self.a_tilt = gravity * math.tan(math.radians(cfg.max_tilt_deg))
        self.a_touchdown = gravity * math.tan(math.radians(cfg.touchdown_tilt_deg))
        self.reset()

    def reset(self) -> None:
        self.vel_int = [0.0, 0.0]
        self.accel_trim = [0.0, 0.0]
        self.vz_int = 0.0
        self.rate_int = [0.0, 0.0]
        self.last_att_sp = (0.0, 0.0, 0.0)
        self.last_thrust = 0.0
        # What the cascade asked for last, for the flight log's PX4 setpoint topics (NED,
        # body FRD, SI): the velocity and acceleration setpoints (nan where a loop was off),
        # the attitude quaternion, the body rates and what went into the mixer.
        self.last_vel_sp: Vec3 = (NAN, NAN, NAN)
        self.last_accel_sp: Vec3 = (NAN, NAN, NAN)
        self.last_q_sp: Quat = (1.0, 0.0, 0.0, 0.0)
        self.last_rate_sp: Vec3 = (0.0, 0.0, 0.0)
        self.last_demand = Demand(0.0, 0.0, 0.0, 0.0)
        self.saturated = False
        self.tilt_limited = False  # the horizontal acceleration asked for exceeded the tilt limit

    def update(self, sp: Setpoint, pos: tuple[float, float, float],
               vel: tuple[float, float, float], q: list[float],
               rate: tuple[float, float, float], dt: float) -> tuple[float, ...]:
        c = self.cfg
        g = self.g
        # -- vertical: altitude -> climb rate -> vertical acceleration
        alt = -pos[2]
        vup = -vel[2]
        if sp.climb_rate is not None:
            vz_sp = sp.climb_rate
        else:
            vz_sp = c.alt_p * (sp.alt - alt)
        vz_sp = max(-c.max_descent_mps, min(c.max_climb_mps, vz_sp))
        ez = vz_sp - vup
        self.vz_int = max(-2.0, min(2.0, self.vz_int + c.vz_i * ez * dt))
        az_sp = c.vz_p * ez + self.vz_int

        # -- horizontal: position -> velocity -> acceleration
        trim = self.accel_trim
        self.tilt_limited = False
        vn_sp = ve_sp = NAN  # no horizontal velocity loop (level or trim only)
        if sp.level_only:
            an_sp = ae_sp = 0.0
        elif sp.trim_only:
            # the tilt that balanced the wind, but no more than the legs take at touchdown:
            # beyond it the vehicle drifts downwind instead (both crash past a limit)
            an_sp, ae_sp, _ = _within(trim[0], trim[1], self.a_touchdown)
        else:
            if sp.hold_horizontal:
                vn_sp = c.pos_p * (sp.north - pos[0]) + sp.vn_ff
                ve_sp = c.pos_p * (sp.east - pos[1]) + sp.ve_ff
            else:
                vn_sp, ve_sp = sp.vn_ff, sp.ve_ff
            vn_sp, ve_sp, _ = _within(vn_sp, ve_sp, sp.max_speed)
            en, ee = vn_sp - vel[0], ve_sp - vel[1]
            vi = self.vel_int
            # Two authorities: manoeuvres (the proportional part) within max_accel_mps2, so a
            # plan flies as gently in a gale as in calm air (at 40 deg vision's flow model
            # fails: a campaign's false alarms), and the integrator, which holds a steady
            # wind, with the whole tilt authority; one limit on the total tilt (not per
            # axis: 20 deg of roll and of pitch is 28)
            an_sp, ae_sp, _ = _within(c.vel_p * en, c.vel_p * ee, c.max_accel_mps2)
            a_max = self.a_tilt
            an_sp, ae_sp, self.tilt_limited = _within(an_sp + vi[0], ae_sp + vi[1], a_max)
            if not self.tilt_limited:
                # integrate only when not saturated: a long braking would wind it up and
                # overshoot into a reverse drift afterwards
                vi[0] = max(-a_max, min(a_max, vi[0] + c.vel_i * en * dt))
                vi[1] = max(-a_max, min(a_max, vi[1] + c.vel_i * ee * dt))
            k = dt / (TRIM_TAU_S + dt)
            trim[0] += k * (an_sp - trim[0])
            trim[1] += k * (ae_sp - trim[1])

        # -- acceleration -> attitude (tilt toward the desired acceleration)
        yaw = sp.yaw
        cy, sy = math.cos(yaw), math.sin(yaw)
        a_fwd = cy * an_sp + sy * ae_sp
        a_right = -sy * an_sp + cy * ae_sp
        pitch_sp = -math.atan2(a_fwd, g)
        roll_sp = math.atan2(a_right * math.cos(pitch_sp), g)
        self.last_att_sp = (roll_sp, pitch_sp, yaw)

        # -- attitude error (quaternion) -> body rate setpoint
        qsp = euler_to_quat(roll_sp, pitch_sp, yaw)
        self.last_vel_sp = (vn_sp, ve_sp, -vz_sp)
        self.last_accel_sp = (an_sp, ae_sp, -az_sp)
        self.last_q_sp = qsp
        qw, qx, qy, qz = q
        # q_err = q^-1 * q_sp
        ew = qw * qsp[0] + qx * qsp[1] + qy * qsp[2] + qz * qsp[3]
        ex = qw * qsp[1] - qx * qsp[0] - qy * qsp[3] + qz * qsp[2]
        ey = qw * qsp[2] + qx * qsp[3] - qy * qsp[0] - qz * qsp[1]
        ez = qw * qsp[3] - qx * qsp[2] + qy * qsp[1] - qz * qsp[0]
        s = 2.0 if ew >= 0 else -2.0
        p_sp = c.att_p * s * ex
        q_sp = c.att_p * s * ey
        r_sp = c.yaw_p * s * ez
        if sp.level_only:
            # On (or just over) the legs: the ground sets the attitude, which the estimate may
            # not have seen happen (the legs swing a vehicle touching down tilted level at
            # once); an attitude loop fighting that saturated the mixer, which raised the
            # collective for authority and hopped the vehicle. Rates are only damped.
            p_sp = q_sp = r_sp = 0.0

        self.last_rate_sp = (p_sp, q_sp, r_sp)

        # -- rate loop -> torques
        wx, wy, wz = rate
        ri = self.rate_int
        if not sp.level_only:  # on the legs the ground holds the attitude: no wind-up
            ri[0] = max(-3.0, min(3.0, ri[0] + c.rate_i * (p_sp - wx) * dt))
            ri[1] = max(-3.0, min(3.0, ri[1] + c.rate_i * (q_sp - wy) * dt))
        ix, iy, iz = self.inertia
        tau_x = ix * (c.rate_p * (p_sp - wx) + ri[0])
        tau_y = iy * (c.rate_p * (q_sp - wy) + ri[1])
        tau_z = iz * c.yaw_rate_p * (r_sp - wz)

        # -- collective: vertical acceleration through the current tilt
        cos_tilt = max(0.5, 1.0 - 2.0 * (qx * qx + qy * qy))
        thrust = self.mass * (g + az_sp) / cos_tilt
        self.last_thrust = thrust
        return self.mix(thrust, tau_x, tau_y, tau_z)

    def trim_tilt_deg(self) -> float:
        """The tilt that has been holding the vehicle against wind and drag lately."""
        return math.degrees(math.atan2(math.hypot(*self.accel_trim), self.g))

    def mix(self, thrust: float, tau_x: float, tau_y: float, tau_z: float) -> tuple[float, ...]:
        """Motor commands 0..1; attitude authority kept by shifting collective when saturated."""
        self.last_demand = Demand(thrust, tau_x, tau_y, tau_z)
        n = len(MOTOR_SIGNS)
        a, k, tmax = self.arm, self.yaw_k, self.max_thrust
        diffs = [(-tau_x * sy_ + tau_y * sx_) / (n * a) + tau_z * spin / (n * k)
                 for (sx_, sy_), spin in zip(MOTOR_SIGNS, MOTOR_SPIN, strict=True)]
        base = thrust / n
        hi = max(diffs)
        lo = min(diffs)
        self.saturated = False
        if hi - lo > tmax:  # not even attitude fits: scale the differential part
            scale = tmax / (hi - lo)
            diffs = [d * scale for d in diffs]
            hi, lo = hi * scale, lo * scale
            self.saturated = True
        if base + hi > tmax:
            base = tmax - hi
            self.saturated = True
        if base + lo < 0.0:
            base = -lo
            self.saturated = True
        return tuple(max(0.0, min(1.0, (base + d) / tmax)) for d in diffs)

    def constant(self, command: float) -> tuple[float, ...]:
        """The same command (0..1) on every motor, without control (on the ground: off, or
        spinning up); the demand recorded is the collective thrust that makes."""
        n = len(MOTOR_SIGNS)
        self.last_demand = Demand(command * n * self.max_thrust, 0.0, 0.0, 0.0)
        return (command,) * n
