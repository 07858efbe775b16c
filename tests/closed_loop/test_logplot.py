"""``log plot``'s anomaly figure and interactive page, on a short flight that trips LAND_NOW.

The flight: take off to 3 m, fly toward a waypoint 9 m away, and 12 s in lose a frame and
stamp every later one a frame period early (flight 6's fault): LAND_NOW by frame_interval,
a braking manoeuvre that pins motors at 0 and 1, touchdown. What each panel must show is read
from the log with pyulog, independently of the ground tools under test, and from the flight
itself (its zero is the console's: the tests hold on a log stamped in flight time and on one
stamped on the host's clock).
"""

from __future__ import annotations

import itertools
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pyulog import ULog

from app.boot import prepare
from app.session import FlightResult, fly
from firmware import log_topics as lt
from ground.logfile import read_log
from ground.plot_flight import Flight
from tests.cli_run import run
from tests.conftest import CONFIG

matplotlib = pytest.importorskip("matplotlib")

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ground.logplot import figure  # noqa: E402

PLAN = """name = "short"
takeoff_alt_m = 3.0
takeoff_hold_s = 1.0

[[waypoints]]
north_m = 8.0
east_m = 4.0
alt_m = 3.0
speed_mps = 2.0
"""
FAULT_S = 12.0
SCENARIO = f"""planet = "mars"

[[faults]]
kind = "camera.drop"
at_s = {FAULT_S}
count = 1

[[faults]]
kind = "camera.stamp_shift"
at_s = {FAULT_S}
shift_s = -0.0333
"""
AIRBORNE = (2, 3, 4, 5)  # TAKEOFF, MISSION, LAND, LAND_NOW (firmware.flight.Mode)
MODE_NAMES = {0: "IDLE", 1: "ARMED", 2: "TAKEOFF", 3: "MISSION", 4: "LAND", 5: "LAND_NOW",
              6: "LANDED"}


@dataclass
class Logged:
    """What the log says, read with pyulog; times from the flight's zero."""

    u: ULog
    t0_us: int

    def data(self, topic: str) -> dict[str, npt.NDArray[Any]]:
        return self.u.get_dataset(topic).data  # type: ignore[no-any-return]

    def t(self, topic: str) -> npt.NDArray[np.float64]:
        return (self.data(topic)["timestamp"].astype(np.float64) - self.t0_us) / 1e6

    def event_t(self, prefix: str) -> float:
        m = next(m for m in self.u.logged_messages if m.message.startswith(prefix))
        return (m.timestamp - self.t0_us) / 1e6

    def land_now(self) -> tuple[str, float]:
        m = next(m for m in self.u.logged_messages if m.message.startswith("LAND_NOW:"))
        return m.message.split(":")[1].split()[0], (m.timestamp - self.t0_us) / 1e6


@pytest.fixture(scope="module")
def flight(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FlightResult]:
    d = tmp_path_factory.mktemp("logplot")
    (d / "plan.toml").write_text(PLAN)
    scenario = d / "short_land_now.toml"
    scenario.write_text(f'plan = "{d / "plan.toml"}"\n{SCENARIO}')
    result = fly(prepare(CONFIG / "sim.toml", scenario, seed=1), log_path=d / "flight.ulg")
    assert result.summary.land_now_reason == "frame_interval"  # the flight this file is about
    return d / "flight.ulg", result


@pytest.fixture(scope="module")
def logged(flight: tuple[Path, FlightResult]) -> Logged:
    """Times from the flight's zero: the log stamp of the cycle the flight software took as
    its zero (0 on a log whose clock is flight time, the host's time on an older one)."""
    u = ULog(str(flight[0]))
    ci = u.get_dataset("cycle_inputs").data
    assert int(ci["now_ns"][0]) == flight[1].fsw.t0_ns
    return Logged(u, int(ci["timestamp"][0]))


@pytest.fixture(scope="module")
def fig(flight: tuple[Path, FlightResult]) -> Figure:
    f = figure(Flight.of(read_log(flight[0])), "flight.ulg")
    f.canvas.draw()  # legends and labels placed
    return f


def time_panels(fig: Figure) -> dict[str, Axes]:
    """The panels over the whole flight, by y label (the zooms and the track have titles)."""
    return {ax.get_ylabel(): ax for ax in fig.axes if ax.get_ylabel() and not ax.get_title()}


