"""``[hil]`` settings: the simulated vehicle, what the emulated devices do beyond their
register maps (``*_model``), and the drivers' own settings, exactly as the rig would have them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from hal.bench_target import I2cDevices
from hal.camera_stream import StreamCameraSettings
from hal.lidarlite import LidarLiteSettings
from hal.mpu6050 import Mpu6050Settings
from hal.pca9685 import Pca9685Settings
from hal.tomlschema import load, rng
from hal.vc0706_still import Vc0706StillSettings
from sim_hal.mpu6050_emu import VARIANTS
from sim_hal.world import VehicleParams

# 160x120 at 30 Hz, like the sim's camera: 19240 bytes a frame is 24 ms of wire at 8 Mbaud
# (6 Mbaud would be 32 ms of the 33 ms period, leaving the emulator no slack to render).
HIL_CAMERA_BAUD = 8_000_000
HIL_CAMERA_FOCAL_PX = 80.0 / math.tan(math.radians(50.0))  # 160 px across 100 deg, as the sim


@dataclass
class HilImuModel:
    """What the emulated chip does that its register map does not say."""

    who_am_i: int = field(default=0x68, metadata=rng(0x68, 0x71))
    rate_error_ppm: float = field(default=1500.0, metadata=rng(-50_000, 50_000))
    accel_noise_mps2: float = field(default=0.03, metadata=rng(0, 5))
    gyro_noise_rps: float = field(default=0.002, metadata=rng(0, 1))
    accel_bias_mps2: float = field(default=0.03, metadata=rng(0, 5))  # std of the run's bias
    gyro_bias_rps: float = field(default=0.003, metadata=rng(0, 1))
    temp_c: float = field(default=-20.0, metadata=rng(-40, 85))

    def validate(self) -> str:
        if self.who_am_i not in VARIANTS:
            known = ", ".join(f"0x{v:02x}" for v in VARIANTS)
            return f"who_am_i: 0x{self.who_am_i:02x} is not an emulated variant ({known})"
        return ""


@dataclass
class HilRangeModel:
    noise_m: float = field(default=0.02, metadata=rng(0, 5))
    acquisition_us: int = field(default=3700, metadata=rng(100, 100_000))


@dataclass
class HilCameraModel:
    """The emulated camera board's own clock and the ground it sees."""

    clock_offset_s: float = field(default=-0.731, metadata=rng(-1e5, 1e5))
    clock_skew_ppm: float = field(default=40.0, metadata=rng(-10_000, 10_000))
    exposure_us: int = field(default=2000, metadata=rng(10, 100_000))
    texel_m: float = field(default=0.04, metadata=rng(0.001, 10))


@dataclass
class HilPca9685Settings(Pca9685Settings):
    enabled: bool = True  # the outputs only drive the emulator's motors


@dataclass
class HilStreamCameraSettings(StreamCameraSettings):
    baud: int = field(default=HIL_CAMERA_BAUD, metadata=rng(9600, 12_000_000))
    width: int = field(default=160, metadata=rng(16, 4096))
    height: int = field(default=120, metadata=rng(16, 4096))
    focal_px: float = field(default=HIL_CAMERA_FOCAL_PX, metadata=rng(1.0, 100_000.0))
    # the sim's camera model fits 90 frames; the same window makes the watchdog's skew
    # detection latency comparable (the driver's default 256 is for accuracy on a rig)
    clock_window: int = field(default=90, metadata=rng(2, 10_000))


@dataclass
class HilPhotoModel:
    """The emulated photo camera's true timing (``sim_hal.vc0706_emu``): what the driver's
    ``sensor_frame_s`` only believes."""

    frame_period_us: int = field(default=33_333, metadata=rng(1_000, 1_000_000))
    exposure_us: int = field(default=10_000, metadata=rng(10, 1_000_000))
    jpeg_quality: int = field(default=85, metadata=rng(1, 95))
    paced: bool = True  # bytes at the line rate, as a UART: a 640x480 photo takes seconds


@dataclass
class HilPhotoSettings(Vc0706StillSettings):
    """The photo camera's driver, as the rig's ``[rig.photo]`` (its port is the emulator's
    pty); ``protocol = "none"``: no photo camera."""

    protocol: Literal["vc0706", "none"] = "vc0706"


@dataclass
class HilSettings:
    """``[hil]``: the simulated vehicle, what the emulated devices do beyond their register maps
    (``*_model``), and the drivers' own settings, exactly as the rig would have them."""

    vehicle: VehicleParams = field(default_factory=VehicleParams)
    imu_model: HilImuModel = field(default_factory=HilImuModel)
    altimeter_model: HilRangeModel = field(default_factory=HilRangeModel)
    camera_model: HilCameraModel = field(default_factory=HilCameraModel)
    mpu6050: Mpu6050Settings = field(default_factory=Mpu6050Settings)
    lidarlite: LidarLiteSettings = field(default_factory=LidarLiteSettings)
    pca9685: HilPca9685Settings = field(default_factory=HilPca9685Settings)
    camera: HilStreamCameraSettings = field(default_factory=HilStreamCameraSettings)
    photo: HilPhotoSettings = field(default_factory=HilPhotoSettings)
    photo_model: HilPhotoModel = field(default_factory=HilPhotoModel)

    def validate(self) -> str:
        n = len(self.pca9685.channels)
        if n != 4:
            return f"pca9685.channels: the simulated vehicle has 4 motors (got {n} channels)"
        addrs = [self.mpu6050.address, self.lidarlite.address, self.pca9685.address]
        if len(set(addrs)) != len(addrs):
            return f"two emulated devices share an I2C address ({[hex(a) for a in addrs]})"
        return ""

    def i2c_devices(self) -> I2cDevices:
        return I2cDevices(self.mpu6050, self.lidarlite, self.pca9685)


def load_hil_settings(raw: dict[str, Any] | None, source: str) -> HilSettings:
    return load(HilSettings, raw or {}, source, prefix="hil")

