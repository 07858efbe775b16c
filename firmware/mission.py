"""Flight plan sequencer: turns waypoints into a smooth moving setpoint.

The setpoint ("carrot") runs along each leg with a trapezoidal speed profile (accelerate,
cruise at the leg speed, brake to stop at the waypoint), carrying its speed as feed-forward.
A leg is done when the carrot is at the end and the vehicle is within the acceptance radius;
then the waypoint's hold time runs, once ``hold_gate`` (if any) allows it: the photo planner
holds it back while the vehicle turns to face a target and takes the arrival shot.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from firmware.config import FlightPlan


class MissionSequencer:
    def __init__(self, plan: FlightPlan, accel: float = 0.8, acceptance_m: float = 0.8,
                 vertical_rate: float = 0.8) -> None:
        self.plan = plan
        self.accel = accel
        self.acceptance = acceptance_m
        self.vrate = vertical_rate
        self.leg = 0
        self.start = (0.0, 0.0, plan.takeoff_alt_m)
        self.s = 0.0  # carrot distance along the leg
        self.v = 0.0
        self.alt = plan.takeoff_alt_m
        self.hold_left = -1.0
        self.holding = False  # at the current leg's waypoint (within acceptance)
        self.hold_gate: Callable[[int], bool] | None = None  # may the hold of leg i run?
        self.done = not plan.waypoints

    def begin(self, north: float, east: float, alt: float) -> None:
        self.start = (north, east, alt)
        self.alt = alt

    def update(self, dt: float, pos_n: float, pos_e: float, alt: float
               ) -> tuple[float, float, float, float, float, float]:
        """Returns (north, east, alt, vn_ff, ve_ff, leg_speed) for this cycle."""
        if self.done:
            n, e = self.plan.landing_point()
            return n, e, self.alt, 0.0, 0.0, 1.0
        wp = self.plan.waypoints[self.leg]
        n0, e0, a0 = self.start
        dn, de = wp.north_m - n0, wp.east_m - e0
        length = math.hypot(dn, de)
        if length > 0.05:
            remaining = length - self.s
            v_brake = math.sqrt(max(0.0, 2.0 * self.accel * remaining))
            target_v = min(wp.speed_mps, v_brake)
            if self.v < target_v:
                self.v = min(target_v, self.v + self.accel * dt)
            else:
                self.v = target_v
            self.s = min(length, self.s + self.v * dt)
            frac = self.s / length
            sn, se = n0 + dn * frac, e0 + de * frac
            self.alt = a0 + (wp.alt_m - a0) * frac
            ux, uy = dn / length, de / length
            vff = (self.v * ux, self.v * uy)
            at_end = self.s >= length
        else:  # a vertical leg
            step = self.vrate * dt
            self.alt += max(-step, min(step, wp.alt_m - self.alt))
            sn, se = wp.north_m, wp.east_m
            vff = (0.0, 0.0)
            at_end = abs(self.alt - wp.alt_m) < 1e-6
        if at_end:
            close = math.hypot(pos_n - wp.north_m, pos_e - wp.east_m) < self.acceptance and \
                abs(alt - wp.alt_m) < 0.5
            self.holding = close
            gate = self.hold_gate
            if close and (gate is None or gate(self.leg)):
                if self.hold_left < 0.0:
                    self.hold_left = wp.hold_s
                self.hold_left -= dt
                if self.hold_left <= 0.0:
                    self._next_leg(wp.north_m, wp.east_m, wp.alt_m)
        return sn, se, self.alt, vff[0], vff[1], wp.speed_mps

    def _next_leg(self, n: float, e: float, a: float) -> None:
        self.leg += 1
        self.start = (n, e, a)
        self.s = 0.0
        self.v = 0.0
        self.hold_left = -1.0
        self.holding = False
        if self.leg >= len(self.plan.waypoints):
            self.done = True
