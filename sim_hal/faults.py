"""Scenario faults: each kind is one typed definition, validated like the configuration.

A scenario's ``[[faults]]`` table has ``kind``, ``at_s``, optional ``duration_s`` (default: to
the end) and the kind's own parameters. ``kind`` picks the parameter dataclass below; the rest
of the table is checked by ``hal.tomlschema`` (the one validator of every TOML file), so a bad
entry is one line naming the file, the key and the problem, before anything flies.

What a kind does on each backend lives with the backend: the lockstep sensor models
(``sim_hal/sensors.py``) and the hil fault injector (``sim_hal/hil/injector.py``) both ask a
``FaultSet`` by parameter class, never by a kind's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from hal.tomlschema import ConfigError, describe, load, rng
from hal.types import NS_PER_S

FOREVER_NS = 2**62
# ~32 years: past any flight (loop.max_flight_s <= 1 day), and at + duration + a host clock's
# start stay far below FOREVER_NS, so a time never overflows or wraps into "forever"
MAX_FAULT_S = 1_000_000_000


class FaultKind(StrEnum):
    """The ``kind`` a scenario names; a member equals its TOML spelling."""

    CAMERA_DROP = "camera.drop"
    CAMERA_STAMP_SHIFT = "camera.stamp_shift"
    CAMERA_CLOCK_SKEW = "camera.clock_skew"
    CAMERA_STALL = "camera.stall"
    CAMERA_DISCONNECT = "camera.disconnect"
    CAMERA_BURST_DROP = "camera.burst_drop"
    CAMERA_LATENCY = "camera.latency"
    CAMERA_DELAY_ERROR = "camera.delay_error"
    CAMERA_DELAY_DRIFT = "camera.delay_drift"
    CAMERA_PAIRING_SLIP = "camera.pairing_slip"
    IMU_STALL = "imu.stall"
    IMU_FIFO_OVERFLOW = "imu.fifo_overflow"
    IMU_BUS_ERRORS = "imu.bus_errors"
    IMU_NAN = "imu.nan"
    ALTIMETER_STALL = "altimeter.stall"
    ALTIMETER_INVALID = "altimeter.invalid"
    LOOP_DELAY = "loop.delay"
    LOOP_HANG = "loop.hang"


@dataclass(frozen=True, kw_only=True)
class FaultParams:
    """A ``[[faults]]`` table as written: when, relative to the flight's start (the kind's own
    parameters are the subclass's fields)."""

    kind: ClassVar[FaultKind]
    at_s: float = field(metadata=rng(0, MAX_FAULT_S))
    duration_s: float | None = field(default=None, metadata=rng(None, MAX_FAULT_S))

    def validate(self) -> str:
        if self.duration_s is not None and self.duration_s <= 0:
            return f"duration_s: must be > 0 (got {describe(self.duration_s)})"
        return ""


@dataclass(frozen=True, kw_only=True)
class CameraDrop(FaultParams):
    """Once, at onset: the next ``count`` frames are exposed (seq advances) but never sent."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_DROP
    count: int = field(default=1, metadata=rng(1, 10_000))


@dataclass(frozen=True, kw_only=True)
class CameraStampShift(FaultParams):
    """The board stamps every frame ``shift_s`` off its exposure (clean metadata, wrong time)."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_STAMP_SHIFT
    shift_s: float = field(metadata=rng(-10.0, 10.0))


@dataclass(frozen=True, kw_only=True)
class CameraClockSkew(FaultParams):
    """The board's oscillator runs ``ppm`` faster from onset (continuously, no step)."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_CLOCK_SKEW
    ppm: float = field(metadata=rng(-100_000.0, 100_000.0))


@dataclass(frozen=True, kw_only=True)
class CameraStall(FaultParams):
    """The camera hangs: no exposures, no sequence numbers, no bytes."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_STALL


@dataclass(frozen=True, kw_only=True)
class CameraDisconnect(FaultParams):
    """The line goes dead (the driver sees its port fail); bytes in flight are lost."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_DISCONNECT


@dataclass(frozen=True, kw_only=True)
class CameraBurstDrop(FaultParams):
    """Each frame is lost with probability ``drop_prob``."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_BURST_DROP
    drop_prob: float = field(metadata=rng(0.0, 1.0))


