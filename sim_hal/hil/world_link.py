"""The world, shared with the emulators: stepped by the control thread, read by the I2C
emulators at their own sample times and by the camera board's thread under a lock."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from hal.geometry import quat_to_euler
from hal.mpu6050 import G0
from hal.pca9685 import Pca9685Settings
from hal.types import TruthState, Vec3
from sim_hal.pose_history import PoseHistory
from sim_hal.world import World

WORLD_STEP_NS = 1_000_000
HISTORY_STEPS = 256  # world states kept for the I2C emulators (a quarter second)
POSE_KEEP_NS = 700_000_000  # poses kept for the camera board (content-time faults look back)


# (t_ns after the step, specific force FRD, body rates FRD, altitude of the body origin, r[2][2],
#  (north, east, r[0][2], r[1][2]) for the altimeter's beam over terrain)
_State = tuple[int, Vec3, Vec3, float, float, tuple[float, float, float, float]]
RANGE_LIMIT_M = 41.0  # past the LIDAR-Lite v3's 40 m: no return


class HilWorld:
    """The world, the lock that guards its stepping, and a short history for the emulators."""

    def __init__(self, world: World, step_ns: int = WORLD_STEP_NS, live: bool = True,
                 impact_cap_mps2: float = 8 * G0) -> None:
        self.world = world
        self.step_ns = step_ns
        self.live = live  # False: a world held still (the bench targets), never stepped
        self.impact_cap = impact_cap_mps2
        self._impulse: tuple[Vec3, int] | None = None  # per-step share, steps left
        self.lock = threading.Lock()
        self.history: deque[_State] = deque(maxlen=HISTORY_STEPS)
        self.range_invalid = False  # altimeter.invalid: no return (reads 0 cm)
        self.steps = 0
        self.poses = PoseHistory(POSE_KEEP_NS)
        self.poses.add(world.t_ns, world.pos, world.vel, world.q)

    def _state(self) -> _State:
        w = self.world
        o, r = w.omega, w.r
        return (w.t_ns, w.specific_force_body(), (o[0], o[1], o[2]), -w.pos[2], r[8],
                (w.pos[0], w.pos[1], r[2], r[5]))

    def step_to(self, t_ns: int) -> None:
        """Whole steps up to ``t_ns``."""
        w = self.world
        step = self.step_ns
        if w.t_ns + step > t_ns:
            return
        hist = self.history
        with self.lock:
            while w.t_ns + step <= t_ns:
                touchdowns = w.touchdowns
                w.step(step)
                self.steps += 1
                st = self._state()
                if w.touchdowns != touchdowns:
                    st = self._start_impact(st)
                elif self._impulse is not None:
                    st = self._add_share(st)
                hist.append(st)
                self.poses.add(w.t_ns, w.pos, w.vel, w.q)

    def _start_impact(self, st: _State) -> _State:
        """The world stops a touchdown in one step: tens of g for 1 ms, beyond any IMU's range
        (the emulator would clip it and the velocity change be lost to the navigation). Real
        gear takes several ms: spread the same velocity change over enough steps to stay
        under ``impact_cap``."""
        r, g = self.world.r, self.world.g
        sf = st[1]
        spike = (sf[0] + r[6] * g, sf[1] + r[7] * g, sf[2] + r[8] * g)  # less 1 g at rest
        n = max(1, math.ceil(math.sqrt(sum(c * c for c in spike)) / self.impact_cap))
        share = (spike[0] / n, spike[1] / n, spike[2] / n)
        self._impulse = (share, n - 1) if n > 1 else None
        rest = (sf[0] - spike[0] + share[0], sf[1] - spike[1] + share[1],
                sf[2] - spike[2] + share[2])
        return (st[0], rest, st[2], st[3], st[4], st[5])

    def _add_share(self, st: _State) -> _State:
        assert self._impulse is not None
        share, left = self._impulse
        self._impulse = (share, left - 1) if left > 1 else None
        sf = st[1]
        return (st[0], (sf[0] + share[0], sf[1] + share[1], sf[2] + share[2]), st[2], st[3],
                st[4], st[5])

    def at(self, t_ns: int) -> _State:
        """The state after the step containing ``t_ns``, as the lockstep sim samples.

        A sensor may sample after the world's last step (the control thread stepped it at
        the start of the cycle and the driver reads later): the world is then stepped over
        ``t_ns`` first. Answering with the last state instead would hand a later step's
        event -- a touchdown's one-step impact -- to no sample at all.
        """
        w = self.world
        if self.live and t_ns > w.t_ns:
            step = self.step_ns
            self.step_to(w.t_ns + -(-(t_ns - w.t_ns) // step) * step)
        hist = self.history
        if not hist:
            return self._state()
        best = hist[-1]
        for i in range(len(hist) - 1, -1, -1):
            e = hist[i]
            if e[0] < t_ns:
                break
            best = e
        return best

    def pose(self) -> tuple[int, Vec3, Vec3, tuple[float, ...]]:
        """A consistent copy for another thread: (t_ns, position, velocity, r row-major)."""
        w = self.world
        with self.lock:
            p, v = w.pos, w.vel
            return w.t_ns, (p[0], p[1], p[2]), (v[0], v[1], v[2]), w.r

    def truth_at(self, t_ns: int) -> TruthState:
        """The world's truth with its position, velocity and attitude at ``t_ns`` (from the
        pose history: ``POSE_KEEP_NS`` back at most); the flags and records as they are now."""
        with self.lock:
            now = self.world.truth()
            pos, vel, q = self.poses.state_at(t_ns)
        roll, pitch, yaw = quat_to_euler(q)
        return dataclasses.replace(now, t_ns=t_ns, position_ned=pos, velocity_ned=vel,
                                   roll=roll, pitch=pitch, yaw=yaw)

    def pose_at(self, t_ns: int) -> tuple[Vec3, Any]:
        """Position and rotation matrix at ``t_ns``, for the camera board's thread: between
        steps interpolated, ahead of the world carried on from its newest step."""
        with self.lock:
            return self.poses.at(t_ns)

    # what the emulators are fed
    def imu_truth(self, temp_c: float) -> Callable[[int], tuple[Vec3, Vec3, float]]:
        def truth(t_ns: int) -> tuple[Vec3, Vec3, float]:
            s = self.at(t_ns)
            return s[1], s[2], temp_c

        return truth

    def range_m(self, t_ns: int) -> float:
        """Distance along body z to the ground (flat, or the terrain under the beam); nan (no
        return: 0 cm) when the beam is too tilted, as the sim's altimeter model has it, or
        under altimeter.invalid."""
        if self.range_invalid:
            return math.nan
        st = self.at(t_ns)
        cos_tilt = st[4]
        if cos_tilt < 0.5:
            return math.nan
        terrain = self.world.terrain
        if terrain is None:
            return st[3] / cos_tilt
        n, e, zn, ze = st[5]
        return terrain.range_along(n, e, -st[3], zn, ze, cos_tilt, RANGE_LIMIT_M)

    def set_motors_from_pulses(self, settings: Pca9685Settings) -> Callable[
            [list[float | None]], None]:
        span = settings.max_us - settings.min_us
        chans = list(settings.channels)
        lo = settings.min_us

        def on_outputs(pulses: list[float | None]) -> None:
            cmd = []
            for ch in chans:
                p = pulses[ch]
                cmd.append(0.0 if p is None else min(1.0, max(0.0, (p - lo) / span)))
            self.world.set_motor_commands(cmd)

        return on_outputs

