"""Bench targets: the emulated devices with the vehicle held in a hover."""

from __future__ import annotations

import time

from hal.bench_target import CameraBenchTarget, I2cBenchTarget
from hal.camera_stream import StreamCamera
from hal.realtime import RealtimeClock
from sim_hal.hil.assembly import attach_i2c, camera_board
from sim_hal.hil.settings import HilSettings
from sim_hal.hil.world_link import HilWorld
from sim_hal.world import GRAVITY, World

BENCH_ALTITUDE_M = 3.0


def _hovering(settings: HilSettings) -> HilWorld:
    """A world held still at BENCH_ALTITUDE_M, never stepped: the IMU reads 1 g up, the
    altimeter the height, the camera the same ground (no controller is flying it)."""
    world = World(settings.vehicle, GRAVITY["earth"], t0_ns=time.monotonic_ns())
    world.pos = [0.0, 0.0, -BENCH_ALTITUDE_M]
    world.on_ground = False
    return HilWorld(world, live=False)


def hil_i2c_bench_target(settings: HilSettings, seed: int) -> I2cBenchTarget:
    hw = _hovering(settings)
    clock = RealtimeClock()
    bus = attach_i2c(settings, hw, clock, seed)[0]
    return I2cBenchTarget(bus=bus, clock=clock, devices=settings.i2c_devices(),
                          close=bus.close, description="emulated I2C bus (hil)")


def hil_camera_bench_target(settings: HilSettings, seed: int) -> CameraBenchTarget:
    hw = _hovering(settings)
    clock = RealtimeClock()
    emu, _, _, line = camera_board(settings, hw, seed)
    emu.start()
    camera = StreamCamera(line.path, clock, settings.camera)

    def close() -> None:
        camera.close()
        emu.stop()

    return CameraBenchTarget(camera=camera, clock=clock, close=close,
                             description=f"stream camera emulator on {line.path} (hil)",
                             baud=settings.camera.baud)
