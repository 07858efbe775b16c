"""Damaged flight logs and bad command-line arguments never escape as a traceback.

``log info``, ``log csv``, ``log plot`` and ``replay`` either work or exit 2 with one line on
stderr naming the file and the problem, whatever the file holds: no ULog at all, a device,
a format without a timestamp, info values missing, of another type or out of range, topics
whose definition was lost, truncation anywhere, flipped bytes, spliced pieces. The damaged
logs are made from a real one (a nominal hover flown once per session) by editing its
messages; the ULog framing is walked here with a few lines of struct, independently of the
reader under test.
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.cli import _parser
from tests.cli_run import Run, run
from tests.conftest import ROOT, SCENARIOS

NOMINAL = SCENARIOS / "nominal_hover.toml"
HEADER = 16  # magic, version, start timestamp
INPUT_TOPICS = ("sensor_imu", "sensor_range", "camera_frame", "vision_flow", "cycle_inputs",
                "contingency")
# the info values replay builds the flight software from
REPLAY_INFO = ("imu_rate_hz", "camera_rate_hz", "camera_width", "camera_height",
               "camera_focal_px", "gravity", "config_json", "plan_json")


# -- the ULog framing, walked independently of the reader under test -------------------------
@dataclass
class Msg:
    kind: str  # one letter: 'F', 'I', 'A', 'D', ...
    payload: bytes

    @property
    def raw(self) -> bytes:
        return struct.pack("<HB", len(self.payload), ord(self.kind)) + self.payload

    def key(self) -> str:
        """What the message is about: an info key, a format or subscribed topic name (of a
        damaged message too, as far as it reads)."""
        p = self.payload
        if self.kind == "I" and p:
            return p[1 : 1 + p[0]].decode(errors="replace").split(" ")[-1]
        if self.kind == "F":
            return p.decode(errors="replace").split(":")[0]
        if self.kind == "A":
            return p[3:].decode(errors="replace")
        return ""


def split(buf: bytes) -> tuple[bytes, list[Msg], list[int]]:
    """Header, whole messages, and the offset of each message in ``buf``."""
    msgs: list[Msg] = []
    offsets: list[int] = []
    pos = HEADER
    while pos + 3 <= len(buf):
        size, kind = struct.unpack_from("<HB", buf, pos)
        if pos + 3 + size > len(buf):
            break
        offsets.append(pos)
        msgs.append(Msg(chr(kind), buf[pos + 3 : pos + 3 + size]))
        pos += 3 + size
    return buf[:HEADER], msgs, offsets


def join(header: bytes, msgs: list[Msg]) -> bytes:
    return header + b"".join(m.raw for m in msgs)


def msg_id(msgs: list[Msg], topic: str) -> int:
    a = next(m for m in msgs if m.kind == "A" and m.key() == topic)
    return int(struct.unpack_from("<H", a.payload, 1)[0])


def info_msg(key: str, type_str: str, raw: bytes) -> Msg:
    tk = f"{type_str} {key}".encode()
    return Msg("I", bytes((len(tk),)) + tk + raw)


def edit(buf: bytes, fn: Callable[[list[Msg]], list[Msg]]) -> bytes:
    header, msgs, _ = split(buf)
    return join(header, fn(msgs))


def drop(kind: str, key: str) -> Callable[[list[Msg]], list[Msg]]:
    def fn(msgs: list[Msg]) -> list[Msg]:
        out = [m for m in msgs if not (m.kind == kind and m.key() == key)]
        assert len(out) == len(msgs) - 1, (kind, key)
        return out
    return fn


def set_info(key: str, type_str: str, raw: bytes) -> Callable[[list[Msg]], list[Msg]]:
    def fn(msgs: list[Msg]) -> list[Msg]:
        out = [info_msg(key, type_str, raw) if m.kind == "I" and m.key() == key else m
               for m in msgs]
        assert out != msgs, key
        return out
    return fn


def retype_field(topic: str, old: str, new: str) -> Callable[[list[Msg]], list[Msg]]:
    """Change one field's declaration in a format (its records keep their old bytes)."""
    def fn(msgs: list[Msg]) -> list[Msg]:
        out = []
        for m in msgs:
            if m.kind == "F" and m.key() == topic:
                name, body = m.payload.decode().split(":", 1)
                items = body.split(";")
                assert old in items, (topic, old)
                items[items.index(old)] = new
                m = Msg("F", f"{name}:{';'.join(items)}".encode())
            out.append(m)
        return out
    return fn


