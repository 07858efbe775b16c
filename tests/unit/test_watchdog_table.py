"""The watchdog's table is the one definition: config schema, source map, timestamp class,
trip policy and README are derived from it (or checked against it here)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from firmware.checks import CHECKS, TRIP_ACTIONS, When, readme_table, trip_action
from firmware.config import CheckConfig, ContingencyConfig, FlightConfig
from firmware.contingency import CHECK_SOURCES, TIMESTAMP_CHECKS
from hal.tomlschema import ConfigError, load

README = Path(__file__).resolve().parents[2] / "README.md"
NAMES = [row.name for row in CHECKS]

# Flight logs index checks by their position in the table (the contingency topic's
# ``tripped``). Logs written before this list was frozen must keep reading the same names.
LOGGED_ORDER = [
    "frame_latency", "frame_interval", "frame_seq_gap", "frame_drop_burst",
    "frame_nonmonotonic", "camera_clock_residual", "camera_clock_skew", "frame_stale",
    "vision_innovation", "imu_nonmonotonic", "imu_stale", "imu_fifo_overflow",
    "imu_bus_errors", "imu_bad_data", "range_stale", "range_invalid", "exec_overruns", "tilt",
]


def test_rows_are_only_appended_to_the_logged_order() -> None:
    assert NAMES[:len(LOGGED_ORDER)] == LOGGED_ORDER
    assert len(set(NAMES)) == len(NAMES)


def test_source_map_and_timestamp_class_follow_the_table() -> None:
    assert list(CHECK_SOURCES.items()) == [(r.name, r.source) for r in CHECKS]
    assert {r.name for r in CHECKS if r.timestamp} == TIMESTAMP_CHECKS
    assert "frame_interval" in TIMESTAMP_CHECKS and "imu_stale" not in TIMESTAMP_CHECKS


def test_config_has_one_check_field_per_row_with_the_row_defaults() -> None:
    cfg = ContingencyConfig()
    check_fields = [f.name for f in dataclasses.fields(cfg)
                    if isinstance(getattr(cfg, f.name), CheckConfig)]
    assert sorted(check_fields) == sorted(NAMES)
    for row in CHECKS:
        assert cfg.check(row.name) == CheckConfig(True, row.threshold, row.persistence)
    # each instance owns its check settings (a test or replay may change one)
    assert ContingencyConfig().check("tilt") is not cfg.check("tilt")


@pytest.mark.parametrize("name", NAMES)
def test_every_row_is_a_config_table(name: str) -> None:
    data = {"contingency": {name: {"threshold": 1.25, "persistence": 4, "enabled": False}}}
    cfg = load(FlightConfig, data, "t.toml")
    assert cfg.contingency.check(name) == CheckConfig(False, 1.25, 4)


def test_an_unknown_check_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"contingency\.frame_latncy: unknown key"):
        load(FlightConfig, {"contingency": {"frame_latncy": {"threshold": 1.0}}}, "t.toml")


def test_precedence_orders_each_phase_without_ties() -> None:
    for when in When:
        ranks = [r.precedence for r in CHECKS if r.when is when]
        assert len(ranks) == len(set(ranks)), when


def test_trip_policy_distrusts_the_failed_aid_only() -> None:
    assert trip_action("vision").distrust_vision and not trip_action("vision").distrust_range
    assert trip_action("range").distrust_range and not trip_action("range").distrust_vision
    for source in ("imu", "exec", "nav", "operator"):
        action = trip_action(source)
        assert not action.distrust_vision and not action.distrust_range
    assert set(TRIP_ACTIONS) <= {r.source for r in CHECKS}


def test_readme_lists_every_check_as_the_table_says() -> None:
    text = README.read_text()
    m = re.search(r"<!-- checks:begin[^>]*-->\n(.*?)\n<!-- checks:end -->", text, re.S)
    assert m is not None, "README.md lost its generated list of checks"
    assert m.group(1) == readme_table(), (
        "README.md's list of checks is out of date; replace the block between the "
        "checks:begin/end markers with firmware.checks.readme_table()")
    for name in NAMES:
        assert f"| `{name}` |" in m.group(1)
