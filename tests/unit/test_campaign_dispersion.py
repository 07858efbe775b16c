"""Dispersion files: parsing (one-line errors naming file, key, problem), reproducible draws,
and draws applied to the raw TOML before the usual validation. No flights here."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.campaign.dispersion import load_dispersion
from app.campaign.dotted import parse_key, set_value
from app.campaign.runs import RunSpec, flight_seed, prepare_run, run_entropy
from app.cli import main
from hal.tomlschema import ConfigError

ROOT = Path(__file__).resolve().parents[2]
HOVER = str(ROOT / "config" / "scenarios" / "nominal_hover.toml")
BOX_DROP = str(ROOT / "config" / "scenarios" / "fault_camera_drop.toml")
SIM = str(ROOT / "config" / "sim.toml")

GOOD = """
[[draw]]
key = "config.sim.vehicle.mass_kg"
dist = "truncnormal"
mean = 1.8
std = 0.05
low = 1.75
high = 1.85

[[draw]]
key = "config.sim.imu.rate_error_ppm"
dist = "uniform"
low = -100.0
high = 100.0

[[draw]]
key = "config.sim.camera.latency_ms"
dist = "choice"
values = [10.0, 20.0]
weights = [1.0, 3.0]

[[draw]]
key = "scenario.faults[0].count"
dist = "integer"
low = 3
high = 5
"""


def _write(tmp_path: Path, text: str, name: str = "disp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _spec(disp: Path, index: int, scenario: str = BOX_DROP) -> RunSpec:
    return RunSpec(scenario, str(disp), SIM, index)


def test_same_index_same_draws_and_seed(tmp_path: Path) -> None:
    disp = _write(tmp_path, GOOD)
    a, b = prepare_run(_spec(disp, 7)), prepare_run(_spec(disp, 7))
    assert a.draws == b.draws and a.setup.seed == b.setup.seed
    others = [prepare_run(_spec(disp, i)).draws for i in range(6)]
    assert len({repr(d) for d in others}) == 6  # different runs, different draws


def test_draws_reach_the_validated_config_and_scenario(tmp_path: Path) -> None:
    disp = _write(tmp_path, GOOD)
    for i in range(20):
        run = prepare_run(_spec(disp, i))
        sim = run.setup.cfg.sim
        assert sim["vehicle"]["mass_kg"] == run.draws["config.sim.vehicle.mass_kg"]
        assert 1.75 <= sim["vehicle"]["mass_kg"] <= 1.85
        assert -100 <= sim["imu"]["rate_error_ppm"] <= 100
        assert sim["camera"]["latency_ms"] in (10.0, 20.0)
        assert run.setup.scenario.faults_raw[0]["count"] in (3, 4, 5)
        # keys the file does not draw keep the config file's values
        assert sim["camera"]["clock_skew_ppm"] == 40.0


def test_adding_a_key_leaves_the_other_draws_alone(tmp_path: Path) -> None:
    first = prepare_run(_spec(_write(tmp_path, GOOD), 3)).draws
    more = GOOD + '\n[[draw]]\nkey = "config.sim.imu.gyro_bias_max_rps"\ndist = "uniform"\n' \
        'low = 0.0\nhigh = 0.01\n'
    second = prepare_run(_spec(_write(tmp_path, more), 3)).draws
    assert {k: second[k] for k in first} == first


def test_the_seed_depends_on_names_and_index_only(tmp_path: Path) -> None:
    a = RunSpec("/x/nominal_box.toml", "/d/wind.toml", None, 4)
    b = RunSpec("/elsewhere/nominal_box.toml", "/e/wind.toml", "/c/other.toml", 4)
    assert run_entropy(a) == run_entropy(b) and flight_seed(a) == flight_seed(b)
    assert flight_seed(a) != flight_seed(RunSpec(a.scenario, a.dispersion, None, 5))
    assert 0 <= flight_seed(a) < 2**32


def test_fault_draw_adds_one_fault_per_run(tmp_path: Path) -> None:
    disp = _write(tmp_path, """
[[fault_draw]]
kind = "camera.stall"
at_s = { dist = "uniform", low = 10, high = 20 }

[[fault_draw]]
kind = "camera.drop"
weight = 2.0
at_s = { dist = "uniform", low = 10, high = 20 }
count = { dist = "integer", low = 4, high = 9 }

