"""The VC0706 as a still (photo) camera: one photo per trigger, never streaming
(``hal.interfaces.StillCamera``). The protocol, the verified read and the capture thread are
``hal.vc0706``'s; this file says when to capture and what becomes of it.

``trigger()`` only records a request under a lock and wakes the capture thread: the control
cycle never waits on the serial line. The thread freezes the frame buffer at once, reports the
``PhotoExposure`` as soon as the freeze is acknowledged (``hal.vc0706.freeze_exposure``: the
host's stamps of the freeze command, less the sensor's frame timing, with its bound), so the
flight software can take the pose while its history still holds that time; then it reads the
JPEG, every chunk until two readings agree, resumes on every path, and delivers the ``Photo``,
or a failed one with ``error`` set. One photo at a time: a trigger while one is under way is
refused (None) and counted, not queued.

How long a photo takes, freeze to resume (``hal.vc0706.capture_wire_s``, the wire alone): a
640x480 JPEG of a real scene is ~37 KB at the camera's default compression; read twice it
keeps the line busy 20.3 s at the camera's power-on 38400 baud and 6.8 s at 115200 (one read:
10.2 s and 3.4 s). So the photo settings switch to 115200 after init (``fast_baud``), and
``capture_timeout_s`` must leave room for a busy scene (``validate``).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from hal.interfaces import Clock
from hal.photo_geometry import PhotoCameraModel
from hal.serial_reader import PortSpec
from hal.tomlschema import rng
from hal.types import DeviceHealth, Photo, PhotoExposure
from hal.vc0706 import (
    TYPICAL_JPEG_BYTES,
    Vc0706Counters,
    Vc0706Device,
    Vc0706Error,
    Vc0706LinkSettings,
    capture_wire_s,
    decode_jpeg,
)

PHOTO_QUEUE_LEN = 16  # exposures and photos kept for the control side (seconds apart)
# A busy scene's JPEG is up to about half as large again as a typical one (TYPICAL_JPEG_BYTES)
BUSY_SCENE_FACTOR = 1.5

_Q = TypeVar("_Q", PhotoExposure, Photo)


@dataclass
class Vc0706StillSettings(Vc0706LinkSettings):
    """A VC0706 taking photos: full size, the fastest line, a time cap for a big JPEG, and
    where it looks (``hal.photo_geometry``)."""

    image_size: Literal["640x480", "320x240", "160x120"] = "640x480"
    fast_baud: int = 115200  # from the power-on 38400: a 640x480 photo in ~7 s, not ~20 s
    capture_timeout_s: float = field(default=20.0, metadata=rng(0.1, 600))
    # The stock lens varies between modules: measure it (a ruler at a known distance) and
    # set it; the focal length in pixels follows (W/2 / tan(hfov/2)).
    hfov_deg: float = field(default=60.0, metadata=rng(1.0, 170.0))
    # Forward and down, as Ingenuity's colour camera (NASA: about 22 deg below the horizon;
    # the simulator's [sim.photo] the same): with a 60 deg lens (47 deg vertically) a strip of
    # sky at the top of a level picture.
    mount_pitch_deg: float = field(default=22.0, metadata=rng(-90.0, 90.0))

    def validate(self) -> str:
        problem = super().validate()
        if problem:
            return problem
        typical = TYPICAL_JPEG_BYTES[self.image_size]
        wire_s = capture_wire_s(self, typical)
        need_s = BUSY_SCENE_FACTOR * wire_s
        if self.capture_timeout_s < need_s:
            reads = "read twice" if self.verify_reads else "read once"
            return (
                f"capture_timeout_s {self.capture_timeout_s:g} is too short for a "
                f"{self.image_size} photo at {self.line_baud} baud: a typical one (~"
                f"{typical // 1000} KB, {reads}) keeps the line busy {wire_s:.1f} s, a busy "
                f"scene {need_s:.0f} s (faster: fast_baud = 115200, or a smaller image_size)"
            )
        return ""

    def model(self) -> PhotoCameraModel:
        w, h = (int(v) for v in self.image_size.split("x"))
        return PhotoCameraModel.from_hfov(w, h, self.hfov_deg, self.mount_pitch_deg)


@dataclass(slots=True)
class Vc0706StillCounters(Vc0706Counters):
    """The still camera's counters as of the last health(); ``dropped`` counts exposures and
    photos the control side did not drain in time."""

    triggers: int = 0  # trigger() calls
    busy: int = 0  # triggers refused because a photo was under way (dropped, not queued)
    photos: int = 0  # delivered whole
    failed: int = 0  # delivered with an error: never exposed, not read, or not a whole JPEG


class Vc0706StillCamera(Vc0706Device):
    """``hal.interfaces.StillCamera`` for a VC0706 on a serial port."""

    settings: Vc0706StillSettings
    counters: Vc0706StillCounters
    thread_role = "photo"

    def __init__(
        self, port: PortSpec, clock: Clock, settings: Vc0706StillSettings | None = None,
        name: str = "photo_camera",
    ) -> None:
        s = settings or Vc0706StillSettings()
        super().__init__(port, clock, s, name)
        self.model = s.model()
        self.focal_px = self.model.focal_px
        self.mount_pitch_deg = s.mount_pitch_deg
        self._lock = threading.Lock()  # guards everything below; never held over serial I/O
        self._wake = threading.Event()
        self._next_seq = 1
        self._request: tuple[int, int] | None = None  # (seq, trigger_ns) for the thread
        self._job: tuple[int, int] | None = None  # the one under way
        self._busy = False  # from an accepted trigger until its Photo is queued
        self._exposures: deque[PhotoExposure] = deque()
        self._photos: deque[Photo] = deque()
        self.triggers = self.busy_refusals = self.photos_ok = self.photos_failed = 0
        self.dropped = 0

    def _new_counters(self) -> Vc0706StillCounters:
        return Vc0706StillCounters()

    # --- StillCamera ------------------------------------------------------------------------
    def trigger(self) -> int | None:
        """The photo's seq, or None when one is under way (refused and counted). Never waits:
        a lock held only for queue operations, and an event set."""
        t = self._now()
        with self._lock:
            self.triggers += 1
            if self._busy:
                self.busy_refusals += 1
                return None
            seq = self._next_seq
            self._next_seq += 1
            if self._thread is None or not self._health.connected:
                # no exposure can follow: fail it now rather than take it seconds late
                why = self._health.last_error or "not opened"
                self._deliver_locked(Photo(seq, t, t, t, b"", self.width, self.height,
                                           error=f"not connected ({why})"))
                return seq
            self._busy = True
            self._request = (seq, t)
        self._wake.set()
        return seq

    def poll_exposures(self) -> list[PhotoExposure]:
        with self._lock:
            out = list(self._exposures)
            self._exposures.clear()
        return out

    def poll(self) -> list[Photo]:
        with self._lock:
            out = list(self._photos)
            self._photos.clear()
        return out

    def health(self) -> DeviceHealth:
        h = super().health()
        c = self.counters
        with self._lock:
            c.triggers, c.busy, c.dropped = self.triggers, self.busy_refusals, self.dropped
            c.photos, c.failed = self.photos_ok, self.photos_failed
        h.samples, h.lost, h.overflows = c.photos, c.failed, c.dropped
        return h

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        super().close()
        with self._lock:
            pending, self._request = self._request, None
            if pending is not None:
                seq, t = pending
                self._deliver_locked(Photo(seq, t, t, self._now(), b"", self.width,
                                           self.height, error="closed before it was taken"))

    # --- the capture thread -------------------------------------------------------------------
    def _push(self, q: deque[_Q], item: _Q) -> None:
        if len(q) >= PHOTO_QUEUE_LEN:
            q.popleft()
            self.dropped += 1
        q.append(item)

    def _deliver_locked(self, photo: Photo) -> None:
        self._push(self._photos, photo)
        if photo.error:
            self.photos_failed += 1
        else:
            self.photos_ok += 1
        if self._job is not None and self._job[0] == photo.seq:
            self._job = None
            self._busy = False

    def _wait_for_work(self) -> bool:
        self._wake.wait()
        self._wake.clear()
        if self._stop.is_set():
            return False  # close() fails a request left waiting
        with self._lock:
            self._job, self._request = self._request, None
        return self._job is not None

    def _work(self) -> None:
        assert self._job is not None
        seq, trig = self._job
        w, h = self.width, self.height
        repeats0 = self.repeats()
        exposed: list[int] = []

        def on_exposed(t_ns: int, uncertainty_ns: int) -> None:
            exposed.append(t_ns)
            with self._lock:
                self._push(self._exposures, PhotoExposure(seq, trig, t_ns, uncertainty_ns))

        try:
            t_ns, _, data, t_rx = self.frozen_read(on_exposed)
        except BaseException as exc:  # delivered failed, then the loop counts it or reopens
            why = str(exc) if isinstance(exc, Vc0706Error) else f"{type(exc).__name__}: {exc}"
            failed = Photo(seq, trig, exposed[0] if exposed else trig, self._now(), b"", w, h,
                           error=why or type(exc).__name__, retries=self.repeats() - repeats0)
            with self._lock:
                self._deliver_locked(failed)
            raise
        # the whole JPEG must decode (colour or not) at the size the camera was set to
        error = "" if decode_jpeg(data, w, h) is not None else (
            f"not a whole {w}x{h} JPEG ({len(data)} bytes)")
        if error:
            self._health.bad_data += 1
            self._health.last_error = f"photo {seq}: {error}"
        photo = Photo(seq, trig, t_ns, t_rx, b"" if error else data, w, h, error,
                      self.repeats() - repeats0)
        with self._lock:
            self._deliver_locked(photo)
