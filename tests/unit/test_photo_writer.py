"""app.photo_writer: a photo's JPEG geotagged losslessly, its EXIF read back by Pillow."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.photo_writer import (
    GPS_ALT,
    GPS_IMG_DIR,
    GPS_LAT,
    GPS_LAT_REF,
    GPS_LON,
    GPS_LON_REF,
    IFD_EXIF,
    IFD_GPS,
    TAG_DATETIME_ORIGINAL,
    TAG_SUBSEC_TIME_ORIGINAL,
    TAG_USER_COMMENT,
    PhotoWriter,
    with_exif,
)
from firmware import log_topics as lt
from firmware.photos import PHOTO_REASONS, Pose, TakenPhoto
from hal.geometry import euler_to_quat
from hal.types import Photo, PhotoExposure

UTC_ZERO_US = 1_700_000_000_000_000  # 2023-11-14 22:13:20 UTC at the flight's zero


def jpeg(colour: tuple[int, int, int] = (180, 90, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def taken(seq: int = 3, lat: float = 18.4447, lon: float = -77.4508) -> TakenPhoto:
    q = euler_to_quat(math.radians(2.0), math.radians(-3.0), math.radians(135.0))
    photo = Photo(seq, 10_000_000_000, 10_020_000_000, 12_500_000_000, jpeg(), 64, 48)
    exp = PhotoExposure(seq, 10_000_000_000, 10_020_000_000, 35_000_000)
    return TakenPhoto(photo, PHOTO_REASONS.index("arrival"), exp,
                      Pose((12.0, -4.0, -5.0), q, 5.0), None, lat, lon, -2564.5)


def times(t_ns: int) -> tuple[int, int]:
    flight_us = t_ns // 1000 - 1_000_000  # the flight's zero at host 1 s
    return UTC_ZERO_US + flight_us, flight_us


def dms(v: tuple[Fraction, ...]) -> float:
    return float(v[0]) + float(v[1]) / 60 + float(v[2]) / 3600


def test_the_photo_is_written_whole_with_its_exif_and_the_camera_bytes_untouched(
        tmp_path: Path) -> None:
    log = tmp_path / "flight.ulg"
    w = PhotoWriter(log, times, "VC0706")
    p = taken()
    w.on_photo(p)
    w.close()
    assert w.errors == []
    path = Path(lt.photo_file(str(log), 3))
    assert w.written == [path] and path.name == "photo_0003.jpg"
    data = path.read_bytes()
    original = p.photo.jpeg
    # lossless: the camera's bytes, with one APP1 segment spliced in after SOI and APP0
    app0_end = 4 + int.from_bytes(original[4:6], "big")
    assert data[:app0_end] == original[:app0_end]
    assert data[app0_end:app0_end + 2] == b"\xff\xe1"
    seg = 2 + int.from_bytes(data[app0_end + 2:app0_end + 4], "big")
    assert data[app0_end + seg:] == original[app0_end:]
    img = Image.open(path)
    assert img.size == (64, 48)
    np.testing.assert_array_equal(np.asarray(img), np.asarray(Image.open(io.BytesIO(original))))

    exif = img.getexif()
    gps = exif.get_ifd(IFD_GPS)
    assert gps[GPS_LAT_REF] == "N" and gps[GPS_LON_REF] == "W"
    assert dms(gps[GPS_LAT]) == pytest.approx(18.4447, abs=1e-7)
    assert dms(gps[GPS_LON]) == pytest.approx(77.4508, abs=1e-7)
    assert float(gps[GPS_ALT]) == pytest.approx(2564.5)  # below the datum (ref 1)
    assert float(gps[GPS_IMG_DIR]) == pytest.approx(135.0, abs=0.01)
    sub = exif.get_ifd(IFD_EXIF)
    # mid-exposure at host 10.02 s: 9.02 s of flight after the UTC zero
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        microseconds=UTC_ZERO_US + 9_020_000)
    assert sub[TAG_DATETIME_ORIGINAL] == when.strftime("%Y:%m:%d %H:%M:%S")
    assert sub[TAG_SUBSEC_TIME_ORIGINAL] == f"{when.microsecond // 1000:03d}"
    comment = sub[TAG_USER_COMMENT]
    text = comment if isinstance(comment, str) else comment[8:].decode()
    meta = json.loads(text[text.index("{"):])
    assert meta["seq"] == 3 and meta["reason"] == "arrival"
    assert meta["flight_time_s"] == pytest.approx(9.02)
    assert meta["height_agl_m"] == 5.0
    assert meta["yaw_deg"] == pytest.approx(135.0, abs=0.01)
    assert meta["roll_deg"] == pytest.approx(2.0, abs=0.01)
    assert meta["timing_uncertainty_ms"] == pytest.approx(35.0)
    assert meta["trigger_to_exposure_ms"] == pytest.approx(20.0)


def test_failed_photos_are_not_written_and_nothing_half_written_is_left(tmp_path: Path
                                                                        ) -> None:
    log = tmp_path / "f.ulg"
    w = PhotoWriter(log, times, "sim")
    good = taken(seq=1)
    w.on_photo(replace(good, photo=good.photo._replace(jpeg=b"", error="read timeout")))
    w.on_photo(replace(good, photo=good.photo._replace(jpeg=b"not a jpeg")))
    w.close()
    assert w.written == [] and len(w.errors) == 1 and "photo 1: not written" in w.errors[0]
    folder = Path(lt.photo_dir(str(log)))
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_jpeg_without_jfif_gets_its_exif_right_after_soi() -> None:
    bare = b"\xff\xd8\xff\xdb\x00\x04\x00\x00\xff\xd9"
    out = with_exif(bare, b"Exif\x00\x00II*\x00")
    assert out[:4] == b"\xff\xd8\xff\xe1" and out.endswith(bare[2:])
    with pytest.raises(ValueError, match="SOI"):
        with_exif(b"GIF89a", b"Exif\x00\x00")
