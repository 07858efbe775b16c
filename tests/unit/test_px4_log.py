"""The PX4 view of the flight log (firmware.px4_log) in pieces, and our old logs, whose motor
commands were a topic named ``actuator_outputs`` like PX4's, still read by the ground tools."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from firmware import log_topics as lt
from firmware.flight import Mode
from firmware.px4_log import every_cycles, is_armed, nav_state
from firmware.ulog_encoder import ULogWriter
from ground.logcsv import log_csv
from ground.logfile import parse_log
from ground.loginfo import log_info_dict

# PX4 NAVIGATION_STATE_* values (VehicleStatus.msg), typed here from the .msg
AUTO_MISSION, AUTO_LOITER, DESCEND, AUTO_TAKEOFF, AUTO_LAND = 3, 4, 12, 17, 18


@pytest.mark.parametrize("mode,holds_position,expected", [
    (Mode.IDLE, True, AUTO_LOITER),
    (Mode.ARMED, True, AUTO_TAKEOFF),
    (Mode.TAKEOFF, True, AUTO_TAKEOFF),
    (Mode.MISSION, True, AUTO_MISSION),
    (Mode.LAND, True, AUTO_LAND),
    (Mode.LAND, False, AUTO_LAND),  # LAND always holds a point; only LAND_NOW gives it up
    (Mode.LAND_NOW, True, AUTO_LAND),
    (Mode.LAND_NOW, False, DESCEND),
    (Mode.LANDED, True, AUTO_LAND),
])
def test_each_mode_has_its_documented_nav_state(mode: Mode, holds_position: bool,
                                                expected: int) -> None:
    assert nav_state(mode, holds_position) == expected


def test_armed_from_spin_up_until_landed() -> None:
    assert [m.name for m in Mode if is_armed(m)] == [
        "ARMED", "TAKEOFF", "MISSION", "LAND", "LAND_NOW"]


@pytest.mark.parametrize("loop_hz,px4_hz,every", [
    (500, 100, 5), (500, 500, 1), (500, 4000, 1), (500, 30, 17), (1000, 100, 10)])
def test_px4_rate_is_a_whole_number_of_cycles(loop_hz: float, px4_hz: float,
                                             every: int) -> None:
    assert every_cycles(loop_hz, px4_hz) == every


def test_px4_topic_names_do_not_clash_with_ours() -> None:
    ours = {t.name for t in lt.TOPICS}
    assert not ours & {t.name for t in lt.PX4_TOPICS}
    assert "actuator_outputs" in {t.name for t in lt.PX4_TOPICS}
    assert lt.MOTOR_OUTPUTS.name == "motor_outputs"


def _old_log(with_px4_actuator_outputs: bool = False) -> bytes:
    """A log as flightsw wrote it before the PX4 topics: motor commands in
    ``actuator_outputs`` (motors[4], armed)."""
    buf = io.BytesIO()
    w = ULogWriter(buf, 0)
    name = "actuator_outputs"
    if with_px4_actuator_outputs:  # a PX4 log's topic of that name
        w.add_format(name, [("uint64_t", "timestamp"), ("uint32_t", "noutputs"),
                            ("float[16]", "output")])
    else:
        w.add_format(name, [("uint64_t", "timestamp"), ("float[4]", "motors"),
                            ("bool", "armed")])
    w.info("sys_name", "flightsw")
    w.end_definitions()
    mid = w.add_logged(name)
    for k in range(3):
        if with_px4_actuator_outputs:
            w.data(mid, (1000 + k * 2000, 4, [1500.0] * 4 + [0.0] * 12))
        else:
            w.data(mid, (1000 + k * 2000, (0.1 * k, 0.2, 0.3, 0.4), k > 0))
    w.log_string(6, 1000, "mode ARMED")
    return buf.getvalue()


def test_an_old_logs_motor_commands_read_as_motor_outputs(tmp_path: Path) -> None:
    d = parse_log(_old_log())
    assert ("actuator_outputs", 0) not in d.topics
    t = d.topic("motor_outputs")
    assert t.data["motors"][:, 0].tolist() == pytest.approx([0.0, 0.1, 0.2])
    assert t.data["armed"].tolist() == [False, True, True]
    assert [f.name for f in d.formats["motor_outputs"]] == ["timestamp", "motors", "armed"]
    path = tmp_path / "old.ulg"
    path.write_bytes(_old_log())
    assert log_info_dict(path)["topics"]["motor_outputs"]["samples"] == 3
    written = {p.name: p for p in log_csv(path, tmp_path / "csv")}
    with written["motor_outputs.csv"].open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["timestamp", "motors[0]", "motors[1]", "motors[2]", "motors[3]", "armed"]
    assert len(rows) == 4


def test_px4s_own_actuator_outputs_keep_their_name() -> None:
    d = parse_log(_old_log(with_px4_actuator_outputs=True))
    assert ("motor_outputs", 0) not in d.topics
    assert d.topic("actuator_outputs").data["noutputs"].tolist() == [4, 4, 4]
