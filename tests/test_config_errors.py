"""Bad configs, plans and scenarios are refused before arming: exit 2, one line naming
file, key and problem, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.cli import main

from .conftest import CONFIG


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def scenario(tmp: Path, body: str, plan: str = "plans/hover.toml") -> Path:
    (tmp / "plans").mkdir(exist_ok=True)
    (tmp / "plans" / "hover.toml").write_text((CONFIG / "plans" / "hover.toml").read_text())
    return write(tmp, "scenarios/s.toml", f'plan = "{plan}"\nplanet = "mars"\n' + body)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["fly", "--quiet", *args])
    err = capsys.readouterr().err.strip()
    return code, err


CONFIG_CASES = [
    ("syntax", "backend = \"sim\"\n[loop\nrate_hz = 5\n", "TOML syntax error"),
    ("unknown key", "[loop]\nrate_hz = 500.0\nwobble = 1\n", "loop.wobble: unknown key"),
    ("wrong type", "[loop]\nrate_hz = \"fast\"\n", "loop.rate_hz: expected a number"),
    ("out of range", "[loop]\nrate_hz = 0.5\n", "loop.rate_hz: must be >= 10"),
    ("bad check", "[contingency.frame_latency]\npersistence = 0\n",
     "contingency.frame_latency.persistence: must be >= 1"),
    ("bad sim", "[sim.camera]\nwidth = \"wide\"\n", "sim.camera.width: expected an integer"),
    ("unknown backend", "backend = \"fpga\"\n", "backend: must be one of"),
]


@pytest.mark.parametrize("name,text,needle", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, name, text, needle):
    cfg = write(tmp_path, "bad.toml", text)
    code, err = run(capsys, "--config", str(cfg),
                    "--scenario", str(CONFIG / "scenarios" / "nominal_hover.toml"))
    assert code == 2
    assert len(err.splitlines()) == 1
    assert str(cfg) in err and needle in err


SCENARIO_CASES = [
    ("unknown fault kind", '[[faults]]\nkind = "camera.explode"\nat_s = 1.0\n',
     "faults[0].kind: unknown fault kind 'camera.explode'"),
    ("missing param", '[[faults]]\nkind = "camera.stamp_shift"\nat_s = 1.0\n',
     "faults[0].shift_s: missing required key"),
    ("param range", '[[faults]]\nkind = "camera.burst_drop"\nat_s = 1.0\ndrop_prob = 2.0\n',
     "faults[0].drop_prob: must be in [0.0, 1.0]"),
    ("unknown param", '[[faults]]\nkind = "camera.drop"\nat_s = 1.0\ncuont = 2\n',
     "faults[0].cuont: unknown parameter for camera.drop"),
    ("negative time", '[[faults]]\nkind = "imu.stall"\nat_s = -1.0\n',
     "faults[0].at_s: must be >= 0"),
    ("unknown key", 'wind = 3\n', "wind: unknown key"),
]


@pytest.mark.parametrize("name,body,needle", SCENARIO_CASES, ids=[c[0] for c in SCENARIO_CASES])
def test_bad_scenario_exits_2_with_one_line(tmp_path, capsys, name, body, needle):
    scen = scenario(tmp_path, body)
    code, err = run(capsys, "--scenario", str(scen))
    assert code == 2
    assert len(err.splitlines()) == 1
    assert str(scen) in err and needle in err


def test_missing_plan_and_bad_plan_are_named(tmp_path, capsys):
    scen = scenario(tmp_path, "", plan="plans/nowhere.toml")
    code, err = run(capsys, "--scenario", str(scen))
    assert code == 2 and "plan: file not found: plans/nowhere.toml" in err
    plan = write(tmp_path, "plans/bad.toml",
                 'name = "x"\ntakeoff_alt_m = 100.0\n')
    scen = scenario(tmp_path, "", plan="plans/bad.toml")
    code, err = run(capsys, "--scenario", str(scen))
    assert code == 2 and str(plan) in err and "takeoff_alt_m: must be <= 40" in err
    write(tmp_path, "plans/bad.toml",
          'name = "x"\ntakeoff_alt_m = 3.0\n[[waypoints]]\nnorth_m = 1.0\neast_m = "e"\n'
          'alt_m = 3.0\n')
    code, err = run(capsys, "--scenario", str(scen))
    assert code == 2 and "waypoints[0].east_m: expected a number" in err


def test_missing_file_is_named(tmp_path, capsys):
    code, err = run(capsys, "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "nope.toml: file not found" in err
