"""firmware.photos.PhotoPlanner with a scripted still camera and navigation: when shots are
asked for and triggered, what holds the vehicle at a waypoint, the heading a look_at turns to,
and the pose each photo is tagged with."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from firmware.config import FlightPlan, PhotoConfig, Waypoint
from firmware.photos import PHOTO_REASONS, PhotoPlanner, TakenPhoto, geotag
from hal.geometry import euler_to_quat
from hal.types import NS_PER_S, Photo, PhotoExposure

CYCLE_NS = 2_000_000  # 500 Hz


@dataclass
class FakeNav:
    """Navigation as the planner reads it: the vehicle moves north at 1 m/s, heading ``yaw``."""

    t_ns: int = 0
    yaw: float = 0.0
    height_m: float = 5.0

    def _north(self, t_ns: int) -> float:
        return t_ns / NS_PER_S

    def state_at(self, t_ns: int) -> tuple[float, ...] | None:
        if t_ns > self.t_ns or self.t_ns - t_ns > 2.5 * NS_PER_S:
            return None
        q = euler_to_quat(0.0, 0.0, self.yaw)
        return (self._north(t_ns), 0.0, self.height_m, *q, 1.0, 0.0, 0.0, 0.0, 0.0)

    def euler(self) -> tuple[float, float, float]:
        return 0.0, 0.0, self.yaw

    @property
    def position_ned(self) -> tuple[float, float, float]:
        return self._north(self.t_ns), 0.0, -self.height_m

    @property
    def q(self) -> list[float]:
        return list(euler_to_quat(0.0, 0.0, self.yaw))


@dataclass
class FakeStill:
    """A still camera whose exposures and photos the test releases."""

    name: str = "fake"
    busy: bool = False
    seq: int = 0
    triggers: list[int] = field(default_factory=list)  # seq of each accepted trigger
    refused: int = 0
    exposures: list[PhotoExposure] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)
    now_ns: int = 0

    def trigger(self) -> int | None:
        if self.busy:
            self.refused += 1
            return None
        self.seq += 1
        self.busy = True
        self.triggers.append(self.now_ns)
        return self.seq

    def expose(self, t_ns: int, uncertainty_ns: int = 1000) -> None:
        self.exposures.append(PhotoExposure(self.seq, self.triggers[-1], t_ns, uncertainty_ns))

    def finish(self, t_rx_ns: int, error: str = "") -> None:
        exp = self.exposures[-1] if self.exposures else None
        t = exp.t_ns if exp is not None else 0
        self.photos.append(Photo(self.seq, self.triggers[-1], t, t_rx_ns,
                                 b"" if error else b"\xff\xd8jpeg", 640, 480, error))
        self.busy = False

    def poll_exposures(self) -> list[PhotoExposure]:
        out, self.exposures = self.exposures, []
        return out

    def poll(self) -> list[Photo]:
        out, self.photos = self.photos, []
        return out


class Rig:
    """A planner, its camera and navigation, and what it said and produced."""

    def __init__(self, plan: FlightPlan, cfg: PhotoConfig | None = None,
                 camera: bool = True) -> None:
        self.nav = FakeNav()
        self.cam = FakeStill()
        hal: Any = SimpleNamespace(photo_camera=self.cam if camera else None, photo_truth=None)
        self.events: list[tuple[int, str, int]] = []
        self.planner = PhotoPlanner(cfg or PhotoConfig(), plan, hal, self.nav,  # type: ignore[arg-type]
                                    lambda t, text, level: self.events.append((t, text, level)))
        self.taken: list[TakenPhoto] = []
        self.planner.on_photo.append(self.taken.append)
        self.now = 0

    def run(self, seconds: float, *, mission: bool = False, holding: bool = False,
            leg: int | None = None, land_now: bool = False) -> None:
        for _ in range(round(seconds * NS_PER_S / CYCLE_NS)):
            self.now += CYCLE_NS
            self.nav.t_ns = self.now
            self.cam.now_ns = self.now
            if leg is not None:
                self.planner.steer(self.now, CYCLE_NS / NS_PER_S, leg, holding)
            self.planner.cycle(self.now, self.now / NS_PER_S, mission, holding, land_now)

    def said(self, fragment: str) -> bool:
        return any(fragment in text for _, text, _ in self.events)


def plan(*waypoints: Waypoint, times: tuple[float, ...] = ()) -> FlightPlan:
    return FlightPlan("t", 5.0, list(waypoints), photo_times_s=times)


def test_timed_shots_trigger_at_their_flight_times_and_stop_at_land_now() -> None:
    rig = Rig(plan(times=(1.0, 3.0, 5.0)))
    rig.run(0.99)
    assert rig.cam.triggers == []
    rig.run(0.02)
    assert rig.cam.triggers == [1_000_000_000]
    rig.cam.expose(rig.now)
    rig.cam.finish(rig.now + CYCLE_NS)
    rig.run(2.1)
    assert len(rig.cam.triggers) == 2 and rig.cam.triggers[1] == 3_000_000_000
    rig.run(3.0, land_now=True)  # the 5 s shot is never asked for
    assert len(rig.cam.triggers) == 2 and rig.planner.counts["triggered"] == 2
    assert [p.reason for p in rig.taken] == [PHOTO_REASONS.index("time")]


def test_a_busy_camera_is_retried_then_the_shot_dropped_and_said_so() -> None:
    rig = Rig(plan(times=(0.5, 0.6)), PhotoConfig(busy_retry_s=2.0))
    rig.run(0.7)
    assert len(rig.cam.triggers) == 1  # the second waits: the camera is busy
    rig.run(1.0)
    rig.cam.finish(rig.now)  # free again within busy_retry_s: the waiting shot goes
    rig.run(0.01)
    assert len(rig.cam.triggers) == 2 and rig.planner.counts["dropped"] == 0
    rig2 = Rig(plan(times=(0.5, 0.6)), PhotoConfig(busy_retry_s=2.0))
    rig2.run(2.5)
    assert rig2.planner.counts["dropped"] == 0 and rig2.cam.refused > 100
    rig2.run(0.2)  # 2 s after the second was asked for
    assert rig2.planner.counts["dropped"] == 1 and rig2.said("dropped")
    assert any(level == logging.WARNING for _, _, level in rig2.events)


def test_the_pose_is_navigations_at_the_mid_exposure_not_when_the_photo_arrives() -> None:
    rig = Rig(plan(times=(1.0,)))
    rig.run(1.2)
    exposed = 1_100_000_000
    rig.cam.expose(exposed, uncertainty_ns=40_000_000)
    rig.run(0.1)
    rig.cam.finish(rig.now + 3 * NS_PER_S)  # read 3 s later: past navigation's history
    rig.run(3.0)
    (p,) = rig.taken
    assert p.pose.position_ned[0] == pytest.approx(1.1)  # 1 m/s north: where it was then
    assert p.pose.height_agl_m == pytest.approx(5.0) and p.pose.position_ned[2] == -5.0
    assert p.exposure is not None and p.exposure.uncertainty_ns == 40_000_000
    lat, lon = geotag(1.1, 0.0, PhotoConfig())
    assert (p.lat_deg, p.lon_deg) == (lat, lon)
    assert rig.planner.counts["written"] == 1


def test_an_arrival_shot_holds_the_waypoint_until_its_exposure() -> None:
    rig = Rig(plan(Waypoint(10.0, 0.0, 5.0, photo=True, hold_s=1.0)))
    gate = rig.planner.hold_gate
    rig.run(0.1, mission=True, holding=False, leg=0)
    assert not gate(0) and rig.cam.triggers == []
    rig.run(0.01, mission=True, holding=True, leg=0)
    assert len(rig.cam.triggers) == 1 and not gate(0)  # triggered, not yet exposed
    rig.cam.expose(rig.now)
    rig.run(0.01, mission=True, holding=True, leg=0)
    assert gate(0)
    assert [p for p in rig.taken] == []  # the photo itself may come much later


def test_a_silent_camera_does_not_hold_the_vehicle_forever() -> None:
    rig = Rig(plan(Waypoint(10.0, 0.0, 5.0, photo=True)), PhotoConfig(exposure_timeout_s=1.0))
    rig.run(0.9, mission=True, holding=True, leg=0)
    assert not rig.planner.hold_gate(0)
    rig.run(0.2, mission=True, holding=True, leg=0)
    assert rig.planner.hold_gate(0) and rig.said("no exposure confirmed")


def test_look_at_turns_at_the_set_rate_and_waits_to_settle_before_the_shot() -> None:
    # from (0, 0) facing a target due east: a 90 degree turn at 20 deg/s
    cfg = PhotoConfig(yaw_rate_dps=20.0, settle_s=0.5)
    rig = Rig(plan(Waypoint(0.0, 0.0, 5.0, photo=True, look_at=(0.0, 50.0))), cfg)
    rig.run(1.0, mission=True, holding=True, leg=0)
    assert math.degrees(rig.planner.yaw_sp) == pytest.approx(20.0, abs=0.1)
    assert rig.cam.triggers == [] and not rig.planner.hold_gate(0)
    # the vehicle follows its setpoint (navigation's heading is the test's to set)
    for _ in range(int(3.6 / 0.1)):
        rig.nav.yaw = rig.planner.yaw_sp
        rig.run(0.1, mission=True, holding=True, leg=0)
    assert math.degrees(rig.planner.yaw_sp) == pytest.approx(90.0, abs=1e-6)
    assert rig.cam.triggers == []  # turned at 4.5 s (90 deg at 20 deg/s), settling
    rig.run(1.0, mission=True, holding=True, leg=0)
    (shot,) = rig.cam.triggers
    assert 4.5 + 0.5 <= shot / NS_PER_S <= 4.5 + 0.5 + 0.11
    assert not rig.planner.hold_gate(0)  # its exposure still to come


def test_hold_shots_every_n_seconds_of_the_hold() -> None:
    rig = Rig(plan(Waypoint(0.0, 0.0, 5.0, photo=True, photo_every_s=2.0, hold_s=5.0)))
    for _ in range(60):  # 6 s at the waypoint, each photo exposed and read at once
        rig.run(0.1, mission=True, holding=True, leg=0)
        if rig.cam.busy:
            rig.cam.expose(rig.now)
            rig.cam.finish(rig.now)
    reasons = [PHOTO_REASONS[p.reason] for p in rig.taken]
    assert reasons == ["arrival", "hold", "hold"]  # at 0 (the arrival shot), 2 and 4 s
    gaps = [(b - a) / NS_PER_S for a, b in zip(rig.cam.triggers, rig.cam.triggers[1:],
                                                strict=False)]
    assert gaps == [pytest.approx(2.0, abs=0.11)] * 2


def test_without_a_still_camera_the_plans_photos_are_skipped_and_said_once() -> None:
    rig = Rig(plan(Waypoint(0.0, 0.0, 5.0, photo=True), times=(0.1,)), camera=False)
    rig.run(0.5, mission=True, holding=True, leg=0)
    assert [t for _, t, _ in rig.events] == [
        "the plan's photos are skipped: no still camera on this backend"]
    assert rig.planner.hold_gate(0)  # nothing to wait for


def test_geotags_on_a_sphere_around_the_origin() -> None:
    cfg = PhotoConfig(origin_lat_deg=18.4447, origin_lon_deg=77.4508, planet_radius_m=3_389_500)
    lat, lon = geotag(1000.0, 0.0, cfg)
    assert lat - 18.4447 == pytest.approx(math.degrees(1000 / 3_389_500), rel=1e-12)
    assert lon == pytest.approx(77.4508)
    lat, lon = geotag(0.0, 1000.0, cfg)
    assert lon - 77.4508 == pytest.approx(
        math.degrees(1000 / (3_389_500 * math.cos(math.radians(18.4447)))), rel=1e-9)
    assert geotag(0.0, 0.0, PhotoConfig(origin_lon_deg=179.9999))[1] == pytest.approx(179.9999)


def test_a_photo_still_being_read_at_the_end_is_waited_for_then_given_up() -> None:
    rig = Rig(plan(times=(0.1,)), PhotoConfig(drain_s=2.0))
    rig.run(0.2)
    assert rig.cam.busy and rig.planner.draining(rig.now)  # the flight ended: wait
    rig.cam.expose(rig.now)
    rig.cam.finish(rig.now)
    rig.run(0.01)
    assert not rig.planner.draining(rig.now) and rig.planner.counts["written"] == 1
    rig2 = Rig(plan(times=(0.1,)), PhotoConfig(drain_s=2.0))
    rig2.run(0.2)
    assert rig2.planner.draining(rig2.now)
    assert rig2.planner.draining(rig2.now + 2 * NS_PER_S)
    assert not rig2.planner.draining(rig2.now + 2 * NS_PER_S + 1)
    assert rig2.planner.counts["failed"] == 1 and rig2.said("not read by the end")
