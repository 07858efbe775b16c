"""Campaign runs in closed loop (short hover flights): a run is reproduced exactly by its
command, the same index gives the same draws and summary, and resume flies only missing runs
(after a partial campaign, and after a real Ctrl-C)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from app.campaign.campaign import CampaignPlan, run_campaign
from app.campaign.engine import LocalPool
from app.campaign.runs import RunSpec, fly_run
from app.cli import main
from ground.campaign.store import read_runs

ROOT = Path(__file__).resolve().parents[2]
HOVER = ROOT / "config" / "scenarios" / "nominal_hover.toml"
DISP = ROOT / "config" / "dispersions" / "vehicle_sensors.toml"
SIM = ROOT / "config" / "sim.toml"
# wall_s is the host's; the timing histograms are host time too
HOST_FIELDS = {"wall_s", "timing"}


def _flight_fields(row: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in row.items() if k not in HOST_FIELDS}


def test_same_index_same_draws_same_summary() -> None:
    spec = RunSpec(str(HOVER), str(DISP), str(SIM), 3)
    a, b = fly_run(spec), fly_run(spec)
    assert a["status"] == "ok", a.get("error")
    assert _flight_fields(a) == _flight_fields(b)
    assert a["draws"] and a["cycles"] > 5000  # it flew, with drawn values
    other = fly_run(RunSpec(str(HOVER), str(DISP), str(SIM), 4))
    assert other["seed"] != a["seed"] and other["draws"] != a["draws"]


def test_the_recorded_command_reproduces_the_run(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    plan = CampaignPlan([HOVER], [DISP], SIM, 2)
    outcome = run_campaign(plan, db, LocalPool(1))
    assert (outcome.flown, outcome.errors) == (2, 0)
    row = read_runs(db)[1]
    words = row["reproduce"].split()
    assert words[:3] == ["flightsw", "campaign", "fly"]
    out = tmp_path / "s.json"
    assert main([*words[1:], "--no-log", "--summary-json", str(out)]) == 0
    again = json.loads(out.read_text())
    for key, value in again.items():
        if key in HOST_FIELDS:
            continue
        stored = row[key]
        if isinstance(value, bool):
            stored = bool(stored)
        if isinstance(value, float) and value != value:  # NaN is stored as NULL
            value = None
        assert stored == value, key


def test_resume_flies_only_the_missing_runs(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    first = run_campaign(CampaignPlan([HOVER], [DISP], SIM, 2), db, LocalPool(1))
    second = run_campaign(CampaignPlan([HOVER], [DISP], SIM, 3), db, LocalPool(1))
    third = run_campaign(CampaignPlan([HOVER], [DISP], SIM, 3), db, LocalPool(1))
    assert (first.flown, first.skipped) == (2, 0)
    assert (second.flown, second.skipped) == (1, 2)
    assert (third.flown, third.skipped) == (0, 3)
    assert sorted(r["run_index"] for r in read_runs(db)) == [0, 1, 2]


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_ctrl_c_then_the_same_command_resumes(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    cmd = [sys.executable, "-m", "app", "campaign", "--scenarios", str(HOVER), "--dispersion",
           str(DISP), "--runs", "4", "--workers", "1", "--db", str(db), "--no-report"]
    # A test worker (pytest-xdist) may run with SIGINT ignored, and a child inherits that:
    # Python then never installs its Ctrl-C handler. A terminal's campaign has the default.
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while _rows(db) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    recorded = _rows(db)
    assert 1 <= recorded < 4
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{recorded} recorded before, {4 - recorded} flown" in done.stdout
    rows = read_runs(db)
    assert sorted(r["run_index"] for r in rows) == [0, 1, 2, 3]
    # no interrupted flight was recorded: a Ctrl-C reaching a flight would be a LAND_NOW
    reference = fly_run(RunSpec(str(HOVER), str(DISP), str(SIM), rows[0]["run_index"]))
    assert rows[0]["land_now"] == reference["land_now"]
    assert rows[0]["duration_s"] == reference["duration_s"]
