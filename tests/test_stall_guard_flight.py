"""The software watchdog on a real (paced) flight: a hung cycle gets its outputs cut."""

from __future__ import annotations

from firmware.boot import fly, prepare

from .conftest import SCENARIOS


def test_hung_cycle_has_its_outputs_cut_and_the_reason_recorded():
    setup = prepare(None, SCENARIOS / "stall_loop_hang.toml", 1)
    setup.cfg.sim["realtime"] = True
    result = fly(setup)
    s = result.summary
    assert s["stall_guard"] and "control cycle stalled" in s["stall_guard"]
    assert any(e.text.startswith("OUTPUTS CUT") for e in result.fsw.events)
    assert result.hal.actuators.last == (0.0,) * 4  # and they stayed off
    # the cut came within the limit (25 periods = 50 ms) plus the guard's own period
    assert result.fsw.outputs_cut is not None


def test_paced_nominal_flight_never_trips_the_guard():
    setup = prepare(None, SCENARIOS / "nominal_hover.toml", 2)
    setup.cfg.sim["realtime"] = True
    s = fly(setup).summary
    assert s["stall_guard"] is None and s["landed"] and not s["crashed"]
    assert s["timing"]["wake_latency_us"]["count"] == s["cycles"]