def strips(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if any(t.get_text() == "MISSION" for t in ax.texts)]


def lines(ax: Axes) -> dict[str, Line2D]:
    return {str(ln.get_label()): ln for ln in ax.get_lines()}


def vlines(ax: Axes) -> dict[float, Line2D]:
    """axvline's lines by time (x twice, y 0 to 1 in axes fraction)."""
    out = {}
    for ln in ax.get_lines():
        x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
        if len(x) == 2 and x[0] == x[1] and list(y) == [0.0, 1.0]:
            out[float(x[0])] = ln
    return out


def assert_line(ln: Line2D, t: npt.NDArray[np.float64], y: npt.NDArray[Any]) -> None:
    np.testing.assert_allclose(np.asarray(ln.get_xdata(), float), t, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ln.get_ydata(), float), np.asarray(y, float),
                               rtol=1e-6, atol=1e-9)


def mode_spans(logged: Logged) -> list[tuple[str, float, float]]:
    mode = logged.data("vehicle_state")["mode"]
    t = logged.t("vehicle_state")
    starts = np.r_[0, np.flatnonzero(np.diff(mode)) + 1]
    ends = np.r_[t[starts[1:]], t[-1]]
    return [(MODE_NAMES[int(mode[i])], float(t[i]), float(e))
            for i, e in zip(starts, ends, strict=True)]


# -- the new panels --------------------------------------------------------------------------
def test_motor_panel_has_each_motor_and_flags_the_pinned_ones(fig: Figure,
                                                             logged: Logged) -> None:
    ax = time_panels(fig)["motor command [0..1]"]
    mo, t = logged.data("motor_outputs"), logged.t("motor_outputs")
    n = sum(1 for k in mo if k.startswith("motors["))
    got = lines(ax)
    for i in range(n):
        assert_line(got[f"motor {i + 1}"], t, mo[f"motors[{i}]"])
    cmd = np.stack([mo[f"motors[{i}]"] for i in range(n)], axis=1)
    assert_line(got["collective (mean)"], t, cmd.mean(axis=1))
    thrust = logged.data("vehicle_thrust_setpoint")
    assert_line(got["collective asked"], logged.t("vehicle_thrust_setpoint"),
                -thrust["xyz[2]"])
    # in flight after the trip the mixer ran out of authority: pinned at 0 and at 1
    mode = np.interp(t, logged.t("vehicle_state"), logged.data("vehicle_state")["mode"])
    flying = np.isin(np.round(mode), AIRBORNE)
    pinned = flying & ((cmd <= 1e-4) | (cmd >= 1 - 1e-4)).any(axis=1)
    assert (cmd[flying] <= 1e-4).any() and (cmd[flying] >= 1 - 1e-4).any()
    first = float(t[np.flatnonzero(pinned)[0]])
    flagged = [p for p in ax.patches if p.get_facecolor()[0] > 0.8 and  # type: ignore[attr-defined]
               p.get_y() > 0.9 and p.get_x() <= first <= p.get_x() + p.get_width()]
    assert flagged, "the first pinned instant is flagged"


@pytest.mark.parametrize("k,name,sp", [(0, "roll rate p", "roll"), (1, "pitch rate q", "pitch"),
                                       (2, "yaw rate r", "yaw")])
def test_body_rates_against_their_setpoints(fig: Figure, logged: Logged, k: int, name: str,
                                            sp: str) -> None:
    got = lines(time_panels(fig)[f"{name} [deg/s]"])
    assert_line(got["estimate"], logged.t("vehicle_state"),
                np.degrees(logged.data("vehicle_state")[f"rate[{k}]"]))
    assert_line(got["setpoint"], logged.t("vehicle_rates_setpoint"),
                np.degrees(logged.data("vehicle_rates_setpoint")[sp]))