@dataclass(frozen=True, kw_only=True)
class CameraLatency(FaultParams):
    """Frames arrive ``extra_s`` later than nominal (their stamps unchanged)."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_LATENCY
    extra_s: float = field(metadata=rng(0.0, 5.0))


# Content-time faults: they move when an image's content was really exposed and nothing else.
# Stamp, sequence number and send time stay a healthy camera's, so no metadata check can see
# them; only the images' motion against the gyro's can (firmware.time_offset).
@dataclass(frozen=True, kw_only=True)
class CameraDelayError(FaultParams):
    """Each image was really exposed ``error_ms`` later (negative: earlier) than its stamp
    says: a board that stamps the start of exposure, a readout longer than configured. A
    positive error longer than the camera's latency delays the send (no camera sends an image
    before exposing it)."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_DELAY_ERROR
    error_ms: float = field(metadata=rng(-500.0, 500.0))


@dataclass(frozen=True, kw_only=True)
class CameraDelayDrift(FaultParams):
    """The same error growing at ``rate_ms_per_s`` from onset (an exposure that lengthens
    with the light, stamped at its start), up to +-500 ms."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_DELAY_DRIFT
    rate_ms_per_s: float = field(metadata=rng(-100.0, 100.0))


@dataclass(frozen=True, kw_only=True)
class CameraPairingSlip(FaultParams):
    """From onset each image travels with the stamp and sequence number of the frame
    ``frames`` later, and is sent when that stamp says (the image at onset goes out twice)."""

    kind: ClassVar[FaultKind] = FaultKind.CAMERA_PAIRING_SLIP
    frames: int = field(default=1, metadata=rng(1, 10))


@dataclass(frozen=True, kw_only=True)
class ImuStall(FaultParams):
    """The IMU's sample clock stops: no samples, no sequence numbers."""

    kind: ClassVar[FaultKind] = FaultKind.IMU_STALL


@dataclass(frozen=True, kw_only=True)
class ImuFifoOverflow(FaultParams):
    """Every ``interval_s`` the FIFO overruns as if the host had not read it in time."""

    kind: ClassVar[FaultKind] = FaultKind.IMU_FIFO_OVERFLOW
    interval_s: float = field(default=0.05, metadata=rng(0.002, 10.0))


@dataclass(frozen=True, kw_only=True)
class ImuBusErrors(FaultParams):
    """Each IMU read fails (EIO) with probability ``rate``."""

    kind: ClassVar[FaultKind] = FaultKind.IMU_BUS_ERRORS
    rate: float = field(metadata=rng(0.0, 1.0))


@dataclass(frozen=True, kw_only=True)
class ImuNan(FaultParams):
    """The IMU's data is garbage (NaN in the sim; a stuck bus on hil)."""

    kind: ClassVar[FaultKind] = FaultKind.IMU_NAN


@dataclass(frozen=True, kw_only=True)
class AltimeterStall(FaultParams):
    """The altimeter stops answering: no samples."""

    kind: ClassVar[FaultKind] = FaultKind.ALTIMETER_STALL


@dataclass(frozen=True, kw_only=True)
class AltimeterInvalid(FaultParams):
    """No return: every reading is flagged invalid."""

    kind: ClassVar[FaultKind] = FaultKind.ALTIMETER_INVALID


@dataclass(frozen=True, kw_only=True)
class LoopDelay(FaultParams):
    """Every control cycle's device poll takes ``delay_ms`` longer."""

    kind: ClassVar[FaultKind] = FaultKind.LOOP_DELAY
    delay_ms: float = field(metadata=rng(0.0, 1000.0))


@dataclass(frozen=True, kw_only=True)
class LoopHang(FaultParams):
    """Once: a device call that does not come back for ``hang_s`` of real time."""

    kind: ClassVar[FaultKind] = FaultKind.LOOP_HANG
    hang_s: float = field(metadata=rng(0.001, 60.0))


