"""The simulated backend: a lockstep clock that steps the world, and the simulated devices.

``SimClock.sleep_until(t)`` does not sleep: it advances simulated time to ``t`` in world
steps, ticking every sensor model after each step. Deterministic for a seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from hal.interfaces import Hal
from hal.tomlschema import load, rng
from hal.types import TruthState
from sim_hal.faults import FaultSet
from sim_hal.photo_camera import PhotoRender, PhotoSettings, SimStillCamera
from sim_hal.sensors import (
    CameraModel,
    ImuModel,
    Noise,
    RangeModel,
    SimActuators,
    SimCamera,
    SimImu,
    SimRangefinder,
)
from sim_hal.stamp_report import stamp_error_report
from sim_hal.world import GRAVITY, VehicleParams, World
from sim_hal.world_settings import WorldParts, WorldSettings, build_world_parts

T0_NS = 1_000_000_000  # sim time starts at 1 s, so nothing can assume t == 0 means "unset"


@dataclass
class SimSettings:
    step_us: int = field(default=1000, metadata=rng(50, 10_000))
    realtime: bool = False  # pace simulated time to the wall clock (watching, kill tests)
    vehicle: VehicleParams = field(default_factory=VehicleParams)
    imu: ImuModel = field(default_factory=ImuModel)
    altimeter: RangeModel = field(default_factory=RangeModel)
    camera: CameraModel = field(default_factory=CameraModel)
    photo: PhotoSettings = field(default_factory=PhotoSettings)


def load_sim_settings(raw: dict[str, Any] | None, source: str) -> SimSettings:
    return load(SimSettings, raw or {}, source, prefix="sim")


class Ticked(Protocol):
    def tick(self, t0: int, t1: int) -> None: ...


class SimClock:
    def __init__(self, world: World, step_ns: int, realtime: bool = False) -> None:
        self.world = world
        self.step_ns = step_ns
        self.tickers: list[Ticked] = []
        self.realtime = realtime
        self._wall0 = time.monotonic_ns() - world.t_ns

    def now_ns(self) -> int:
        return self.world.t_ns

    def sleep_until(self, t_ns: int) -> None:
        self.advance_to(t_ns)
        if self.realtime:
            lag = self._wall0 + t_ns - time.monotonic_ns()
            if lag > 0:
                time.sleep(lag / 1e9)

    def consume(self, dt_ns: int) -> None:
        """Simulated time passing while the caller works (models a slow call)."""
        self.advance_to(self.world.t_ns + dt_ns)

    def advance_to(self, t_ns: int) -> None:
        w = self.world
        step = self.step_ns
        tickers = self.tickers
        while w.t_ns < t_ns:
            t0 = w.t_ns
            w.step(min(step, t_ns - t0))
            t1 = w.t_ns
            for s in tickers:
                s.tick(t0, t1)


class WorldTruth:
    def __init__(self, world: World, camera: SimCamera | None = None,
                 imu: SimImu | None = None) -> None:
        self.world = world
        self.camera = camera
        self.imu = imu

    def truth(self) -> TruthState:
        return self.world.truth()

    def timing_report(self) -> dict[str, dict[str, float]]:
        """The camera's stamps against its images' true mid-exposures, the IMU's against its
        true sample times (the newest sample of each read). The true camera-IMU time offset
        is the IMU's signed median error less the camera's."""
        out = {}
        if self.camera is not None:
            out["camera"] = stamp_error_report(self.camera.stamp_errors_ns)
        if self.imu is not None:
            out["imu"] = stamp_error_report(self.imu.stamp_errors_ns)
        return out


Renderer = Callable[[tuple[float, float, float], npt.NDArray[np.float64]],
                    npt.NDArray[np.uint8]]


def scene_renderer(parts: WorldParts | None, depth_step_px: int, seed: int, texel_m: float,
                   width: int, height: int, hfov_deg: float) -> tuple[Renderer, float]:
    """The camera's renderer: the flat plane's (as before) unless the world has terrain or a
    varying ground, then the height field's with parallax. Returns it and the focal length."""
    from sim_hal.render import GroundTexture, PinholeCamera, render

    texture = GroundTexture(seed=seed, texel_m=texel_m)
    pinhole = PinholeCamera(width=width, height=height, hfov_deg=hfov_deg)
    buf = np.empty((height, width), dtype=np.uint8)
    if parts is None or parts.surface is None:
        def draw(pos: tuple[float, float, float], r_wb: npt.NDArray[np.float64]
                 ) -> npt.NDArray[np.uint8]:
            # a fresh array per frame: frames are queued and must not share a buffer
            return render(texture, pinhole, pos, r_wb, out=buf).copy()

        return draw, pinhole.focal_px

    from sim_hal.render_terrain import TerrainScene

    scene = TerrainScene(parts.surface.field, parts.surface, pinhole, depth_step_px)

    def draw_scene(pos: tuple[float, float, float], r_wb: npt.NDArray[np.float64]
                   ) -> npt.NDArray[np.uint8]:
        return scene.render(texture, pos, r_wb, out=buf).copy()

    return draw_scene, pinhole.focal_px


def make_renderer(settings: SimSettings, seed: int, parts: WorldParts | None = None,
                  depth_step_px: int = 2) -> tuple[Renderer, float]:
    cam = settings.camera
    return scene_renderer(parts, depth_step_px, seed, cam.texel_m, cam.width, cam.height,
                          cam.hfov_deg)


def photo_renderer(settings: SimSettings, seed: int, parts: WorldParts) -> PhotoRender:
    """The still camera's picture function (built when called: it generates textures). The
    ground texture is the navigation camera's (same seed and texel): both see one ground."""
    from sim_hal.render_photo import PhotoRenderer

    ph = settings.photo
    return PhotoRenderer(parts, ph.model(), seed, texel_m=settings.camera.texel_m,
                         depth_step_px=ph.depth_step_px).render


def build_sim(settings: SimSettings, planet: str, faults: FaultSet, seed: int,
              world_settings: WorldSettings | None = None) -> Hal:
    ws = world_settings or WorldSettings()
    parts = build_world_parts(ws, seed, T0_NS)
    world = World(settings.vehicle, GRAVITY[planet], t0_ns=T0_NS, wind=parts.wind,
                  terrain=parts.terrain)
    clock = SimClock(world, settings.step_us * 1000, settings.realtime)
    rng_ = np.random.default_rng(seed)
    # independent streams per device, so adding a sample to one never shifts another's noise
    streams = [Noise(np.random.default_rng(s)) for s in rng_.integers(0, 2**63, size=4)]
    renderer, focal = make_renderer(settings, seed, parts, ws.depth_step_px)
    imu = SimImu(world, settings.imu, faults, streams[0], clock.consume)
    alt = SimRangefinder(world, settings.altimeter, faults, streams[1])
    camera = SimCamera(world, settings.camera, faults, streams[2], renderer, focal)
    motors = SimActuators(world)
    clock.tickers = [imu, alt, camera]
    photo = None
    if settings.photo.enabled:
        # no noise stream of its own: the other devices' streams stay as they were
        photo = SimStillCamera(world, settings.photo,
                               lambda: photo_renderer(settings, seed, parts),
                               synchronous=not settings.realtime)
        clock.tickers.append(photo)
    return Hal(backend="sim", clock=clock, imu=imu, rangefinder=alt, camera=camera,
               actuators=motors, truth=WorldTruth(world, camera, imu), realtime=settings.realtime,
               photo_camera=photo, photo_truth=None if photo is None else photo.photo_truth)
