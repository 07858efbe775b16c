"""Log tools on a log written by a real flight: the simulated flight 6 (LAND_NOW ~54 s)."""

from __future__ import annotations

import csv
import json
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from pyulog import ULog

from app.boot import prepare
from app.session import FlightResult, fly
from ground.logcsv import log_csv
from ground.logdata import LogToolError, first_cycle_us
from ground.logfile import read_log
from ground.loginfo import log_info, log_info_dict
from ground.logplot import log_plot, plot_data
from tests.conftest import SCENARIOS


@pytest.fixture(scope="module")
def flight6(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FlightResult]:
    path = tmp_path_factory.mktemp("logtools") / "flight6.ulg"
    setup = prepare(None, SCENARIOS / "flight6.toml", seed=1)
    result = fly(setup, log_path=path)
    return path, result


@pytest.fixture(scope="module")
def pyulog(flight6: tuple[Path, FlightResult]) -> ULog:
    return ULog(str(flight6[0]))


@pytest.fixture(scope="module")
def pyulog_counts(pyulog: ULog) -> dict[str, int]:
    u = pyulog
    return {d.name if d.multi_id == 0 else f"{d.name}.{d.multi_id}": len(d.data["timestamp"])
            for d in u.data_list}


def test_info_topics_and_counts_match_pyulog(flight6: tuple[Path, FlightResult],
                                             pyulog_counts: dict[str, int]) -> None:
    info = log_info_dict(flight6[0])
    counts = {name: t["samples"] for name, t in info["topics"].items()}
    assert counts == pyulog_counts
    for name in ("sensor_imu", "camera_frame", "vehicle_state", "contingency", "truth"):
        assert counts[name] > 0
    # the cycle topics are written once a cycle at the loop rate
    assert info["topics"]["vehicle_state"]["rate_hz"] == pytest.approx(
        flight6[1].fsw.cfg.loop.rate_hz, rel=1e-3)
    assert info["topics"]["contingency_thresholds"]["rate_hz"] is None  # one sample
    json.loads(json.dumps(info))  # a JSON line for scripts


def test_info_events_and_land_now_match_the_flight(flight6: tuple[Path, FlightResult]) -> None:
    path, result = flight6
    s = result.summary
    assert s.land_now and s.land_now_reason == "frame_interval"
    info = log_info_dict(path)
    texts = [e["text"] for e in info["events"]]
    assert texts == [ev.text for ev in result.fsw.events] + ["log closed"]
    for e, ev in zip(info["events"][:-1], result.fsw.events, strict=True):
        assert e["t_s"] == pytest.approx(result.fsw.mission_time(ev.t_ns), abs=1e-6)
    ln = info["land_now"]
    assert ln["reason"] == "frame_interval"
    assert ln["t_s"] == pytest.approx(s.land_now_t_s, abs=1e-6)
    assert ln["detail"].endswith("> 0.25")
    assert info["duration_s"] == pytest.approx(s.duration_s, abs=0.01)
    assert info["outcome"].startswith("LAND_NOW (frame_interval) at ")
    assert info["outcome"].endswith("landed")
    assert info["first_fault_t_s"] in (None, s.first_fault_t_s)  # None: not recorded
    assert info["dropouts"] == {"count": 0, "total_ms": 0}
    assert info["truncated"] is False
    assert (info["scenario"], info["seed"], info["backend"]) == ("flight6", 1, "sim")

    text = log_info(path)
    assert f"LAND_NOW   frame_interval at {s.land_now_t_s:.3f} s" in text
    assert "dropouts   none" in text
    assert "file end   complete" in text
    for name, n in log_info_dict(path)["topics"].items():
        assert any(line.split()[:2] == [name, str(n["samples"])] for line in text.splitlines())


