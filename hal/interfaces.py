"""Device and clock interfaces every backend implements (sim, hil, rig).

Rules the control cycle depends on:
- ``poll()`` never blocks: it returns what has arrived since the last call (possibly nothing).
- ``health()`` returns the driver's live counters; callers read, never mutate.
- Times are int nanoseconds on the host monotonic clock (``Clock.now_ns``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hal.types import (
    ActuatorCommand,
    DeviceHealth,
    Frame,
    ImuSample,
    Photo,
    PhotoExposure,
    RangeSample,
    TruthState,
)

log = logging.getLogger(__name__)


class Clock(Protocol):
    def now_ns(self) -> int: ...

    def sleep_until(self, t_ns: int) -> None:
        """Return at (or as soon as possible after) ``t_ns``; never before it."""
        ...


class Device(Protocol):
    name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> DeviceHealth: ...


class Imu(Device, Protocol):
    rate_hz: float  # nominal output data rate

    def poll(self) -> list[ImuSample]: ...


class Rangefinder(Device, Protocol):
    rate_hz: float

    def poll(self) -> list[RangeSample]: ...


class Camera(Device, Protocol):
    rate_hz: float
    width: int
    height: int
    focal_px: float  # pinhole focal length in pixels (square pixels)

    def poll(self) -> list[Frame]: ...


class StillCamera(Device, Protocol):
    """A colour camera for pictures, apart from navigation: triggered, never streaming.

    Geometry (``hal.photo_geometry.photo_camera_axes``): fixed to the body, looking forward and
    ``mount_pitch_deg`` down; square pixels, principal point at the image centre.
    """

    width: int
    height: int
    focal_px: float
    mount_pitch_deg: float

    def trigger(self) -> int | None:
        """Take a photo as soon as possible; never blocks. The ``seq`` the photo will carry,
        or None when the camera is still busy with the last one (the trigger is dropped and
        counted, not queued)."""
        ...

    def poll_exposures(self) -> list[PhotoExposure]:
        """Exposures confirmed since the last call (each photo's exactly once)."""
        ...

    def poll(self) -> list[Photo]:
        """Photos finished or failed since the last call (each exactly once)."""
        ...


class Actuators(Device, Protocol):
    motor_count: int

    def write(self, cmd: ActuatorCommand) -> None: ...

    def disarm(self) -> None:
        """All outputs off, at once. Must be safe to call from any state, more than once."""
        ...


class GroundTruth(Protocol):
    """A simulated world's truth, for summaries and tests; absent on the rig."""

    def truth(self) -> TruthState: ...

    def timing_report(self) -> dict[str, dict[str, float]]:
        """Per device, how far its samples' ``t_ns`` were from the true measurement times
        (count, median, p99, max in microseconds), where the backend knows them."""
        ...


@dataclass
class Hal:
    """What a backend hands the flight software: everything it may touch."""

    backend: str
    clock: Clock
    imu: Imu
    rangefinder: Rangefinder
    camera: Camera
    actuators: Actuators
    truth: GroundTruth | None = None
    photo_camera: StillCamera | None = None  # none: the plan's photos are skipped, and said so
    # Simulated backends: the world's true state at photo ``seq``'s true mid-exposure (None
    # when unknown), to judge the geotags; never used by the flight software's decisions.
    photo_truth: Callable[[int], TruthState | None] | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    realtime: bool = False  # the clock is the wall clock (hil, rig, a paced simulation)

    def devices(self) -> list[Device]:
        devs: list[Device] = [self.imu, self.rangefinder, self.camera, self.actuators]
        if self.photo_camera is not None:
            devs.append(self.photo_camera)
        return devs

    close_errors: list[str] = field(default_factory=list)  # what close() could not do

    def open(self) -> None:
        """Open every device, then ``start()``; a device that fails raises (call close())."""
        for dev in self.devices():
            dev.open()
        self.start()

    def start(self) -> None:
        """Called once every device is open: a backend starts what feeds them (hil: the
        camera board, once its driver listens)."""

    def flight_started(self, t_ns: int) -> None:
        """The flight's first control cycle runs at host time ``t_ns`` (after preflight): a
        backend that injects scenario faults anchors their onsets here. Called once per flight
        by the deployment code that runs the loop; real hardware has nothing to do."""

    def close(self) -> None:
        """Outputs off first, then everything else; never raises. Whatever fails is logged
        and kept in ``close_errors`` (a failed disarm above all: the motors may be live)."""
        steps: list[tuple[str, Callable[[], None]]] = [
            (f"disarm {self.actuators.name}", self.actuators.disarm)]
        steps += [(f"close {dev.name}", dev.close) for dev in self.devices()]
        steps += [(f"closer {getattr(c, '__name__', c)!s}", c) for c in self.closers]
        for what, step in steps:
            try:
                step()
            except Exception as exc:
                line = f"{what} failed: {type(exc).__name__}: {exc}"
                self.close_errors.append(line)
                if what.startswith("disarm"):
                    log.critical("%s: OUTPUTS MAY STILL BE LIVE", line)
                else:
                    log.error("%s", line)
