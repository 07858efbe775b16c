"""``flightsw photos``: a flight's still photos as its log tells them, and where their JPEGs
are, for the listing and the contact sheet (``ground.photo_sheet``).

Each ``photo`` record (``firmware.log_topics.PHOTO``) gives a photo's pose as navigation
estimated it at mid-exposure, its timing, the outcome and the camera's geometry; the
``camera_capture`` record of the same seq (PX4's view) gives its latitude and longitude.
Times are seconds from the first control cycle, as ``log info`` shows events. A geotag
error is the estimated pose against the simulated truth logged beside it (a rig logs NaN
there: no error then). The JPEG is looked for where the flight software writes it,
``photo_file(log, seq)``; it is only opened to tell a JPEG from anything else.

A damaged ``photo`` topic (a field missing, or of another type or shape) stops the tool with
one ``LogToolError`` line naming the file, the topic and the field, as the other log tools do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware import log_topics as lt
from ground import logdata as ld
from ground.logfile import FlightLog, Topic
from hal.geometry import quat_to_euler
from hal.photo_geometry import PhotoCameraModel, footprint

# A footprint's far edge is cut at this many times the height above ground (at least
# FOOTPRINT_MIN_RANGE_M): a camera tilted forward sees up to the horizon, and an outline
# 200 m long would shrink the map's track to a dot. Rays that reach ground nearer are exact.
FOOTPRINT_RANGE_PER_M_AGL = 4.0
FOOTPRINT_MIN_RANGE_M = 10.0

_PHOTO_FILE = re.compile(r"photo_(\d+)\.jpg")

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class PhotoRecord:
    """One photo: its record in the log, its JPEG on disk and its camera_capture."""

    seq: int
    t_s: float  # mid-exposure, from the first control cycle
    reason: str
    written: bool  # result 1: the JPEG was written; 0: the photo failed
    position: Vec3  # NED estimate at mid-exposure
    q: Quat  # body attitude estimate (w, x, y, z), FRD -> NED
    height_agl_m: float
    uncertainty_us: int  # how far the stamp may be from the true mid-exposure
    trigger_to_exposure_ms: float  # trigger() to mid-exposure
    readout_s: float  # mid-exposure to the JPEG's last byte
    retries: int
    jpeg_bytes: int  # the camera's JPEG as read (the file also holds the EXIF)
    camera: PhotoCameraModel
    truth_position: Vec3 | None  # None on a rig (NaN logged)
    truth_q: Quat | None
    jpeg_path: Path
    jpeg_status: str  # "present", "missing", or "unreadable" (there, but not a JPEG)
    jpeg_file_bytes: int | None
    lat: float | None = None  # from camera_capture, None without one
    lon: float | None = None
    alt_m: float | None = None

    @property
    def heading_deg(self) -> float | None:
        """Yaw of the estimate, 0..360 from north; None for an unusable quaternion."""
        q = _unit(self.q)
        if q is None:
            return None
        return math.degrees(quat_to_euler(q)[2]) % 360.0

    @property
    def ground_down_m(self) -> float:
        """NED down of the ground under the photo: flat ground, as deep as the altimeter said."""
        return self.position[2] + self.height_agl_m

    @property
    def position_error_m(self) -> float | None:
        """The geotag's error: horizontal, what latitude and longitude carry. (The estimate's
        vertical is its height above the ground below; the truth's is depth below the take-off
        point, so over sloped ground they differ by the terrain, not by an error.)"""
        if self.truth_position is None:
            return None
        return math.dist(self.position[:2], self.truth_position[:2])

    @property
    def attitude_error_deg(self) -> float | None:
        """The angle of the rotation between estimated and true attitude."""
        if self.truth_q is None:
            return None
        a, b = _unit(self.q), _unit(self.truth_q)
        if a is None or b is None:
            return None
        dot = abs(sum(x * y for x, y in zip(a, b, strict=True)))  # q and -q: one attitude
        return math.degrees(2.0 * math.acos(min(1.0, dot)))

    def footprint(self) -> list[tuple[float, float]] | None:
        """The (north, east) outline the photo covers on flat ground at ``ground_down_m``
        (far edge cut, see FOOTPRINT_RANGE_PER_M_AGL); None when the record cannot give one."""
        q = _unit(self.q)
        cam = self.camera
        if (q is None or not _finite(*self.position, self.height_agl_m, cam.focal_px,
                                     cam.mount_pitch_deg)
                or self.height_agl_m <= 0 or cam.width <= 0 or cam.height <= 0
                or cam.focal_px <= 0):
            return None
        reach = max(FOOTPRINT_MIN_RANGE_M, FOOTPRINT_RANGE_PER_M_AGL * self.height_agl_m)
        return footprint(self.position, q, cam, self.ground_down_m, max_range_m=reach)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data (no NaN: an unknown is null)."""
        return {
            "seq": self.seq, "t_s": _num(round(self.t_s, 6)), "reason": self.reason,
            "result": "written" if self.written else "failed",
            "north_m": _num(self.position[0]), "east_m": _num(self.position[1]),
            "down_m": _num(self.position[2]), "height_agl_m": _num(self.height_agl_m),
            "heading_deg": _num(self.heading_deg),
            "uncertainty_us": self.uncertainty_us,
            "trigger_to_exposure_ms": _num(self.trigger_to_exposure_ms),
            "readout_s": _num(self.readout_s), "retries": self.retries,
            "width": self.camera.width, "height": self.camera.height,
            "focal_px": _num(self.camera.focal_px),
            "mount_pitch_deg": _num(self.camera.mount_pitch_deg),
            "position_error_m": _num(self.position_error_m),
            "attitude_error_deg": _num(self.attitude_error_deg),
            "jpeg": str(self.jpeg_path), "jpeg_status": self.jpeg_status,
            "jpeg_file_bytes": self.jpeg_file_bytes, "jpeg_bytes": self.jpeg_bytes,
            "lat": _num(self.lat), "lon": _num(self.lon), "alt_m": _num(self.alt_m),
        }


