"""The Raspberry Pi rig backend: the real drivers on /dev/i2c-N and a real UART, real time.

Outputs are live only when the configuration enables them (``[rig.pca9685] enabled = true``)
AND the operator armed (``flightsw fly --arm``); otherwise the PCA9685 driver keeps every
output fully off whatever the flight software commands. There is no ground truth on a rig.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from hal.bench_target import CameraBenchTarget, I2cBenchTarget, I2cDevices
from hal.camera_stream import StreamCamera, StreamCameraSettings
from hal.interfaces import Camera, Clock, Hal
from hal.lidarlite import LidarLiteSettings, LidarLiteV3
from hal.mpu6050 import Mpu6050, Mpu6050Settings
from hal.pca9685 import Pca9685, Pca9685Settings
from hal.realtime import RealtimeClock
from hal.tomlschema import load, rng
from hal.vc0706 import Vc0706Camera, Vc0706Settings

log = logging.getLogger(__name__)


@dataclass
class RigSettings:
    i2c_bus: int = field(default=1, metadata=rng(0, 255))  # /dev/i2c-<n>
    mpu6050: Mpu6050Settings = field(default_factory=Mpu6050Settings)
    lidarlite: LidarLiteSettings = field(default_factory=LidarLiteSettings)
    pca9685: Pca9685Settings = field(default_factory=Pca9685Settings)  # enabled = false
    camera_protocol: Literal["stream", "vc0706"] = "vc0706"
    camera_port: str = "/dev/serial0"
    stream: StreamCameraSettings = field(default_factory=StreamCameraSettings)
    vc0706: Vc0706Settings = field(default_factory=Vc0706Settings)

    def validate(self) -> str:
        addrs = [self.mpu6050.address, self.lidarlite.address, self.pca9685.address]
        if len(set(addrs)) != len(addrs):
            return f"two devices share an I2C address ({[hex(a) for a in addrs]})"
        if not self.camera_port:
            return "camera_port: must name a serial device"
        return ""

    def i2c_devices(self) -> I2cDevices:
        return I2cDevices(self.mpu6050, self.lidarlite, self.pca9685)


def load_rig_settings(raw: dict[str, Any] | None, source: str) -> RigSettings:
    return load(RigSettings, raw or {}, source, prefix="rig")


class RigError(OSError):
    """The rig's hardware cannot be reached; the message says what to check."""


def open_i2c_bus(n: int) -> Any:
    import smbus2  # only the rig needs the kernel interface

    path = f"/dev/i2c-{n}"
    try:
        return smbus2.SMBus(n)
    except OSError as exc:
        hint = ("enable I2C (docs/rig.md, step 1)" if exc.errno == errno.ENOENT
                else "add the user to group i2c" if exc.errno == errno.EACCES else "")
        raise RigError(exc.errno or errno.EIO,
                       f"cannot open {path}: {os.strerror(exc.errno or errno.EIO)}"
                       + (f" ({hint})" if hint else "")) from exc


def make_camera(settings: RigSettings, clock: Clock) -> Camera:
    if settings.camera_protocol == "stream":
        return StreamCamera(settings.camera_port, clock, settings.stream)
    return Vc0706Camera(settings.camera_port, clock, settings.vc0706)


def build_rig(settings: RigSettings, arm: bool) -> Hal:
    clock = RealtimeClock()
    bus = open_i2c_bus(settings.i2c_bus)
    live = settings.pca9685.enabled and arm
    if settings.pca9685.enabled and not arm:
        log.warning("rig: outputs enabled in the config but not armed: they stay OFF")
    elif live:
        log.warning("rig: outputs LIVE (enabled in the config and armed)")
    motors = Pca9685(bus, clock, dataclasses.replace(settings.pca9685, enabled=live))
    return Hal(
        backend="rig", clock=clock,
        imu=Mpu6050(bus, clock, settings.mpu6050),
        rangefinder=LidarLiteV3(bus, clock, settings.lidarlite),
        camera=make_camera(settings, clock),
        actuators=motors, truth=None, closers=[bus.close], realtime=True,
    )


def rig_i2c_bench_target(settings: RigSettings) -> I2cBenchTarget:
    bus = open_i2c_bus(settings.i2c_bus)
    return I2cBenchTarget(bus=bus, clock=RealtimeClock(), devices=settings.i2c_devices(),
                          close=bus.close, description=f"/dev/i2c-{settings.i2c_bus}")


def rig_camera_bench_target(settings: RigSettings) -> CameraBenchTarget:
    clock = RealtimeClock()
    camera = make_camera(settings, clock)
    stream = settings.camera_protocol == "stream"
    return CameraBenchTarget(
        camera=camera, clock=clock, close=camera.close,
        description=f"{settings.camera_protocol} camera on {settings.camera_port}",
        baud=settings.stream.baud if stream else None)
