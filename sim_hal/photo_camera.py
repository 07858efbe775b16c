"""The simulated colour still camera (``hal.interfaces.StillCamera``) of the lockstep backend.

Timeline of one photo, in simulated time (the sim's host clock):

    trigger() at t  ->  exposure from t + trigger_latency, for exposure_ms
                        (mid-exposure: t + trigger_latency + exposure / 2)
                    ->  poll_exposures() reports it once the exposure has ended
                    ->  poll() delivers the JPEG readout_s after the exposure ended

One photo at a time: a trigger before the last photo's readout has finished is refused
(None) and counted. The picture is the world at the true mid-exposure (the pose interpolated
between the world steps around it, ``pose_history``), rendered (``render_photo``) and encoded
where it cannot disturb the control cycle:

- in lockstep (``synchronous``), in the world's step at the mid-exposure: the flight software
  is not running then (the world steps inside the clock's sleep), so its cycles cost what
  they cost without a camera; a worker thread would run beside the following cycles and
  slow them through the GIL, a cost no real camera puts on its host;
- in a paced (real-time) simulation, on a worker thread started at the exposure, since a
  step that rendered would hold up the real-time loop; the world's step at the readout time
  waits for the worker if it is not done (counted), never ``poll()``.

Either way ``poll()`` hands the photo over at the first cycle at or after its readout time,
so the same seed gives the same flight and the same photos whatever the machine's speed.

Time stamps: ``t_ns`` is what the camera's configuration believes (trigger time + configured
latency + half the configured exposure), never the simulator's truth. This model has no
timing error of its own (the true latency is the configured one), so the true stamp error is
0; ``uncertainty_ns`` is the configured claim of how far it may be off (``stamp_uncertainty_ms``).
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hal.geometry import quat_to_euler
from hal.photo_geometry import PhotoCameraModel
from hal.tomlschema import rng
from hal.types import DeviceHealth, DriverCounters, Photo, PhotoExposure, TruthState
from sim_hal.pose_history import PoseHistory
from sim_hal.world import World

U8 = npt.NDArray[np.uint8]
Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]
PhotoRender = Callable[[Vec3, Quat], U8]
POSE_KEEP_NS = 50_000_000  # a few world steps: only the two around mid-exposure are read


@dataclass
class PhotoSettings:
    """``[sim.photo]``. Geometry after Ingenuity's colour (RTE) camera: NASA describes it as
    pointed about 22 deg below the horizon (a 4208 x 3120 sensor). Its field of view is not
    in the sources found; 60 deg across gives, level, a thin strip of sky at the top of the
    picture, as NASA's description of its first colour photo from the air says it showed.
    The timing is a camera on a fast link (tens of ms to trigger, half a second to read): a
    VC0706 read over a serial line takes seconds (``readout_s`` ~ 10 models one)."""

    enabled: bool = True
    width: int = field(default=640, metadata=rng(16, 4208))
    height: int = field(default=480, metadata=rng(16, 3120))
    hfov_deg: float = field(default=60.0, metadata=rng(10, 150))
    mount_pitch_deg: float = field(default=22.0, metadata=rng(0, 90))  # below body forward
    trigger_latency_ms: float = field(default=30.0, metadata=rng(0, 5000))
    exposure_ms: float = field(default=2.0, metadata=rng(0.01, 1000))
    readout_s: float = field(default=0.5, metadata=rng(0, 600))
    jpeg_quality: int = field(default=85, metadata=rng(1, 95))
    stamp_uncertainty_ms: float = field(default=1.0, metadata=rng(0, 10_000))
    depth_step_px: int = field(default=2, metadata=rng(1, 16))  # the renderer's ray grid

    def model(self) -> PhotoCameraModel:
        return PhotoCameraModel.from_hfov(self.width, self.height, self.hfov_deg,
                                          self.mount_pitch_deg)


@dataclass(slots=True)
class StillCameraCounters(DriverCounters):
    triggers: int = 0  # accepted
    busy: int = 0  # refused: the last photo was not read out yet
    exposures: int = 0
    photos: int = 0  # delivered (failures included)
    failures: int = 0
    # the worker was still rendering at readout time and the world's step waited (wall
    # clock: these depend on the machine, never on the flight)
    render_waits: int = 0
    render_wait_ms: float = 0.0
    render_ms_max: float = 0.0  # render + encode, the slowest so far


def encode_jpeg(image: U8, quality: int) -> bytes:
    """Baseline JPEG of an (H, W, 3) uint8 RGB image (deterministic for the same Pillow)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class _Shot:
    seq: int
    trigger_ns: int
    stamp_ns: int  # believed mid-exposure
    mid_ns: int  # true mid-exposure
    end_ns: int  # true end of exposure
    ready_ns: int  # readout done
    job: Future[bytes] | None = None
    reported: bool = False


