"""The typed flight summary: its JSON is complete and readable back, and the operator's text
is read from its fields (no flight needed: the summaries are made by hand)."""

from __future__ import annotations

import dataclasses
import json

from app.cli import human_summary
from app.summary import FlightSummary


def _summary(**changes: object) -> FlightSummary:
    base = FlightSummary(
        scenario="flight6", seed=7, backend="sim", duration_s=66.2, land_now=True,
        land_now_reason="frame_interval", land_now_t_s=54.25, first_fault_t_s=54.0,
        landed=True, crashed=False, touchdown_speed_mps=0.42, max_tilt_deg=19.4,
        final_position_error_m=3.5, cycles=33000, overruns=2, wall_s=12.0,
        touchdown_tilt_deg=0.8, safe_landing=True, on_ground=True, timestamp_related=True,
        final_mode="LANDED", slips=1, version="0", airborne_at_end=False, realtime=False,
        timing={"wake_latency_us": {"p50_us": 11.0, "p99_us": 40.0, "p99_9_us": 90.0,
                                    "max_us": 120.0},
                "cycle_time_us": {"p50_us": 300.0, "p99_us": 700.0, "max_us": 900.0}},
        stall_guard=None, transient_stalls=0, max_transient_stall_ms=0.0, close_errors=[],
        time_error_us={}, max_tilt_after_fault_deg=12.5,
        max_velocity_error_after_fault_mps=0.31)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_json_reads_back_into_the_same_summary() -> None:
    s = _summary(close_errors=["bus gone"], time_error_us={"camera": {"p99_us": 3.0}})
    assert FlightSummary(**json.loads(json.dumps(s.as_dict()))) == s


def test_the_text_tells_the_land_now_and_its_delay_after_the_fault() -> None:
    text = human_summary(_summary())
    assert "LAND_NOW at 54.250 s by timestamp check 'frame_interval', 0.250 s after" in text
    assert "landed safely" in text and "from the LAND_NOW point" in text
    assert "12.5 deg after the first fault" in text
    assert "wake-up latency" not in text  # a lockstep simulation's timing means nothing


def test_the_text_of_a_crash_without_a_fault_on_hardware() -> None:
    text = human_summary(_summary(
        land_now=False, land_now_reason=None, land_now_t_s=None, first_fault_t_s=None,
        crashed=True, landed=False, backend="hil", max_tilt_after_fault_deg=None,
        max_velocity_error_after_fault_mps=None, stall_guard="control cycle stalled"))
    assert "no LAND_NOW" in text and "CRASHED" in text and "planned landing point" in text
    assert "after the first fault" not in text and "velocity estimate" not in text
    assert "wake-up latency p50 11 p99 40 p99.9 90 max 120 us" in text
    assert "STALL GUARD cut the outputs: control cycle stalled" in text
