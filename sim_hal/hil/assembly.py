"""Building the hil backend: the emulators on a bus and a pty, the real drivers on them, the
fault injector on the clock, all in a ``Hal``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hal.camera_stream import StreamCamera
from hal.interfaces import Hal
from hal.lidarlite import LidarLiteV3
from hal.mpu6050 import FRD_FROM_CHIP, G0, Mpu6050
from hal.pca9685 import Pca9685
from hal.types import NS_PER_S
from sim_hal.backend import WorldTruth, scene_renderer
from sim_hal.camera_emu_base import CameraFaults, DeviceClock, PtyTransport
from sim_hal.camera_truth import CameraTruthTap
from sim_hal.faults import FaultSet
from sim_hal.hil.clock import HilClock
from sim_hal.hil.delay_line import DelayLine
from sim_hal.hil.emulators import HilMpu6050Emulator, HilStreamEmulator
from sim_hal.hil.injector import FaultTargets, HilFaultInjector
from sim_hal.hil.photo import PhotoBoard, photo_board
from sim_hal.hil.settings import HilSettings
from sim_hal.hil.world_link import WORLD_STEP_NS, HilWorld
from sim_hal.i2c_bus import EmulatedI2cBus
from sim_hal.lidarlite_emu import LidarLiteV3Emulator
from sim_hal.pca9685_emu import Pca9685Emulator
from sim_hal.world import GRAVITY, World
from sim_hal.world_settings import WorldParts, WorldSettings, build_world_parts


@dataclass
class HilHal(Hal):
    """A Hal whose ``open`` also starts the camera board (once its driver is listening) and
    whose ``flight_started`` anchors the scenario's faults."""

    after_open: list[Callable[[], None]] = field(default_factory=list)
    on_flight_start: list[Callable[[int], None]] = field(default_factory=list)
    parts: HilParts | None = None  # the wiring, for tests and diagnostics

    def start(self) -> None:
        for hook in self.after_open:
            hook()

    def flight_started(self, t_ns: int) -> None:
        for hook in self.on_flight_start:
            hook(t_ns)


@dataclass
class HilParts:
    """Everything ``build_hil`` wires, for tests and the bench."""

    hw: HilWorld
    clock: HilClock
    bus: EmulatedI2cBus
    imu_emu: HilMpu6050Emulator
    lidar_emu: LidarLiteV3Emulator
    pca_emu: Pca9685Emulator
    camera_emu: HilStreamEmulator
    camera_faults: CameraFaults
    camera_clock: DeviceClock
    delay_line: DelayLine
    injector: HilFaultInjector
    imu: Mpu6050
    altimeter: LidarLiteV3
    motors: Pca9685
    camera: StreamCamera
    photo: PhotoBoard | None = None  # the photo camera: its driver, emulator and truth


def make_frame_source(hw: HilWorld, settings: HilSettings, seed: int,
                      parts: WorldParts | None = None, depth_step_px: int = 2) -> Callable[
        [int], npt.NDArray[np.uint8]]:
    """Render the world at the pose at ``t_ns``, at the size and focal length the driver
    reports (the sim's texture, terrain and ground for the same seed)."""
    cam = settings.camera
    hfov = math.degrees(2.0 * math.atan(cam.width / 2.0 / cam.focal_px))
    draw, _ = scene_renderer(parts, depth_step_px, seed, settings.camera_model.texel_m,
                             cam.width, cam.height, hfov)

    def frame_source(t_ns: int) -> npt.NDArray[np.uint8]:
        pos, r = hw.pose_at(t_ns)
        return draw(pos, r)

    return frame_source


def _seeds(seed: int) -> list[int]:
    return [int(s) for s in np.random.default_rng(seed).integers(0, 2**31, size=4)]


def attach_i2c(settings: HilSettings, hw: HilWorld, clock: Any, seed: int
                ) -> tuple[EmulatedI2cBus, HilMpu6050Emulator, LidarLiteV3Emulator,
                           Pca9685Emulator]:
    s_imu, s_alt, s_bus, _ = _seeds(seed)
    im = settings.imu_model
    bus = EmulatedI2cBus(clock, seed=s_bus)
    # The chip sits as the driver's mounting says: body = mounting @ FRD_FROM_CHIP @ chip.
    chip_from_body = (settings.mpu6050.mounting() @ FRD_FROM_CHIP).T
    imu_emu = HilMpu6050Emulator(
        clock, hw.imu_truth(im.temp_c), who_am_i=im.who_am_i, rate_error_ppm=im.rate_error_ppm,
        seed=s_imu, accel_noise_mps2=im.accel_noise_mps2, gyro_noise_rps=im.gyro_noise_rps,
        accel_bias_mps2=im.accel_bias_mps2, gyro_bias_rps=im.gyro_bias_rps,
        chip_from_body=chip_from_body,
    )
    am = settings.altimeter_model
    lidar_emu = LidarLiteV3Emulator(clock, hw.range_m, acquisition_ns=am.acquisition_us * 1000,
                                    noise_m=am.noise_m, seed=s_alt)
    pca_emu = Pca9685Emulator(clock, hw.set_motors_from_pulses(settings.pca9685))
    bus.attach(settings.mpu6050.address, imu_emu)
    bus.attach(settings.lidarlite.address, lidar_emu)
    bus.attach(settings.pca9685.address, pca_emu)
    return bus, imu_emu, lidar_emu, pca_emu


