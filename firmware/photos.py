"""Photos from the air: when the plan's shots are taken, where the vehicle looks for them, and
the pose each photo was taken from.

The still camera (``hal.interfaces.StillCamera``) is triggered and polled, never waited on: a
VC0706 takes seconds to read a photo over its serial line, and the control cycle must not
notice. What a shot needs from flight:

- a waypoint's ``look_at``: on arrival the heading setpoint turns toward the target at
  ``photo.yaw_rate_dps`` (computed from the waypoint, so it does not swing while the vehicle
  settles); the hold and the shots wait until the heading has been within
  ``heading_tolerance_deg`` for ``settle_s``; the heading is kept after.
- ``photo = true``: one shot on arrival (after the turn); the hold waits for its exposure, so
  the vehicle does not leave the spot before the picture is taken.
- ``photo_every_s``: shots every that many seconds of the hold, before its end (from its
  start: the first at its start unless the arrival shot is that one).
- the plan's ``photo_times_s``: shots at those flight times, in any mode but LAND_NOW.

A shot the camera is still too busy for is retried each cycle for ``busy_retry_s``, then
dropped and said so. From LAND_NOW on, no new shot: the vehicle is landing on a fault. A photo
still being read when the flight ends is waited for (on the ground, outputs off) for up to
``drain_s``: a serial camera's readout takes seconds, and no photo taken should be lost.

The pose is navigation's estimate at the photo's mid-exposure (its history, read as soon as the
exposure is confirmed: the photo itself may arrive seconds later). Geotags are the NED
position on a sphere around the configured origin (``PhotoConfig``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from firmware.config import FlightPlan, PhotoConfig
from firmware.nav import Navigator
from hal.interfaces import Hal
from hal.types import NS_PER_S, Photo, PhotoExposure, TruthState

NAN = float("nan")
# Why a photo was taken (logged as an index: the photo topic's ``reason``).
PHOTO_REASONS: tuple[str, ...] = ("arrival", "hold", "time")
REASON_ARRIVAL, REASON_HOLD, REASON_TIME = (PHOTO_REASONS.index(r)
                                            for r in ("arrival", "hold", "time"))

EventSink = Callable[[int, str, int], None]  # (t_ns, text, logging level)


@dataclass(frozen=True, slots=True)
class Pose:
    """Navigation's estimate at an instant: NED position (m), body attitude (w, x, y, z)."""

    position_ned: tuple[float, float, float]
    q: tuple[float, float, float, float]
    height_agl_m: float


UNKNOWN_POSE = Pose((NAN, NAN, NAN), (NAN, NAN, NAN, NAN), NAN)


@dataclass(frozen=True, slots=True)
class TakenPhoto:
    """A finished (or failed) photo with what the flight software knows of it."""

    photo: Photo
    reason: int  # index into PHOTO_REASONS
    exposure: PhotoExposure | None  # None: the camera failed before confirming one
    pose: Pose  # the estimate at the mid-exposure
    truth: TruthState | None  # the simulated world's at the true mid-exposure
    lat_deg: float
    lon_deg: float
    alt_m: float  # origin_alt_m plus the estimate's height above the ground below


def geotag(north_m: float, east_m: float, cfg: PhotoConfig) -> tuple[float, float]:
    """(latitude, longitude) in degrees of a point north/east of the origin, on a sphere."""
    r = cfg.planet_radius_m
    lat0 = math.radians(cfg.origin_lat_deg)
    lat = cfg.origin_lat_deg + math.degrees(north_m / r)
    lon = cfg.origin_lon_deg + math.degrees(east_m / (r * math.cos(lat0)))
    return lat, (lon + 180.0) % 360.0 - 180.0


