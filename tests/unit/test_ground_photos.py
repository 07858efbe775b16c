"""``flightsw photos``: a flight's photos read from small logs written here with the project's
ULog writer (photo, camera_capture, vehicle_state, truth records and a few solid-colour JPEGs
beside the log), against the values written and geometry worked by hand."""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from firmware import log_topics as lt
from firmware.ulog_encoder import ULogWriter, split_type
from ground.logdata import LogToolError
from ground.photo_sheet import sheet_figure
from ground.photos import read_photos
from hal.geometry import euler_to_quat
from tests.cli_run import run

NAN3 = [math.nan] * 3
NAN4 = [math.nan] * 4
MAGENTA = (255, 0, 255)  # far from every colour the sheet draws with
GREEN = (0, 255, 0)
JPEG_SIZE = (64, 48)


def _values(td: lt.TopicDef, **given: Any) -> list[Any]:
    """A record of ``td`` in field order: the given values, zero for the rest."""
    out: list[Any] = []
    for typ, name in td.fields:
        if name in given:
            out.append(given.pop(name))
            continue
        base, count = split_type(typ)
        zero: Any = False if base == "bool" else 0.0 if base in ("float", "double") else 0
        out.append([zero] * count if count else zero)
    assert not given, f"not fields of {td.name}: {sorted(given)}"
    return out


def _photo(seq: int, t_s: float, pos: tuple[float, float, float], yaw_deg: float = 0.0,
           agl: float = 10.0, reason: int = 0, result: int = 1, truth: bool = True,
           mount: float = 90.0, **extra: Any) -> dict[str, Any]:
    q = euler_to_quat(0.0, 0.0, math.radians(yaw_deg))
    t_ns = 1_000_000_000 + int(t_s * 1e9)
    rec: dict[str, Any] = dict(
        timestamp=round(t_s * 1e6), seq=seq, t_ns=t_ns, trigger_ns=t_ns - 40_000_000,
        t_rx_ns=t_ns + 1_500_000_000, uncertainty_us=2000, position=list(pos), q=list(q),
        height_agl_m=agl, truth_position=list(pos) if truth else NAN3,
        truth_q=list(q) if truth else NAN4, result=result, jpeg_bytes=12345 if result else 0,
        retries=1, width=640, height=480, focal_px=320.0, mount_pitch_deg=mount,
        reason=reason)
    rec.update(extra)
    return rec


# Four photos: 1 straight down facing north, truth off by (0.3, 0.4, 0) m and 2 deg of yaw;
# 2 facing east whose JPEG never reached the disk; 3 at another time; 4 failed.
PHOTOS = [
    _photo(1, 2.0, (3.0, 4.0, -12.0), truth_position=[3.3, 4.4, -12.0],
           truth_q=list(euler_to_quat(0.0, 0.0, math.radians(2.0)))),
    _photo(2, 4.5, (10.0, 0.0, -10.0), yaw_deg=90.0, reason=1),
    _photo(3, 7.25, (20.0, -5.0, -10.0), reason=2, mount=30.0),
    _photo(4, 9.0, (25.0, -5.0, -10.0), result=0),
]
CAPTURES = {1: (47.3977420, 8.5455940, 500.5), 2: (47.3978319, 8.5455940, 500.0),
            3: (47.3979218, 8.5455280, 500.0)}
JPEGS = {1: MAGENTA, 3: GREEN}


