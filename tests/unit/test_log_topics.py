"""The log schema (firmware.log_topics): topics, fields and the event texts the tools read."""

from __future__ import annotations

import pytest

from firmware import log_topics as lt
from firmware.contingency import CHECK_SOURCES
from firmware.ulog_encoder import validate_format


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