@dataclass
class Track:
    """A ground track: north and east over the flight."""

    north: npt.NDArray[np.float64]
    east: npt.NDArray[np.float64]
    source: str  # the topic it came from


@dataclass
class FlightPhotos:
    """A log's photos and what the contact sheet draws them against."""

    log_path: Path
    photo_dir: Path
    photos: list[PhotoRecord]
    estimate: Track | None = None
    truth: Track | None = None
    unlogged_jpegs: list[Path] = field(default_factory=list)  # in photo_dir, of no record
    truncated: bool = False  # the log ends inside a message (a photo's record may be lost)

    @property
    def has_truth(self) -> bool:
        return any(p.truth_position is not None for p in self.photos)


def read_photos(path: str | Path) -> FlightPhotos:
    """The photos of the log at ``path``; ``LogToolError`` (one line naming the file) for a
    file that is no readable log or a damaged photo topic."""
    p = Path(path)
    d = ld.read(p)
    try:
        return photos_of(d, p)
    except ld.BadFieldError as exc:
        raise ld.LogToolError(f"{p}: {exc}") from None


def photos_of(d: FlightLog, path: Path) -> FlightPhotos:
    """``read_photos`` on a log already read (``path`` places its photo directory)."""
    t0 = ld.first_cycle_us(d)
    pdir = Path(lt.photo_dir(str(path)))
    captures = _captures(d)
    photos: list[PhotoRecord] = []
    t = ld.topic(d, lt.PHOTO)
    if t is not None:
        photos = _records(t, t0, path, captures)
    logged = {p.seq for p in photos}
    return FlightPhotos(path, pdir, photos, _estimate_track(d), _truth_track(d),
                        _unlogged(pdir, logged), d.truncated)