def test_attitude_against_its_setpoints(fig: Figure, logged: Logged) -> None:
    panels = time_panels(fig)
    sp, t_sp = logged.data("setpoint"), logged.t("setpoint")
    st, t_st = logged.data("vehicle_state"), logged.t("vehicle_state")
    for name in ("roll", "pitch"):
        got = lines(panels[f"{name} [deg]"])
        assert_line(got["estimate"], t_st, st[f"{name}_deg"])
        assert_line(got["setpoint"], t_sp, sp[f"{name}_sp_deg"])
        assert_line(got["truth"], logged.t("truth"), logged.data("truth")[f"{name}_deg"])
    # the yaw setpoint (from PX4's attitude setpoint quaternion) is the heading the position
    # setpoint holds
    yaw = lines(panels["yaw [deg]"])["setpoint"]
    pos_sp = logged.data("vehicle_local_position_setpoint")
    np.testing.assert_allclose(np.asarray(yaw.get_xdata(), float),
                               logged.t("vehicle_attitude_setpoint"), atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(yaw.get_ydata(), float),
        np.interp(logged.t("vehicle_attitude_setpoint"),
                  logged.t("vehicle_local_position_setpoint"), np.degrees(pos_sp["yaw"])),
        atol=1e-3)


def test_velocity_against_its_setpoints(fig: Figure, logged: Logged) -> None:
    panels = time_panels(fig)
    st, sp = logged.data("vehicle_state"), logged.data("vehicle_local_position_setpoint")
    for k, (name, field) in enumerate((("north", "vx"), ("east", "vy"), ("down", "vz"))):
        got = lines(panels[f"v {name} [m/s]"])
        assert_line(got["estimate"], logged.t("vehicle_state"), st[f"velocity[{k}]"])
        assert_line(got["setpoint"], logged.t("vehicle_local_position_setpoint"), sp[field])
        assert_line(got["truth"], logged.t("truth"), logged.data("truth")[f"velocity[{k}]"])


def test_north_and_east_on_axes_of_their_own(fig: Figure, logged: Logged) -> None:
    panels = time_panels(fig)
    north, east = panels["north [m]"], panels["east [m]"]
    assert north is not east
    st, sp = logged.data("vehicle_state"), logged.data("setpoint")
    for k, (ax, name) in enumerate(((north, "north"), (east, "east"))):
        got = lines(ax)
        assert_line(got["estimate"], logged.t("vehicle_state"), st[f"position[{k}]"])
        assert_line(got["setpoint"], logged.t("setpoint"), sp[name])


def test_the_tripping_check_is_drawn_over_the_land_now_line(fig: Figure,
                                                            logged: Logged) -> None:
    check, t_trip = logged.land_now()
    threshold = float(logged.data("contingency_thresholds")[check][-1])
    ct, t_ct = logged.data("contingency"), logged.t("contingency")
    i = int(np.flatnonzero(ct["tripped"] >= 0)[0])
    assert t_ct[i] == pytest.approx(t_trip, abs=1e-6)
    value = float(ct[check][i])
    assert value > threshold
    ax = next(a for label, a in time_panels(fig).items() if label.startswith(f"{check} ["))
    got = lines(ax)
    assert_line(got[check], t_ct, ct[check])
    assert any(list(ln.get_ydata()) == [threshold, threshold] for ln in ax.get_lines())
    trip = next(ln for label, ln in got.items() if label.startswith("trip "))
    assert list(trip.get_xdata()) == pytest.approx([t_trip], abs=1e-6)
    assert list(trip.get_ydata()) == pytest.approx([value])
    land_line = next(ln for x, ln in vlines(ax).items() if x == pytest.approx(t_trip, abs=1e-6))
    assert got[check].get_zorder() > land_line.get_zorder()
    assert trip.get_zorder() > got[check].get_zorder()


def test_modes_are_bands_on_every_time_panel_and_named_in_the_strips(fig: Figure,
                                                                     logged: Logged) -> None:
    spans = mode_spans(logged)
    assert {"MISSION", "LAND_NOW", "LANDED"} <= {name for name, _, _ in spans}
    for label, ax in time_panels(fig).items():
        drawn = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches]  # type: ignore[attr-defined]
        for _, a, b in spans:
            assert any(x0 == pytest.approx(a, abs=1e-6) and x1 >= b - 1e-3 for x0, x1 in drawn), \
                (label, a, b)
    duration = spans[-1][2]
    for strip in strips(fig):
        shown = {t.get_text() for t in strip.texts if t.get_visible()}
        assert {name for name, a, b in spans if b - a > 0.15 * duration} <= shown


