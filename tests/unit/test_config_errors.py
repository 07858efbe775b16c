"""Bad configs, plans and scenarios are refused before arming: exit 2, one line naming
file, key and problem, no traceback. Whatever the file holds: not UTF-8, binary, huge or
non-finite numbers, wrong shapes, odd keys."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from tests.conftest import CONFIG

HUGE_INT = "1" + "0" * 400  # 10**400: a valid TOML integer, no float can hold it
NOMINAL = CONFIG / "scenarios" / "nominal_hover.toml"


def write(tmp: Path, name: str, text: str | bytes) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
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


def assert_refused(code: int, err: str, path: Path, needle: str) -> None:
    """Exit 2 and one line naming the file and (in ``needle``) the key and the problem."""
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert str(path) in err, err
    assert needle in err, err


CONFIG_CASES = [
    ("syntax", "backend = \"sim\"\n[loop\nrate_hz = 5\n", "TOML syntax error"),
    ("unknown key", "[loop]\nrate_hz = 500.0\nwobble = 1\n", "loop.wobble: unknown key"),
    ("wrong type", "[loop]\nrate_hz = \"fast\"\n", "loop.rate_hz: expected a number"),
    ("out of range", "[loop]\nrate_hz = 0.5\n", "loop.rate_hz: must be >= 10"),
    ("bad check", "[contingency.frame_latency]\npersistence = 0\n",
     "contingency.frame_latency.persistence: must be >= 1"),
    ("bad sim", "[sim.camera]\nwidth = \"wide\"\n", "sim.camera.width: expected an integer"),
    ("unknown backend", "backend = \"fpga\"\n", "backend: must be one of"),
    ("nan", "[loop]\nrate_hz = nan\n", "loop.rate_hz: must be a finite number (got nan)"),
    ("inf", "[loop]\nrate_hz = inf\n", "loop.rate_hz: must be a finite number (got inf)"),
    # a field without a declared range still refuses what no comparison can use
    ("-inf unranged", "[contingency.tilt]\nthreshold = -inf\n",
     "contingency.tilt.threshold: must be a finite number (got -inf)"),
    ("float past double", "[loop]\nmax_flight_s = 1e400\n",
     "loop.max_flight_s: must be a finite number"),
    ("1e300", "[loop]\nmax_flight_s = 1e300\n", "loop.max_flight_s: must be <= 86400"),
    ("10**400 for a float", f"[loop]\nrate_hz = {HUGE_INT}\n",
     "loop.rate_hz: number out of range"),
    ("10**400 for an int", f"[contingency.tilt]\npersistence = {HUGE_INT}\n",
     "contingency.tilt.persistence: integer out of 64-bit range"),
    ("past int64", "[loop]\nstall_limit_periods = 9223372036854775808\n",
     "loop.stall_limit_periods: integer out of 64-bit range"),
    ("huge hex int", "[loop]\nstall_limit_periods = 0x" + "f" * 3000 + "\n",
     "loop.stall_limit_periods: integer out of 64-bit range"),
    ("too many digits to read", "[loop]\nrate_hz = " + "9" * 5000 + "\n",
     "line 2 (rate_hz): a value is too large to read"),
    ("nested too deep", "[loop]\nrate_hz = " + "[" * 5000 + "\n",
     "line 2 (rate_hz): arrays or inline tables nested too deeply"),
    ("negative duration", "[loop]\nmax_flight_s = -5.0\n", "loop.max_flight_s: must be >= 1"),
    ("table for a number", "[loop.rate_hz]\nx = 1\n",
     "loop.rate_hz: expected a number (got a table)"),
    ("number for a table", "loop = 5\n", "loop: expected a table (got 5)"),
    ("array of tables for a table", "[[loop]]\nrate_hz = 500.0\n", "loop: expected a table"),
    ("bool for a number", "[loop]\nrate_hz = true\n", "loop.rate_hz: expected a number (got true)"),
    ("date for a number", "[loop]\nrate_hz = 1979-05-27\n", "loop.rate_hz: expected a number"),
    ("mixed array", "[vehicle]\ninertia_kgm2 = [0.03, \"a\", 0.05]\n",
     "vehicle.inertia_kgm2[1]: expected a number"),
    ("nested array", "[vehicle]\ninertia_kgm2 = [0.03, [0.03], 0.05]\n",
     "vehicle.inertia_kgm2[1]: expected a number"),
    ("range inside an array", "[vehicle]\ninertia_kgm2 = [0.03, 0.0, 0.05]\n",
     "vehicle.inertia_kgm2: must be >= 1e-05 (got 0.0)"),
    ("nan inside an array", "[vehicle]\ninertia_kgm2 = [0.03, nan, 0.05]\n",
     "vehicle.inertia_kgm2[1]: must be a finite number"),
    ("quoted key with a newline", "[loop]\n\"rate\\nhz\" = 1\n",
     "loop.\"rate\\nhz\": unknown key"),
    ("quoted key with a dot", "[loop]\n\"rate.hz\" = 1\n", "loop.\"rate.hz\": unknown key"),
    ("backend section nan", "[sim.camera]\nrate_hz = nan\n",
     "sim.camera.rate_hz: must be a finite number"),
    ("backend section huge", f"[sim.imu]\nrate_hz = {HUGE_INT}\n",
     "sim.imu.rate_hz: number out of range"),
    ("source is not settable", "source = \"x\"\n", "source: unknown key"),
]


@pytest.mark.parametrize("name,text,needle", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          name: str, text: str, needle: str) -> None:
    cfg = write(tmp_path, "bad.toml", text)
    code, err = run(capsys, "--config", str(cfg), "--scenario", str(NOMINAL))
    assert_refused(code, err, cfg, needle)


SCENARIO_CASES = [
    ("unknown fault kind", '[[faults]]\nkind = "camera.explode"\nat_s = 1.0\n',
     "faults[0].kind: unknown fault kind 'camera.explode'"),
    ("missing param", '[[faults]]\nkind = "camera.stamp_shift"\nat_s = 1.0\n',
     "faults[0].shift_s: missing required key"),
    ("param range", '[[faults]]\nkind = "camera.burst_drop"\nat_s = 1.0\ndrop_prob = 2.0\n',
     "faults[0].drop_prob: must be <= 1.0"),
    ("unknown param", '[[faults]]\nkind = "camera.drop"\nat_s = 1.0\ncuont = 2\n',
     "faults[0].cuont: unknown key (known: at_s, count, duration_s)"),
    ("negative time", '[[faults]]\nkind = "imu.stall"\nat_s = -1.0\n',
     "faults[0].at_s: must be >= 0"),
    ("unknown key", 'wind = 3\n', "wind: unknown key"),
    ("at_s 1e300", '[[faults]]\nkind = "imu.stall"\nat_s = 1e300\n',
     "faults[0].at_s: must be <= 1000000000"),
    ("at_s 10**400", f'[[faults]]\nkind = "imu.stall"\nat_s = {HUGE_INT}\n',
     "faults[0].at_s: number out of range"),
    ("at_s nan", '[[faults]]\nkind = "imu.stall"\nat_s = nan\n',
     "faults[0].at_s: must be a finite number (got nan)"),
    ("at_s inf", '[[faults]]\nkind = "imu.stall"\nat_s = inf\n',
     "faults[0].at_s: must be a finite number (got inf)"),
    ("at_s -inf", '[[faults]]\nkind = "imu.stall"\nat_s = -inf\n',
     "faults[0].at_s: must be a finite number (got -inf)"),
    ("at_s a string", '[[faults]]\nkind = "imu.stall"\nat_s = "1.0"\n',
     "faults[0].at_s: expected a number (got '1.0')"),
    ("at_s a table", '[[faults]]\nkind = "imu.stall"\nat_s = {s = 1}\n',
     "faults[0].at_s: expected a number (got a table)"),
    ("duration 1e300", '[[faults]]\nkind = "imu.stall"\nat_s = 1.0\nduration_s = 1e300\n',
     "faults[0].duration_s: must be <= 1000000000"),
    ("negative duration", '[[faults]]\nkind = "imu.stall"\nat_s = 1.0\nduration_s = -2.0\n',
     "faults[0]: duration_s: must be > 0"),
    ("duration inf", '[[faults]]\nkind = "imu.stall"\nat_s = 1.0\nduration_s = inf\n',
     "faults[0].duration_s: must be a finite number"),
    ("param nan", '[[faults]]\nkind = "camera.stamp_shift"\nat_s = 1.0\nshift_s = nan\n',
     "faults[0].shift_s: must be a finite number"),
    ("integer param inf", '[[faults]]\nkind = "camera.drop"\nat_s = 1.0\ncount = inf\n',
     "faults[0].count: expected an integer"),
    ("integer param 1e300", '[[faults]]\nkind = "camera.drop"\nat_s = 1.0\ncount = 1e300\n',
     "faults[0].count: expected an integer"),
    ("integer param fraction", '[[faults]]\nkind = "camera.drop"\nat_s = 1.0\ncount = 1.5\n',
     "faults[0].count: expected an integer"),
    ("second fault", '[[faults]]\nkind = "imu.stall"\nat_s = 1.0\n'
     '[[faults]]\nkind = "imu.stall"\nat_s = nan\n', "faults[1].at_s: must be a finite"),
    ("kind a table", '[[faults]]\nkind = {a = 1}\nat_s = 1.0\n',
     "faults[0].kind: missing or not a string"),
    ("param key with a newline", '[[faults]]\nkind = "imu.stall"\nat_s = 1.0\n"x\\ny" = 1\n',
     "faults[0].\"x\\ny\": unknown key"),
    ("faults a number", 'faults = 5\n', "faults: expected an array of tables"),
    ("faults of numbers", 'faults = [1, 2]\n', "faults: expected an array of tables"),
    ("planet an array", 'planet = ["mars"]\n', "planet: must be one of mars, earth"),
    ("planet unknown", 'planet = "venus"\n', "planet: must be one of mars, earth"),
    ("name a table", 'name = {a = 1}\n', "name: expected a string (got a table)"),
    ("description a number", 'description = 5\n', "description: expected a string (got 5)"),
]


@pytest.mark.parametrize("name,body,needle", SCENARIO_CASES, ids=[c[0] for c in SCENARIO_CASES])
def test_bad_scenario_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            name: str, body: str, needle: str) -> None:
    # TOML refuses a key defined twice: a case that sets planet replaces the header's
    scen = scenario(tmp_path, body)
    if body.startswith("planet"):
        scen.write_text('plan = "plans/hover.toml"\n' + body)
    code, err = run(capsys, "--scenario", str(scen))
    assert_refused(code, err, scen, needle)


PLAN_REF_CASES = [
    ("plan a number", "plan = 5\n", "plan: missing or not a file name"),
    ("plan empty", "plan = \"\"\n", "plan: missing or not a file name"),
    ("plan missing", "planet = \"mars\"\n", "plan: missing or not a file name"),
    ("plan with NUL", "plan = \"plans/\\u0000.toml\"\n", "plan: file not found: plans/\\x00"),
    ("plan name too long", f"plan = \"{'p' * 5000}.toml\"\n", "plan: file not found: ppp"),
    ("plan a directory", "plan = \"plans\"\n", "plan: file not found: plans"),
]


@pytest.mark.parametrize("name,text,needle", PLAN_REF_CASES, ids=[c[0] for c in PLAN_REF_CASES])
def test_bad_plan_reference_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                     text: str, needle: str) -> None:
    scenario(tmp_path, "")  # lays out plans/
    scen = write(tmp_path, "scenarios/s.toml", text)
    code, err = run(capsys, "--scenario", str(scen))
    assert_refused(code, err, scen, needle)


PLAN_CASES = [
    ("takeoff inf", 'name = "x"\ntakeoff_alt_m = inf\n', "takeoff_alt_m: must be a finite"),
    ("takeoff 10**400", f'name = "x"\ntakeoff_alt_m = {HUGE_INT}\n',
     "takeoff_alt_m: number out of range"),
    ("waypoints a number", 'name = "x"\ntakeoff_alt_m = 3.0\nwaypoints = 5\n',
     "waypoints: expected an array (got 5)"),
    ("waypoint nan", 'name = "x"\ntakeoff_alt_m = 3.0\n[[waypoints]]\nnorth_m = 0.0\n'
     'east_m = 0.0\nalt_m = nan\n', "waypoints[0].alt_m: must be a finite number"),
    ("second waypoint 1e300", 'name = "x"\ntakeoff_alt_m = 3.0\n[[waypoints]]\nnorth_m = 0.0\n'
     'east_m = 0.0\nalt_m = 3.0\n[[waypoints]]\nnorth_m = 1e300\neast_m = 0.0\nalt_m = 3.0\n',
     "waypoints[1].north_m: must be <= 100000"),
    ("negative hold", 'name = "x"\ntakeoff_alt_m = 3.0\n[[waypoints]]\nnorth_m = 0.0\n'
     'east_m = 0.0\nalt_m = 3.0\nhold_s = -1.0\n', "waypoints[0].hold_s: must be >= 0"),
    ("waypoint a number", 'name = "x"\ntakeoff_alt_m = 3.0\nwaypoints = [1]\n',
     "waypoints[0]: expected a table (got 1)"),
    ("name a number", 'name = 5\ntakeoff_alt_m = 3.0\n', "name: expected a string (got 5)"),
    ("empty plan", '', "name: missing required key"),
]


@pytest.mark.parametrize("name,text,needle", PLAN_CASES, ids=[c[0] for c in PLAN_CASES])
def test_bad_plan_exits_2_naming_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          name: str, text: str, needle: str) -> None:
    plan = write(tmp_path, "plans/bad.toml", text)
    scen = scenario(tmp_path, "", plan="plans/bad.toml")
    code, err = run(capsys, "--scenario", str(scen))
    assert_refused(code, err, plan, needle)


# what any of the three kinds of file may be, whatever it is meant to hold
FILE_CASES = [
    ("not UTF-8", b"[loop]\n# caf\xe9\n",
     "not UTF-8 text (TOML must be UTF-8): byte 0xe9 on line 2"),
    ("UTF-16", "[loop]\nrate_hz = 500.0\n".encode("utf-16"), "not UTF-8 text"),
    ("binary garbage", bytes(range(256)) * 4, "not UTF-8 text"),
    ("NUL bytes", b"\x00" * 64, "TOML syntax error"),
    ("control characters", b"[loop]\nrate_hz = 5\x07\n", "TOML syntax error"),
    ("a table redefined", b"[loop]\n[loop]\n", "TOML syntax error"),
]


@pytest.mark.parametrize("role", ["config", "scenario", "plan"])
@pytest.mark.parametrize("name,data,needle", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_unreadable_contents_exit_2_naming_the_file(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str], role: str,
                                                    name: str, data: bytes, needle: str) -> None:
    bad = write(tmp_path, f"{role}.toml", data)
    if role == "config":
        args = ["--config", str(bad), "--scenario", str(NOMINAL)]
    elif role == "scenario":
        args = ["--scenario", str(bad)]
    else:
        scen = scenario(tmp_path, "", plan=str(bad))
        args = ["--scenario", str(scen)]
    code, err = run(capsys, *args)
    assert_refused(code, err, bad, needle)


@pytest.mark.parametrize("option", ["--config", "--scenario"])
def test_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                option: str) -> None:
    code, err = run(capsys, option, str(tmp_path))
    assert_refused(code, err, tmp_path, "is a directory")


def test_an_endless_file_is_refused_without_reading_it_all(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "--config", "/dev/zero", "--scenario", str(NOMINAL))
    assert_refused(code, err, Path("/dev/zero"), "too large for a TOML file")


def test_an_unreadable_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path, "locked.toml", "[loop]\n")
    cfg.chmod(0)
    if os.access(cfg, os.R_OK):  # root reads anything: fail the open as the kernel would
        real_open = Path.open

        def deny(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == cfg:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", deny)
    code, err = run(capsys, "--config", str(cfg), "--scenario", str(NOMINAL))
    assert_refused(code, err, cfg, "cannot read: Permission denied")


def test_empty_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty config is all defaults (valid); an empty scenario lacks its plan."""
    from firmware.config import FlightConfig, load_config

    cfg = write(tmp_path, "empty.toml", "")
    loaded = load_config(cfg)
    loaded.source = FlightConfig().source
    assert loaded == FlightConfig()
    scen = write(tmp_path, "scenarios/empty.toml", "")
    code, err = run(capsys, "--scenario", str(scen))
    assert_refused(code, err, scen, "plan: missing")