def wrap_pi(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


@dataclass(slots=True)
class _Request:
    reason: int
    first_ns: int  # when it was first asked for (for busy_retry_s)


@dataclass(slots=True)
class _Shot:
    reason: int
    exposure: PhotoExposure | None = None
    pose: Pose = UNKNOWN_POSE


@dataclass(slots=True)
class _LegState:
    """The current waypoint's photo business."""

    leg: int = -1
    aligned_since_ns: int | None = None  # heading within tolerance since
    arrival_seq: int | None = None  # the arrival shot's seq once triggered
    arrival_done: bool = False  # its exposure confirmed, or it failed or was dropped
    arrival_asked: bool = False
    arrival_trigger_ns: int | None = None
    hold_start_ns: int | None = None  # the gate first opened
    every_taken: int = 0  # photo_every_s shots asked for so far


class PhotoPlanner:
    """The plan's shots, the heading they need, and each photo's pose; one per flight."""

    def __init__(self, cfg: PhotoConfig, plan: FlightPlan, hal: Hal, nav: Navigator,
                 event: EventSink) -> None:
        self.cfg = cfg
        self.plan = plan
        self.cam = hal.photo_camera if cfg.enabled else None
        self.photo_truth = hal.photo_truth
        self.nav = nav
        self.event = event
        self.yaw_sp = 0.0
        self.on_photo: list[Callable[[TakenPhoto], None]] = []
        self.wants_photos = plan.photo_times_s != () or any(
            wp.photo or wp.photo_every_s > 0 for wp in plan.waypoints)
        self._times = sorted(plan.photo_times_s)
        self._next_time = 0
        self._pending: list[_Request] = []
        self._shots: dict[int, _Shot] = {}
        self._exposed: list[PhotoExposure] = []  # waiting for navigation to reach them
        self._leg = _LegState()
        self._stopped = False
        self.counts = {"triggered": 0, "dropped": 0, "written": 0, "failed": 0}
        self._yaw_step = math.radians(cfg.yaw_rate_dps)
        self._tolerance = math.radians(cfg.heading_tolerance_deg)
        self._settle_ns = round(cfg.settle_s * NS_PER_S)
        self._retry_ns = round(cfg.busy_retry_s * NS_PER_S)
        self._exposure_timeout_ns = round(cfg.exposure_timeout_s * NS_PER_S)
        self._said_no_camera = False
        self._drain_ns = round(cfg.drain_s * NS_PER_S)
        self._drain_since: int | None = None
        self._drain_said = False

    # -- the mission's side ---------------------------------------------------------------
    def hold_gate(self, leg: int) -> bool:
        """May the hold at waypoint ``leg`` run (MissionSequencer.hold_gate)? Not before the
        vehicle faces its target and, for an arrival shot, that shot's exposure."""
        wp = self.plan.waypoints[leg]
        arrival_shot = wp.photo and self.cam is not None
        if wp.look_at is None and not arrival_shot:
            return True
        st = self._leg
        if st.leg != leg:
            return False  # steer() has not seen this leg yet
        if wp.look_at is not None and not self._settled(st):
            return False
        return not (arrival_shot and not st.arrival_done)

    def _settled(self, st: _LegState) -> bool:
        since = st.aligned_since_ns
        return since is not None and self.nav.t_ns - since >= self._settle_ns

    def steer(self, now: int, dt: float, leg: int | None, holding: bool) -> None:
        """The heading setpoint for this cycle (``leg``: the mission's current leg, None
        outside MISSION): turn toward the waypoint's target once there."""
        st = self._leg
        if leg is None or leg >= len(self.plan.waypoints):
            return
        if st.leg != leg:
            self._leg = st = _LegState(leg=leg)
        wp = self.plan.waypoints[leg]
        if wp.look_at is None or (not holding and st.aligned_since_ns is None):
            return
        target = math.atan2(wp.look_at[1] - wp.east_m, wp.look_at[0] - wp.north_m)
        err = wrap_pi(target - self.yaw_sp)
        step = self._yaw_step * dt
        self.yaw_sp = wrap_pi(self.yaw_sp + max(-step, min(step, err)))
        heading = self.nav.euler()[2]
        if abs(err) <= step and abs(wrap_pi(target - heading)) <= self._tolerance:
            if st.aligned_since_ns is None:
                st.aligned_since_ns = self.nav.t_ns
        elif abs(wrap_pi(target - heading)) > 2 * self._tolerance:
            st.aligned_since_ns = None  # blown off it: settle again

    def draining(self, now: int) -> bool:
        """After the flight: is a photo still being read that the loop should wait for? At
        most ``drain_s`` after the first call, then it is given up and said so."""
        if self.cam is None or not self._shots:
            return False
        if self._drain_since is None:
            self._drain_since = now
        if now - self._drain_since <= self._drain_ns:
            return True
        if not self._drain_said:
            self._drain_said = True
            self.counts["failed"] += len(self._shots)
            self.event(now, f"photo(s) {', '.join(map(str, self._shots))} not read by the end "
                       f"(waited {self.cfg.drain_s:g} s after the flight)", logging.WARNING)
        return False

    # -- the cycle ------------------------------------------------------------------------
    def cycle(self, now: int, flight_s: float, in_mission: bool, holding: bool,
              land_now: bool) -> None:
        """Ask for the shots due, trigger, and collect exposures and photos."""
        if not self.wants_photos:
            return
        cam = self.cam
        if cam is None:
            if not self._said_no_camera:
                self._said_no_camera = True
                why = "disabled ([photo] enabled = false)" if not self.cfg.enabled else \
                    "no still camera on this backend"
                self.event(now, f"the plan's photos are skipped: {why}", logging.WARNING)
            return
        if land_now and not self._stopped:
            self._stopped = True
            if self._pending:
                self.counts["dropped"] += len(self._pending)
                self.event(now, f"{len(self._pending)} photo(s) not taken: LAND_NOW",
                           logging.WARNING)
            self._pending.clear()
        if not self._stopped:
            self._ask(now, flight_s, in_mission, holding)
            self._trigger(now)
        st = self._leg
        if (st.arrival_trigger_ns is not None and not st.arrival_done
                and now - st.arrival_trigger_ns > self._exposure_timeout_ns):
            st.arrival_done = True  # the hold goes on without it: the camera is not answering
            self.event(now, f"photo {st.arrival_seq}: no exposure confirmed in "
                       f"{self.cfg.exposure_timeout_s:g} s; the hold goes on", logging.WARNING)
        for exp in cam.poll_exposures():
            self._exposed.append(exp)
        if self._exposed:
            self._pose_exposures()
        for photo in cam.poll():
            self._finish(now, photo)

    def _ask(self, now: int, flight_s: float, in_mission: bool, holding: bool) -> None:
        times = self._times
        while self._next_time < len(times) and flight_s >= times[self._next_time]:
            self._next_time += 1
            self._pending.append(_Request(REASON_TIME, now))
        st = self._leg
        if not (in_mission and holding) or st.leg < 0:
            return
        wp = self.plan.waypoints[st.leg]
        if wp.look_at is not None and not self._settled(st):
            return
        if wp.photo and not st.arrival_asked:
            st.arrival_asked = True
            self._pending.append(_Request(REASON_ARRIVAL, now))
        if wp.photo_every_s <= 0.0 or (wp.photo and not st.arrival_done):
            return
        if st.hold_start_ns is None:
            st.hold_start_ns = now
            st.every_taken = 1 if wp.photo else 0  # the arrival shot is the one at 0
        due = (now - st.hold_start_ns) / NS_PER_S
        k = st.every_taken
        if k * wp.photo_every_s <= due and k * wp.photo_every_s < wp.hold_s:
            st.every_taken += 1
            self._pending.append(_Request(REASON_HOLD, now))

    def _trigger(self, now: int) -> None:
        cam = self.cam
        while self._pending and cam is not None:
            req = self._pending[0]
            seq = cam.trigger()
            if seq is None:
                if now - req.first_ns > self._retry_ns:
                    self._pending.pop(0)
                    self.counts["dropped"] += 1
                    self._arrival_over(req)
                    self.event(now, f"photo ({PHOTO_REASONS[req.reason]}) dropped: the "
                               f"camera was busy for {self.cfg.busy_retry_s:g} s",
                               logging.WARNING)
                return
            self._pending.pop(0)
            self.counts["triggered"] += 1
            self._shots[seq] = _Shot(req.reason)
            if req.reason == REASON_ARRIVAL:
                self._leg.arrival_seq = seq
                self._leg.arrival_trigger_ns = now
            self.event(now, f"photo {seq} triggered ({PHOTO_REASONS[req.reason]})",
                       logging.INFO)

    def _arrival_over(self, req: _Request) -> None:
        if req.reason == REASON_ARRIVAL:
            self._leg.arrival_done = True

    def _pose_exposures(self) -> None:
        """Each confirmed exposure's pose, once navigation has integrated up to it."""
        nav = self.nav
        keep = []
        for exp in self._exposed:
            if exp.t_ns > nav.t_ns:
                keep.append(exp)
                continue
            shot = self._shots.get(exp.seq)
            if shot is None:
                continue  # not ours (a trigger from before this flight)
            shot.exposure = exp
            shot.pose = self.pose_at(exp.t_ns)
            if exp.seq == self._leg.arrival_seq:
                self._leg.arrival_done = True
        self._exposed = keep

    def pose_at(self, t_ns: int) -> Pose:
        """Navigation's estimate at ``t_ns`` from its history (the newest when the instant is
        older than the history reaches)."""
        nav = self.nav
        st = nav.state_at(t_ns)
        if st is None:
            pn, pe, pd = nav.position_ned
            return Pose((pn, pe, pd), (nav.q[0], nav.q[1], nav.q[2], nav.q[3]), nav.height_m)
        n = math.sqrt(st[3] * st[3] + st[4] * st[4] + st[5] * st[5] + st[6] * st[6])
        return Pose((st[0], st[1], -st[2]), (st[3] / n, st[4] / n, st[5] / n, st[6] / n),
                    st[2])

    def _finish(self, now: int, photo: Photo) -> None:
        shot = self._shots.pop(photo.seq, None)
        if shot is None:
            return
        if shot.exposure is None:
            # the photo came before navigation reached its exposure (or none was confirmed)
            exp = next((e for e in self._exposed if e.seq == photo.seq), None)
            if exp is not None:
                self._exposed.remove(exp)
                shot.exposure, shot.pose = exp, self.pose_at(exp.t_ns)
        if photo.seq == self._leg.arrival_seq:
            self._leg.arrival_done = True
        pn, pe, pd = shot.pose.position_ned
        lat, lon = geotag(pn, pe, self.cfg) if math.isfinite(pn) else (NAN, NAN)
        truth = self.photo_truth(photo.seq) if self.photo_truth is not None else None
        taken = TakenPhoto(photo, shot.reason, shot.exposure, shot.pose, truth, lat, lon,
                           self.cfg.origin_alt_m - pd)
        ok = not photo.error and bool(photo.jpeg)
        self.counts["written" if ok else "failed"] += 1
        if ok:
            self.event(now, f"photo {photo.seq}: {len(photo.jpeg)} bytes, "
                       f"{photo.width}x{photo.height}", logging.INFO)
        else:
            self.event(now, f"photo {photo.seq} failed: {photo.error or 'no data'}",
                       logging.WARNING)
        for sink in self.on_photo:
            sink(taken)
