"""The campaign database: rows round-trip, resume identities, changed inputs refused, and the
report's definitions on hand-made rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ground.campaign.analysis import by_fault_kind, group_stats, worst_runs
from ground.campaign.compare import compare
from ground.campaign.report import write_report
from ground.campaign.store import CampaignStore, read_runs
from hal.tomlschema import ConfigError


def _row(i: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "scenario_path": "/s/nominal_box.toml", "dispersion_path": "/d/w.toml",
        "config_path": "", "run_index": i, "seed": 100 + i, "status": "ok",
        "fault_kinds": [], "draws": {"config.sim.vehicle.mass_kg": 1.8 + i / 100},
        "reproduce": f"flightsw campaign fly x --run-index {i}", "scenario": "nominal_box",
        "land_now": False, "land_now_reason": None, "land_now_t_s": None,
        "first_fault_t_s": None, "crashed": False, "safe_landing": True,
        "touchdown_speed_mps": 0.4, "touchdown_tilt_deg": 1.0,
        "final_position_error_m": 0.5, "landing_north_m": 0.3, "landing_east_m": 0.4,
        "timing": {"a": {"b": 1.0}}, "max_tilt_deg": float("nan")}
    row.update(over)
    return row


def test_rows_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    store = CampaignStore(db)
    store.record(_row(0))
    store.record(_row(1, new_field=3))  # a summary that grew a field grows a column
    assert store.done() == {("/s/nominal_box.toml", "/d/w.toml", "", 0),
                            ("/s/nominal_box.toml", "/d/w.toml", "", 1)}
    store.close()
    rows = read_runs(db)
    assert [r["run_index"] for r in rows] == [0, 1]
    assert rows[1]["draws"] == {"config.sim.vehicle.mass_kg": 1.81}
    assert rows[0]["fault_kinds"] == [] and rows[0]["land_now"] == 0
    assert rows[0]["max_tilt_deg"] is None  # NaN: not measured
    assert rows[0]["new_field"] is None and rows[1]["new_field"] == 3


def test_changed_inputs_refuse_to_resume(tmp_path: Path) -> None:
    scen = tmp_path / "s.toml"
    scen.write_text("a = 1\n")
    store = CampaignStore(tmp_path / "c.sqlite")
    store.check_inputs([str(scen)])
    store.check_inputs([str(scen)])  # unchanged: fine
    scen.write_text("a = 2\n")
    with pytest.raises(ConfigError, match="changed since this campaign started"):
        store.check_inputs([str(scen)])


def test_a_file_that_is_not_a_database_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_text("not sqlite at all " * 100)
    with pytest.raises(ConfigError, match="not a campaign database"):
        read_runs(bad)
    with pytest.raises(ConfigError, match="no such campaign database"):
        read_runs(tmp_path / "missing.sqlite")


def test_definitions_of_false_alarm_miss_and_latency() -> None:
    rows = [
        _row(0),
        _row(1, land_now=True, land_now_reason="tilt", land_now_t_s=5.0),  # false alarm
        _row(2, fault_kinds=["camera.drop"], first_fault_t_s=10.0, land_now=True,
             land_now_t_s=10.25, land_now_reason="frame_seq_gap"),
        _row(3, fault_kinds=["camera.drop"], first_fault_t_s=10.0),  # missed
        _row(4, fault_kinds=["camera.drop"], first_fault_t_s=10.0, land_now=True,
             land_now_t_s=4.0, land_now_reason="tilt"),  # early
        _row(5, crashed=True, safe_landing=False, final_position_error_m=9.0),
    ]
    g = group_stats("all", rows)
    assert (g.false_alarms.k, g.false_alarms.n) == (1, 3)
    assert (g.missed.k, g.missed.n) == (1, 3)
    assert g.early == 1
    assert g.latency_p50_p95_max_s == [0.25, 0.25, 0.25]
    assert (g.crashes.k, g.unsafe.k) == (1, 1)
    assert worst_runs([{**r, "run_id": i} for i, r in enumerate(rows)])[0]["crashed"]
    kinds = {k.name: k for k in by_fault_kind(rows)}
    assert set(kinds) == {"nominal", "camera.drop"} and kinds["camera.drop"].runs == 3


def test_a_fault_that_began_after_the_final_touchdown_is_not_a_miss() -> None:
    down = dict(fault_kinds=["camera.stall"], last_touchdown_t_s=23.9, on_ground=True)
    rows = [
        _row(0, **down, first_fault_t_s=24.2),  # began on the ground, after the flight
        _row(1, **down, first_fault_t_s=23.9),  # at the touchdown itself: already down
        _row(2, **down, first_fault_t_s=20.0),  # in flight, not caught: missed
        # began after a touchdown the vehicle took off again from (still flying): missed
        _row(3, fault_kinds=["camera.stall"], last_touchdown_t_s=23.9, on_ground=False,
             first_fault_t_s=24.2),
        _row(4, fault_kinds=["camera.stall"], first_fault_t_s=24.2),  # no truth: missed
    ]
    g = group_stats("all", rows)
    assert g.after_touchdown == 2
    assert (g.missed.k, g.missed.n) == (3, 3)


def test_report_and_compare_name_every_group(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    store = CampaignStore(db)
    for i in range(4):
        store.record(_row(i))
    store.record(_row(9, fault_kinds=["imu.stall"], first_fault_t_s=3.0, land_now=True,
                      land_now_t_s=3.1, land_now_reason="imu_stale"))
    store.close()
    text = write_report(db).read_text()
    assert "nominal_box" in text and "imu.stall" in text
    # a worst run is named by the index its reproduce command takes (run 9 was the 5th row)
    worst = [line for line in text.splitlines() if "--run-index 9" in line]
    assert worst and worst[0].split("|")[1].strip() == "9"
    assert "0/4 = 0.0 % [0.00, 60.24]" in text  # 0 of 4: upper 1 - 0.025^(1/4) = 0.6024
    assert "flightsw campaign fly x --run-index 9" in text
    assert "imu.stall" in compare(db, db)


def test_a_campaign_over_several_scenarios_reports_their_total_too(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    store = CampaignStore(db)
    for i in range(3):
        store.record(_row(i))
    for i in range(3, 5):
        store.record(_row(i, scenario_path="/s/nominal_hover.toml", scenario="nominal_hover",
                          land_now=True, land_now_reason="tilt", land_now_t_s=5.0))
    store.close()
    rows = {line.split("|")[1].strip(): line for line in write_report(db).read_text().splitlines()
            if line.startswith("| ")}
    assert "| 3 | 0/3 = 0.0 %" in rows["nominal_box"]
    assert "| 2 | 2/2 = 100.0 %" in rows["nominal_hover"]
    assert "| 5 | 2/5 = 40.0 %" in rows["all scenarios"]
