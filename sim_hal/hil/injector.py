"""Scenario faults onto the emulators, the bus and the camera transport."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from hal.types import NS_PER_S
from sim_hal.camera_emu_base import CameraFaults, DeviceClock
from sim_hal.faults import (
    CONTENT_FAULTS,
    FOREVER_NS,
    AltimeterInvalid,
    AltimeterStall,
    CameraBurstDrop,
    CameraClockSkew,
    CameraDisconnect,
    CameraDrop,
    CameraLatency,
    CameraStall,
    CameraStampShift,
    Fault,
    FaultParams,
    FaultSet,
    ImuBusErrors,
    ImuFifoOverflow,
    ImuNan,
    ImuStall,
    LoopDelay,
    LoopHang,
    content_shift_ns,
)
from sim_hal.hil.delay_line import DelayLine
from sim_hal.hil.emulators import HilMpu6050Emulator, HilStreamEmulator
from sim_hal.hil.world_link import HilWorld
from sim_hal.i2c_bus import EmulatedI2cBus

log = logging.getLogger(__name__)

STALL_FOREVER_S = 1e6

P = TypeVar("P", bound=FaultParams)


@dataclass
class FaultTargets:
    bus: EmulatedI2cBus
    imu: HilMpu6050Emulator
    imu_addr: int
    lidar_addr: int
    hw: HilWorld
    camera: HilStreamEmulator
    camera_faults: CameraFaults
    camera_clock: DeviceClock
    delay_line: DelayLine
    base_skew_ppm: float


class HilFaultInjector:
    """Scenario faults onto the emulators, the bus and the camera transport.

    ====================  =================================================================
    camera.drop           the emulator exposes ``count`` frames but never sends them (seq gap)
    camera.stamp_shift    ``CameraFaults.timestamp_shift_ns``: the board stamps wrongly
    camera.clock_skew     the board's ``DeviceClock.set_skew``: + ``ppm`` while active
    camera.stall          ``emulator.stall``: no exposures, no bytes
    camera.disconnect     ``emulator.disconnect``: the pty goes away (for the fault's
                          duration, or for good); the driver's port fails and it reconnects
    camera.burst_drop     ``CameraFaults.drop_prob``
    camera.latency        a delay line in the transport: bytes leave ``extra_s`` later
    camera.delay_error    ``CameraFaults.content_shift``: the board renders the world at
    camera.delay_drift    another time than it stamps (``sim_hal.faults.content_shift_ns``),
    camera.pairing_slip   stamps and send times unchanged
    imu.stall             the chip's sample clock stops (FIFO stays empty, registers answer)
    imu.fifo_overflow     every ``interval_s`` the FIFO overruns as if the host had not read it
                          (oldest bytes lost, alignment lost, INT_STATUS.FIFO_OFLOW)
    imu.bus_errors        the bus fails each IMU transaction with EIO at probability ``rate``
    imu.nan               a register interface cannot carry NaN: the bus is stuck (every byte
                          read repeats the last one on the wire), which the driver rejects as a
                          bogus FIFO count / misaligned data, so no samples get through
    altimeter.stall       the LIDAR-Lite stops answering (NACK, errno 121): no samples
    altimeter.invalid     no return: the unit measures 0 cm, which the driver flags invalid
    loop.delay            the IMU holds SCL low for ``delay_ms`` in the first transaction of
                          every cycle: a slow device poll inside the control cycle
    loop.hang             once, the IMU holds SCL low for ``hang_s``: a bus call that does not
                          come back for that long (the control thread is stuck in it)
    ====================  =================================================================

    Relative fault times mean nothing until ``start`` anchors them at the flight's first cycle
    (``HilHal.flight_started``): a preflight check runs the devices before that, fault-free.
    ``start`` and ``tick`` both run on the control thread.
    """

    def __init__(self, faults: FaultSet, targets: FaultTargets) -> None:
        self.t = targets
        self._relative = list(faults.faults)
        self.pending: list[Fault[Any]] = []
        self.active: list[Fault[Any]] = []
        self.events: list[tuple[int, str, str]] = []  # (t_ns, "on"/"off", kind)
        self.t0_ns: int | None = None
        self._next_overflow: dict[int, int] = {}
        self._camera_stalled = False
        self._camera_down = False

    def start(self, t0_ns: int) -> None:
        """Anchor the scenario's relative fault times at the flight's start (once)."""
        if self.t0_ns is not None:
            raise RuntimeError(f"hil faults already anchored at {self.t0_ns} ns")
        self.t0_ns = t0_ns
        self.pending = sorted(
            (dataclasses.replace(
                f, at_ns=f.at_ns + t0_ns,
                until_ns=FOREVER_NS if f.until_ns >= FOREVER_NS else f.until_ns + t0_ns)
             for f in self._relative),
            key=lambda f: f.at_ns)

    def tick(self, now: int) -> None:
        if self.t0_ns is None:
            return
        changed = False
        while self.pending and self.pending[0].at_ns <= now:
            f = self.pending.pop(0)
            if f.until_ns <= now:
                continue  # began and ended between two ticks
            self.active.append(f)
            self.events.append((now, "on", f.kind))
            log.info("hil fault on: %s %s", f.kind, f.params)
            self._onset(f, now)
            changed = True
        for f in [f for f in self.active if f.until_ns <= now]:
            self.active.remove(f)
            self.events.append((now, "off", f.kind))
            log.info("hil fault off: %s", f.kind)
            self._next_overflow.pop(id(f), None)
            if isinstance(f.params, LoopDelay):
                self.t.imu.stretch_ns = 0
            changed = True
        if changed:
            self._sync()
        self._periodic(now)

    def _onset(self, f: Fault[Any], now: int) -> None:
        p = f.params
        if isinstance(p, CameraDrop):
            self.t.camera.drop(p.count)
        elif isinstance(p, LoopHang):
            self.t.imu.stretch_ns = round(p.hang_s * NS_PER_S)
        elif isinstance(p, ImuFifoOverflow):
            self._next_overflow[id(f)] = now

    def _periodic(self, now: int) -> None:
        for f in self.active:
            p = f.params
            if isinstance(p, ImuFifoOverflow):
                due = self._next_overflow.get(id(f), now)
                if now >= due:
                    self.t.imu.force_overflow()
                    self._next_overflow[id(f)] = now + round(p.interval_s * NS_PER_S)
            elif isinstance(p, LoopDelay):
                self.t.imu.stretch_ns = round(p.delay_ms * 1e6)

    def _active(self, kind: type[P]) -> list[P]:
        """The parameters of the active faults of one kind, in onset order."""
        return [f.params for f in self.active if isinstance(f.params, kind)]

    def _sync(self) -> None:
        """Level-type faults: recompute every switch from the set of active faults, so
        overlapping faults and ends restore exactly the nominal state."""
        t = self.t
        cf = t.camera_faults
        cf.drop_prob = max((p.drop_prob for p in self._active(CameraBurstDrop)), default=0.0)
        cf.timestamp_shift_ns = round(
            sum(p.shift_s for p in self._active(CameraStampShift)) * NS_PER_S)
        content = FaultSet([f for f in self.active if isinstance(f.params, CONTENT_FAULTS)])
        period = t.camera.period_ns
        cf.content_shift = ((lambda t_ns: content_shift_ns(content, t_ns, period))
                            if content.faults else None)
        skew = t.base_skew_ppm + sum(p.ppm for p in self._active(CameraClockSkew))
        if skew != t.camera_clock.skew_ppm:
            t.camera_clock.set_skew(skew)
        stall = bool(self._active(CameraStall))
        if stall != self._camera_stalled:
            self._camera_stalled = stall
            t.camera.stall(STALL_FOREVER_S if stall else 0.0)
        down = next((f for f in self.active if isinstance(f.params, CameraDisconnect)), None)
        if (down is not None) != self._camera_down:
            self._camera_down = down is not None
            if down is not None:
                forever = down.until_ns >= FOREVER_NS // 2
                t.camera.disconnect(None if forever else (down.until_ns - down.at_ns) / 1e9)
        t.delay_line.delay_ns = round(
            sum(p.extra_s for p in self._active(CameraLatency)) * NS_PER_S)
        t.imu.stalled = bool(self._active(ImuStall))
        t.hw.range_invalid = bool(self._active(AltimeterInvalid))
        t.bus.clear(t.imu_addr)
        t.bus.clear(t.lidar_addr)
        for f in self.active:
            p = f.params
            if isinstance(p, ImuBusErrors) and p.rate > 0.0:
                t.bus.inject(t.imu_addr, "eio", probability=p.rate)
            elif isinstance(p, ImuNan):
                t.bus.inject(t.imu_addr, "stuck")
            elif isinstance(p, AltimeterStall):
                t.bus.inject(t.lidar_addr, "nack")