def _log_bytes(photos: list[dict[str, Any]], captures: dict[int, tuple[float, float, float]],
               state: bool = True, truth: bool = True,
               photo_def: lt.TopicDef = lt.PHOTO) -> bytes:
    buf = io.BytesIO()
    w = ULogWriter(buf, 0)
    topics = [lt.VEHICLE_STATE, lt.TRUTH, photo_def, lt.PX4_CAMERA_CAPTURE]
    for td in topics:
        w.add_format(td.name, td.format)
    w.info(lt.INFO_SYS_NAME, "flightsw")
    w.end_definitions()
    ids = {td.name: w.add_logged(td.name) for td in topics}
    records: list[tuple[int, str, list[Any]]] = []
    for k in range(21):  # 0 .. 10 s: north 0 .. 30 m, east 0 .. -6 m
        t_us = k * 500_000
        n, e = 1.5 * k, -0.3 * k
        if state:
            records.append((t_us, lt.VEHICLE_STATE.name, _values(
                lt.VEHICLE_STATE, timestamp=t_us, position=[n, e, -10.0],
                q=[1.0, 0.0, 0.0, 0.0])))
        if truth:
            records.append((t_us, lt.TRUTH.name, _values(
                lt.TRUTH, timestamp=t_us, position=[n + 0.2, e, -10.0])))
    for p in photos:
        records.append((p["timestamp"], photo_def.name, _values(photo_def, **p)))
        if p["seq"] in captures:
            lat, lon, alt = captures[p["seq"]]
            records.append((p["timestamp"], lt.PX4_CAMERA_CAPTURE.name, _values(
                lt.PX4_CAMERA_CAPTURE, timestamp=p["timestamp"], seq=p["seq"], lat=lat,
                lon=lon, alt=alt, q=p["q"], result=p["result"])))
    for t_us, name, values in sorted(records, key=lambda r: r[0]):
        w.data(ids[name], values)
    return buf.getvalue()


def _write(tmp_path: Path, photos: list[dict[str, Any]] = PHOTOS,
           jpegs: dict[int, tuple[int, int, int]] = JPEGS, name: str = "flight.ulg",
           **kw: Any) -> Path:
    path = tmp_path / name
    path.write_bytes(_log_bytes(photos, CAPTURES, **kw))
    pdir = tmp_path / (path.stem + "_photos")
    for seq, colour in jpegs.items():
        pdir.mkdir(exist_ok=True)
        Image.new("RGB", JPEG_SIZE, colour).save(pdir / f"photo_{seq:04d}.jpg", "JPEG",
                                                 quality=95)
    return path


def _no_nan(text: str) -> Any:
    def refuse(c: str) -> Any:
        raise AssertionError(f"JSON holds {c}")
    return json.loads(text, parse_constant=refuse)


# -- the listing -----------------------------------------------------------------------------
def test_each_photo_is_read_back_as_written(tmp_path: Path) -> None:
    fp = read_photos(_write(tmp_path))
    assert [p.seq for p in fp.photos] == [1, 2, 3, 4]
    assert [p.t_s for p in fp.photos] == pytest.approx([2.0, 4.5, 7.25, 9.0])
    assert [p.reason for p in fp.photos] == ["arrival", "hold", "time", "arrival"]
    assert [p.written for p in fp.photos] == [True, True, True, False]
    p1, p2 = fp.photos[0], fp.photos[1]
    assert p1.position == (3.0, 4.0, -12.0) and p1.height_agl_m == 10.0
    assert p1.heading_deg == pytest.approx(0.0, abs=1e-6)
    assert p2.heading_deg == pytest.approx(90.0)
    assert p1.uncertainty_us == 2000 and p1.retries == 1 and p1.jpeg_bytes == 12345
    assert p1.trigger_to_exposure_ms == pytest.approx(40.0)
    assert p1.readout_s == pytest.approx(1.5)
    assert (p1.lat, p1.lon, p1.alt_m) == pytest.approx(CAPTURES[1])
    assert fp.photos[3].lat is None  # no camera_capture for the failed one
    assert fp.photos[2].camera.mount_pitch_deg == 30.0
    assert fp.estimate is not None and fp.estimate.source == "vehicle_state"
    assert fp.estimate.north[-1] == pytest.approx(30.0)
    assert fp.truth is not None and fp.truth.north[0] == pytest.approx(0.2)


def test_geotag_error_is_the_estimate_against_truth(tmp_path: Path) -> None:
    p1, p2 = read_photos(_write(tmp_path)).photos[:2]
    assert p1.position_error_m == pytest.approx(0.5)  # (0.3, 0.4, 0)
    assert p1.attitude_error_deg == pytest.approx(2.0, abs=1e-4)
    assert p2.position_error_m == pytest.approx(0.0)
    assert p2.attitude_error_deg == pytest.approx(0.0, abs=1e-2)  # float32 q


def test_a_rig_log_has_no_geotag_error(tmp_path: Path) -> None:
    photos = [_photo(1, 2.0, (3.0, 4.0, -12.0), truth=False)]
    path = _write(tmp_path, photos, {1: MAGENTA}, truth=False)
    p = read_photos(path).photos[0]
    assert p.truth_position is None and p.position_error_m is None
    assert p.attitude_error_deg is None
    r = run("photos", path, "--json", "--no-sheet")
    assert r.code == 0
    row = _no_nan(r.out)[0]
    assert row["position_error_m"] is None and row["attitude_error_deg"] is None
    text = run("photos", path, "--no-sheet").out
    assert "pos err" not in text


