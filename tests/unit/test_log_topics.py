"""The log schema (firmware.log_topics): topics, fields, the event texts the tools read, the
parameters' names, the enumerations and the log's clock."""

from __future__ import annotations

import io
import re

import pytest

from firmware import log_topics as lt
from firmware.contingency import CHECK_SOURCES
from firmware.flight import Mode
from firmware.ulog_encoder import ULogFormatError, ULogWriter, validate_format


@pytest.mark.parametrize("topic", lt.TOPICS, ids=lambda t: t.name)
def test_every_topic_is_a_loggable_format(topic: lt.TopicDef) -> None:
    validate_format(topic.name, topic.format)  # raises on anything ULog cannot hold


def test_topic_names_are_unique_and_inputs_are_topics() -> None:
    names = [t.name for t in lt.TOPICS]
    assert len(set(names)) == len(names)
    assert set(lt.INPUT_TOPICS) <= set(lt.TOPICS)
    assert set(lt.PER_CYCLE_TOPICS) <= set(lt.TOPICS)


def test_a_field_the_schema_lacks_is_refused_by_name() -> None:
    assert lt.SENSOR_IMU.field("gyro_rps") == "gyro_rps"
    assert lt.SENSOR_IMU.type_of("gyro_rps") == "double[3]"
    with pytest.raises(KeyError, match="sensor_imu has no field 'gyro'"):
        lt.SENSOR_IMU.field("gyro")


def test_the_contingency_topic_logs_every_check_in_order() -> None:
    names = [name for _, name in lt.CONTINGENCY.fields]
    assert names[:2] == ["timestamp", "tripped"]
    assert lt.check_fields(names) == list(CHECK_SOURCES)
    assert [n for n in names if n.endswith("_fails")] == [f"{c}_fails" for c in CHECK_SOURCES]
    assert lt.check_fields([n for _, n in lt.CONTINGENCY_THRESHOLDS.fields]) == list(
        CHECK_SOURCES)


@pytest.mark.parametrize("text,kind,subject,detail", [
    (lt.land_now_text("frame_interval", 0.0823, 0.05), lt.EVENT_LAND_NOW, "frame_interval",
     "0.0823 > 0.05"),
    (lt.mode_text("LAND_NOW", "frame_interval"), lt.EVENT_MODE, "LAND_NOW", "frame_interval"),
    (lt.mode_text("LANDED"), lt.EVENT_MODE, "LANDED", ""),
    (lt.mode_text("IDLE", "aligning, learning baselines"), lt.EVENT_MODE, "IDLE",
     "aligning, learning baselines"),
    (lt.crash_text("tilt 95 deg"), lt.EVENT_CRASH, "tilt 95 deg", ""),
    (lt.EVENT_TIME_LIMIT, lt.EVENT_TIME_LIMIT, "", ""),
])
def test_each_event_text_reads_back(text: str, kind: str, subject: str, detail: str) -> None:
    ev = lt.parse_event(text)
    assert (ev.kind, ev.subject, ev.detail) == (kind, subject, detail)


@pytest.mark.parametrize("text", ["", "LAND_NOW", "LAND_NOW: ", "LAND_NOW_X: a", "modes IDLE",
                                  "mode ", "CRASHED", "flight time limit reached soon",
                                  "operator stop: disarming now"])
def test_other_texts_are_no_event_the_tools_read(text: str) -> None:
    assert lt.parse_event(text).kind is None


# -- parameters, enumerations and the log's clock (ULog spec: names, unsigned stamps) --------
SPEC_NAME = r"[a-zA-Z0-9_\-/]+"


