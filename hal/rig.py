"""The Raspberry Pi rig backend: the real drivers on /dev/i2c-N and real UARTs, real time.

The navigation camera is the raw-frame stream camera (``hal.camera_stream``, 30 frames/s) by
default; the VC0706 is the colour photo camera (``[rig.photo]``, ``hal.vc0706_still``). The
VC0706 can still be the navigation camera (``camera_protocol = "vc0706"``), with a warning:
a capture takes seconds over its serial line.

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
from hal.interfaces import Camera, Clock, Hal, StillCamera
from hal.lidarlite import LidarLiteSettings, LidarLiteV3
from hal.mpu6050 import Mpu6050, Mpu6050Settings
from hal.pca9685 import Pca9685, Pca9685Settings
from hal.realtime import RealtimeClock
from hal.tomlschema import load, rng
from hal.vc0706 import TYPICAL_JPEG_BYTES, Vc0706Camera, Vc0706Settings, capture_wire_s
from hal.vc0706_still import Vc0706StillCamera, Vc0706StillSettings

log = logging.getLogger(__name__)


@dataclass
class RigPhotoSettings(Vc0706StillSettings):
    """``[rig.photo]``: the colour photo camera on its own UART; ``protocol = "none"``: no
    photo camera (the flight plan's photos are skipped, and said so)."""

    protocol: Literal["vc0706", "none"] = "vc0706"
    port: str = "/dev/serial0"  # the header UART, GPIO14/15 (docs/rig.md, wiring)

    def validate(self) -> str:
        if self.protocol != "none" and not self.port:
            return "port: must name a serial device"
        return super().validate()


@dataclass
class RigSettings:
    i2c_bus: int = field(default=1, metadata=rng(0, 255))  # /dev/i2c-<n>
    mpu6050: Mpu6050Settings = field(default_factory=Mpu6050Settings)
    lidarlite: LidarLiteSettings = field(default_factory=LidarLiteSettings)
    pca9685: Pca9685Settings = field(default_factory=Pca9685Settings)  # enabled = false
    # the navigation camera: the stream camera board (docs/camera-stream.md) on a USB-UART
    # (FT232R-class adapters do its 3 Mbaud); the header UART is the photo camera's
    camera_protocol: Literal["stream", "vc0706"] = "stream"
    camera_port: str = "/dev/ttyUSB0"
    stream: StreamCameraSettings = field(default_factory=StreamCameraSettings)
    vc0706: Vc0706Settings = field(default_factory=Vc0706Settings)  # VC0706 as nav camera
    photo: RigPhotoSettings = field(default_factory=RigPhotoSettings)

    def validate(self) -> str:
        addrs = [self.mpu6050.address, self.lidarlite.address, self.pca9685.address]
        if len(set(addrs)) != len(addrs):
            return f"two devices share an I2C address ({[hex(a) for a in addrs]})"
        if not self.camera_port:
            return "camera_port: must name a serial device"
        if (self.photo.protocol != "none"
                and os.path.realpath(self.photo.port) == os.path.realpath(self.camera_port)):
            return (f"photo.port: {self.photo.port} is the navigation camera's camera_port "
                    f"too: each camera needs its own serial port")
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


def vc0706_frame_rate(s: Vc0706Settings) -> float:
    """Frames/s the VC0706 gives as a navigation camera: its rate, or fewer when a capture of
    a typical JPEG keeps the line busy longer than a period."""
    return min(s.rate_hz, 1.0 / capture_wire_s(s, TYPICAL_JPEG_BYTES[s.image_size]))


def make_camera(settings: RigSettings, clock: Clock) -> Camera:
    if settings.camera_protocol == "stream":
        return StreamCamera(settings.camera_port, clock, settings.stream)
    s = settings.vc0706
    log.warning("VC0706 as navigation camera: %.1f frames/s at %s, %d baud; vision needs ~30 "
                "(the stream camera: camera_protocol = \"stream\")", vc0706_frame_rate(s),
                s.image_size, s.line_baud)
    return Vc0706Camera(settings.camera_port, clock, s)


def make_photo_camera(settings: RigSettings, clock: Clock) -> StillCamera | None:
    p = settings.photo
    if p.protocol == "none":
        return None
    return Vc0706StillCamera(p.port, clock, p)


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
        photo_camera=make_photo_camera(settings, clock),
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
