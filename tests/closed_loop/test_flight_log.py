"""The flight log: complete (every sample), readable by pyulog, survives SIGKILL, replays to
the same LAND_NOW cycle, and keeps to the ULog spec where PX4's tools read it: parameter
names, timestamps in flight time, sync markers, real executive timing, enumerations."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import pyulog

from app.boot import prepare
from app.session import fly
from firmware import log_topics as lt
from firmware.config import load_config
from firmware.flight import Mode
from firmware.recorder import flatten
from ground.logfile import read_log
from ground.loginfo import log_info, log_info_dict
from ground.replay import replay
from ground.ulog_lint import walk
from tests.conftest import ROOT, SCENARIOS
from tests.pyulog_tools import pyulog_tool_problems


@pytest.fixture(scope="module")
def flight6_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("log") / "flight6.ulg"
    result = fly(prepare(None, SCENARIOS / "flight6.toml", 1), log_path=path)
    return path, result


def test_pyulog_reads_every_topic_with_every_sample(flight6_log):
    path, result = flight6_log
    u = pyulog.ULog(str(path))
    counts = {d.name: len(d.data["timestamp"]) for d in u.data_list}
    # the photo topics have a record per photo, and flight 6 takes none
    photo_topics = {lt.PHOTO.name, lt.PX4_CAMERA_CAPTURE.name}
    assert set(counts) == {t.name for t in lt.TOPICS + lt.PX4_TOPICS} - photo_topics
    for topic in lt.TOPICS + lt.PX4_TOPICS:  # every field of the schema, under its name
        fields = {f for _, _, f in u.message_formats[topic.name].fields}
        assert fields == {name for _, name in topic.fields}, topic.name
    hal, stats = result.hal, result.fsw.exec_stats
    assert counts["sensor_imu"] == hal.imu.health().samples
    assert counts["sensor_range"] == hal.rangefinder.health().samples
    assert counts["camera_frame"] == hal.camera.health().samples
    for topic in ("cycle_inputs", "vehicle_state", "contingency", "motor_outputs"):
        assert counts[topic] == stats.cycles
    messages = [m.message for m in u.logged_messages]
    assert any(m.startswith("LAND_NOW: frame_interval") for m in messages)
    # the event texts read as the schema says (the tools find LAND_NOW and the outcome so)
    events = [lt.parse_event(m) for m in messages]
    land_now = [e for e in events if e.kind == lt.EVENT_LAND_NOW]
    assert [e.subject for e in land_now] == [result.summary.land_now_reason]
    assert ">" in land_now[0].detail
    modes = [e.subject for e in events if e.kind == lt.EVENT_MODE]
    assert modes[-2:] == ["LAND_NOW", "LANDED"]
    assert u.msg_info_dict["scenario"] == "flight6"
    assert u.initial_parameters["loop/rate_hz"] == 500.0
    assert not u.dropouts


def test_replay_reproduces_the_land_now_cycle_exactly(flight6_log):
    path, result = flight6_log
    r = replay(path)
    assert r.logged is not None and r.reproduced
    assert r.replayed is not None and r.replayed.check == result.summary.land_now_reason


def test_replay_with_thresholds_too_loose_shows_no_land_now(flight6_log, tmp_path):
    path, _ = flight6_log
    loose = tmp_path / "loose.toml"
    loose.write_text("\n".join(
        f"[contingency.{name}]\nthreshold = {value}" for name, value in [
            ("frame_interval", 10.0), ("frame_latency", 1.0), ("camera_clock_residual", 1.0),
            ("camera_clock_skew", 1e6), ("vision_innovation", 100.0),
            ("frame_seq_gap", 100)]) + "\n")
    r = replay(path, load_config(loose))
    assert r.logged is not None and r.replayed is None


def test_log_survives_sigkill_mid_flight(tmp_path):
    cfg = tmp_path / "rt.toml"
    cfg.write_text((ROOT / "config" / "sim.toml").read_text().replace(
        "[sim]\n", "[sim]\nrealtime = true\n"))
    log = tmp_path / "killed.ulg"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "fly", "--config", str(cfg), "--scenario",
         str(SCENARIOS / "nominal_box.toml"), "--log", str(log)],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    seen: dict[str, tuple[float, float]] = {}

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            m = re.match(r"\[\s*([\d.]+)s\] mode TAKEOFF", line)
            if m:
                seen["takeoff"] = (float(m.group(1)), time.monotonic())

    threading.Thread(target=watch, daemon=True).start()
    deadline = time.monotonic() + 60
    while "takeoff" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "takeoff" in seen
    time.sleep(2.0)
    os.kill(proc.pid, signal.SIGKILL)
    t_kill = time.monotonic()
    proc.wait(10)
    t_takeoff, wall_takeoff = seen["takeoff"]
    expected = t_takeoff + (t_kill - wall_takeoff)  # flight time at the kill
    u = pyulog.ULog(str(log))
    ts = u.get_dataset("cycle_inputs").data["timestamp"]
    last = (int(ts[-1]) - int(ts[0])) / 1e6
    # at most 100 ms lost; 50 ms more for the pipe that told us when TAKEOFF happened
    assert expected - 0.15 <= last <= expected + 0.05, (last, expected)
    # and the tools say what happened: not closed, where it stops
    info = log_info_dict(log)
    assert info["closed"] is False and not info["outcome"].endswith("landed")
    assert "cut short" in info["outcome"]
    assert "NOT CLOSED" in log_info(log)


def test_a_finished_flight_closes_its_log_and_says_so(flight6_log):
    path, result = flight6_log
    u = pyulog.ULog(str(path))
    last = u.logged_messages[-1]
    assert last.message == "log closed"
    assert last.timestamp >= round(result.summary.duration_s * 1e6) - 2000  # the flight's end
    info = log_info_dict(path)
    assert info["closed"] is True
    assert "closed by the flight software" in log_info(path)


# -- spec-clean: what PX4's tools read as they read a PX4 log --------------------------------
def test_parameters_have_spec_names_that_map_back_to_the_config(flight6_log):
    path, result = flight6_log
    u = pyulog.ULog(str(path))
    cfg = result.fsw.cfg
    params = dict(u.initial_parameters)
    assert params.pop(lt.PARAM_MAV_TYPE) == 2
    expected = flatten(cfg)
    assert set(params) == set(expected)
    for name, value in params.items():
        assert re.fullmatch(r"[a-zA-Z0-9_\-/]+", name), name
        # float32 in the file: the exact values are the JSON copy's
        assert value == pytest.approx(expected[name], rel=1e-6), name
        assert lt.param_value(params, lt.config_key(name)) == value
    assert lt.param_value(params, "contingency.frame_interval.threshold") == pytest.approx(
        cfg.contingency.frame_interval.threshold)
    assert u.msg_info_dict[lt.INFO_CONFIG_JSON] == json.dumps(dataclasses.asdict(cfg))


def test_land_now_is_at_the_same_time_in_the_console_the_file_and_log_info(flight6_log):
    """Log time is mission time: pyulog (and so PlotJuggler and Flight Review) puts LAND_NOW
    where the console, the summary and `log info` do, to the microsecond."""
    path, result = flight6_log
    fsw, s = result.fsw, result.summary
    t = s.land_now_t_s
    assert t is not None and 50 < t < 60
    console = [fsw.mission_time(ev.t_ns) for ev in fsw.events if ev.text.startswith("LAND_NOW")]
    assert console == [pytest.approx(t, abs=1e-9)]  # the console prints mission_time(ev.t_ns)
    u = pyulog.ULog(str(path))
    t_us = round(t * 1e6)
    assert u.start_timestamp == 0
    logged = [m.timestamp for m in u.logged_messages if m.message.startswith("LAND_NOW")]
    assert logged == [t_us]
    cont = u.get_dataset("contingency").data
    assert int(cont["timestamp"][np.argmax(cont["tripped"] >= 0)]) == t_us
    assert log_info_dict(path)["land_now"]["t_s"] == t
    for d in u.data_list:  # ULog: each subscription's stamps never go back
        assert (np.diff(d.data["timestamp"].astype(np.int64)) >= 0).all(), d.name
    first = u.get_dataset("cycle_inputs").data
    assert int(first["timestamp"][0]) == 0 and int(first["now_ns"][0]) == fsw.t0_ns


def test_one_sync_marker_per_second_of_flight(flight6_log):
    path, result = flight6_log
    seconds = result.summary.duration_s
    assert abs(read_log(path).sync_count - seconds) <= 1, seconds


def test_executive_timing_is_measured_in_a_lockstep_flight(flight6_log):
    """The simulated clock stands still while a cycle works; the host's clock does not."""
    path, result = flight6_log
    ex = pyulog.ULog(str(path)).get_dataset("executive").data
    cycle_us, max_us = ex["cycle_us"], ex["max_cycle_us"]
    # each record holds the cycle before it (the record is written inside its own cycle)
    assert (cycle_us[1:] > 0).all() and (np.diff(max_us) >= 0).all()
    assert max_us[-1] == pytest.approx(result.fsw.exec_stats.max_cycle_ns / 1e3, rel=1e-6)
    assert 10 < np.median(cycle_us) < 20_000
    assert (ex["wake_latency_us"] == 0).all()  # a simulated clock wakes at the deadline
    assert int(ex["overruns"][-1]) == result.summary.overruns == 0  # simulated time judges