def test_every_config_value_is_a_parameter_named_within_the_spec() -> None:
    from app.boot import prepare
    from firmware.recorder import config_values, flatten

    cfg = prepare(None, None, 1).cfg
    params = flatten(cfg)
    paths = [path for path, _ in config_values(cfg)]
    assert len(params) == len(paths) > 100  # one name per value: the mapping is one-to-one
    for name in params:
        assert re.fullmatch(SPEC_NAME, name), name
        assert len(name) <= lt.PARAM_NAME_MAX
    # each name maps back to its key, and the key reads back the value
    for path, value in config_values(cfg):
        key = ".".join(p for p in path if isinstance(p, str))
        key += "".join(f"[{p}]" for p in path if isinstance(p, int))
        name = lt.param_name(path)
        assert lt.config_key(name) == key
        assert lt.param_value(params, key) == value
    assert params["loop/rate_hz"] == cfg.loop.rate_hz
    assert params["contingency/frame_interval/threshold"] == \
        cfg.contingency.frame_interval.threshold


@pytest.mark.parametrize("name,key", [
    ("loop/rate_hz", "loop.rate_hz"),
    ("vehicle/inertia_kgm2/2", "vehicle.inertia_kgm2[2]"),
    ("contingency/tilt/persistence", "contingency.tilt.persistence"),
    ("loop.rate_hz", "loop.rate_hz"),  # a log from before the spec's names
    ("MAV_TYPE", "MAV_TYPE"),
])
def test_parameter_names_map_back_to_config_keys(name: str, key: str) -> None:
    assert lt.config_key(name) == key


def test_param_value_reads_new_and_old_logs() -> None:
    assert lt.param_value({"loop/rate_hz": 500.0}, "loop.rate_hz") == 500.0
    assert lt.param_value({"loop.rate_hz": 400.0}, "loop.rate_hz") == 400.0
    assert lt.param_value({"vehicle/inertia_kgm2/1": 0.03}, "vehicle.inertia_kgm2[1]") == 0.03
    assert lt.param_value({}, "loop.rate_hz") is None


def test_a_key_that_makes_no_spec_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no ULog parameter name"):
        lt.param_name(("sim", "bad key"))
    with pytest.raises(ValueError, match="no ULog parameter name"):
        lt.param_name(("x" * 250,))


def test_the_encoder_refuses_names_outside_the_spec() -> None:
    w = ULogWriter(io.BytesIO(), 0)
    for bad in ("loop.rate_hz", "a b", "a:b", "é"):
        with pytest.raises(ULogFormatError, match="spec allows"):
            w.param(bad, 1)
        with pytest.raises(ULogFormatError, match="spec allows"):
            w.info(bad, 1)
    w.param("loop/rate_hz", 500.0)
    w.info("enum/vehicle_state/mode", "0:IDLE")
    with pytest.raises(ULogFormatError, match="spec allows"):  # fields: no '/' or '-'
        w.add_format("t", [("uint64_t", "timestamp"), ("float", "a/b")])
    w.add_format("t/u-v", [("uint64_t", "timestamp"), ("float", "a_b")])


def test_enumerations_are_the_codes_own_enums() -> None:
    enums = lt.enumerations()
    modes = lt.parse_enum(enums["enum/vehicle_state/mode"])
    assert modes == {int(m): m.name for m in Mode}
    assert modes[5] == "LAND_NOW"
    tripped = lt.parse_enum(enums["enum/contingency/tripped"])
    assert tripped == {-1: "none", **dict(enumerate(CHECK_SOURCES))}
    for key, text in enums.items():  # info names within the spec too
        assert re.fullmatch(SPEC_NAME, key), key
        ULogWriter.pack_info(key, text)


def test_log_clock_is_flight_time_and_never_negative() -> None:
    clock = lt.LogClock()
    assert clock.us(5_000_000_000) == 0  # before the flight's zero exists: 0, as mission time
    clock.start(1_002_000_999)
    assert clock.us(1_002_000_999) == 0
    assert clock.us(55_084_000_000) == 54_082_000
    # floor of each, then the difference: what the tools computed from old logs' stamps
    assert clock.us(55_084_000_500) == 55_084_000 - 1_002_000
    assert clock.us(1_001_000_000) == 0  # measured before the zero: clamped, not wrapped
