"""The flight-plan sequencer: the carrot's speed profile, leg acceptance, holds, vertical
legs, and the end of the plan."""

from __future__ import annotations

import math

import pytest

from firmware.config import FlightPlan, Waypoint
from firmware.mission import MissionSequencer

DT = 0.002


def plan(*wps: Waypoint, alt: float = 2.0) -> FlightPlan:
    return FlightPlan("test", alt, list(wps))


def follow(seq: MissionSequencer, seconds: float) -> list[tuple[float, ...]]:
    """A vehicle that is always exactly at the carrot."""
    out: list[tuple[float, ...]] = []
    pos = (seq.start[0], seq.start[1], seq.alt)
    for _ in range(round(seconds / DT)):
        sp = seq.update(DT, *pos)
        out.append(sp)
        pos = (sp[0], sp[1], sp[2])
    return out


def test_an_empty_plan_is_done_and_lands_where_it_is() -> None:
    seq = MissionSequencer(plan())
    assert seq.done
    assert seq.update(DT, 3.0, 4.0, 2.0) == (0.0, 0.0, 2.0, 0.0, 0.0, 1.0)


def test_the_carrot_accelerates_cruises_and_brakes_to_the_waypoint() -> None:
    seq = MissionSequencer(plan(Waypoint(30.0, 40.0, 2.0, speed_mps=3.0)), accel=0.8)
    seq.begin(0.0, 0.0, 2.0)
    sps = follow(seq, 30.0)
    speeds = [math.hypot(sp[3], sp[4]) for sp in sps]
    assert max(speeds) == pytest.approx(3.0)
    # accelerating at 0.8 m/s^2: 1.6 m/s after 2 s
    assert speeds[round(2.0 / DT) - 1] == pytest.approx(1.6, abs=0.01)
    # feed-forward along the leg (a 3-4-5 triangle)
    i = speeds.index(max(speeds))
    assert (sps[i][3], sps[i][4]) == pytest.approx((1.8, 2.4))
    # never faster than the speed that can still stop at the waypoint (from where the carrot
    # was when it chose the speed, one step back)
    for sp, v in zip(sps, speeds, strict=True):
        remaining = math.hypot(30.0 - sp[0], 40.0 - sp[1]) + v * DT
        assert v <= math.sqrt(2 * 0.8 * remaining) + 1e-9
    arrive = next(i for i, sp in enumerate(sps) if math.hypot(30.0 - sp[0], 40.0 - sp[1]) < 1e-9)
    assert speeds[arrive] < 0.1  # braked to (nearly) a stop at the waypoint
    assert seq.done
    assert sps[-1][:2] == pytest.approx((30.0, 40.0))


def test_a_leg_waits_for_the_vehicle_and_then_its_hold() -> None:
    seq = MissionSequencer(plan(Waypoint(4.0, 0.0, 2.0, hold_s=1.0), Waypoint(4.0, 4.0, 2.0)),
                           acceptance_m=0.8)
    seq.begin(0.0, 0.0, 2.0)
    for _ in range(round(10.0 / DT)):  # the vehicle stays at the start: far from the end
        sp = seq.update(DT, 0.0, 0.0, 2.0)
    assert seq.leg == 0 and sp[:2] == pytest.approx((4.0, 0.0))
    for _ in range(round(0.9 / DT)):  # arrived, but the hold is not over
        seq.update(DT, 3.5, 0.0, 2.0)
    assert seq.leg == 0
    for _ in range(round(0.2 / DT)):
        seq.update(DT, 3.5, 0.0, 2.0)
    assert seq.leg == 1 and seq.start == (4.0, 0.0, 2.0) and not seq.done


def test_altitude_gates_acceptance() -> None:
    seq = MissionSequencer(plan(Waypoint(2.0, 0.0, 2.0)))
    seq.begin(0.0, 0.0, 2.0)
    for _ in range(round(10.0 / DT)):
        seq.update(DT, 2.0, 0.0, 2.6)  # on the spot, 0.6 m too high
    assert not seq.done
    seq.update(DT, 2.0, 0.0, 2.4)
    assert seq.done


def test_a_vertical_leg_climbs_at_the_vertical_rate() -> None:
    seq = MissionSequencer(plan(Waypoint(0.0, 0.0, 5.0)), vertical_rate=0.8)
    seq.begin(0.0, 0.0, 2.0)
    sps = follow(seq, 1.0)
    assert sps[-1][2] == pytest.approx(2.8)
    assert sps[-1][3:5] == (0.0, 0.0)
    follow(seq, 3.0)
    assert seq.done and seq.alt == pytest.approx(5.0)


def test_after_the_last_leg_it_holds_the_landing_point() -> None:
    seq = MissionSequencer(plan(Waypoint(1.0, 0.0, 2.0), Waypoint(1.0, 1.0, 3.0)))
    seq.begin(0.0, 0.0, 2.0)
    follow(seq, 20.0)
    assert seq.done and seq.leg == 2
    n, e, a, vn, ve, _ = seq.update(DT, 0.0, 0.0, 0.0)
    assert (n, e, vn, ve) == (1.0, 1.0, 0.0, 0.0) and a == pytest.approx(3.0)