def _records(t: Topic, t0_us: int, path: Path,
             captures: dict[int, tuple[float | None, float | None, float | None]]
             ) -> list[PhotoRecord]:
    P = lt.PHOTO

    def col(name: str, width: int = 0, kinds: str = "biuf") -> npt.NDArray[Any]:
        c = ld.column(t, P.field(name), width, kinds)
        if c is None:
            raise ld.BadFieldError(f"{P.name}.{name}: missing")
        return c

    seq, result, reason = col("seq", kinds="iu"), col("result", kinds="iu"), col("reason",
                                                                               kinds="iu")
    t_ns, trig_ns, rx_ns = col("t_ns", kinds="iu"), col("trigger_ns", kinds="iu"), col(
        "t_rx_ns", kinds="iu")
    unc, retries = col("uncertainty_us", kinds="iu"), col("retries", kinds="iu")
    jpeg_bytes, width, height = (col("jpeg_bytes", kinds="iu"), col("width", kinds="iu"),
                                 col("height", kinds="iu"))
    pos, q, agl = col("position", 3), col("q", 4), col("height_agl_m")
    tpos, tq = col("truth_position", 3), col("truth_q", 4)
    focal, mount = col("focal_px"), col("mount_pitch_deg")
    times = ld.relative_s(t, t0_us)
    out = []
    for i in range(len(t)):
        s = int(seq[i])
        r = int(reason[i])
        jpeg = Path(lt.photo_file(str(path), s))
        status, size = _jpeg_status(jpeg)
        lat, lon, alt = captures.get(s, (None, None, None))
        out.append(PhotoRecord(
            seq=s, t_s=float(times[i]),
            reason=lt.PHOTO_REASONS[r] if r < len(lt.PHOTO_REASONS) else f"reason #{r}",
            written=int(result[i]) == 1, position=_vec3(pos[i]), q=_quat(q[i]),
            height_agl_m=float(agl[i]), uncertainty_us=int(unc[i]),
            # int64 differences as Python ints: no overflow on a damaged stamp
            trigger_to_exposure_ms=(int(t_ns[i]) - int(trig_ns[i])) / 1e6,
            readout_s=(int(rx_ns[i]) - int(t_ns[i])) / 1e9, retries=int(retries[i]),
            jpeg_bytes=int(jpeg_bytes[i]),
            camera=PhotoCameraModel(int(width[i]), int(height[i]), float(focal[i]),
                                    float(mount[i])),
            truth_position=_vec3(tpos[i]) if _finite(*tpos[i]) else None,
            truth_q=_quat(tq[i]) if _finite(*tq[i]) else None,
            jpeg_path=jpeg, jpeg_status=status, jpeg_file_bytes=size,
            lat=lat, lon=lon, alt_m=alt))
    return out


def _captures(d: FlightLog) -> dict[int, tuple[float | None, float | None, float | None]]:
    """seq -> (lat, lon, alt) from PX4's camera_capture (the first record of each seq)."""
    t = ld.topic(d, lt.PX4_CAMERA_CAPTURE)
    if t is None:
        return {}
    C = lt.PX4_CAMERA_CAPTURE
    seq = ld.column(t, C.field("seq"), kinds="iu")
    cols = [ld.column(t, C.field(n)) for n in ("lat", "lon", "alt")]
    if seq is None:
        return {}
    out: dict[int, tuple[float | None, float | None, float | None]] = {}
    for i in range(len(t)):
        vals = [float(c[i]) if c is not None and math.isfinite(float(c[i])) else None
                for c in cols]
        out.setdefault(int(seq[i]), (vals[0], vals[1], vals[2]))
    return out


def _jpeg_status(path: Path) -> tuple[str, int | None]:
    try:
        size = path.stat().st_size
    except OSError:
        return "missing", None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:  # reads the header only
            ok = im.format == "JPEG"
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        ok = False
    return ("present" if ok else "unreadable"), size


def _unlogged(pdir: Path, logged: set[int]) -> list[Path]:
    """Photo files in the directory whose seq has no record (a log cut short loses the
    record of a photo the camera had already written)."""
    try:
        names = sorted(p.name for p in pdir.iterdir())
    except OSError:
        return []
    out = []
    for name in names:
        m = _PHOTO_FILE.fullmatch(name)
        if m and int(m.group(1)) not in logged:
            out.append(pdir / name)
    return out


def _estimate_track(d: FlightLog) -> Track | None:
    """Our vehicle_state (doubles), else PX4's vehicle_local_position."""
    t = ld.topic(d, lt.VEHICLE_STATE)
    pos = ld.column(t, lt.VEHICLE_STATE.field("position"), 3) if t is not None else None
    if pos is not None:
        return _track(pos[:, 0], pos[:, 1], lt.VEHICLE_STATE.name)
    return _px4_track(d, lt.PX4_VEHICLE_LOCAL_POSITION)


def _truth_track(d: FlightLog) -> Track | None:
    t = ld.topic(d, lt.TRUTH)
    pos = ld.column(t, lt.TRUTH.field("position"), 3) if t is not None else None
    if pos is not None:
        return _track(pos[:, 0], pos[:, 1], lt.TRUTH.name)
    return _px4_track(d, lt.PX4_VEHICLE_LOCAL_POSITION_GROUNDTRUTH)


def _px4_track(d: FlightLog, td: lt.TopicDef) -> Track | None:
    t = ld.topic(d, td)
    if t is None:
        return None
    x, y = ld.column(t, td.field("x")), ld.column(t, td.field("y"))
    return None if x is None or y is None else _track(x, y, td.name)


