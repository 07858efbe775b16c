"""What a backend hands the bench tool (``ground.bench``): a bus with the chips expected on it, or
a camera, each with its clock and how to release it. Backends (``hal.rig``, ``sim_hal.hil``)
build these; the bench routines live with the ground tools.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hal.interfaces import Camera, Clock
from hal.lidarlite import LidarLiteSettings
from hal.mpu6050 import Mpu6050Settings
from hal.pca9685 import Pca9685Settings


@dataclass
class I2cDevices:
    """The chips the bench expects; None = not fitted."""

    mpu6050: Mpu6050Settings | None = None
    lidarlite: LidarLiteSettings | None = None
    pca9685: Pca9685Settings | None = None


@dataclass
class I2cBenchTarget:
    """A bus with its devices' settings, from a backend (``rig_i2c_bench_target``,
    ``sim_hal.hil.hil_i2c_bench_target``). Call ``close`` when done."""

    bus: Any
    clock: Clock
    devices: I2cDevices
    close: Callable[[], None]
    description: str = ""


@dataclass
class CameraBenchTarget:
    camera: Camera
    clock: Clock
    close: Callable[[], None]
    description: str = ""
    baud: int | None = None  # line rate, for the wire-time figure of a stream camera