[[fault_draw]]
kind = "none"
weight = 1.0
""")
    kinds = []
    for i in range(40):
        run = prepare_run(_spec(disp, i, HOVER))
        faults = run.setup.scenario.faults_raw
        kinds.append(faults[0]["kind"] if faults else "none")
        if faults:
            assert 10 <= faults[0]["at_s"] <= 20
            assert run.setup.scenario.first_fault_s() == faults[0]["at_s"]
            assert run.fault_kinds == [faults[0]["kind"]]
    assert set(kinds) == {"camera.stall", "camera.drop", "none"}


@pytest.mark.parametrize(("text", "words"), [
    ('[[draw]]\nkey = "config.sim.vehicle.mass_kg"\ndist = "gamma"\n', ["draw[0]", "dist"]),
    ('[[draw]]\nkey = "config.sim.vehicle.mass_kg"\ndist = "uniform"\nlow = 1.0\n',
     ["draw[0]", "high", "missing"]),
    ('[[draw]]\nkey = "config.sim.vehicle.mass_kg"\ndist = "uniform"\nlow = 2.0\nhigh = 1.0\n',
     ["draw[0]", "low must be <= high"]),
    ('[[draw]]\nkey = "config.sim.vehicle.mass_kg"\ndist = "normal"\nmean = nan\nstd = 1.0\n',
     ["draw[0]", "mean", "finite"]),
    ('[[draw]]\nkey = "config.sim.vehicle.mass_kg"\ndist = "normal"\nmean = 1e300\n'
     'std = 1.0\n', ["mean", "too large"]),
    ('[[draw]]\nkey = "config.sim.vehicle.mass_kg"\ndist = "truncnormal"\nmean = 0.0\n'
     'std = 1.0\nlow = 50.0\nhigh = 60.0\n', ["draw[0]", "probability"]),
    ('[[draw]]\nkey = "vehicle.mass_kg"\ndist = "fixed"\nvalue = 1\n',
     ["draw[0].key", "config."]),
    ('[[draw]]\nkey = "scenario.plan"\ndist = "fixed"\nvalue = "x"\n',
     ["draw[0].key", "scenario.world"]),
    ('[[draw]]\nkey = "config.a..b"\ndist = "fixed"\nvalue = 1\n', ["draw[0].key", "malformed"]),
    ('[[draw]]\nkey = "config.x"\ndist = "choice"\nvalues = []\n', ["values", "non-empty"]),
    ('[[draw]]\nkey = "config.x"\ndist = "choice"\nvalues = [1, 2]\nweights = [1]\n',
     ["weights", "2 numbers"]),
    ('[[draw]]\nkey = "config.x"\ndist = "uniform"\nlow = 0\nhigh = 1\nmean = 3\n',
     ["draw[0]", "mean", "unknown parameter"]),
    ('[[fault_draw]]\nkind = "camera.drop"\n', ["fault_draw[0].at_s", "missing"]),
    ('seeds = 3\n', ["seeds", "unknown key"]),
])
def test_bad_dispersion_files_are_one_line(tmp_path: Path, text: str, words: list[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_dispersion(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))
    for word in words:
        assert word in message


def test_a_bad_draw_is_the_loaders_one_line_error_naming_the_run(tmp_path: Path) -> None:
    disp = _write(tmp_path, '[[draw]]\nkey = "config.sim.vehicle.mass_kg"\ndist = "uniform"\n'
                            'low = 500.0\nhigh = 600.0\n')
    with pytest.raises(ConfigError) as err:
        prepare_run(_spec(disp, 2))
    message = str(err.value)
    assert f"{disp} run 2" in message and "sim.vehicle.mass_kg" in message
    assert "\n" not in message


def test_a_draw_of_a_wrong_type_fails_like_a_file_would(tmp_path: Path) -> None:
    disp = _write(tmp_path, '[[draw]]\nkey = "scenario.faults[0].count"\ndist = "uniform"\n'
                            'low = 3.0\nhigh = 4.0\n')  # count is an integer
    with pytest.raises(ConfigError, match=r"faults\[0\]\.count"):
        prepare_run(_spec(disp, 0))


def test_an_index_past_the_scenarios_faults_is_named(tmp_path: Path) -> None:
    disp = _write(tmp_path, '[[draw]]\nkey = "scenario.faults[2].at_s"\ndist = "fixed"\n'
                            'value = 3.0\n')
    with pytest.raises(ConfigError, match=r"scenario\.faults\[2\]\.at_s: .*1 entries, no \[2\]"):
        prepare_run(_spec(disp, 0))


def test_set_value_creates_missing_tables() -> None:
    doc: dict[str, object] = {"world": {"wind": {"speed_mps": 1.0}}}
    set_value(doc, parse_key("scenario.world.wind.gusts.amplitude_mps", "f", "k"), 3.0, "f")
    set_value(doc, parse_key("scenario.world.wind.speed_mps", "f", "k"), 5.0, "f")
    assert doc == {"world": {"wind": {"speed_mps": 5.0, "gusts": {"amplitude_mps": 3.0}}}}


def test_the_cli_refuses_a_bad_dispersion_file_with_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disp = _write(tmp_path, '[[draw]]\nkey = "config.x"\ndist = "poisson"\n')
    code = main(["campaign", "--scenarios", HOVER, "--dispersion", str(disp), "--runs", "2",
                 "--db", str(tmp_path / "c.sqlite")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(disp) in err and "draw[0]" in err and "dist" in err
    assert not (tmp_path / "c.sqlite").exists()  # refused before anything was created