def test_coded_fields_are_described_in_the_log(flight6_log):
    path, result = flight6_log
    u = pyulog.ULog(str(path))
    modes = lt.parse_enum(u.msg_info_dict["enum/vehicle_state/mode"])
    assert modes == {int(m): m.name for m in Mode}
    state = u.get_dataset("vehicle_state").data
    assert modes[int(state["mode"][-1])] == result.fsw.mode.name == "LANDED"
    tripped = lt.parse_enum(u.msg_info_dict["enum/contingency/tripped"])
    cont = u.get_dataset("contingency").data
    assert tripped[int(cont["tripped"][-1])] == result.summary.land_now_reason
    assert tripped[-1] == "none" and tripped[int(cont["tripped"][0])] == "none"


def test_pyulogs_tools_run_clean_on_whole_killed_and_cut_logs(flight6_log, tmp_path):
    """ulog_info, ulog_params, ulog_messages and ulog2csv, as a PX4 engineer runs them, on the
    flight's log, on one killed between two messages and on one cut inside a message."""
    data = flight6_log[0].read_bytes()
    pos = 16
    while pos < len(data) // 3:  # a message boundary a third of the way in
        pos += 3 + int.from_bytes(data[pos:pos + 2], "little")
    killed, cut = tmp_path / "killed.ulg", tmp_path / "cut.ulg"
    killed.write_bytes(data[:pos])
    cut.write_bytes(data[:pos + 7])
    for i, log in enumerate((flight6_log[0], killed, cut)):
        assert pyulog_tool_problems(log, tmp_path / f"csv{i}") == [], log.name
    # the byte-level walk agrees: whole messages, the known types, one sync marker a second
    framing = walk(data)
    assert framing.bad_messages == 0 and not framing.truncated
    assert abs(framing.sync_count - flight6_log[1].summary.duration_s) <= 2
    assert walk(cut.read_bytes()).truncated and not walk(killed.read_bytes()).truncated