def camera_board(settings: HilSettings, hw: HilWorld, seed: int,
                 ws: WorldSettings | None = None, parts: WorldParts | None = None
                 ) -> tuple[HilStreamEmulator, CameraFaults, DeviceClock, DelayLine]:
    cm, cs = settings.camera_model, settings.camera
    faults = CameraFaults()
    dev_clock = DeviceClock(offset_ns=round(cm.clock_offset_s * NS_PER_S),
                            skew_ppm=cm.clock_skew_ppm)
    line = DelayLine(PtyTransport())
    emu = HilStreamEmulator(
        make_frame_source(hw, settings, seed, parts, ws.depth_step_px if ws else 2),
        transport=line, width=cs.width,
        height=cs.height, rate_hz=cs.rate_hz, baud=cs.baud, exposure_us=cm.exposure_us,
        # the board is exactly as slow as the driver's settings say it is
        tx_delay_ns=cs.fixed_latency_ns, device_clock=dev_clock, faults=faults,
        seed=_seeds(seed)[3],
    )
    return emu, faults, dev_clock, line


def build_hil_parts(settings: HilSettings, planet: str, faults: FaultSet, seed: int,
                    world_settings: WorldSettings | None = None) -> HilParts:
    t0 = time.monotonic_ns() // WORLD_STEP_NS * WORLD_STEP_NS
    ws = world_settings or WorldSettings()
    wp = build_world_parts(ws, seed, t0)
    world = World(settings.vehicle, GRAVITY[planet], t0_ns=t0, wind=wp.wind,
                  terrain=wp.terrain)
    # half the accelerometer's range: a spread touchdown never clips
    hw = HilWorld(world, impact_cap_mps2=0.5 * settings.mpu6050.accel_fs_g * G0)
    clock = HilClock(hw)
    bus, imu_emu, lidar_emu, pca_emu = attach_i2c(settings, hw, clock, seed)
    cam_emu, cam_faults, dev_clock, line = camera_board(settings, hw, seed, ws, wp)
    injector = HilFaultInjector(faults, FaultTargets(
        bus=bus, imu=imu_emu, imu_addr=settings.mpu6050.address,
        lidar_addr=settings.lidarlite.address, hw=hw, camera=cam_emu,
        camera_faults=cam_faults, camera_clock=dev_clock, delay_line=line,
        base_skew_ppm=settings.camera_model.clock_skew_ppm))
    clock.on_tick.append(injector.tick)
    return HilParts(
        hw=hw, clock=clock, bus=bus, imu_emu=imu_emu, lidar_emu=lidar_emu, pca_emu=pca_emu,
        camera_emu=cam_emu, camera_faults=cam_faults, camera_clock=dev_clock, delay_line=line,
        injector=injector,
        imu=Mpu6050(bus, clock, settings.mpu6050),
        altimeter=LidarLiteV3(bus, clock, settings.lidarlite),
        motors=Pca9685(bus, clock, settings.pca9685),
        camera=StreamCamera(line.path, clock, settings.camera),
        photo=photo_board(settings, hw, clock, seed, wp),
    )


class HilTruth(WorldTruth):
    """The world's truth, and how far the cameras' stamps were from the boards' exposures."""

    def __init__(self, world: World, camera: CameraTruthTap,
                 photo: PhotoBoard | None = None) -> None:
        super().__init__(world)
        self.tap = camera
        self.photo = photo

    def timing_report(self) -> dict[str, dict[str, float]]:
        out = {"camera": self.tap.report()}
        if self.photo is not None:
            out["photo_camera"] = self.photo.report()
        return out


def build_hil(settings: HilSettings, planet: str, faults: FaultSet, seed: int,
              world_settings: WorldSettings | None = None) -> Hal:
    p = build_hil_parts(settings, planet, faults, seed, world_settings)
    camera = CameraTruthTap(p.camera, p.camera_emu)

    def start_board() -> None:
        p.camera_emu.start()  # after open: the driver is listening on the pty

    def stop_board() -> None:
        p.camera_emu.stop()  # joins its thread, closes the delay line and the pty

    # the photo camera is a Hal device: opened (its emulator first) and closed with the rest
    return HilHal(
        backend="hil", clock=p.clock, imu=p.imu, rangefinder=p.altimeter, camera=camera,
        actuators=p.motors, truth=HilTruth(p.hw.world, camera, p.photo),
        photo_camera=p.photo, photo_truth=p.photo.photo_truth if p.photo else None,
        closers=[stop_board, p.bus.close], realtime=True, after_open=[start_board],
        on_flight_start=[p.injector.start], parts=p,
    )