def test_json_is_one_list_of_the_photos(tmp_path: Path) -> None:
    r = run("photos", _write(tmp_path), "--json", "--no-sheet")
    assert r.code == 0
    rows = _no_nan(r.out)
    assert [row["seq"] for row in rows] == [1, 2, 3, 4]
    assert [row["result"] for row in rows] == ["written", "written", "written", "failed"]
    assert [row["jpeg_status"] for row in rows] == ["present", "missing", "present",
                                                   "missing"]
    assert rows[0]["lat"] == pytest.approx(CAPTURES[1][0], abs=1e-9)
    assert rows[0]["position_error_m"] == pytest.approx(0.5)
    assert rows[1]["heading_deg"] == pytest.approx(90.0)


def test_the_text_listing_names_every_photo_and_the_missing_jpeg(tmp_path: Path) -> None:
    path = _write(tmp_path)
    r = run("photos", path, "--no-sheet")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith(f"{path}: 4 photos (3 written, 1 failed)")
    rows = {int(line.split()[0]): line for line in lines[3:7]}
    assert sorted(rows) == [1, 2, 3, 4]
    size = (tmp_path / "flight_photos" / "photo_0001.jpg").stat().st_size
    assert f"{size / 1e3:.1f} kB" in rows[1] and "47.3977420" in rows[1]
    assert "missing" in rows[2] and "FAILED" in rows[4]
    assert "written but no readable JPEG: seq 2" in r.out
    assert not (tmp_path / "flight_photos" / "contact_sheet.png").exists()


def test_a_jpeg_that_is_not_one_is_unreadable_and_a_stray_file_is_reported(
        tmp_path: Path) -> None:
    path = _write(tmp_path)
    pdir = tmp_path / "flight_photos"
    (pdir / "photo_0003.jpg").write_bytes(b"not a jpeg at all")
    (pdir / "photo_0009.jpg").write_bytes(b"\xff\xd8")
    fp = read_photos(path)
    assert fp.photos[2].jpeg_status == "unreadable"
    assert [p.name for p in fp.unlogged_jpegs] == ["photo_0009.jpg"]
    out = run("photos", path, "--no-sheet").out
    assert "seq 2, 3" in out and "1 photo files have no record in the log: photo_0009.jpg" in out


# -- footprints ------------------------------------------------------------------------------
def _box(outline: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    ns, es = [p[0] for p in outline], [p[1] for p in outline]
    return min(ns), max(ns), min(es), max(es)


def _area(outline: list[tuple[float, float]]) -> float:
    return 0.5 * abs(sum(a[0] * b[1] - b[0] * a[1]
                         for a, b in zip(outline, outline[1:] + outline[:1], strict=True)))


def test_a_straight_down_photo_from_10_m_covers_what_the_pinhole_says(tmp_path: Path) -> None:
    # 640 x 480 at a focal length of 320 px: from 10 m the image spans 2 * 10 * 320/320 = 20 m
    # across and 2 * 10 * 240/320 = 15 m along. Photo 1 is at down -12 with 10 m below it:
    # the ground is at down -2, and the footprint is not the 24 m x 18 m one of ground at 0.
    p1, p2 = read_photos(_write(tmp_path)).photos[:2]
    assert p1.ground_down_m == pytest.approx(-2.0)
    f1 = p1.footprint()
    assert f1 is not None
    assert _box(f1) == pytest.approx((3.0 - 7.5, 3.0 + 7.5, 4.0 - 10.0, 4.0 + 10.0))
    assert _area(f1) == pytest.approx(300.0)
    # facing north, the image's top-left corner (its first border point) is north-west
    assert f1[0] == pytest.approx((3.0 + 7.5, 4.0 - 10.0))
    # facing east, the long side lies north-south, and the top-left corner is north-east
    f2 = p2.footprint()
    assert f2 is not None
    assert _box(f2) == pytest.approx((10.0 - 10.0, 10.0 + 10.0, -7.5, 7.5))
    assert f2[0] == pytest.approx((10.0 + 10.0, 7.5))


def test_a_forward_tilted_footprint_is_cut_short_of_the_horizon(tmp_path: Path) -> None:
    # photo 3 looks 30 deg below the horizon with a vertical half-angle of atan(240/320) =
    # 36.9 deg: its top rows see sky. Its near edge is where the bottom row meets the ground,
    # 10 m / tan(66.9 deg) = 4.27 m ahead; its far edge stops 4 x 10 m from the camera.
    p3 = read_photos(_write(tmp_path)).photos[2]
    f3 = p3.footprint()
    assert f3 is not None
    lo_n, hi_n, _, _ = _box(f3)
    assert lo_n == pytest.approx(20.0 + 10.0 / math.tan(math.radians(30 + 36.8699)), abs=1e-3)
    assert hi_n <= 20.0 + 40.0 + 1e-9
    # the rows above the horizon end 40 m along their rays: near 40 m out, never beyond
    assert 35.0 < max(math.dist((20.0, -5.0), pt) for pt in f3) <= 40.0 + 1e-9


# -- bad input and empty logs ----------------------------------------------------------------
def test_a_log_without_photos_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path, photos=[], jpegs={})
    r = run("photos", path)
    assert r.code == 0
    assert r.out.strip() == f"{path}: no photos in this log"
    assert not (tmp_path / "flight_photos").exists()  # no sheet of nothing
    r = run("photos", path, "--json")
    assert (r.code, r.out.strip()) == (0, "[]")
    assert r.err == f"{path}: no photos in this log"