def add_event(text: str) -> Callable[[list[Msg]], list[Msg]]:
    """A logged string (level INFO) after the definitions."""
    def fn(msgs: list[Msg]) -> list[Msg]:
        first_a = next(i for i, m in enumerate(msgs) if m.kind == "A")
        ev = Msg("L", struct.pack("<BQ", ord("6"), 1) + text.encode())
        return [*msgs[:first_a], ev, *msgs[first_a:]]
    return fn


def set_record_bytes(topic: str, offset: int, raw: bytes) -> Callable[[list[Msg]], list[Msg]]:
    """Overwrite bytes of the topic's first record (offset after the msg_id)."""
    def fn(msgs: list[Msg]) -> list[Msg]:
        mid = struct.pack("<H", msg_id(msgs, topic))
        i = next(i for i, m in enumerate(msgs) if m.kind == "D" and m.payload[:2] == mid)
        p = bytearray(msgs[i].payload)
        p[2 + offset : 2 + offset + len(raw)] = raw
        return [*msgs[:i], Msg("D", bytes(p)), *msgs[i + 1 :]]
    return fn


SIZES = {"int8_t": 1, "uint8_t": 1, "bool": 1, "char": 1, "int16_t": 2, "uint16_t": 2,
         "int32_t": 4, "uint32_t": 4, "float": 4, "int64_t": 8, "uint64_t": 8, "double": 8}


def field_offset(buf: bytes, topic: str, field: str) -> int:
    """Where ``field`` starts in a record of ``topic`` (basic types only, from its format)."""
    fmt = next(m for m in split(buf)[1] if m.kind == "F" and m.key() == topic)
    off = 0
    for item in fmt.payload.decode().split(":", 1)[1].split(";"):
        if not item:
            continue
        type_str, name = item.split(" ")
        if name == field:
            return off
        base, _, count = type_str.rstrip("]").partition("[")
        off += SIZES[base] * int(count or 1)
    raise KeyError(field)


# -- running the command line --------------------------------------------------------------
def assert_refused(r: Run, path: Path, needle: str = "") -> None:
    """Exit 2 and exactly one line, naming the file and (``needle``) the problem."""
    assert r.code == 2, r
    assert "Traceback" not in r.err
    assert len(r.err.splitlines()) == 1, r.err
    assert str(path) in r.err, r.err
    assert needle in r.err, r.err


def assert_ok_or_refused(r: Run, path: Path) -> None:
    if r.code != 0:
        assert_refused(r, path)


def commands(path: Path, out_dir: Path) -> dict[str, list[str | Path]]:
    return {"info": ["log", "info", path], "info-json": ["log", "info", "--json", path],
            "csv": ["log", "csv", "-o", out_dir, path], "replay": ["replay", path]}


# -- the logs --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def real_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real flight log: the nominal hover (25 s of flight, 8 MB), flown once."""
    path = tmp_path_factory.mktemp("bad_logs") / "hover.ulg"
    r = run("fly", "--quiet", "--scenario", NOMINAL, "--log", path)
    assert r.code == 0, r
    return path.read_bytes()


def cut_at_boundary(buf: bytes, at: int) -> int:
    """The offset of the first message boundary at or after ``at``."""
    _, _, offsets = split(buf)
    return next(o for o in offsets if o >= at)


