"""ground.ulog_lint: what the ground tools refuse or report before pyulog reads a log."""

from __future__ import annotations

import struct

import pytest

from firmware.ulog_encoder import MAGIC
from ground.logfile import LogFileError, parse_log
from ground.ulog_lint import ULogLintError, walk

HEADER = MAGIC + b"\x01" + struct.pack("<Q", 0)
FLAGS = struct.pack("<HB", 40, ord("B")) + bytes(40)


def msg(kind: str, payload: bytes) -> bytes:
    return struct.pack("<HB", len(payload), ord(kind)) + payload


def fmt(text: str) -> bytes:
    return msg("F", text.encode())


def add(msg_id: int, name: str) -> bytes:
    return msg("A", struct.pack("<BH", 0, msg_id) + name.encode())


def rec(msg_id: int, ts: int, v: float) -> bytes:
    return msg("D", struct.pack("<HQf", msg_id, ts, v))


def log_of(*parts: bytes) -> bytes:
    return HEADER + FLAGS + b"".join(parts)


GOOD = (fmt("t:uint64_t timestamp;float v;"), add(0, "t"), rec(0, 1, 1.0), rec(0, 2, 2.0))


def test_a_whole_log_is_complete_and_clean() -> None:
    f = walk(log_of(*GOOD))
    assert not f.truncated and f.bad_messages == 0
    assert [d.name for d in f.formats["t"]] == ["timestamp", "v"]
    d = parse_log(log_of(*GOOD))
    assert d.topic("t").data["v"].tolist() == [1.0, 2.0]


def test_a_cut_inside_the_last_message_is_reported_and_the_rest_read() -> None:
    buf = log_of(*GOOD)
    for cut in range(1, len(GOOD[-1])):
        f = walk(buf[:-cut])
        assert f.truncated, cut
    d = parse_log(buf[:-3])
    assert d.truncated and d.topic("t").data["v"].tolist() == [1.0]


def test_records_of_no_subscription_are_counted() -> None:
    buf = log_of(*GOOD, rec(5, 3, 3.0), add(1, "nope"), rec(1, 4, 4.0))
    assert walk(buf).bad_messages == 3  # the record of id 5, the subscription, its record


@pytest.mark.parametrize("text,needle", [
    ("t:uint64_t timestamp;float no rth;", "bad field 'float no rth'"),
    ("t:uint64_t timestamp; float v;", "bad field ' float v'"),  # pyulog would misread it
    ("t:uint64_t timestamp;float[0] v;", "array size 0 out of"),
    ("t:uint64_t timestamp;float v;int8_t v;", "field 'v' defined twice"),
    ("t uint64_t timestamp;", "bad format name"),
    ("t:;", "format 't' has no fields"),
])
def test_a_malformed_format_is_refused_by_name(text: str, needle: str) -> None:
    with pytest.raises(ULogLintError, match=needle.replace("[", r"\[")):
        walk(log_of(fmt(text)))


@pytest.mark.parametrize("formats,needle", [
    (["t:uint64_t timestamp;t inner;"], "nested types t > t loop"),
    (["t:uint64_t timestamp;u inner;", "u:t back;"], "nested types t > u > t loop"),
    (["t:uint64_t timestamp;thing x;"], "field 'x' has unknown type 'thing'"),
    (["t:uint32_t timestamp;float v;"], "format 't' is logged but has no uint64_t timestamp"),
    (["t:uint64_t timestamp;double[9000] v;"], "does not fit a message"),
])
def test_a_logged_topic_whose_format_cannot_be_read_is_refused(formats: list[str],
                                                               needle: str) -> None:
    unlogged = log_of(*(fmt(t) for t in formats))
    assert walk(unlogged).formats  # declared but not logged: nothing to read wrongly
    with pytest.raises(LogFileError, match=needle):
        parse_log(log_of(*(fmt(t) for t in formats), add(0, "t")))


def test_a_message_of_unknown_type_among_the_definitions_is_refused() -> None:
    # pyulog seeks back and forth over such a message (see tests/closed_loop/test_bad_logs.py)
    with pytest.raises(ULogLintError, match="unknown type 0"):
        walk(log_of(fmt("t:uint64_t timestamp;float v;"), msg("\0", b"\x01\x02"), *GOOD[1:]))
    assert not walk(log_of(*GOOD)).truncated  # the known ones pass
