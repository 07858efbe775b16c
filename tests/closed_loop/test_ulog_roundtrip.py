"""ULog writer and reader: files we write open in pyulog and in our reader with equal contents."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyulog import ULog

from firmware.ulog_encoder import INFO, MAGIC, WARNING, ULogFormatError, ULogWriter
from firmware.ulog_writer import AsyncLogWriter
from ground.logfile import LogFileError, parse_log, read_log

STATE = [("uint64_t", "timestamp")] + [("float", f"x{i}") for i in range(3)] + [
    ("double", "lat"),
    ("int32_t", "mode"),
    ("bool", "armed"),
    ("uint8_t[3]", "_padding0"),  # middle padding: bytes in the record, no value expected
    ("int16_t", "count"),
]
IMU = [
    ("uint64_t", "timestamp"),
    ("float[3]", "accel"),
    ("float[3]", "gyro"),
    ("uint8_t", "seq"),
    ("int64_t", "device_t_ns"),
    ("uint8_t[7]", "_padding0"),  # trailing padding: PX4 leaves it out of 'D' messages
]
FRAME = [
    ("uint64_t", "timestamp"),
    ("uint32_t", "seq"),
    ("char[10]", "label"),
    ("uint16_t[4]", "roi"),
    ("int8_t", "quality"),
    ("uint64_t", "t_rx_us"),
]


def state_rec(k: int) -> tuple[Any, ...]:
    return (1000 * k, 0.5 * k, -1.25 * k, 3.0, 47.1234567891 + k, k % 5, k % 2 == 0, -k)


def imu_rec(k: int) -> tuple[Any, ...]:
    return (
        500 * k + 3,
        (0.1 * k, -9.81, 1.5),
        (0.01, 0.02 * k, -0.03),
        k % 256,
        -(10**12) + k,
    )


def frame_rec(k: int) -> tuple[Any, ...]:
    return (33_333 * k, k, f"frame{k}", (k, k + 1, 640, 480), -k % 100, 33_333 * k + 5000)


N_STATE, N_IMU, N_FRAME = 50, 100, 7
INFOS: dict[str, Any] = {"sys_name": "flightsw", "ver_sw": "0.1.0", "boot_count": 7,
                         "big": 2**40, "scale": 0.1}
PARAMS: dict[str, int | float] = {"LOOP_HZ": 500, "KP_ROLL": 6.5, "NEG": -3}


def define(w: ULogWriter | AsyncLogWriter) -> tuple[int, int, int, int]:
    w.add_format("state", STATE)
    w.add_format("imu", IMU)
    w.add_format("frame", FRAME)
    for k, v in INFOS.items():
        w.info(k, v)
    for k2, p in PARAMS.items():
        w.param(k2, p)
    w.end_definitions()
    return w.add_logged("state"), w.add_logged("imu"), w.add_logged("imu", 1), w.add_logged(
        "frame"
    )


def write_all(w: ULogWriter | AsyncLogWriter) -> None:
    sid, iid, iid1, fid = define(w)
    for k in range(N_IMU):
        w.data(iid, imu_rec(k))
        if k % 10 == 0:
            w.data(iid1, imu_rec(k + 1000))
        if k % 2 == 0:
            w.data(sid, state_rec(k // 2))
        if k % 15 == 0:
            w.data(fid, frame_rec(k // 15))
    w.log_string(INFO, 1234, "takeoff")
    w.log_string(WARNING, 5678, "vision lost: ünïcode ok")


def check_pyulog(path: Path) -> None:
    u = ULog(str(path))
    assert not u.file_corruption
    names = sorted((d.name, d.multi_id) for d in u.data_list)
    assert names == [("frame", 0), ("imu", 0), ("imu", 1), ("state", 0)]
    st = u.get_dataset("state").data
    assert len(st["timestamp"]) == N_STATE
    exp = [state_rec(k) for k in range(N_STATE)]
    np.testing.assert_array_equal(st["timestamp"], [e[0] for e in exp])
    np.testing.assert_allclose(st["x1"], [e[2] for e in exp], rtol=1e-6)
    np.testing.assert_array_equal(st["lat"], [e[4] for e in exp])  # double: exact
    np.testing.assert_array_equal(st["armed"], [int(e[6]) for e in exp])
    np.testing.assert_array_equal(st["count"], [e[7] for e in exp])
    imu = u.get_dataset("imu").data
    assert len(imu["timestamp"]) == N_IMU
    np.testing.assert_allclose(imu["accel[0]"], [0.1 * k for k in range(N_IMU)], rtol=1e-6)
    np.testing.assert_allclose(imu["gyro[1]"], [0.02 * k for k in range(N_IMU)], rtol=1e-6)
    np.testing.assert_array_equal(imu["device_t_ns"], [-(10**12) + k for k in range(N_IMU)])
    imu1 = u.get_dataset("imu", 1).data
    assert len(imu1["timestamp"]) == N_IMU // 10
    fr = u.get_dataset("frame").data
    assert len(fr["timestamp"]) == N_FRAME
    label3 = bytes(int(fr[f"label[{i}]"][3]) for i in range(10)).rstrip(b"\0")
    assert label3 == b"frame3"
    np.testing.assert_array_equal(fr["roi[2]"], [640] * N_FRAME)
    np.testing.assert_array_equal(fr["quality"], [-k % 100 for k in range(N_FRAME)])
    assert u.msg_info_dict["sys_name"] == "flightsw"
    assert u.msg_info_dict["big"] == 2**40
    assert u.msg_info_dict["scale"] == 0.1
    assert u.initial_parameters["LOOP_HZ"] == 500
    assert u.initial_parameters["KP_ROLL"] == pytest.approx(6.5)
    msgs = [(m.log_level_str(), m.timestamp, m.message) for m in u.logged_messages]
    assert msgs == [("INFO", 1234, "takeoff"), ("WARNING", 5678, "vision lost: ünïcode ok")]


def check_reader(path: Path) -> None:
    """The ground tools' reading (pyulog's columns regrouped by declared field)."""
    d = read_log(path)
    assert not d.truncated and d.bad_messages == 0
    assert set(d.topics) == {("state", 0), ("imu", 0), ("imu", 1), ("frame", 0)}
    st = d.topic("state").data
    assert len(st) == N_STATE
    exp = [state_rec(k) for k in range(N_STATE)]
    np.testing.assert_array_equal(st["timestamp"], [e[0] for e in exp])
    np.testing.assert_array_equal(st["x0"], np.array([e[1] for e in exp], dtype=np.float32))
    np.testing.assert_array_equal(st["lat"], [e[4] for e in exp])
    np.testing.assert_array_equal(st["mode"], [e[5] for e in exp])
    np.testing.assert_array_equal(st["armed"], [e[6] for e in exp])
    np.testing.assert_array_equal(st["count"], [e[7] for e in exp])
    assert "_padding0" not in (st.dtype.names or ())
    imu = d.topic("imu").data
    assert len(imu) == N_IMU
    np.testing.assert_array_equal(
        imu["accel"], np.array([imu_rec(k)[1] for k in range(N_IMU)], dtype=np.float32)
    )
    np.testing.assert_array_equal(imu["seq"], [k % 256 for k in range(N_IMU)])
    imu1 = d.topic("imu", 1)
    np.testing.assert_array_equal(
        imu1.timestamps_us, [imu_rec(k + 1000)[0] for k in range(0, N_IMU, 10)]
    )
    fr = d.topic("frame").data
    assert list(fr["label"]) == [f"frame{k}".encode() for k in range(N_FRAME)]
    np.testing.assert_array_equal(fr["roi"][:, 3], [480] * N_FRAME)
    np.testing.assert_array_equal(fr["t_rx_us"], [33_333 * k + 5000 for k in range(N_FRAME)])
    assert d.info == INFOS
    assert d.params["LOOP_HZ"] == 500 and d.params["NEG"] == -3
    assert d.params["KP_ROLL"] == pytest.approx(6.5)
    assert [(s.level, s.timestamp_us, s.text) for s in d.strings] == [
        (INFO, 1234, "takeoff"),
        (WARNING, 5678, "vision lost: ünïcode ok"),
    ]
    # Flat columns use pyulog's names, so tools can switch readers.
    cols = d.topic("imu").columns()
    assert list(cols)[:4] == ["timestamp", "accel[0]", "accel[1]", "accel[2]"]
    u = ULog(str(path))
    for name, col in u.get_dataset("imu").data.items():
        np.testing.assert_array_equal(cols[name], col, err_msg=name)


def test_sync_writer_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "sync.ulg"
    with path.open("wb") as f:
        write_all(ULogWriter(f, start_us=42))
    check_pyulog(path)
    check_reader(path)
    assert read_log(path).start_us == 42


def test_async_writer_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "async.ulg"
    w = AsyncLogWriter(path, start_us=0)
    write_all(w)
    w.close()
    s = w.stats
    assert s.records_written == N_STATE + N_IMU + N_IMU // 10 + N_FRAME + 2
    assert s.records_dropped == 0 and s.io_errors == 0 and s.records_invalid == 0
    assert s.bytes_written == path.stat().st_size
    check_pyulog(path)
    check_reader(path)


def test_async_unthreaded_pump_matches_threaded_content(tmp_path: Path) -> None:
    path = tmp_path / "pumped.ulg"
    w = AsyncLogWriter(path, start_us=0, threaded=False)
    write_all(w)
    w.pump()
    w.close()
    check_reader(path)


def test_reader_tolerates_truncation_at_every_point(tmp_path: Path) -> None:
    buf = io.BytesIO()
    w = ULogWriter(buf, 0)
    w.add_format("t", [("uint64_t", "timestamp"), ("float", "v")])
    w.end_definitions()
    tid = w.add_logged("t")
    for k in range(20):
        w.data(tid, (k, float(k)))
    full = buf.getvalue()
    record = 3 + 2 + 12
    for cut in range(len(full) - 3 * record, len(full) + 1):
        d = parse_log(full[:cut])
        n_whole = 20 - -(-(len(full) - cut) // record)
        assert len(d.topic("t")) == n_whole, cut
        assert d.truncated == ((len(full) - cut) % record != 0)
        assert d.topic("t").data["v"][-1] == n_whole - 1
    # pyulog also reads a cut file
    path = tmp_path / "cut.ulg"
    path.write_bytes(full[:-5])
    assert len(ULog(str(path)).get_dataset("t").data["v"]) == 19


def _msg(t: str, payload: bytes) -> bytes:
    return struct.pack("<HB", len(payload), ord(t)) + payload


def _kv(key: bytes, value: bytes) -> bytes:
    return bytes((len(key),)) + key + value


def _px4_style_file() -> bytes:
    """A hand-built file with features our writer does not produce: nested types, info
    multiple, tagged strings, remove logged, unknown message types, changed parameters."""
    out = bytearray(MAGIC + b"\x01" + struct.pack("<Q", 99))
    out += _msg("B", bytes(16) + bytes(24))
    out += _msg("F", b"esc_report:int32_t rpm;float voltage;uint8_t[2] _padding0;")
    out += _msg("F", b"esc_status:uint64_t timestamp;uint8_t count;esc_report[2] esc;")
    out += _msg("I", _kv(b"char[4] sys_name", b"PX4!"))
    out += _msg("M", b"\x00" + _kv(b"char[3] perf_top", b"abc"))
    out += _msg("M", b"\x01" + _kv(b"char[3] perf_top", b"def"))
    out += _msg("P", _kv(b"int32_t SYS_A", struct.pack("<i", 3)))
    out += _msg("Q", b"\x01" + _kv(b"int32_t SYS_A", struct.pack("<i", 1)))  # skipped
    out += _msg("A", struct.pack("<BH", 0, 7) + b"esc_status")
    for k in range(3):
        rec = struct.pack("<QB", 100 + k, 2)
        rec += struct.pack("<if", 1000 + k, 12.5) + b"\0\0" + struct.pack("<if", 2000 + k, 11.0)
        # pyulog lets only a top-level trailing padding be left out, not a nested one's
        out += _msg("D", struct.pack("<H", 7) + rec + b"\0\0")
    out += _msg("Z", b"future message type")
    out += _msg("P", _kv(b"int32_t SYS_A", struct.pack("<i", 4)))
    out += _msg("C", struct.pack("<BHQ", ord("3"), 9, 101) + b"tagged")
    out += _msg("O", struct.pack("<H", 300))
    out += _msg("R", struct.pack("<H", 7))
    out += _msg("D", struct.pack("<H", 7) + bytes(20))  # after remove: counted as bad
    return bytes(out)


def test_reader_px4_features() -> None:
    d = parse_log(_px4_style_file())
    assert d.start_us == 99 and d.info["sys_name"] == "PX4!"
    assert d.params == {"SYS_A": 3}
    esc = d.topic("esc_status")
    assert len(esc) == 3
    cols = esc.columns()  # nested fields flattened with pyulog's names
    np.testing.assert_array_equal(esc.data["esc[1].rpm"], [2000, 2001, 2002])
    np.testing.assert_array_equal(cols["esc[0].rpm"], [1000, 1001, 1002])
    np.testing.assert_array_equal(cols["esc[1].voltage"], [11.0] * 3)
    assert not [c for c in cols if "_padding" in c]
    assert [(s.level, s.timestamp_us, s.text) for s in d.strings] == [(3, 101, "tagged")]
    assert [(o.timestamp_us, o.duration_ms) for o in d.dropouts] == [(102, 300)]
    assert d.bad_messages == 1 and not d.truncated


def test_reader_appended_data_and_incompat_flags() -> None:
    head = bytearray(MAGIC + b"\x01" + bytes(8))
    body = _msg("F", b"t:uint64_t timestamp;float v;")
    body += _msg("A", struct.pack("<BH", 0, 0) + b"t")
    body += _msg("D", struct.pack("<HQf", 0, 1, 1.0))
    flags_len = 3 + 40
    cut_at = len(head) + flags_len + len(body) + 5  # a partial message, then appended data
    flags = bytes(8) + b"\x01" + bytes(7) + struct.pack("<3Q", cut_at, 0, 0)
    f = bytes(head) + _msg("B", flags) + body
    f += _msg("D", struct.pack("<HQf", 0, 2, 2.0))[:5]
    assert len(f) == cut_at
    f += _msg("D", struct.pack("<HQf", 0, 3, 3.0))
    d = parse_log(f)
    # pyulog (1.3) keeps a subscription only within the part it was made in: the appended
    # record is lost (PX4 appends only crash dumps; our writer never appends)
    np.testing.assert_array_equal(d.topic("t").data["timestamp"], [1])
    assert not d.truncated  # the part cut at the appended data's offset is no truncation
    bad = bytes(head) + _msg("B", bytes(8) + b"\x02" + bytes(7) + bytes(24))
    with pytest.raises(LogFileError, match="incompatible flag"):
        parse_log(bad)
    with pytest.raises(LogFileError, match="bad magic"):
        parse_log(b"not a ulog file at all")


@pytest.mark.parametrize(
    "fields",
    [
        [("float", "x")],  # timestamp must come first
        [("uint64_t", "timestamp"), ("float3", "x")],
        [("uint64_t", "timestamp"), ("float[0]", "x")],
        [("uint64_t", "timestamp"), ("float", "bad name")],
        [("uint64_t", "timestamp"), ("float", "x"), ("int8_t", "x")],
    ],
)
def test_bad_formats_rejected(fields: list[tuple[str, str]]) -> None:
    w = ULogWriter(io.BytesIO(), 0)
    with pytest.raises(ULogFormatError):
        w.add_format("t", fields)
    a = AsyncLogWriter("/nonexistent-unused", 0, threaded=False, opener=lambda p: io.BytesIO())
    with pytest.raises(ULogFormatError):
        a.add_format("t", fields)
    a.close()


def test_writer_misuse_rejected() -> None:
    w = ULogWriter(io.BytesIO(), 0)
    w.add_format("t", [("uint64_t", "timestamp"), ("float[2]", "v")])
    with pytest.raises(ULogFormatError):
        w.param("P", 2**31)
    with pytest.raises(ULogFormatError):
        w.add_logged("nope")
    tid = w.add_logged("t")
    with pytest.raises(ULogFormatError):
        w.add_format("u", [("uint64_t", "timestamp")])  # definitions are over
    with pytest.raises(ULogFormatError):
        w.data(tid, (1, (1.0, 2.0, 3.0)))  # array of the wrong length
    with pytest.raises(ULogFormatError):
        w.data(tid + 1, (1, (1.0, 2.0)))
    with pytest.raises(ULogFormatError):
        w.log_string(8, 0, "no such level")
    a = AsyncLogWriter("/nonexistent-unused", 0, threaded=False, opener=lambda p: io.BytesIO())
    a.add_format("t", [("uint64_t", "timestamp")])
    with pytest.raises(ULogFormatError):
        a.add_logged("nope")
    with pytest.raises(ULogFormatError):
        a.info("bad key", 1)
    with pytest.raises(ULogFormatError):
        a.param("P", "text")  # type: ignore[arg-type]
    a.end_definitions()
    with pytest.raises(ULogFormatError):
        a.add_format("u", [("uint64_t", "timestamp")])
    a.close()


def test_dropout_and_param_change_times_match_pyulog(tmp_path: Path) -> None:
    path = tmp_path / "interleaved.ulg"
    with path.open("wb") as f:
        w = ULogWriter(f, 0)
        w.add_format("a", [("uint64_t", "timestamp"), ("float", "v")])
        w.add_format("b", [("uint64_t", "timestamp"), ("float", "v")])
        w.param("GAIN", 1.0)
        w.end_definitions()
        a, b = w.add_logged("a"), w.add_logged("b")
        w.data(a, (5000, 1.0))
        w.data(b, (3000, 2.0))  # the newest record so far is a's, not this one
        w.dropout(12)
        w.param("GAIN", 2.0)
        w.data(a, (9000, 1.0))
        w.dropout(70_000)  # longer than one message holds: split in two
    u = ULog(str(path))
    assert [(o.timestamp, o.duration) for o in u.dropouts] == [
        (5000, 12), (9000, 65535), (9000, 70_000 - 65535)]
    assert [(t, n, v) for t, n, v in u.changed_parameters] == [(5000, "GAIN", 2.0)]
    assert [(o.timestamp_us, o.duration_ms) for o in read_log(path).dropouts] == [
        (5000, 12), (9000, 65535), (9000, 70_000 - 65535)]