def test_missing_plan_and_bad_plan_are_named(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
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


def test_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "nope.toml: file not found" in err


def test_a_path_with_a_newline_stays_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, "two\nlines.toml", "[loop]\nrate_hz = nan\n")
    code, err = run(capsys, "--config", str(cfg), "--scenario", str(NOMINAL))
    assert code == 2 and len(err.splitlines()) == 1
    assert "two\\nlines.toml: loop.rate_hz: must be a finite number" in err


def test_replay_config_is_validated_the_same_way(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``replay --config`` reads the config before the log: a bad one is refused first."""
    cfg = write(tmp_path, "bad.toml", "[contingency.tilt]\nthreshold = nan\n")
    code = main(["replay", str(tmp_path / "any.ulg"), "--config", str(cfg)])
    err = capsys.readouterr().err.strip()
    assert_refused(code, err, cfg, "contingency.tilt.threshold: must be a finite number")


NOT_A_LOG = [
    ("empty", b""),
    ("text", b"hello\n"),
    ("a TOML file", b"[loop]\nrate_hz = 500.0\n"),
    ("not UTF-8", b"\xff\xfe\xfd"),
    ("binary garbage", bytes(range(256)) * 16),
]


@pytest.mark.parametrize("command", [["log", "info"], ["log", "info", "--json"],
                                     ["log", "csv", "-o", "OUT"], ["replay"]],
                         ids=["info", "info-json", "csv", "replay"])
@pytest.mark.parametrize("name,data", NOT_A_LOG, ids=[c[0] for c in NOT_A_LOG])
def test_a_non_log_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          command: list[str], name: str, data: bytes) -> None:
    log = write(tmp_path, "x.ulg", data)
    argv = [str(tmp_path / "csv") if a == "OUT" else a for a in command] + [str(log)]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert_refused(code, err, log, "")


@pytest.mark.parametrize("command", [["log", "info"], ["replay"]], ids=["info", "replay"])
def test_a_missing_or_directory_log_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               command: list[str]) -> None:
    for path in (tmp_path / "none.ulg", tmp_path):
        code = main([*command, str(path)])
        err = capsys.readouterr().err.strip()
        assert_refused(code, err, path, "")


CHECK_CASES = [
    # every check's value is >= 0: a negative threshold would trip on the first evaluation
    ("negative threshold", "[contingency.frame_latency]\nthreshold = -0.001\n",
     "contingency.frame_latency.threshold: must be >= 0 (got -0.001)"),
    ("a tiny negative", "[contingency.tilt]\nthreshold = -1e-300\n",
     "contingency.tilt.threshold: must be >= 0"),
    ("nan threshold", "[contingency.imu_stale]\nthreshold = nan\n",
     "contingency.imu_stale.threshold: must be a finite number (got nan)"),
    ("inf threshold", "[contingency.imu_stale]\nthreshold = inf\n",
     "contingency.imu_stale.threshold: must be a finite number (got inf)"),
    ("zero persistence", "[contingency.tilt]\npersistence = 0\n",
     "contingency.tilt.persistence: must be >= 1 (got 0)"),
    ("negative persistence", "[contingency.tilt]\npersistence = -3\n",
     "contingency.tilt.persistence: must be >= 1 (got -3)"),
    # the related settings beside the table: the IMU-lost hold and the preflight fractions
    ("imu lost zero", "[contingency]\nimu_lost_s = 0\n",
     "contingency.imu_lost_s: must be >= 0.001 (got 0.0)"),
    ("loop fraction above one", "[preflight]\nmin_loop_fraction = 1.5\n",
     "preflight.min_loop_fraction: must be <= 1 (got 1.5)"),
]


@pytest.mark.parametrize("name,text,needle", CHECK_CASES, ids=[c[0] for c in CHECK_CASES])
def test_a_bad_check_setting_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        name: str, text: str, needle: str) -> None:
    cfg = write(tmp_path, "bad.toml", text)
    code, err = run(capsys, "--config", str(cfg), "--scenario", str(NOMINAL))
    assert_refused(code, err, cfg, needle)
    code = main(["replay", str(tmp_path / "any.ulg"), "--config", str(cfg)])
    assert_refused(code, capsys.readouterr().err.strip(), cfg, needle)


def test_a_zero_threshold_is_accepted(tmp_path: Path) -> None:
    """Zero is a threshold in use (not one backwards stamp is tolerated); -0.0 is zero."""
    from firmware.config import load_config

    cfg = write(tmp_path, "zero.toml", "[contingency.frame_latency]\nthreshold = 0.0\n"
                "[contingency.tilt]\nthreshold = -0.0\n")
    c = load_config(cfg).contingency
    assert c.check("frame_latency").threshold == 0.0 and c.check("tilt").threshold == 0.0
