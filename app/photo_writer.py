"""Each photo to a geotagged JPEG beside the flight log, on a thread of its own.

The camera's JPEG is kept byte for byte (no re-encoding: a second lossy pass would cost
quality and time); Pillow builds the EXIF block (``PIL.Image.Exif``), which is spliced in as
an APP1 segment after the JPEG's SOI (and its JFIF APP0, which must stay first). Tags:

- time: DateTimeOriginal, SubSecTimeOriginal (milliseconds) and OffsetTimeOriginal (UTC) of
  the mid-exposure; GPSDateStamp and GPSTimeStamp the same instant;
- position: GPSLatitude/Longitude from the configured take-off origin
  (``firmware.photos.geotag``), GPSAltitude the take-off point's configured altitude plus
  the height above the ground; GPSImgDirection the vehicle's heading (true north);
- the rest, which EXIF has no tags for, as JSON in UserComment: height above ground,
  attitude (roll, pitch, yaw in degrees, and the body quaternion), the mount's pitch, the
  exposure's timing uncertainty, the trigger-to-exposure and exposure-to-readout delays,
  the flight time, sequence number and reason.

The control cycle only queues the photo (``on_photo``); the thread formats and writes it, and
``close`` waits for the queue to drain, so no photo taken is lost at the end of a flight.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import queue
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from PIL import Image

from firmware import log_topics as lt
from firmware.photos import PHOTO_REASONS, TakenPhoto
from hal.geometry import quat_to_euler

log = logging.getLogger(__name__)

TAG_MAKE, TAG_MODEL, TAG_DATETIME = 0x010F, 0x0110, 0x0132
IFD_EXIF, IFD_GPS = 0x8769, 0x8825
TAG_DATETIME_ORIGINAL, TAG_OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
TAG_SUBSEC_TIME_ORIGINAL, TAG_USER_COMMENT = 0x9291, 0x9286
GPS_VERSION, GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 0, 1, 2, 3, 4
GPS_ALT_REF, GPS_ALT, GPS_TIME, GPS_IMG_DIR_REF, GPS_IMG_DIR, GPS_DATE = 5, 6, 7, 16, 17, 29
USER_COMMENT_ASCII = b"ASCII\x00\x00\x00"  # EXIF's character code for UserComment
SOI = b"\xff\xd8"
APP0 = 0xE0
APP1 = 0xE1
MAX_SEGMENT = 65533  # an APP segment's data, less its length field


def _rational(x: float, denominator: int = 1_000_000) -> Fraction:
    return Fraction(round(x * denominator), denominator)


def _dms(deg: float) -> tuple[Fraction, Fraction, Fraction]:
    """Degrees as EXIF's (degrees, minutes, seconds) rationals, seconds to 1e-4."""
    a = abs(deg)
    d = int(a)
    m = int((a - d) * 60)
    s = (a - d - m / 60) * 3600
    return Fraction(d), Fraction(m), _rational(s, 10_000)


