"""Sample and command types crossing the HAL boundary.

Time model (DESIGN.md): every time is an ``int`` of nanoseconds on the host's monotonic
clock. ``t_ns`` is the best estimate of when the physical measurement happened; ``seq`` is the
device's own counter (a gap means lost data); ``device_t_ns`` is the device's own timestamp
where it has one. Frames also carry ``t_rx_ns``, when their last byte arrived.

Frames of reference: world NED, body FRD, SI units. Samples are NamedTuples because the
control cycle creates thousands of them a second and only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

Vec3 = tuple[float, float, float]

NS_PER_S = 1_000_000_000


class ImuSample(NamedTuple):
    t_ns: int
    seq: int
    accel_mps2: Vec3  # specific force, body FRD
    gyro_rps: Vec3  # angular rate, body FRD
    temp_c: float = float("nan")
    device_t_ns: int | None = None


class RangeSample(NamedTuple):
    t_ns: int
    seq: int
    distance_m: float  # along the sensor axis (body down); nan when invalid
    valid: bool


class Frame(NamedTuple):
    t_ns: int  # mid-exposure, host clock
    seq: int
    t_rx_ns: int  # last byte received, host clock
    image: npt.NDArray[np.uint8]  # rows x cols grayscale; rows toward body -x, cols body +y
    device_t_ns: int | None = None
    exposure_ns: int = 0


class PhotoExposure(NamedTuple):
    """A still photo's exposure, reported as soon as the camera confirms it: long before its
    JPEG is read (seconds over a VC0706's serial line), so the flight software can take the
    pose while its history still covers that time."""

    seq: int  # the still camera's own photo counter, from 1
    trigger_ns: int  # when ``trigger()`` was called, host clock
    t_ns: int  # mid-exposure as best known, host clock
    uncertainty_ns: int  # how far ``t_ns`` may be from the true mid-exposure (timing quality)


class Photo(NamedTuple):
    """A finished (or failed) still photo."""

    seq: int
    trigger_ns: int
    t_ns: int  # mid-exposure, as in its PhotoExposure
    t_rx_ns: int  # when the last byte had been read (verified)
    jpeg: bytes  # the camera's JPEG, unchanged; b"" when it failed
    width: int
    height: int
    error: str = ""  # why it failed; "" on success
    retries: int = 0  # reads repeated to get it


class ActuatorCommand(NamedTuple):
    motors: tuple[float, ...]  # normalized thrust command per motor, 0..1
    armed: bool


@dataclass(slots=True)
class ClockStats:
    """How a device clock maps onto the host clock (see hal.timesync)."""

    offset_ns: float = 0.0  # host = device * (1 + skew) + offset, at the last update
    skew_ppm: float = 0.0
    residual_ns: float = 0.0  # last observation minus the mapping
    updates: int = 0
    step_resets: int = 0  # times the mapping was re-initialised (a jump too big to slew)
    late_points: int = 0  # observations late beyond the gate: the host was slow, not used
    last_late_ns: float = 0.0  # how late the last of them was
    settled: bool = False  # the fit has a full window: offset and skew are trustworthy
    # the skews the observations allow (a clock read through a FIFO, hal.timesync.SkewBounds);
    # equal to skew_ppm where the estimator has no bounds of its own (a clock with stamps)
    skew_lo_ppm: float = 0.0
    skew_hi_ppm: float = 0.0


@dataclass(slots=True)
class DriverCounters:
    """A driver's own counters beyond DeviceHealth's common ones. Each driver subclasses it with
    named, typed fields (``hal.i2c_device.I2cCounters``, ``hal.mpu6050.Mpu6050Counters``...):
    code that knows the driver reads the fields, tools that do not print ``figures()``."""

    def figures(self) -> dict[str, float]:
        """Every counter as a number (ints stay ints, a flag is 0 or 1), by field name."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: int(v) if isinstance(v, bool) else v for k, v in values.items()}


@dataclass(slots=True)
class DeviceHealth:
    """Counters a driver owns and the watchdog reads. Monotonic except ``last_error``."""

    samples: int = 0
    errors: int = 0  # failed transactions (bus errors, timeouts, serial exceptions)
    lost: int = 0  # samples known lost (sequence gaps, drained-queue drops)
    resets: int = 0  # device or FIFO resets the driver performed
    overflows: int = 0  # device FIFO / host queue or receive-buffer overflows
    bad_data: int = 0  # corrupt or implausible data discarded (CRC, NaN, misalignment)
    reconnects: int = 0
    connected: bool = True
    last_error: str = ""
    clock: ClockStats | None = None
    counters: DriverCounters | None = None  # the driver's own, typed (same object, live)

    def note_error(self, what: str) -> None:
        self.errors += 1
        self.last_error = what


@dataclass(slots=True)
class TruthState:
    """Ground truth from a simulated world; never used by the flight software's decisions."""

    t_ns: int
    position_ned: Vec3
    velocity_ned: Vec3
    roll: float
    pitch: float
    yaw: float
    on_ground: bool
    crashed: bool
    crash_reason: str
    touchdown_speed_mps: float  # the hardest touchdown so far
    touchdown_tilt_deg: float  # the most tilted touchdown so far
    max_tilt_deg: float  # largest tilt seen while airborne
    airborne_once: bool
    last_touchdown_ns: int | None = None  # when it last came down (None: never)