def _track(n: npt.NDArray[Any], e: npt.NDArray[Any], source: str) -> Track | None:
    north, east = np.asarray(n, dtype=np.float64), np.asarray(e, dtype=np.float64)
    ok = np.isfinite(north) & np.isfinite(east)
    return Track(north[ok], east[ok], source) if ok.any() else None


def _finite(*xs: Any) -> bool:
    return all(math.isfinite(float(x)) for x in xs)


def _unit(q: Sequence[float]) -> Quat | None:
    if not _finite(*q):
        return None
    n = math.sqrt(sum(x * x for x in q))
    if n < 1e-6:
        return None
    return (q[0] / n, q[1] / n, q[2] / n, q[3] / n)


def _vec3(v: Any) -> Vec3:
    return (float(v[0]), float(v[1]), float(v[2]))


def _quat(v: Any) -> Quat:
    return (float(v[0]), float(v[1]), float(v[2]), float(v[3]))


def _num(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


# -- the listing -------------------------------------------------------------------------------
def _f(x: float | None, fmt: str, none: str = "-") -> str:
    return none if x is None or not math.isfinite(x) else format(x, fmt)


def _jpeg_text(p: PhotoRecord) -> str:
    if p.jpeg_status == "present" and p.jpeg_file_bytes is not None:
        return f"{p.jpeg_file_bytes / 1e3:.1f} kB"
    return p.jpeg_status


def listing(fp: FlightPhotos) -> str:
    """The human listing: one line a photo, then what is odd about the set."""
    if not fp.photos:
        lines = [f"{fp.log_path}: no photos in this log"]
        if fp.unlogged_jpegs:
            lines.append(f"  {len(fp.unlogged_jpegs)} photo files in {fp.photo_dir} have no "
                         "record in the log")
        return "\n".join(lines)
    written = sum(p.written for p in fp.photos)
    n = len(fp.photos)
    lines = [f"{fp.log_path}: {n} photo{'s' if n != 1 else ''} ({written} written, "
             f"{n - written} failed), JPEGs in {fp.photo_dir}"]
    truth = fp.has_truth
    head = (f"{'seq':>4} {'t':>8} {'reason':<8} {'north':>7} {'east':>7} {'AGL':>6} "
            f"{'hdg':>5} {'result':<7} {'+-t':>6}")
    if truth:
        head += f" {'pos err':>7} {'att err':>7}"
    head += f" {'JPEG':<10} {'lat':>12} {'lon':>12}"
    lines.append(head)
    units = (f"{'':>4} {'[s]':>8} {'':<8} {'[m]':>7} {'[m]':>7} {'[m]':>6} {'[deg]':>5} "
             f"{'':<7} {'[ms]':>6}")
    if truth:
        units += f" {'[m]':>7} {'[deg]':>7}"
    lines.append(units.rstrip())
    for p in fp.photos:
        row = (f"{p.seq:>4} {p.t_s:>8.3f} {p.reason:<8} {_f(p.position[0], '7.2f'):>7} "
               f"{_f(p.position[1], '7.2f'):>7} {_f(p.height_agl_m, '6.2f'):>6} "
               f"{_f(p.heading_deg, '5.1f'):>5} {'written' if p.written else 'FAILED':<7} "
               f"{p.uncertainty_us / 1e3:>6.1f}")
        if truth:
            row += (f" {_f(p.position_error_m, '7.3f'):>7}"
                    f" {_f(p.attitude_error_deg, '7.2f'):>7}")
        row += (f" {_jpeg_text(p):<10} {_f(p.lat, '12.7f'):>12} {_f(p.lon, '12.7f'):>12}")
        lines.append(row.rstrip())
    missing = [p.seq for p in fp.photos if p.written and p.jpeg_status != "present"]
    if missing:
        lines.append(f"written but no readable JPEG: seq {', '.join(map(str, missing))}")
    if fp.unlogged_jpegs:
        lines.append(f"{len(fp.unlogged_jpegs)} photo files have no record in the log: "
                     + ", ".join(p.name for p in fp.unlogged_jpegs[:5])
                     + (" ..." if len(fp.unlogged_jpegs) > 5 else ""))
    if fp.truncated:
        lines.append("the log is cut short: a last photo's record may be lost")
    return "\n".join(lines)


def default_sheet_path(fp: FlightPhotos) -> Path:
    return fp.photo_dir / "contact_sheet.png"
