"""The campaign's progress line counts what it says it counts."""

from __future__ import annotations

import io

import pytest

from app.campaign.progress import Progress
from app.cli import main


def test_progress_counts_runs_false_alarms_crashes_and_errors() -> None:
    out = io.StringIO()
    p = Progress(total=10, skipped=3, stream=out)
    p.update({"status": "ok", "land_now": True, "fault_kinds": []})  # false alarm
    p.update({"status": "ok", "land_now": True, "fault_kinds": ["imu.stall"]})  # detection
    p.update({"status": "ok", "land_now": False, "crashed": True, "fault_kinds": []})
    p.update({"status": "config_error", "error": "x"})
    p.close()
    line = out.getvalue().strip().splitlines()[-1]
    assert line.startswith("campaign: 7/10 runs (3 done before)")
    assert "false alarms 1," in line and "crashes 1," in line and "errors 1" in line
    assert "runs/min" in line


def test_campaign_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaign", "--scenarios", "x.toml"]) == 2
    assert "missing --runs, --db" in capsys.readouterr().err
    assert main(["campaign", "frobnicate"]) == 2
    assert main(["campaign", "report"]) == 2
    assert main(["campaign", "--runs", "0"]) == 2