@pytest.mark.parametrize("content", [b"", b"hello, this is not a log\n" * 3,
                                     "good log cut inside its header"])
def test_a_file_that_is_no_log_is_one_line_naming_it(tmp_path: Path, content: Any) -> None:
    path = tmp_path / "bad.ulg"
    if isinstance(content, str):
        content = _log_bytes(PHOTOS, CAPTURES)[:10]
    path.write_bytes(content)
    for extra in ((), ("--json",), ("--no-sheet",)):
        r = run("photos", path, *extra)
        assert r.code == 2
        assert r.out == ""
        assert len(r.err.splitlines()) == 1 and str(path) in r.err


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    r = run("photos", tmp_path / "nope.ulg")
    assert r.code == 2 and r.err == f"flightsw: {tmp_path / 'nope.ulg'}: file not found"


def test_a_photo_field_of_the_wrong_shape_is_one_line_naming_it(tmp_path: Path) -> None:
    fields = tuple(("double", n) if n == "position" else (t, n) for t, n in lt.PHOTO.fields)
    bad = lt.TopicDef("photo", fields)
    photos = [dict(p, position=p["position"][0]) for p in PHOTOS]
    path = tmp_path / "bad.ulg"
    path.write_bytes(_log_bytes(photos, CAPTURES, photo_def=bad))
    r = run("photos", path, "--no-sheet")
    assert r.code == 2
    assert r.err.startswith(f"flightsw: {path}: photo.position: float64")
    assert len(r.err.splitlines()) == 1


def test_a_log_cut_inside_its_last_message_still_lists_its_photos(tmp_path: Path) -> None:
    path = _write(tmp_path)
    path.write_bytes(path.read_bytes()[:-7])  # inside the last vehicle_state record
    fp = read_photos(path)
    assert fp.truncated and [p.seq for p in fp.photos] == [1, 2, 3, 4]
    assert "the log is cut short" in run("photos", path, "--no-sheet").out


# -- the contact sheet -----------------------------------------------------------------------
def _where(png: Path, colour: tuple[int, int, int], tol: int = 30
           ) -> tuple[int, tuple[int, int, int, int]] | None:
    """How many pixels of ``png`` are within ``tol`` of ``colour``, and their bounding box
    (x0, y0, x1, y1); None for none."""
    px = np.asarray(Image.open(png).convert("RGB")).astype(int)
    mask = np.all(np.abs(px - np.array(colour)) <= tol, axis=2)
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return int(mask.sum()), (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))