class SimStillCamera:
    """``StillCamera`` for the lockstep sim; ticked by ``SimClock`` after each world step.

    ``make_renderer`` builds the picture function (world pose -> RGB image); it is called
    once, on the worker thread, at the first exposure: flights that take no photo never pay
    for the renderer's textures."""

    def __init__(self, world: World, settings: PhotoSettings,
                 make_renderer: Callable[[], PhotoRender], name: str = "photo_camera",
                 synchronous: bool = True) -> None:
        self.name = name
        self.synchronous = synchronous  # render in the world's step (lockstep; see above)
        self.world = world
        self.s = settings
        model = settings.model()
        self.width, self.height = model.width, model.height
        self.focal_px = model.focal_px
        self.mount_pitch_deg = model.mount_pitch_deg
        self._make_renderer = make_renderer
        self._render: PhotoRender | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.counters = StillCameraCounters()
        self._health = DeviceHealth(counters=self.counters)
        self._seq = 0
        self._shots: list[_Shot] = []  # triggered, not yet delivered, in seq order
        self._exposing: _Shot | None = None  # triggered, its mid-exposure not reached yet
        self._poses = PoseHistory(POSE_KEEP_NS)
        self._truth: dict[int, TruthState] = {}
        # the configuration's belief (stamps) and the camera's true timing: the same numbers,
        # this model has no timing error (module docstring)
        self._latency_ns = round(settings.trigger_latency_ms * 1e6)
        self._exposure_ns = round(settings.exposure_ms * 1e6)
        self._readout_ns = round(settings.readout_s * 1e9)
        self._uncertainty_ns = round(settings.stamp_uncertainty_ms * 1e6)

    # -- Device ------------------------------------------------------------------------------
    def open(self) -> None:
        pass

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def health(self) -> DeviceHealth:
        return self._health

    # -- StillCamera -------------------------------------------------------------------------
    def trigger(self) -> int | None:
        now = self.world.t_ns
        if self._shots and self._shots[-1].ready_ns > now:
            self.counters.busy += 1
            return None
        self._seq += 1
        start = now + self._latency_ns
        end = start + self._exposure_ns
        shot = _Shot(seq=self._seq, trigger_ns=now,
                     stamp_ns=now + self._latency_ns + self._exposure_ns // 2,
                     mid_ns=start + self._exposure_ns // 2, end_ns=end,
                     ready_ns=end + self._readout_ns)
        self._shots.append(shot)
        self._exposing = shot
        w = self.world
        self._poses.add(now, w.pos, w.vel, w.q)
        self.counters.triggers += 1
        return shot.seq

    def poll_exposures(self) -> list[PhotoExposure]:
        now = self.world.t_ns
        out = []
        for shot in self._shots:
            if not shot.reported and shot.end_ns <= now and shot.job is not None:
                shot.reported = True
                out.append(PhotoExposure(shot.seq, shot.trigger_ns, shot.stamp_ns,
                                         self._uncertainty_ns))
        return out

    def poll(self) -> list[Photo]:
        now = self.world.t_ns
        out: list[Photo] = []
        while self._shots and self._shots[0].ready_ns <= now and self._shots[0].job is not None:
            out.append(self._deliver(self._shots.pop(0)))
        return out

    # -- simulation --------------------------------------------------------------------------
    def tick(self, t0: int, t1: int) -> None:
        for due in self._shots:
            if due.ready_ns <= t1 and due.job is not None and not due.job.done():
                self._wait(due.job)  # here, in the world's step: never in poll()
        shot = self._exposing
        if shot is None:
            return
        w = self.world
        self._poses.add(t1, w.pos, w.vel, w.q)
        if t1 < shot.mid_ns:
            return
        self._exposing = None
        pos, vel, q = self._poses.state_at(shot.mid_ns)
        roll, pitch, yaw = quat_to_euler(q)
        self._truth[shot.seq] = dataclasses.replace(
            w.truth(), t_ns=shot.mid_ns, position_ned=pos, velocity_ned=vel, roll=roll,
            pitch=pitch, yaw=yaw)
        if self.synchronous:
            shot.job = Future()
            try:
                shot.job.set_result(self._picture(pos, q))
            except Exception as exc:  # delivered as a failed photo, as from the worker
                shot.job.set_exception(exc)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
            shot.job = self._pool.submit(self._picture, pos, q)
        self.counters.exposures += 1

    def _wait(self, job: Future[bytes]) -> None:
        t = time.perf_counter()
        self.counters.render_waits += 1
        try:
            job.exception()  # waits; the outcome is read at delivery
        finally:
            self.counters.render_wait_ms += (time.perf_counter() - t) * 1e3

    def photo_truth(self, seq: int) -> TruthState | None:
        """The world's true state at photo ``seq``'s true mid-exposure (``Hal.photo_truth``)."""
        return self._truth.get(seq)

    # -- worker thread -----------------------------------------------------------------------
    def _picture(self, pos: Vec3, q: Sequence[float]) -> bytes:
        t = time.perf_counter()
        if self._render is None:
            self._render = self._make_renderer()
        jpeg = encode_jpeg(self._render(pos, (q[0], q[1], q[2], q[3])), self.s.jpeg_quality)
        ms = (time.perf_counter() - t) * 1e3
        if ms > self.counters.render_ms_max:
            self.counters.render_ms_max = ms
        return jpeg

    def _deliver(self, shot: _Shot) -> Photo:
        job = shot.job
        assert job is not None
        if not job.done():  # only if poll() came without the step at the readout time
            self._wait(job)
        self.counters.photos += 1
        photo = Photo(shot.seq, shot.trigger_ns, shot.stamp_ns, shot.ready_ns, b"",
                      self.width, self.height)
        exc = job.exception()
        if exc is not None:
            self.counters.failures += 1
            why = f"render failed: {type(exc).__name__}: {exc}"
            self._health.note_error(why)
            return photo._replace(error=why)
        self._health.samples += 1
        return photo._replace(jpeg=job.result())
