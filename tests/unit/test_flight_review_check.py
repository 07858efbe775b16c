"""benchmarks/flight_review_check.py without Flight Review: what it installs, how it counts,
and that it says in one line when it cannot run (the check itself needs GitHub, so it is
`make flight-review`, not a test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import flight_review_check as frc


def test_requirements_are_flight_reviews_less_what_plotting_never_imports(tmp_path: Path
                                                                           ) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text(
        "bokeh==3.8.2\njinja2\njupyter\npyfftw\npylint\npyulog>=1.1\nrequests\n"
        "scipy>=1.8.1  # fft\nsimplekml\nsmopy\npycryptodome>=3.18\n\n")
    assert frc._requirements(tmp_path) == [
        "bokeh==3.8.2", "jinja2", "pyfftw", "pyulog>=1.1", "scipy>=1.8.1", "simplekml",
        "pycryptodome>=3.18"]
    # the constraints pin what Flight Review pins the same way
    assert "bokeh==3.8.2" in frc.CONSTRAINTS


def test_report_counts_plots_with_data_and_names_the_empty_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = {"mav_type": "Quadrotor", "plots": [
        {"title": "Roll Angle", "glyphs": 3, "values": [10, 10, 0]},
        {"title": "Airspeed", "glyphs": 2, "values": [0, 0]}],
        "tables": [{"title": "Logged Messages", "columns": ["Time", "Level", "Message"],
                    "rows": 1, "data": [["0:00:54", "WARNING", "LAND_NOW: x"]]}]}
    out = frc.report(result, ["Error in estimator plot: boom"], tmp_path / "f.ulg")
    assert out["bench"] == "flight_review" and out["plots"] == 1
    assert out["titles"] == ["Roll Angle"] and out["empty"] == ["Airspeed"]
    assert out["tables"] == {"Logged Messages": 1}
    text = capsys.readouterr().out
    assert "Roll Angle (2 of 3 series" in text and "0:00:54  WARNING  LAND_NOW: x" in text
    assert "Flight Review said: Error in estimator plot: boom" in text
    # a review with too few plots, an empty one and an error in the plot code is not clean
    assert len(out["problems"]) == 3 and "PROBLEM: plot drawn empty: Airspeed" in text


def test_a_clean_review_has_enough_plots_and_no_errors_offline_downloads_aside() -> None:
    enough = frc.MIN_PLOTS
    assert frc.problems(enough, [], ["Download error: <urlopen error>"]) == []
    assert frc.problems(enough - 1, [], []) == [
        f"only {enough - 1} plots drawn with data (want {enough})"]
    assert frc.problems(enough, [], ["Error in estimator plot: list index out of range"]) == [
        "Flight Review printed: Error in estimator plot: list index out of range"]


def test_without_setup_it_says_so_in_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "f.ulg"
    log.write_bytes(b"ULog")
    assert frc.main(["--cache", str(tmp_path / "cache"), "--log", str(log)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not set up" in err and "--setup" in err
    assert "needs GitHub" in err
