"""The flight plan follows the time that passed, not the number of cycles (issue 9): on a
busy host every missed deadline used to leave the plan one period behind the clock, and hil
flight 6 reached its fault 2-7 m short of where the simulation did."""

from __future__ import annotations

from pathlib import Path

from app.boot import prepare
from app.session import fly
from firmware.flight import FlightSoftware
from tests.conftest import CONFIG, SCENARIOS

PROBE_S = 32.0  # mid-mission on the box plan


def _setpoint_at(scenario: Path) -> tuple[float, float, int]:
    setup = prepare(None, scenario, 1, contingency=False)  # keep flying through the delay
    got: list[tuple[float, float]] = []

    def probe(fsw: FlightSoftware) -> None:
        def on_inputs(now: int, *_: object) -> None:
            if not got and fsw.mission_time(now) >= PROBE_S:
                got.append((fsw.rec.setpoint.north, fsw.rec.setpoint.east))

        fsw.on_inputs = on_inputs

    res = fly(setup, hooks=probe)
    assert got, "the flight ended before the probe time"
    return got[0][0], got[0][1], res.summary.slips


def test_missed_deadlines_do_not_leave_the_plan_behind(tmp_path: Path) -> None:
    slow = tmp_path / "slow.toml"
    slow.write_text(f'plan = "{CONFIG / "plans" / "box.toml"}"\nplanet = "mars"\n'
                    '[[faults]]\nkind = "loop.delay"\nat_s = 14.0\ndelay_ms = 2.5\n')
    n0, e0, slips0 = _setpoint_at(SCENARIOS / "nominal_box.toml")
    n1, e1, slips1 = _setpoint_at(slow)
    assert slips0 == 0 and slips1 > 1000  # the delayed loop really missed deadlines
    # without the fix the plan ran at about half speed from 14 s: metres behind
    assert abs(n1 - n0) + abs(e1 - e0) < 0.5, ((n0, e0), (n1, e1))