FAULT_KINDS: dict[FaultKind, type[FaultParams]] = {cls.kind: cls for cls in (
    CameraDrop, CameraStampShift, CameraClockSkew, CameraStall, CameraDisconnect,
    CameraBurstDrop, CameraLatency, CameraDelayError, CameraDelayDrift, CameraPairingSlip,
    ImuStall, ImuFifoOverflow, ImuBusErrors, ImuNan,
    AltimeterStall, AltimeterInvalid, LoopDelay, LoopHang,
)}

P = TypeVar("P", bound=FaultParams)


@dataclass(frozen=True)
class Fault(Generic[P]):
    """One scenario fault on a backend's clock: its parameters and its absolute window."""

    params: P
    at_ns: int
    until_ns: int  # exclusive; FOREVER_NS for "to the end"

    @property
    def kind(self) -> FaultKind:
        return self.params.kind

    def active(self, t_ns: int) -> bool:
        return self.at_ns <= t_ns < self.until_ns


def parse_faults(raw: Any, source: str, t0_ns: int = 0) -> list[Fault[Any]]:
    """Validate a scenario's ``faults`` list; times become absolute on the backend's clock
    (``t0_ns`` is the flight's start)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: faults: expected an array of tables ([[faults]])")
    faults: list[Fault[Any]] = []
    for i, entry in enumerate(raw):
        where = f"faults[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {where}: expected a table (got {describe(entry)})")
        kind = entry.get("kind")
        if not isinstance(kind, str):
            raise ConfigError(f"{source}: {where}.kind: missing or not a string")
        if kind not in FAULT_KINDS:
            known = ", ".join(sorted(FAULT_KINDS))
            raise ConfigError(f"{source}: {where}.kind: unknown fault kind {describe(kind)} "
                              f"(known: {known})")
        table = {k: v for k, v in entry.items() if k != "kind"}
        params = load(FAULT_KINDS[FaultKind(kind)], table, source, prefix=where)
        at_ns = t0_ns + round(params.at_s * NS_PER_S)
        until = (FOREVER_NS if params.duration_s is None
                 else at_ns + round(params.duration_s * NS_PER_S))
        faults.append(Fault(params, at_ns, until))
    return faults


class FaultSet:
    """The scenario's faults grouped by kind, for cheap per-step queries by parameter class."""

    def __init__(self, faults: list[Fault[Any]]) -> None:
        self.faults = faults
        self._by_kind: dict[FaultKind, list[Fault[Any]]] = {}
        for f in faults:
            self._by_kind.setdefault(f.kind, []).append(f)

    def active(self, kind: type[P], t_ns: int) -> Fault[P] | None:
        """The first fault of this kind whose window holds ``t_ns``."""
        for f in self._by_kind.get(kind.kind, ()):
            if f.at_ns <= t_ns < f.until_ns:
                return f
        return None

    def of_kind(self, kind: type[P]) -> list[Fault[P]]:
        return self._by_kind.get(kind.kind, [])


CONTENT_FAULTS = (CameraDelayError, CameraDelayDrift, CameraPairingSlip)
MAX_CONTENT_SHIFT_NS = 500_000_000  # content-time faults move an image at most this far


def content_shift_ns(faults: FaultSet, t_ns: int, frame_period_ns: float) -> int:
    """How much later than its stamp says the image stamped for ``t_ns`` was really exposed
    (negative: earlier), summed over the content-time faults active at ``t_ns``."""
    shift = 0.0
    for f in faults.of_kind(CameraDelayError):
        if f.active(t_ns):
            shift += f.params.error_ms * 1e6
    for d in faults.of_kind(CameraDelayDrift):
        if d.active(t_ns):
            shift += d.params.rate_ms_per_s * 1e6 * (t_ns - d.at_ns) / NS_PER_S
    for p in faults.of_kind(CameraPairingSlip):
        if p.active(t_ns):
            shift -= p.params.frames * frame_period_ns
    return round(max(-MAX_CONTENT_SHIFT_NS, min(MAX_CONTENT_SHIFT_NS, shift)))
