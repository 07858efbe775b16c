"""Rigid-body 6-DOF quadrotor over the ground (NED world, FRD body, SI units).

Plain-float Python on purpose: the world steps at 1 kHz and numpy's per-call overhead on
3-vectors would cost more than the arithmetic. Semi-implicit Euler; quaternion attitude.

Motor i sits at (x_i, y_i) in the body frame; its thrust T_i acts along body -z, so it makes a
roll torque -y_i*T_i and a pitch torque x_i*T_i; its drag reaction gives yaw torque
spin_i * yaw_moment_m * T_i. Commands are normalised thrust (0..1 of the motor's maximum),
tracked with a first-order lag.

The air: drag acts on the velocity relative to the air, ``v - wind`` (``sim_hal.wind``; no wind
object: still air). The ground: the plane z = 0 (up to the gear), or a height field
(``sim_hal.terrain``): contact is the gear reaching the terrain under the vehicle while moving
into it; a touchdown is judged by speed and by the vehicle's tilt from gravity, as on flat
ground, and the vehicle then rests on the plane through its four feet (tipping over if that
plane is steeper than ``crash_tilt_deg``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hal.geometry import euler_to_quat, quat_to_euler, quat_to_matrix
from hal.tomlschema import rng
from hal.types import NS_PER_S, TruthState

if TYPE_CHECKING:
    from sim_hal.terrain import HeightField
    from sim_hal.wind import Wind

GRAVITY = {"mars": 3.71, "earth": 9.81}

# Quad X, PX4 motor order: front-right, rear-left, front-left, rear-right.
QUAD_X_POSITIONS = ((1.0, 1.0), (-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0))
QUAD_X_SPIN = (-1.0, -1.0, 1.0, 1.0)


@dataclass
class VehicleParams:
    mass_kg: float = field(default=1.8, metadata=rng(0.05, 100))
    arm_m: float = field(default=0.25, metadata=rng(0.02, 5))
    inertia_kgm2: tuple[float, float, float] = field(
        default=(0.03, 0.03, 0.05), metadata=rng(1e-5, 100)
    )
    thrust_to_weight: float = field(default=2.2, metadata=rng(1.1, 10))
    motor_tau_s: float = field(default=0.03, metadata=rng(0.001, 0.5))
    yaw_moment_m: float = field(default=0.02, metadata=rng(0.0, 1.0))
    drag_linear: float = field(default=0.15, metadata=rng(0, 10))  # N per m/s
    drag_quadratic: float = field(default=0.02, metadata=rng(0, 10))  # N per (m/s)^2
    angular_damping: float = field(default=0.004, metadata=rng(0, 1))  # N m per rad/s
    gear_height_m: float = field(default=0.15, metadata=rng(0.0, 2))
    crash_speed_mps: float = field(default=2.0, metadata=rng(0.1, 20))
    crash_tilt_deg: float = field(default=30.0, metadata=rng(1, 90))


class World:
    def __init__(self, params: VehicleParams, gravity: float, t0_ns: int = 0,
                 wind: Wind | None = None, terrain: HeightField | None = None) -> None:
        self.p = params
        self.wind = wind
        self.terrain = terrain
        self.wind_ned = (0.0, 0.0, 0.0)  # the wind of the last step
        self._rest_q: list[float] | None = None  # attitude resting on terrain, None: level
        self.g = gravity
        self.t_ns = t0_ns
        n = len(QUAD_X_POSITIONS)
        a = params.arm_m / math.sqrt(2.0)
        self.motor_xy = tuple((x * a, y * a) for x, y in QUAD_X_POSITIONS)
        self.motor_spin = QUAD_X_SPIN
        self.max_thrust_n = params.thrust_to_weight * params.mass_kg * gravity / n
        self.cmd = [0.0] * n
        self.thrust = [0.0] * n
        # state
        h0 = terrain.height(0.0, 0.0) if terrain is not None else 0.0
        self.pos = [0.0, 0.0, -params.gear_height_m - h0]
        self.vel = [0.0, 0.0, 0.0]
        self.q = [1.0, 0.0, 0.0, 0.0]  # w, x, y, z; body -> world
        self.omega = [0.0, 0.0, 0.0]  # body rates
        self.accel = [0.0, 0.0, 0.0]  # world-frame kinematic acceleration of the last step
        self.r = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # row-major body->world
        self.on_ground = True
        self.airborne_once = False
        self.last_touchdown_ns: int | None = None
        self.crashed = False
        self.crash_reason = ""
        self.touchdown_speed = 0.0
        self.touchdown_tilt_deg = 0.0
        self.touchdowns = 0
        self.max_tilt_deg = 0.0

    # -- inputs -----------------------------------------------------------------------------
    def set_motor_commands(self, cmd: tuple[float, ...] | list[float]) -> None:
        for i, u in enumerate(cmd[: len(self.cmd)]):
            self.cmd[i] = 0.0 if not (u > 0.0) else (1.0 if u > 1.0 else float(u))

    # -- derived ----------------------------------------------------------------------------
    def tilt_rad(self) -> float:
        return math.acos(max(-1.0, min(1.0, self.r[8])))

    def euler(self) -> tuple[float, float, float]:
        return quat_to_euler(self.q)

    def specific_force_body(self) -> tuple[float, float, float]:
        """What an ideal accelerometer at the body origin reads (m/s^2, FRD)."""
        r = self.r
        fx, fy, fz = self.accel[0], self.accel[1], self.accel[2] - self.g
        return (
            r[0] * fx + r[3] * fy + r[6] * fz,
            r[1] * fx + r[4] * fy + r[7] * fz,
            r[2] * fx + r[5] * fy + r[8] * fz,
        )

    def truth(self) -> TruthState:
        roll, pitch, yaw = self.euler()
        return TruthState(
            t_ns=self.t_ns,
            position_ned=(self.pos[0], self.pos[1], self.pos[2]),
            velocity_ned=(self.vel[0], self.vel[1], self.vel[2]),
            roll=roll,
            pitch=pitch,
            yaw=yaw,
            on_ground=self.on_ground,
            crashed=self.crashed,
            crash_reason=self.crash_reason,
            touchdown_speed_mps=self.touchdown_speed,
            touchdown_tilt_deg=self.touchdown_tilt_deg,
            max_tilt_deg=self.max_tilt_deg,
            airborne_once=self.airborne_once,
            last_touchdown_ns=self.last_touchdown_ns,
        )

    # -- dynamics ---------------------------------------------------------------------------
    def step(self, dt_ns: int) -> None:
        self.t_ns += dt_ns
        if self.crashed:
            return
        dt = dt_ns / NS_PER_S
        p = self.p
        alpha = min(1.0, dt / p.motor_tau_s)
        tmax = self.max_thrust_n
        thrust = self.thrust
        total = tau_x = tau_y = tau_z = 0.0
        for i in range(len(thrust)):
            t = thrust[i] + (self.cmd[i] * tmax - thrust[i]) * alpha
            thrust[i] = t
            mx, my = self.motor_xy[i]
            total += t
            tau_x -= my * t
            tau_y += mx * t
            tau_z += self.motor_spin[i] * p.yaw_moment_m * t
        r = self.r
        m = p.mass_kg
        vx, vy, vz = self.vel
        ux, uy, uz = vx, vy, vz  # air-relative velocity
        if self.wind is not None:
            # height above ground for the turbulence scales, looked up only when they are used
            h = -self.pos[2]
            if self.terrain is not None and self.wind.turbulence_due(self.t_ns):
                h -= self.terrain.height(self.pos[0], self.pos[1])
            wn, we, wd = self.wind.velocity(self.t_ns, h, vx, vy, vz)
            self.wind_ned = (wn, we, wd)
            if not self.on_ground:  # on the ground, friction holds the vehicle
                ux, uy, uz = vx - wn, vy - we, vz - wd
        speed = math.sqrt(ux * ux + uy * uy + uz * uz)
        kd = p.drag_linear + p.drag_quadratic * speed
        ax = (-r[2] * total - kd * ux) / m
        ay = (-r[5] * total - kd * uy) / m
        az = (-r[8] * total - kd * uz) / m + self.g

        if self.on_ground:
            if az < 0.0:  # net lift: leave the ground
                self.on_ground = False
                self.airborne_once = True
            else:
                self.accel = [0.0, 0.0, 0.0]
                self.vel = [0.0, 0.0, 0.0]
                self.omega = [0.0, 0.0, 0.0]
                if self._rest_q is None:
                    self._level_keep_yaw()
                return

        self.accel = [ax, ay, az]
        vx += ax * dt
        vy += ay * dt
        vz += az * dt
        self.vel = [vx, vy, vz]
        self.pos[0] += vx * dt
        self.pos[1] += vy * dt
        self.pos[2] += vz * dt

        ix, iy, iz = p.inertia_kgm2
        wx, wy, wz = self.omega
        kw = p.angular_damping
        dwx = (tau_x - kw * wx - (iz - iy) * wy * wz) / ix
        dwy = (tau_y - kw * wy - (ix - iz) * wz * wx) / iy
        dwz = (tau_z - kw * wz - (iy - ix) * wx * wy) / iz
        wx += dwx * dt
        wy += dwy * dt
        wz += dwz * dt
        self.omega = [wx, wy, wz]
        qw, qx, qy, qz = self.q
        h = 0.5 * dt
        nw = qw + h * (-qx * wx - qy * wy - qz * wz)
        nx = qx + h * (qw * wx + qy * wz - qz * wy)
        ny = qy + h * (qw * wy - qx * wz + qz * wx)
        nz = qz + h * (qw * wz + qx * wy - qy * wx)
        inv = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
        self.q = [nw * inv, nx * inv, ny * inv, nz * inv]
        self._update_r()

        tilt_deg = math.degrees(self.tilt_rad())
        if tilt_deg > self.max_tilt_deg:
            self.max_tilt_deg = tilt_deg
        terrain = self.terrain
        if terrain is None:
            if self.pos[2] >= -p.gear_height_m and vz >= 0.0:
                self._touchdown(math.sqrt(vx * vx + vy * vy + vz * vz), tilt_deg, dt,
                                -p.gear_height_m)
        elif self.pos[2] >= -p.gear_height_m - terrain.ceiling(self.pos[0], self.pos[1]):
            n, e = self.pos[0], self.pos[1]  # low enough to touch: look closer
            ground_z = -p.gear_height_m - terrain.height(n, e)
            if self.pos[2] >= ground_z:
                gn, ge = terrain.gradient(n, e)
                # moving into the surface: against its upward normal (-gn, -ge, 1) (N, E, up)
                if -gn * vx - ge * vy - vz <= 0.0:
                    self._touchdown(math.sqrt(vx * vx + vy * vy + vz * vz), tilt_deg, dt,
                                    ground_z)

    def _touchdown(self, speed: float, tilt_deg: float, dt: float, ground_z: float) -> None:
        p = self.p
        self.touchdowns += 1
        self.touchdown_speed = max(self.touchdown_speed, speed)  # the hardest one counts
        self.touchdown_tilt_deg = max(self.touchdown_tilt_deg, tilt_deg)
        self.pos[2] = ground_z
        if speed > p.crash_speed_mps:
            self.crashed = True
            self.crash_reason = f"touchdown at {speed:.1f} m/s"
        elif tilt_deg > p.crash_tilt_deg:
            self.crashed = True
            self.crash_reason = f"touchdown tilted {tilt_deg:.0f} deg"
        self.on_ground = True
        self.last_touchdown_ns = self.t_ns
        # The impact: the IMU must feel the stop, or dead reckoning believes it still descends.
        vx, vy, vz = self.vel
        self.accel = [-vx / dt, -vy / dt, -vz / dt]
        self.vel = [0.0, 0.0, 0.0]
        self.omega = [0.0, 0.0, 0.0]
        if not self.crashed:
            if self.terrain is None:
                self._level_keep_yaw()
            else:
                self._rest_on_terrain()

    def _rest_on_terrain(self) -> None:
        """Settle on the least-squares plane through the four feet (under the motors)."""
        terrain = self.terrain
        assert terrain is not None
        p = self.p
        _, _, yaw = self.euler()
        cy, sy = math.cos(yaw), math.sin(yaw)
        n0, e0 = self.pos[0], self.pos[1]
        sum_hn = sum_he = sum_nn = sum_ee = sum_h = 0.0
        for x, y in self.motor_xy:
            dn, de = cy * x - sy * y, sy * x + cy * y
            h = terrain.height(n0 + dn, e0 + de)
            sum_hn += h * dn
            sum_he += h * de
            sum_nn += dn * dn
            sum_ee += de * de
            sum_h += h
        # a square of feet: the plane's slopes decouple (sum dn = sum de = sum dn de = 0)
        b, c = sum_hn / sum_nn, sum_he / sum_ee
        lift = max(sum_h / len(self.motor_xy), terrain.height(n0, e0))
        self.pos[2] = -p.gear_height_m - lift
        slope_deg = math.degrees(math.atan(math.hypot(b, c)))
        if slope_deg > p.crash_tilt_deg:
            self.crashed = True
            self.crash_reason = f"tipped over on {slope_deg:.0f} deg ground"
            return
        # body z (down) along the plane's downward normal (b, c, 1)/k in NED, yaw kept
        k = math.sqrt(1.0 + b * b + c * c)
        zx, zy, zz = b / k, c / k, 1.0 / k
        zx_y, zy_y = cy * zx + sy * zy, -sy * zx + cy * zy
        roll = math.asin(max(-1.0, min(1.0, -zy_y)))
        pitch = math.atan2(zx_y, zz)
        self._rest_q = list(euler_to_quat(roll, pitch, yaw))
        self.q = list(self._rest_q)
        self._update_r()

    def _level_keep_yaw(self) -> None:
        _, _, yaw = self.euler()
        self.q = [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
        self._update_r()

    def _update_r(self) -> None:
        self.r = quat_to_matrix(self.q)