def test_fault_land_now_and_touchdown_marks_are_distinct_and_labels_apart(
        fig: Figure, logged: Logged, flight: tuple[Path, FlightResult]) -> None:
    _, t_land = logged.land_now()
    t_fault = float(logged.u.msg_info_dict["first_fault_t_s"])
    t_touch = logged.event_t("mode LANDED")
    assert t_fault == pytest.approx(FAULT_S)
    # on the console's clock: the time fly printed for LAND_NOW
    assert t_land == pytest.approx(flight[1].summary.land_now_t_s, abs=1e-6)
    for label, ax in time_panels(fig).items():
        found = vlines(ax)
        styles = []
        for t in (t_fault, t_land, t_touch):
            ln = next((ln for x, ln in found.items() if x == pytest.approx(t, abs=1e-6)), None)
            assert ln is not None, (label, t)
            styles.append((ln.get_color(), ln.get_linestyle()))
        assert len(set(styles)) == 3 and len({s[1] for s in styles}) == 3, label
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for strip in strips(fig):
        labels = [t for t in strip.texts if t.get_text().startswith(
            ("first fault ", "LAND_NOW ", "touchdown "))]
        assert len(labels) == 3
        boxes = [t.get_window_extent(renderer) for t in labels]
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b)


def test_every_axis_is_labelled_with_units_and_legends_hide_no_data(fig: Figure) -> None:
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    panels = time_panels(fig)
    assert len(panels) >= 16
    for label, ax in panels.items():
        assert re.search(r"\S \[[^\]]+\]", label), label  # "quantity [unit]"
        leg = ax.get_legend()
        assert leg is not None, label
        assert leg.get_window_extent(renderer).y0 >= ax.get_window_extent(renderer).y1 - 1
    bottoms = [ax for ax in panels.values() if ax.get_xlabel()]
    assert len(bottoms) == 2 and all("[s]" in ax.get_xlabel() for ax in bottoms)
    for ax in fig.axes:
        if ax.get_title():  # the track and the zooms
            assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()


def test_title_names_scenario_seed_and_outcome(fig: Figure, logged: Logged) -> None:
    assert fig._suptitle is not None
    title = fig._suptitle.get_text()
    info = logged.u.msg_info_dict
    check, t_land = logged.land_now()
    assert f"{info['scenario']} \u00b7 seed {info['seed']}" in title
    assert f"LAND_NOW ({check}) at {t_land:.2f} s, landed" in title


def test_the_text_panel_gives_the_peak_body_rate(fig: Figure, logged: Logged) -> None:
    st = logged.data("vehicle_state")
    rates = np.abs(np.degrees(np.stack([st[f"rate[{k}]"] for k in range(3)], axis=1)))
    text = "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert f"max body rate {rates.max():.0f} deg/s" in text


# -- logs without the PX4 topics ---------------------------------------------------------------
def test_a_log_without_px4_topics_still_plots_and_says_what_it_lacks(
        flight: tuple[Path, FlightResult], logged: Logged) -> None:
    d = read_log(flight[0])
    for t in lt.PX4_TOPICS:  # as written before the PX4 topics came
        d.formats.pop(t.name, None)
        d.topics.pop((t.name, 0), None)
    fig = figure(Flight.of(d))
    panels = time_panels(fig)
    for label in ("roll rate p [deg/s]", "yaw [deg]", "v north [m/s]"):
        legend = panels[label].get_legend()
        assert legend is not None
        notes = [t.get_text() for t in legend.get_texts() if t.get_text().startswith("(no ")]
        assert notes, label
    got = lines(panels["v north [m/s]"])
    assert_line(got["feed-forward"], logged.t("setpoint"), logged.data("setpoint")["vn_ff"])
    assert "motor 1" in lines(panels["motor command [0..1]"])


def test_a_panel_without_its_data_says_so(flight: tuple[Path, FlightResult]) -> None:
    d = read_log(flight[0])
    d.topics.pop((lt.MOTOR_OUTPUTS.name, 0))
    d.topics.pop((lt.PX4_VEHICLE_THRUST_SETPOINT.name, 0))
    ax = time_panels(figure(Flight.of(d)))["motor command [0..1]"]
    assert not ax.get_lines()[3:]  # the marks only
    assert "no motor outputs in this log" in [t.get_text() for t in ax.texts]