def test_info_on_a_truncated_log(flight6: tuple[Path, FlightResult], tmp_path: Path) -> None:
    data = flight6[0].read_bytes()
    pos = 16  # walk message headers (size u16, type u8) to a boundary past the middle
    while pos < len(data) // 2:
        pos += 3 + struct.unpack_from("<H", data, pos)[0]
    cut = tmp_path / "cut.ulg"
    cut.write_bytes(data[: pos + 5])  # mid-flight, inside a message
    info = log_info_dict(cut)
    assert info["truncated"] is True
    assert info["land_now"] is None
    assert info["final_mode"] == "MISSION"
    # cut bytes took the close record with them: the tools say it was cut, not that it ended
    assert info["outcome"] == "no LAND_NOW, log cut short in mode MISSION"
    assert info["closed"] is False
    text = log_info(cut)
    assert "LAND_NOW   no LAND_NOW" in text and "TRUNCATED" in text


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(LogToolError, match="file not found"):
        log_info(tmp_path / "missing.ulg")
    junk = tmp_path / "junk.ulg"
    junk.write_bytes(b"not a log at all" * 4)
    with pytest.raises(LogToolError, match=r"junk\.ulg: not a ULog file"):
        log_info_dict(junk)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_csv_one_file_per_topic_with_all_rows(flight6: tuple[Path, FlightResult],
                                              pyulog: ULog, pyulog_counts: dict[str, int],
                                              tmp_path: Path) -> None:
    path, result = flight6
    files = log_csv(path, tmp_path / "csv")
    names = {f.stem for f in files}
    assert names == set(pyulog_counts) | {"events"}
    assert all(f.parent == tmp_path / "csv" for f in files)
    u = pyulog
    for d in u.data_list:
        header, rows = _read_csv(tmp_path / "csv" / f"{d.name}.csv")
        assert header[0] == "timestamp"
        assert set(header) == set(d.data)  # flat names as pyulog's: accel_mps2[0], ...
        assert len(rows) == pyulog_counts[d.name]
        assert all(len(r) == len(header) for r in rows)
    # values read back exactly (shortest round-trip text), doubles and float32 alike
    imu = u.get_dataset("sensor_imu").data
    header, rows = _read_csv(tmp_path / "csv" / "sensor_imu.csv")
    for col in ("timestamp", "t_ns", "accel_mps2[2]", "gyro_rps[0]"):
        got = np.array([r[header.index(col)] for r in rows], dtype=imu[col].dtype)
        np.testing.assert_array_equal(got, imu[col])
    st = u.get_dataset("vehicle_state").data
    header, rows = _read_csv(tmp_path / "csv" / "vehicle_state.csv")
    got = np.array([r[header.index("roll_deg")] for r in rows], dtype=np.float32)
    np.testing.assert_array_equal(got, st["roll_deg"])

    header, rows = _read_csv(tmp_path / "csv" / "events.csv")
    assert header == ["timestamp", "t_s", "level", "text"]
    assert [r[3] for r in rows] == [ev.text for ev in result.fsw.events] + ["log closed"]
    land = next(r for r in rows if r[3].startswith("LAND_NOW:"))
    assert land[2] == "WARNING"
    assert float(land[1]) == pytest.approx(result.summary.land_now_t_s, abs=1e-6)


def _png_size(path: Path) -> tuple[int, int]:
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", raw[16:24])  # IHDR comes first (PNG spec 11.2.2)
    return int(w), int(h)


def _pixels(path: Path) -> npt.NDArray[np.uint8]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_plot_writes_a_png(flight6: tuple[Path, FlightResult], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = log_plot(flight6[0], tmp_path / "plots" / "flight6.png")
    assert out == tmp_path / "plots" / "flight6.png"
    assert out.stat().st_size > 50_000
    w, h = _png_size(out)
    assert w > 1000 and h > w  # a tall page of stacked panels


def test_plot_marks_a_fault_onset_from_info(flight6: tuple[Path, FlightResult],
                                            tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    d = read_log(flight6[0])
    d.info.pop("first_fault_t_s", None)  # the recorder may write it already
    plain = _pixels(plot_data(d, tmp_path / "plain.png"))
    d.info["first_fault_t_s"] = 53.998
    out = plot_data(d, tmp_path / "fault.png")
    assert _png_size(out)[0] > 1000
    assert not np.array_equal(_pixels(out), plain)  # the onset is drawn


def test_plot_without_matplotlib_is_one_line(flight6: tuple[Path, FlightResult],
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    blocked: dict[str, Any] = {"matplotlib.figure": None,
                               "matplotlib.backends.backend_agg": None}
    for name, value in blocked.items():
        monkeypatch.setitem(sys.modules, name, value)
    with pytest.raises(LogToolError) as exc:
        log_plot(flight6[0], tmp_path / "x.png")
    assert str(exc.value) == "log plot needs matplotlib: pip install 'flightsw[plot]'"
    assert not (tmp_path / "x.png").exists()


def test_first_cycle_is_the_time_origin(flight6: tuple[Path, FlightResult]) -> None:
    path, result = flight6
    d = read_log(path)
    assert first_cycle_us(d) == 0  # log time is flight time (LogClock)
    first = d.topic("cycle_inputs").data[0]
    assert int(first["timestamp"]) == 0 and int(first["now_ns"]) == result.fsw.t0_ns


def test_an_old_log_on_the_host_clock_with_dotted_parameters_reads_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs from before flight-time stamps: their clock started at the host's (the simulated
    clock's 1.0 s), and parameters were named by the dotted config key. The tools count from
    the first cycle, so they give the same times as on a new log."""
    from firmware import log_topics as lt
    from firmware import ulog_encoder

    path = tmp_path / "old.ulg"
    with path.open("wb") as fh:
        w = ulog_encoder.ULogWriter(fh, 1_000_000)
        w.add_format("cycle_inputs", [("uint64_t", "timestamp"), ("uint32_t", "cycle")])
        monkeypatch.setattr(ulog_encoder, "_check_name", lambda *a, **k: None)  # old names
        w.param("loop.rate_hz", 500.0)
        w.end_definitions()
        ci = w.add_logged("cycle_inputs")
        for k in range(33_172):
            w.data(ci, (1_002_000 + 2000 * k, k))
        for t_us, text in ((1_002_000, "mode IDLE (aligning, learning baselines)"),
                           (55_084_000, "LAND_NOW: frame_interval (0.4995 > 0.25)"),
                           (67_344_000, "mode LANDED (touchdown)")):
            w.log_string(6, t_us, text)
    info = log_info_dict(path)
    assert [e["t_s"] for e in info["events"]] == [0.0, 54.082, 66.342]
    assert info["land_now"]["t_s"] == 54.082 and info["duration_s"] == 66.342
    assert lt.param_value(read_log(path).params, "loop.rate_hz") == 500.0
