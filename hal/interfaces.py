"""Device and clock interfaces every backend implements (sim, hil, rig).

Rules the control cycle depends on:
- ``poll()`` never blocks: it returns what has arrived since the last call (possibly nothing).
- ``health()`` returns the driver's live counters; callers read, never mutate.
- Times are int nanoseconds on the host monotonic clock (``Clock.now_ns``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hal.types import ActuatorCommand, DeviceHealth, Frame, ImuSample, RangeSample, TruthState


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


class Actuators(Device, Protocol):
    motor_count: int

    def write(self, cmd: ActuatorCommand) -> None: ...

    def disarm(self) -> None:
        """All outputs off, at once. Must be safe to call from any state, more than once."""
        ...


class GroundTruth(Protocol):
    """A simulated world's truth, for summaries and tests; absent on the rig."""

    def truth(self) -> TruthState: ...


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
    closers: list[Callable[[], None]] = field(default_factory=list)
    realtime: bool = False  # the clock is the wall clock (hil, rig, a paced simulation)

    def devices(self) -> list[Device]:
        return [self.imu, self.rangefinder, self.camera, self.actuators]

    def open(self) -> None:
        for dev in self.devices():
            dev.open()

    def close(self) -> None:
        """Outputs off first, then everything else; never raises."""
        try:
            self.actuators.disarm()
        except Exception:
            pass
        for dev in self.devices():
            try:
                dev.close()
            except Exception:
                pass
        for closer in self.closers:
            try:
                closer()
            except Exception:
                pass