def test_without_land_now_the_check_that_came_closest_is_shown(
        flight: tuple[Path, FlightResult], logged: Logged) -> None:
    """As a flight with the watchdog disabled logs it: no LAND_NOW event, nothing latched."""
    d = read_log(flight[0])
    d.strings = [s for s in d.strings if "LAND_NOW" not in s.text]
    ct = d.topics[(lt.CONTINGENCY.name, 0)]
    ct.data["tripped"] = -1
    fig = figure(Flight.of(d))
    check, _ = logged.land_now()
    ax = next(a for label, a in time_panels(fig).items() if label.startswith(f"{check} ["))
    got = lines(ax)
    assert_line(got[f"{check} (closest to its threshold; no trip)"], logged.t("contingency"),
                logged.data("contingency")[check])
    assert not any(label.startswith("trip ") for label in got)


# -- the command line and the page -------------------------------------------------------------
def test_html_page_holds_the_data(flight: tuple[Path, FlightResult], logged: Logged,
                                  tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    from ground.plot_html import page

    png = tmp_path / "f.png"
    r = run("log", "plot", flight[0], "-o", png, "--html")
    assert r.code == 0, r
    html = png.with_suffix(".html").read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Plotly.newPlot" in html and "first fault" in html and "motor 1" in html
    check, t_land = logged.land_now()
    fig = page(Flight.of(read_log(flight[0])))
    traces = {t.name: t for t in fig.data if t.name}
    values = logged.data("contingency")[check]
    line = np.asarray(traces[check].y, float)
    assert line.max() == pytest.approx(float(values.max()), rel=1e-6)  # the spike is kept
    trip = next(t for name, t in traces.items() if name.startswith("trip "))
    assert float(trip.x[0]) == pytest.approx(t_land, abs=1e-6)
    q = np.abs(np.degrees(logged.data("vehicle_state")["rate[1]"])).max()
    peaks = [np.nanmax(np.abs(np.asarray(t.y, float))) for t in fig.data if t.name == "estimate"]
    assert any(p == pytest.approx(float(q), rel=1e-5) for p in peaks), "the pitch rate's peak"
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) >= len(mode_spans(logged)) * 16


def test_html_without_plotly_is_one_line(flight: tuple[Path, FlightResult], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("plotly", "plotly.graph_objects", "plotly.subplots"):
        monkeypatch.setitem(sys.modules, name, None)
    png = tmp_path / "f.png"
    r = run("log", "plot", flight[0], "-o", png, "--html", tmp_path / "page.html")
    assert r.code == 2
    assert r.err == "flightsw: log plot --html needs Plotly: pip install 'flightsw[html]'"
    assert not png.exists() and not (tmp_path / "page.html").exists()


@pytest.mark.parametrize("html", [False, True])
@pytest.mark.parametrize("what", ["missing", "binary"])
def test_bad_input_is_one_line_naming_the_file(what: str, html: bool, tmp_path: Path) -> None:
    if html:
        pytest.importorskip("plotly")
    path = tmp_path / "in.ulg"
    if what == "binary":
        path.write_bytes(bytes(range(256)) * 64)
    args: list[str | Path] = ["log", "plot", path, "-o", tmp_path / "out.png"]
    r = run(*args, *(["--html"] if html else []))
    assert r.code == 2, r
    assert len(r.err.splitlines()) == 1 and "Traceback" not in r.err
    assert r.err.startswith(f"flightsw: {path}: ")
    assert ("file not found" if what == "missing" else "not a ULog file") in r.err
    assert not (tmp_path / "out.png").exists()


def test_a_log_cut_before_its_fault_draws_no_fault(flight: tuple[Path, FlightResult],
                                                    tmp_path: Path) -> None:
    """A log killed before the scenario's fault began: the fault never happened in it, so no
    panel zooms on it or marks it; the text says it was planned and not reached."""
    import struct

    data = flight[0].read_bytes()
    fault_s = flight[1].summary.first_fault_t_s
    assert fault_s is not None
    pos = 16  # cut at a message boundary well before the fault (a kill between two records)
    while pos < len(data) // 8:
        pos += 3 + struct.unpack_from("<H", data, pos)[0]
    cut = tmp_path / "cut.ulg"
    cut.write_bytes(data[:pos])
    f = Flight.of(read_log(cut))
    assert f.t_end < fault_s
    assert f.fault_s is None and f.fault_unreached_s == pytest.approx(fault_s)
    fig = figure(f, "cut.ulg")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("not reached" in t for t in texts)
    assert not any(line.get_label() == "first fault" for ax in fig.axes for line in ax.lines)