@pytest.fixture(scope="session")
def short_log(real_log: bytes) -> bytes:
    """The real log made short enough to replay in milliseconds: its definitions and first
    0.4 s, then 0.4 s of the hover (vision at work), cut and joined at message boundaries."""
    head = cut_at_boundary(real_log, 140_000)
    mid = cut_at_boundary(real_log, len(real_log) // 2)
    end = cut_at_boundary(real_log, mid + 140_000)
    return real_log[:head] + real_log[mid:end]


@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for all examples of the property test (a function-scoped fixture would
    not be reset between them)."""
    return tmp_path_factory.mktemp("mutated")


@pytest.fixture
def write(tmp_path: Path) -> Callable[[bytes], Path]:
    def fn(data: bytes) -> Path:
        p = tmp_path / "damaged.ulg"
        p.write_bytes(data)
        return p
    return fn


# -- nothing is lost -------------------------------------------------------------------------
def test_the_undamaged_logs_work(real_log: bytes, short_log: bytes, tmp_path: Path) -> None:
    for name, data in (("real", real_log), ("short", short_log)):
        path = tmp_path / f"{name}.ulg"
        path.write_bytes(data)
        for cmd, argv in commands(path, tmp_path / f"{name}_csv").items():
            r = run(*argv)
            assert r.code == 0 and not r.err, (name, cmd, r)
        assert "the replay reproduces the logged outcome exactly" in run("replay", path).out


# -- not a log, not a file -------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["info", "info-json", "csv", "replay"])
def test_a_device_a_pipe_or_a_directory_is_refused_unread(cmd: str, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.ulg"
    os.mkfifo(fifo)  # nobody writes: reading it would wait forever
    for path, what in ((Path("/dev/zero"), "character device"), (fifo, "pipe"),
                       (tmp_path, "directory")):
        assert_refused(run(*commands(path, tmp_path / "csv")[cmd]), path, f"is a {what}")


@pytest.mark.parametrize("cmd", ["info", "csv", "replay"])
def test_a_log_too_large_to_read_is_refused_unread(cmd: str, tmp_path: Path,
                                                    real_log: bytes) -> None:
    path = tmp_path / "huge.ulg"
    with path.open("wb") as fh:
        fh.write(real_log[:HEADER])
        fh.truncate((1 << 30) + 1)  # sparse: nothing is written, nothing must be read
    assert_refused(run(*commands(path, tmp_path / "csv")[cmd]), path, "too large")


def test_a_bad_header_is_named(tmp_path: Path, real_log: bytes) -> None:
    path = tmp_path / "x.ulg"
    path.write_bytes(real_log[:10])
    assert_refused(run("log", "info", path), path, "too short for the 16-byte header")
    path.write_bytes(b"ULog\x01\x12\x36" + real_log[7:4096])
    assert_refused(run("log", "info", path), path, "bad magic")


# -- definitions -----------------------------------------------------------------------------
FORMAT_DAMAGE = [
    # (topic, field as logged, as damaged, problem named)
    ("vision_flow", "uint64_t timestamp", "uint64_t timestamq",
     "format 'vision_flow' is logged but has no uint64_t timestamp"),
    ("vision_flow", "uint64_t timestamp", "double timestamp",
     "format 'vision_flow' is logged but has no uint64_t timestamp"),
    ("setpoint", "float north", "nested north", "field 'north' has unknown type 'nested'"),
    ("setpoint", "float north", "setpoint north", "nested types setpoint > setpoint"),
    ("setpoint", "float north", "float[70000] north", "array size 70000 out of"),
    ("setpoint", "float north", "float[20000] north", "does not fit a message"),
    ("setpoint", "float north", "float east", "field 'east' defined twice"),
    ("setpoint", "float north", "float no rth", "bad field 'float no rth'"),
]


@pytest.mark.parametrize("cmd", ["info", "csv", "replay"])
@pytest.mark.parametrize("topic,old,new,needle", FORMAT_DAMAGE,
                         ids=[f"{c[0]}:{c[2]}" for c in FORMAT_DAMAGE])
def test_a_malformed_format_is_refused(cmd: str, topic: str, old: str, new: str, needle: str,
                                       short_log: bytes, write: Callable[[bytes], Path],
                                       tmp_path: Path) -> None:
    path = write(edit(short_log, retype_field(topic, old, new)))
    assert_refused(run(*commands(path, tmp_path / "csv")[cmd]), path, needle)


def test_a_format_name_that_is_a_path_stays_in_the_csv_directory(
        short_log: bytes, write: Callable[[bytes], Path], tmp_path: Path) -> None:
    def rename(msgs: list[Msg]) -> list[Msg]:
        out = []
        for m in msgs:
            if m.kind in "FA" and m.key() == "truth":
                m = Msg(m.kind, m.payload.replace(b"truth", b"../../truth"))
            out.append(m)
        return out
    path = write(edit(short_log, rename))
    out_dir = tmp_path / "a" / "b"
    r = run("log", "csv", "-o", out_dir, path)
    assert r.code == 0, r
    assert (out_dir / "..%2F..%2Ftruth.csv").is_file()
    assert not (tmp_path / "truth.csv").exists()


@pytest.mark.parametrize("topic", INPUT_TOPICS)
def test_a_lost_topic_definition_stops_replay_not_the_log_tools(
        topic: str, short_log: bytes, write: Callable[[bytes], Path], tmp_path: Path) -> None:
    path = write(edit(short_log, drop("F", topic)))
    assert_refused(run("replay", path), path, f"not a usable flightsw log: no {topic} format")
    r = run("log", "info", path)
    assert r.code == 0 and "undecodable messages" in r.out, r  # its records cannot be read
    assert run("log", "csv", "-o", tmp_path / "csv", path).code == 0


def test_a_lost_subscription_stops_replay(short_log: bytes, write: Callable[[bytes], Path]
                                          ) -> None:
    """The contingency records are there but cannot be read: the logged LAND_NOW is unknown
    (before: ``KeyError: no topic 'contingency'``)."""
    path = write(edit(short_log, drop("A", "contingency")))
    assert_refused(run("replay", path), path, "contingency: no records for")


# -- info values -----------------------------------------------------------------------------
@pytest.mark.parametrize("key", REPLAY_INFO)
def test_a_missing_info_value_stops_replay(key: str, short_log: bytes,
                                           write: Callable[[bytes], Path]) -> None:
    """(before: ``KeyError: 'gravity'``, ``'camera_focal_px'``...)"""
    path = write(edit(short_log, drop("I", key)))
    assert_refused(run("replay", path), path, f"not a usable flightsw log: info {key}: missing")


def _d(x: float) -> bytes:
    return struct.pack("<d", x)


def _i(x: int) -> bytes:
    return struct.pack("<i", x)


INFO_DAMAGE = [
    # an unknown type: the reader keeps the raw bytes (before: int(b'\xa0...') ValueError)
    ("camera_width", "jnt32_t", _i(160), "info camera_width: expected an integer (got b'\\xa0"),
    ("camera_width", "char[4]", b"wide", "info camera_width: expected an integer (got 'wide')"),
    ("camera_width", "double", _d(160.0), "info camera_width: expected an integer (got 160.0)"),
    ("gravity", "char[4]", b"mars", "info gravity: expected a number (got 'mars')"),
    ("gravity", "bool", b"\x01", "info gravity: expected a number (got true)"),
    ("gravity", "float[2]", struct.pack("<2f", 3.71, 3.71), "info gravity: expected a number"),
    # out of range (before: a 60 GiB MemoryError, or "bad camera geometry" from vision)
    ("camera_width", "int32_t", _i(200_000), "info camera_width: must be in 8..4096"),
    ("camera_height", "int64_t", struct.pack("<q", 2**40), "info camera_height: must be in"),
    ("camera_height", "int32_t", _i(1), "info camera_height: must be in 8..4096"),
    ("camera_focal_px", "double", _d(-500.0), "info camera_focal_px: must be in"),
    ("camera_focal_px", "double", _d(0.0), "info camera_focal_px: must be in"),
    ("camera_focal_px", "double", _d(math.nan), "info camera_focal_px: must be in 1..100000 "
                                                "(got nan)"),
    ("camera_rate_hz", "double", _d(math.inf), "info camera_rate_hz: must be in"),
    ("camera_rate_hz", "double", _d(0.0), "info camera_rate_hz: must be in"),
    ("imu_rate_hz", "double", _d(1e300), "info imu_rate_hz: must be in"),
    ("imu_rate_hz", "double", _d(-math.inf), "info imu_rate_hz: must be in"),
    ("gravity", "double", _d(0.0), "info gravity: must be in"),
    ("gravity", "double", _d(5e-324), "info gravity: must be in"),
    # the logged configuration and plan
    ("config_json", "int32_t", _i(7), "info config_json: expected JSON text (got 7)"),
    ("config_json", "char[5]", b"{nope", "info config_json: not JSON"),
    ("config_json", "char[6000]", b"[" * 6000, "info config_json: not JSON"),
    ("config_json", "char[2]", b"[]", "info config_json: expected a JSON object"),
    ("config_json", "char[31]", b'{"loop": {"rate_hz": Infinity}}',
     "info config_json: loop.rate_hz: must be a finite number"),
    ("config_json", "char[23]", b'{"loop": {"rate_hz": 0}}',
     "info config_json: loop.rate_hz: must be >= 10"),
    ("plan_json", "char[2]", b"{}", "info plan_json: name: missing required key"),
]


@pytest.mark.parametrize("key,type_str,raw,needle", INFO_DAMAGE,
                         ids=[f"{c[0]}:{c[1]}" for c in INFO_DAMAGE])
def test_a_bad_info_value_stops_replay_with_its_name(
        key: str, type_str: str, raw: bytes, needle: str, short_log: bytes,
        write: Callable[[bytes], Path], tmp_path: Path) -> None:
    path = write(edit(short_log, set_info(key, type_str, raw)))
    assert_refused(run("replay", path), path, f"not a usable flightsw log: {needle}")
    for cmd in ("info", "info-json", "csv"):  # the log tools need none of them
        r = run(*commands(path, tmp_path / "csv")[cmd])
        assert r.code == 0 and not r.err, (cmd, r)


def test_info_of_an_unknown_type_is_shown_in_hex(short_log: bytes,
                                                 write: Callable[[bytes], Path]) -> None:
    """(before: ``log info --json`` raised TypeError: bytes are not JSON serializable)"""
    path = write(edit(short_log, set_info("seed", "jnt32_t", _i(1))))
    r = run("log", "info", "--json", path)
    assert r.code == 0 and '"seed": "01000000"' in r.out, r


# -- records ---------------------------------------------------------------------------------
def logged_checks(buf: bytes) -> list[str]:
    """The check names in the order the log's contingency format gives them."""
    fmt = next(m for m in split(buf)[1] if m.kind == "F" and m.key() == "contingency")
    fields = [item.split(" ")[1] for item in fmt.payload.decode().split(";") if item]
    assert fields[:2] == ["timestamp", "tripped"]  # then each check's value, then its fails
    return [f for f in fields[2:] if not f.endswith("_fails")]


def test_a_tripped_index_out_of_range_stops_replay(short_log: bytes,
                                                   write: Callable[[bytes], Path]) -> None:
    """(before: ``IndexError`` from ``CHECKS[k]``)"""
    tripped_at = field_offset(short_log, "contingency", "tripped")
    path = write(edit(short_log, set_record_bytes("contingency", tripped_at, bytes([100]))))
    n = len(logged_checks(short_log))
    assert_refused(run("replay", path), path, "contingency.tripped: check index 100 out of "
                                              f"range (the log names {n} checks)")
    r = run("log", "info", path)  # a trip the log names no check for is shown by number
    assert r.code == 0 and "LAND_NOW   check #100 at" in r.out, r


def test_a_logged_trip_is_named_from_the_logs_own_check_list(
        short_log: bytes, write: Callable[[bytes], Path]) -> None:
    tripped_at = field_offset(short_log, "contingency", "tripped")
    path = write(edit(short_log, set_record_bytes("contingency", tripped_at, bytes([2]))))
    r = run("replay", path)
    third = logged_checks(short_log)[2]
    assert r.code == 0 and f"logged:   LAND_NOW '{third}' at cycle 0" in r.out, r


@pytest.mark.parametrize("field,index,value,refused", [
    ("gyro_rps", 1, 5e305, True),  # navigation would normalise a quaternion of length 0
    ("gyro_rps", 0, -math.inf, True),
    ("accel_mps2", 2, math.inf, True),
    ("accel_mps2", 0, 2e4, True),
    ("gyro_rps", 2, math.nan, False),  # what an IMU fault delivers in flight: replayed
    ("accel_mps2", 1, -900.0, False),  # past an MPU-6050's full scale: the simulated IMU
])
def test_imu_values_no_sensor_delivers_stop_replay(
        field: str, index: int, value: float, refused: bool, short_log: bytes,
        write: Callable[[bytes], Path]) -> None:
    """(before: ``ZeroDivisionError`` in navigation, found by the property test below)"""
    at = field_offset(short_log, "sensor_imu", field) + 8 * index
    path = write(edit(short_log, set_record_bytes("sensor_imu", at, _d(value))))
    r = run("replay", path)
    if refused:
        assert_refused(r, path, f"not a usable flightsw log: sensor_imu.{field}: record 0 "
                                "holds [")
        assert "beyond any sensor (|x| <= 10000)" in r.err
    else:
        assert r.code == 0, r


RECORD_FIELD_DAMAGE = [
    # (topic, field as logged, as damaged to a field of the same size, problem named): replay,
    # then log info
    ("contingency", "int8_t tripped", "int8_t[1] tripped",
     "contingency.tripped: int8[1], expected one", "contingency.tripped: int8[1]"),
    ("contingency", "int8_t tripped", "char tripped",
     "contingency.tripped: |S1, expected one signed integer per record",
     "contingency.tripped: |S1, expected one integer per record"),
    ("vehicle_state", "uint8_t mode", "uint8_t[1] mode", None,
     "vehicle_state.mode: uint8[1], expected one integer per record"),
    ("vehicle_state", "uint8_t mode", "char mode", None,
     "vehicle_state.mode: |S1, expected one integer per record"),
    ("sensor_imu", "double[3] accel_mps2", "float[6] accel_mps2",
     "sensor_imu.accel_mps2: float32[6], expected 3 numbers per record", None),
    ("sensor_imu", "uint32_t seq", "float seq",
     "sensor_imu.seq: float32, expected one integer per record", None),
    ("cycle_inputs", "uint32_t cycle", "uint32_t cycel",
     "cycle_inputs: no field 'cycle'", None),
]


@pytest.mark.parametrize("topic,old,new,replay_needle,info_needle", RECORD_FIELD_DAMAGE,
                         ids=[f"{c[0]}:{c[2]}" for c in RECORD_FIELD_DAMAGE])
def test_a_field_of_another_type_is_named(
        topic: str, old: str, new: str, replay_needle: str | None, info_needle: str | None,
        short_log: bytes, write: Callable[[bytes], Path], tmp_path: Path) -> None:
    """(before: TypeError or IndexError deep in replay and log info)"""
    path = write(edit(short_log, retype_field(topic, old, new)))
    r = run("replay", path)
    if replay_needle is None:
        assert r.code == 0, r
    else:
        assert_refused(r, path, f"not a usable flightsw log: {replay_needle}")
    for cmd in ("info", "info-json"):
        r = run(*commands(path, tmp_path)[cmd])
        if info_needle is None:
            assert r.code == 0, r
        else:
            assert_refused(r, path, info_needle)
    assert run("log", "csv", "-o", tmp_path / "csv", path).code == 0  # csv takes any field


@pytest.mark.parametrize("new", ["float tripped", "int8_t[2] tripped"])
def test_records_that_no_longer_fit_their_format_are_counted_not_read(
        new: str, short_log: bytes, write: Callable[[bytes], Path], tmp_path: Path) -> None:
    """A format whose records are of another size: pyulog skips them, the tools say so."""
    path = write(edit(short_log, retype_field("contingency", "int8_t tripped", new)))
    assert_refused(run("replay", path), path, "contingency: no records for")
    r = run("log", "info", path)
    assert r.code == 0 and "undecodable messages" in r.out, r
    topics = [line.split()[0] for line in r.out.split("\ntopics", 1)[1].split("\nevents")[0]
              .splitlines()[1:]]
    assert "contingency_thresholds" in topics and "contingency" not in topics


# -- truncation --------------------------------------------------------------------------------
def test_truncation_at_every_message_boundary_of_the_first_4k(
        short_log: bytes, tmp_path: Path) -> None:
    """A log cut in its definitions still shows what it has; replay names what is missing."""
    _, _, offsets = split(short_log)
    cuts = [o for o in offsets if o <= 4096]
    cuts += [cuts[-1] + 1, *range(HEADER)]  # inside a message; inside the header
    path = tmp_path / "cut.ulg"
    for cut in cuts:
        path.write_bytes(short_log[:cut])
        for cmd, argv in commands(path, tmp_path / "csv").items():
            r = run(*argv)
            if cmd == "replay" or cut < HEADER:
                assert_refused(r, path)
            else:
                assert r.code == 0, (cut, cmd, r)


# -- the plot ----------------------------------------------------------------------------------
PLOT_DAMAGE = [
    # (what, damage, problem named; None: the plot is drawn)
    ("a '$' in an event (mathtext)", add_event("cost $x^{$ and $\\frac$"), None),
    ("a '$' in the title", set_info("scenario", "char[7]", b"$\\frac$"), None),
    ("position as text", retype_field("vehicle_state", "double[3] position", "char[24] position"),
     "vehicle_state.position: |S24, expected an array of 3 numbers per record"),
    ("truth position as integers",
     retype_field("truth", "double[3] position", "int64_t[3] position"),
     None),  # integers are numbers
    ("truth position as text", retype_field("truth", "double[3] position", "char[24] position"),
     "truth.position: |S24, expected an array of 3 numbers"),
    ("latency as text", retype_field("camera_frame", "double latency_s", "char[8] latency_s"),
     "camera_frame.latency_s: |S8, expected one number per record"),
    ("no latency", retype_field("camera_frame", "double latency_s", "double latency_x"), None),
    ("a NaN camera rate", set_info("camera_rate_hz", "double", _d(math.nan)), None),
    ("a plan nested too deep", set_info("plan_json", "char[4000]", b"[" * 4000), None),
]


@pytest.mark.parametrize("name,damage,needle", PLOT_DAMAGE, ids=[c[0] for c in PLOT_DAMAGE])
def test_log_plot_of_a_damaged_log(name: str, damage: Callable[[list[Msg]], list[Msg]],
                                   needle: str | None, short_log: bytes,
                                   write: Callable[[bytes], Path], tmp_path: Path) -> None:
    """(before: a mathtext ValueError, IndexError, KeyError or RecursionError)"""
    pytest.importorskip("matplotlib")
    path = write(edit(short_log, damage))
    png = tmp_path / "plot.png"
    r = run("log", "plot", "-o", png, path)
    if needle is None:
        assert r.code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", r
    else:
        assert_refused(r, path, needle)


# -- command-line arguments --------------------------------------------------------------------
BAD_ARGS = [
    (["fly", "--seed", "-1"], "argument --seed: must be 0 .. 4294967295 (got -1)"),
    (["fly", "--seed", str(2**32)], "argument --seed: must be 0 .. 4294967295"),
    (["fly", "--seed", "1e3"], "argument --seed: not an integer: '1e3'"),
    (["fly", "--seed", "9" * 5000], "argument --seed: not an integer"),
    (["preflight", "--seconds", "nan"], "argument --seconds: must be a duration 0 < s <= 3600"),
    (["preflight", "--seconds", "1e300"], "argument --seconds: must be a duration"),
    (["preflight", "--seconds", "inf"], "argument --seconds: must be a duration"),
    (["preflight", "--seconds", "0"], "argument --seconds: must be a duration"),
    (["preflight", "--seconds", "-3"], "argument --seconds: must be a duration"),
    (["preflight", "--seconds", "3600.5"], "argument --seconds: must be a duration"),
    (["preflight", "--seconds", "soon"], "argument --seconds: not a number: 'soon'"),
    (["bench", "i2c", "--seconds", "nan"], "argument --seconds: must be a duration"),
    (["bench", "camera", "--seconds=-inf"], "argument --seconds: must be a duration"),
]


@pytest.mark.parametrize("argv,needle", BAD_ARGS, ids=[" ".join(a)[:40] for a, _ in BAD_ARGS])
def test_a_bad_argument_is_a_usage_error(argv: list[str], needle: str) -> None:
    """argparse's usage line and one error line; exit 2, before anything runs."""
    r = run(*argv)
    assert r.code == 2 and "Traceback" not in r.err, r
    assert r.err.splitlines()[0].startswith("usage: flightsw")
    assert needle in r.err.splitlines()[-1], r.err


@pytest.mark.parametrize("argv,attr,value", [
    (["fly", "--seed", "0"], "seed", 0),
    (["fly", "--seed", str(2**32 - 1)], "seed", 2**32 - 1),
    (["preflight", "--seconds", "3600"], "seconds", 3600.0),
    (["bench", "i2c", "--seconds", "0.001"], "seconds", 0.001),
])
def test_the_argument_limits_are_accepted(argv: list[str], attr: str, value: float) -> None:
    assert getattr(_parser().parse_args(argv), attr) == value


# -- property: whatever the damage, one line or success -------------------------------------------
# A mutation: (operation, anchor, offset, value). The anchor names a message of the log as
# it is when the mutation applies ("I:gravity": the payload of the info message 'gravity';
# "D:contingency": the first record of that topic, at its msg_id); "" is the file's start.
# The offset counts from there, wrapping round the rest of the file. xor: flip bits of one
# byte; cut: truncate; drop: delete ``value`` bytes; splice: insert the ``value`` bytes that
# follow again (a repeated piece, as a bad copy makes).
Mutation = tuple[str, str, int, int]


def _anchor(buf: bytes, anchor: str) -> int | None:
    if not anchor:
        return 0
    kind, _, key = anchor.partition(":")
    _, msgs, offsets = split(buf)
    if kind == "D":
        try:
            mid = struct.pack("<H", msg_id(msgs, key))
        except StopIteration:
            return None
        found = [o for m, o in zip(msgs, offsets, strict=True)
                 if m.kind == "D" and m.payload[:2] == mid]
    else:
        found = [o for m, o in zip(msgs, offsets, strict=True)
                 if m.kind == kind and m.key() == key]
    return found[0] + 3 if found else None


def mutate(base: bytes, mutations: list[Mutation]) -> bytes:
    buf = bytearray(base)
    for op, anchor, offset, value in mutations:
        at = _anchor(bytes(buf), anchor)
        if at is None or at >= len(buf):
            continue
        pos = at + offset % (len(buf) - at)
        if op == "xor":
            buf[pos] ^= value or 1
        elif op == "cut":
            del buf[pos:]
        elif op == "drop":
            del buf[pos : pos + value]
        else:
            buf[pos:pos] = buf[pos : pos + value]
    return bytes(buf)


# Offsets in an info message's payload (a length byte, "type key", the value).
def _key_end(type_key: str) -> int:
    """Of the key's last letter."""
    return len(type_key)


def _value(type_key: str) -> int:
    """Of the value's first byte."""
    return 1 + len(type_key)


# Hypothesis favours small offsets: anchors spread them over the parts of the log, the data
# (each input topic's records; vision flow only in the hover) more than the definitions
# (where most damage ends in a refusal before anything is decoded).
anchors = st.sampled_from(["D:cycle_inputs", "D:sensor_imu", "D:camera_frame", "D:vision_flow",
                           "D:contingency", "A:sensor_imu", "F:sensor_imu", "I:config_json",
                           ""])
offsets = st.integers(0, 2**32 - 1)
mutations = st.lists(st.one_of(
    st.tuples(st.just("xor"), anchors, offsets, st.integers(1, 255)),
    st.tuples(st.just("cut"), anchors, offsets, st.just(0)),
    st.tuples(st.just("drop"), anchors, offsets, st.integers(1, 400)),
    st.tuples(st.just("splice"), anchors, offsets, st.integers(1, 400)),
), min_size=1, max_size=3)


# Each crash class found by mutating a real log, as it was reported, and what this test found.
CRASHES: list[tuple[str, list[Mutation]]] = [
    ("KeyError 'gravity'", [("xor", "I:gravity", _key_end("double gravity"), 0x01)]),
    ("KeyError 'camera_focal_px'",
     [("xor", "I:camera_focal_px", _key_end("double camera_focal_px"), 0x01)]),
    ("int(b'\\xa0...'): 'int32_t camera_width' made 'jnt32_t'",
     [("xor", "I:camera_width", 1, 0x03)]),
    ("KeyError: no topic 'contingency'", [("xor", "A:contingency", 3, 0x01)]),
    ("tripped 127: IndexError from CHECKS[k]", [("xor", "D:contingency", 2 + 8, 0x80)]),
    ("MemoryError: a camera of 1048736 x 1048696",
     [("xor", "I:camera_width", _value("int32_t camera_width") + 2, 0x10),
      ("xor", "I:camera_height", _value("int32_t camera_height") + 2, 0x10)]),
    ("ValueError: bad camera geometry (a negative focal length)",
     [("xor", "I:camera_focal_px", _value("double camera_focal_px") + 7, 0x80)]),
    ("ValueError: no field of name timestamp (log info)",
     [("xor", "F:vision_flow", len("vision_flow:uint64_t "), 0x01)]),
    ("TypeError: bytes are not JSON serializable (log info --json)",
     [("xor", "I:seed", 1, 0x03)]),
    ("a cut inside the logged configuration", [("cut", "I:config_json", 100, 0)]),
    # found here: gyro_rps[1] of the first record made 5e305 rad/s (the top byte: after the
    # msg_id, 56 bytes of fields and gyro_rps[0]): ZeroDivisionError in navigation
    ("ZeroDivisionError in nav.propagate", [("xor", "D:sensor_imu", 2 + 56 + 8 + 7, 0x40)]),
]


def with_crash_examples(test: Callable[..., None]) -> Callable[..., None]:
    for _, muts in reversed(CRASHES):
        test = example(muts)(test)
    return test


@pytest.mark.property
@given(mutations)
@with_crash_examples
def test_damaged_logs_never_escape_as_a_traceback(
        short_log: bytes, scratch: Path, mutations: list[Mutation]) -> None:
    path = scratch / "damaged.ulg"
    path.write_bytes(mutate(short_log, mutations))
    for argv in commands(path, scratch / "csv").values():
        assert_ok_or_refused(run(*argv), path)


@pytest.mark.parametrize("name,muts", CRASHES, ids=[c[0][:40] for c in CRASHES])
def test_each_crash_example_damages_the_log(name: str, muts: list[Mutation],
                                            short_log: bytes) -> None:
    """Its anchor is still there, so the example is no no-op (a renamed info key would
    make it one)."""
    for _, anchor, _, _ in muts:
        assert _anchor(short_log, anchor) is not None, anchor
    assert mutate(short_log, muts) != short_log


HANG_LOG = Path(__file__).parent / "data" / "pyulog_hang.ulg"


@pytest.mark.parametrize("command", ["info", "info-json", "csv", "replay"])
def test_a_log_that_sent_pyulog_into_an_endless_loop_is_refused(command: str,
                                                               tmp_path: Path) -> None:
    """Found by the property test above: a mutated log with a message of type 0 among its
    definitions kept pyulog 1.3.0 reading its definitions forever (`log info` never
    returned). Run in a child process with a time limit, so a regression fails, not hangs."""
    argv = commands(HANG_LOG, tmp_path / "csv")[command]
    child = subprocess.run([sys.executable, "-m", "app", *map(str, argv)], capture_output=True,
                           text=True, timeout=60, cwd=ROOT)
    assert child.returncode == 2, child
    assert "Traceback" not in child.stderr
    assert len(child.stderr.strip().splitlines()) == 1, child.stderr
    assert str(HANG_LOG) in child.stderr and "unknown type" in child.stderr