def test_the_contact_sheet_shows_each_photo_beside_the_map(tmp_path: Path) -> None:
    path = _write(tmp_path)
    r = run("photos", path)
    sheet = tmp_path / "flight_photos" / "contact_sheet.png"
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == f"wrote {sheet}"
    with Image.open(sheet) as im:
        assert im.format == "PNG"
        width, height = im.size
    assert 1200 <= width <= 2400 and 600 <= height <= 1600  # a page on a screen
    found = {}
    for seq, colour in JPEGS.items():
        hit = _where(sheet, colour)
        assert hit is not None, f"photo {seq}'s pixels are not on the sheet"
        count, (x0, y0, x1, y1) = hit
        w, h = x1 - x0 + 1, y1 - y0 + 1
        assert count >= 0.95 * w * h  # one solid block: the thumbnail, nothing else
        assert w >= 150 and w / h == pytest.approx(JPEG_SIZE[0] / JPEG_SIZE[1], rel=0.05)
        assert x0 > 0.4 * width  # right of the map
        found[seq] = (x0, y0)
    assert found[1][1] < found[3][1] or found[1][0] < found[3][0]  # in log order


def test_missing_and_failed_photos_are_labelled_empty_tiles(tmp_path: Path) -> None:
    fig = sheet_figure(read_photos(_write(tmp_path)))
    tiles = [ax for ax in fig.axes if ax.get_title(loc="left").startswith("#")]
    assert [ax.get_title(loc="left") for ax in tiles] == ["#1", "#2", "#3", "#4"]
    said = [[t.get_text() for t in ax.texts] for ax in tiles]
    assert said == [[], ["JPEG missing"], [], ["failed"]]
    assert [len(ax.images) for ax in tiles] == [1, 0, 1, 0]
    assert tiles[0].get_xlabel() == "2.00 s, 10.0 m AGL, arrival\ngeotag 0.50 m, 2.00\u00b0"


def test_o_puts_the_sheet_where_asked(tmp_path: Path) -> None:
    path = _write(tmp_path)
    out = tmp_path / "elsewhere" / "sheet.png"
    r = run("photos", path, "-o", out, "--json")
    assert r.code == 0 and out.is_file()
    assert r.err == f"wrote {out}"
    assert len(_no_nan(r.out)) == 4
    assert not (tmp_path / "flight_photos" / "contact_sheet.png").exists()


def test_thirty_photos_fit_one_readable_sheet(tmp_path: Path) -> None:
    photos = [_photo(k, 0.3 * k, (k * 1.0, 0.0, -10.0), yaw_deg=12.0 * k) for k in
              range(1, 31)]
    path = _write(tmp_path, photos, {k: MAGENTA if k == 30 else GREEN for k in
                                     range(1, 31)})
    r = run("photos", path)
    assert r.code == 0, r.err
    sheet = tmp_path / "flight_photos" / "contact_sheet.png"
    with Image.open(sheet) as im:
        width, height = im.size
    assert width <= 2400 and height <= 2000
    hit = _where(sheet, MAGENTA)
    assert hit is not None
    _, (x0, y0, x1, _) = hit
    assert x1 - x0 >= 80  # a thumbnail still wide enough to see
    assert y0 > height / 2 and x0 > 0.4 * width  # the last photo: bottom right


def test_a_long_series_keeps_every_photo_on_the_map_and_sixty_tiles(tmp_path: Path) -> None:
    photos = [_photo(k, 0.1 * k, (0.5 * k, 0.0, -10.0)) for k in range(1, 71)]
    fig = sheet_figure(read_photos(_write(tmp_path, photos, {})))
    tiles = [ax for ax in fig.axes if ax.get_title(loc="left").startswith("#")]
    assert [ax.get_title(loc="left") for ax in tiles] == [f"#{k}" for k in range(1, 61)]
    the_map = next(ax for ax in fig.axes if ax.get_xlabel() == "east [m]")
    assert sorted(int(t.get_text()) for t in the_map.texts if t.get_text().isdigit()) == list(
        range(1, 71))
    assert fig.get_suptitle().endswith("; tiles for the first 60")
    assert fig.get_size_inches()[1] * fig.dpi <= 2500  # 60 tiles, not 70


def test_without_matplotlib_the_sheet_is_one_line_and_the_listing_still_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path)
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    r = run("photos", path)
    assert r.code == 2 and r.out == ""
    assert r.err == ("flightsw: the photos' contact sheet needs matplotlib: "
                     "pip install 'flightsw[plot]' (or --no-sheet)")
    assert run("photos", path, "--no-sheet").code == 0
    with pytest.raises(LogToolError):
        sheet_figure(read_photos(path))