def exif_block(p: TakenPhoto, utc: dt.datetime, flight_s: float, camera: str) -> bytes:
    """The EXIF (APP1 payload, ``Exif\\0\\0`` first) for one photo taken at ``utc``."""
    exif = Image.Exif()
    exif[TAG_MAKE] = "flightsw"
    exif[TAG_MODEL] = camera
    stamp = utc.strftime("%Y:%m:%d %H:%M:%S")
    exif[TAG_DATETIME] = stamp
    sub = exif.get_ifd(IFD_EXIF)
    sub[TAG_DATETIME_ORIGINAL] = stamp
    sub[TAG_SUBSEC_TIME_ORIGINAL] = f"{utc.microsecond // 1000:03d}"
    sub[TAG_OFFSET_TIME_ORIGINAL] = "+00:00"
    roll, pitch, yaw = (math.degrees(a) for a in quat_to_euler(p.pose.q)) \
        if all(math.isfinite(c) for c in p.pose.q) else (math.nan,) * 3
    exp = p.exposure
    ph = p.photo
    comment = {
        "seq": ph.seq, "reason": PHOTO_REASONS[p.reason], "flight_time_s": round(flight_s, 4),
        "height_agl_m": _finite(p.pose.height_agl_m, 3),
        "position_ned_m": [_finite(v, 3) for v in p.pose.position_ned],
        "roll_deg": _finite(roll, 2), "pitch_deg": _finite(pitch, 2), "yaw_deg": _finite(yaw, 2),
        "q_body_ned": [_finite(v, 6) for v in p.pose.q],
        "timing_uncertainty_ms": None if exp is None else exp.uncertainty_ns / 1e6,
        "trigger_to_exposure_ms": None if exp is None else (exp.t_ns - ph.trigger_ns) / 1e6,
        "exposure_to_readout_s": None if exp is None else (ph.t_rx_ns - exp.t_ns) / 1e9,
    }
    sub[TAG_USER_COMMENT] = USER_COMMENT_ASCII + json.dumps(comment).encode()
    if math.isfinite(p.lat_deg) and math.isfinite(p.lon_deg):
        gps = exif.get_ifd(IFD_GPS)
        gps[GPS_VERSION] = b"\x02\x03\x00\x00"
        gps[GPS_LAT_REF] = "N" if p.lat_deg >= 0 else "S"
        gps[GPS_LAT] = _dms(p.lat_deg)
        gps[GPS_LON_REF] = "E" if p.lon_deg >= 0 else "W"
        gps[GPS_LON] = _dms(p.lon_deg)
        if math.isfinite(p.alt_m):
            gps[GPS_ALT_REF] = b"\x00" if p.alt_m >= 0 else b"\x01"
            gps[GPS_ALT] = _rational(abs(p.alt_m), 1000)
        seconds = utc.second + utc.microsecond / 1e6
        gps[GPS_TIME] = (Fraction(utc.hour), Fraction(utc.minute), _rational(seconds, 1000))
        gps[GPS_DATE] = utc.strftime("%Y:%m:%d")
        if math.isfinite(yaw):
            gps[GPS_IMG_DIR_REF] = "T"
            gps[GPS_IMG_DIR] = _rational(yaw % 360.0, 100)
    return exif.tobytes()


def _finite(x: float, digits: int) -> float | None:
    return round(x, digits) if math.isfinite(x) else None


def with_exif(jpeg: bytes, block: bytes) -> bytes:
    """``jpeg`` with the APP1 segment ``block`` after SOI and any JFIF APP0 (lossless)."""
    if not jpeg.startswith(SOI):
        raise ValueError("not a JPEG (no SOI)")
    if len(block) > MAX_SEGMENT:
        raise ValueError(f"EXIF block too large ({len(block)} bytes)")
    at = 2
    if len(jpeg) >= 6 and jpeg[2] == 0xFF and jpeg[3] == APP0:
        at = 4 + int.from_bytes(jpeg[4:6], "big")
    segment = bytes((0xFF, APP1)) + (len(block) + 2).to_bytes(2, "big") + block
    return jpeg[:at] + segment + jpeg[at:]


class PhotoWriter:
    """``FlightSoftware.photos.on_photo`` sink: geotagged JPEGs in ``lt.photo_dir(log)``."""

    def __init__(self, log_path: Path, times: Callable[[int], tuple[int, int]],
                 camera: str) -> None:
        """``times``: host ns -> (UTC us, flight-time us), the flight log's own clocks
        (``FlightRecorder.times``), so a photo's EXIF and its camera_capture agree."""
        self.log_path = str(log_path)
        self.times = times
        self.camera = camera
        self.written: list[Path] = []
        self.errors: list[str] = []
        self._q: queue.Queue[TakenPhoto | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="photo-writer", daemon=True)
        self._thread.start()

    def on_photo(self, p: TakenPhoto) -> None:
        """From the control cycle: queue it, nothing more."""
        if p.photo.jpeg and not p.photo.error:
            self._q.put(p)

    def _run(self) -> None:
        while True:
            p = self._q.get()
            if p is None:
                return
            try:
                self.written.append(self._write(p))
            except (OSError, ValueError) as exc:
                line = f"photo {p.photo.seq}: not written: {exc}"
                self.errors.append(line)
                log.error("%s", line)

    def _write(self, p: TakenPhoto) -> Path:
        t_ns = p.exposure.t_ns if p.exposure is not None else p.photo.t_ns
        utc_us, flight_us = self.times(t_ns)
        utc = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=utc_us)
        flight_s = flight_us / 1e6
        data = with_exif(p.photo.jpeg, exif_block(p, utc, flight_s, self.camera))
        path = Path(lt.photo_file(self.log_path, p.photo.seq))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".jpg.part")
        with open(tmp, "wb") as f:  # whole or not at all: a kill leaves no half photo
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    def close(self, timeout_s: float = 30.0) -> None:
        """Write everything queued, then stop."""
        self._q.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("photo writer: %d photo(s) still unwritten after %.0f s",
                      self._q.qsize(), timeout_s)
