"""Hardware-in-the-loop backend: the real drivers, through real transports, to emulated devices
that the simulated world drives -- in real time.

What runs: ``hal.mpu6050.Mpu6050``, ``hal.lidarlite.LidarLiteV3`` and ``hal.pca9685.Pca9685`` on
an ``EmulatedI2cBus`` with the register-level chip emulators attached, and
``hal.camera_stream.StreamCamera`` reading a real pseudo-terminal that a
``StreamCameraEmulator`` thread writes, paced at the configured baud rate. The camera link is
real I/O served by a real-time thread, so the world cannot be stepped in lockstep as in
``sim_hal.backend``: ``HilClock.sleep_until`` sleeps to the absolute deadline on the monotonic
clock and then steps the world in fixed 1 ms steps up to the current time.

The emulators read the world at their own sample times: the IMU and altimeter emulators run
inside the driver's bus transactions on the control thread, and look their time up in a short
history of world steps (the state after the step that contains the time, as the lockstep sim
does). The camera emulator runs on its own thread; it copies the pose under ``HilWorld.lock``
(held by the control thread only while it steps the world) and renders outside the lock, so
it never sees a half-stepped state and never blocks the loop for a render.

Scenario faults arrive relative to the flight's start; ``HilFaultInjector`` anchors them at the
flight software's first actuator write (see ``FlightStartActuators``), applies every fault kind
at its onset and removes it at its end, on the emulators, the bus or the camera transport (the
table is in ``HilFaultInjector``'s doc).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hal.bench import CameraBenchTarget, I2cBenchTarget, I2cDevices
from hal.camera_stream import StreamCamera, StreamCameraSettings
from hal.interfaces import Hal
from hal.lidarlite import LidarLiteSettings, LidarLiteV3
from hal.mpu6050 import FRD_FROM_CHIP, G0, Mpu6050, Mpu6050Settings
from hal.pca9685 import Pca9685, Pca9685Settings
from hal.realtime import RealtimeClock
from hal.tomlschema import load, rng
from hal.types import NS_PER_S, ActuatorCommand, DeviceHealth, Vec3
from sim_hal.backend import WorldTruth
from sim_hal.camera_emulator import CameraFaults, DeviceClock, PtyTransport, Transport
from sim_hal.camera_stream_emu import StreamCameraEmulator
from sim_hal.camera_truth import CameraTruthTap
from sim_hal.faults import FOREVER_NS, Fault, FaultSet
from sim_hal.i2c_bus import EmulatedI2cBus
from sim_hal.lidarlite_emu import LidarLiteV3Emulator
from sim_hal.mpu6050_emu import USER_CTRL, USER_FIFO_EN, VARIANTS, Mpu6050Emulator
from sim_hal.pca9685_emu import Pca9685Emulator
from sim_hal.render import GroundTexture, PinholeCamera, render
from sim_hal.world import GRAVITY, VehicleParams, World

log = logging.getLogger(__name__)

WORLD_STEP_NS = 1_000_000
HISTORY_STEPS = 256  # world states kept for the I2C emulators (a quarter second)
STALL_FOREVER_S = 1e6
BENCH_ALTITUDE_M = 3.0
# 160x120 at 30 Hz, like the sim's camera: 19240 bytes a frame is 24 ms of wire at 8 Mbaud
# (6 Mbaud would be 32 ms of the 33 ms period, leaving the emulator no slack to render).
HIL_CAMERA_BAUD = 8_000_000
HIL_CAMERA_FOCAL_PX = 80.0 / math.tan(math.radians(50.0))  # 160 px across 100 deg, as the sim


# -- settings --------------------------------------------------------------------------------


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


# -- the world, shared with the emulators --------------------------------------------------------

# (t_ns after the step, specific force FRD, body rates FRD, altitude of the body origin, r[2][2])
_State = tuple[int, Vec3, Vec3, float, float]


class HilWorld:
    """The world, the lock that guards its stepping, and a short history for the emulators."""

    def __init__(self, world: World, step_ns: int = WORLD_STEP_NS, live: bool = True,
                 impact_cap_mps2: float = 8 * G0) -> None:
        self.world = world
        self.step_ns = step_ns
        self.live = live  # False: a world held still (the bench targets), never stepped
        self.impact_cap = impact_cap_mps2
        self._impulse: tuple[Vec3, int] | None = None  # per-step share, steps left
        self.lock = threading.Lock()
        self.history: deque[_State] = deque(maxlen=HISTORY_STEPS)
        self.range_invalid = False  # altimeter.invalid: no return (reads 0 cm)
        self.steps = 0

    def _state(self) -> _State:
        w = self.world
        o = w.omega
        return (w.t_ns, w.specific_force_body(), (o[0], o[1], o[2]), -w.pos[2], w.r[8])

    def step_to(self, t_ns: int) -> None:
        """Whole steps up to ``t_ns``."""
        w = self.world
        step = self.step_ns
        if w.t_ns + step > t_ns:
            return
        hist = self.history
        with self.lock:
            while w.t_ns + step <= t_ns:
                touchdowns = w.touchdowns
                w.step(step)
                self.steps += 1
                st = self._state()
                if w.touchdowns != touchdowns:
                    st = self._start_impact(st)
                elif self._impulse is not None:
                    st = self._add_share(st)
                hist.append(st)

    def _start_impact(self, st: _State) -> _State:
        """The world stops a touchdown in one step: tens of g for 1 ms, beyond any IMU's range
        (the emulator would clip it and the velocity change be lost to the navigation). Real
        gear takes several ms: spread the same velocity change over enough steps to stay
        under ``impact_cap``."""
        r, g = self.world.r, self.world.g
        sf = st[1]
        spike = (sf[0] + r[6] * g, sf[1] + r[7] * g, sf[2] + r[8] * g)  # less 1 g at rest
        n = max(1, math.ceil(math.sqrt(sum(c * c for c in spike)) / self.impact_cap))
        share = (spike[0] / n, spike[1] / n, spike[2] / n)
        self._impulse = (share, n - 1) if n > 1 else None
        rest = (sf[0] - spike[0] + share[0], sf[1] - spike[1] + share[1],
                sf[2] - spike[2] + share[2])
        return (st[0], rest, st[2], st[3], st[4])

    def _add_share(self, st: _State) -> _State:
        assert self._impulse is not None
        share, left = self._impulse
        self._impulse = (share, left - 1) if left > 1 else None
        sf = st[1]
        return (st[0], (sf[0] + share[0], sf[1] + share[1], sf[2] + share[2]), st[2], st[3],
                st[4])

    def at(self, t_ns: int) -> _State:
        """The state after the step containing ``t_ns``, as the lockstep sim samples.

        A sensor may sample after the world's last step (the control thread stepped it at
        the start of the cycle and the driver reads later): the world is then stepped over
        ``t_ns`` first. Answering with the last state instead would hand a later step's
        event -- a touchdown's one-step impact -- to no sample at all.
        """
        w = self.world
        if self.live and t_ns > w.t_ns:
            step = self.step_ns
            self.step_to(w.t_ns + -(-(t_ns - w.t_ns) // step) * step)
        hist = self.history
        if not hist:
            return self._state()
        best = hist[-1]
        for i in range(len(hist) - 1, -1, -1):
            e = hist[i]
            if e[0] < t_ns:
                break
            best = e
        return best

    def pose(self) -> tuple[int, Vec3, Vec3, tuple[float, ...]]:
        """A consistent copy for another thread: (t_ns, position, velocity, r row-major)."""
        w = self.world
        with self.lock:
            p, v = w.pos, w.vel
            return w.t_ns, (p[0], p[1], p[2]), (v[0], v[1], v[2]), w.r

    # what the emulators are fed
    def imu_truth(self, temp_c: float) -> Callable[[int], tuple[Vec3, Vec3, float]]:
        def truth(t_ns: int) -> tuple[Vec3, Vec3, float]:
            s = self.at(t_ns)
            return s[1], s[2], temp_c

        return truth

    def range_m(self, t_ns: int) -> float:
        """Distance along body z to the flat ground; nan (no return: 0 cm) when the beam is
        too tilted, as the sim's altimeter model has it, or under altimeter.invalid."""
        if self.range_invalid:
            return math.nan
        _, _, _, alt, cos_tilt = self.at(t_ns)
        return alt / cos_tilt if cos_tilt >= 0.5 else math.nan

    def set_motors_from_pulses(self, settings: Pca9685Settings) -> Callable[
            [list[float | None]], None]:
        span = settings.max_us - settings.min_us
        chans = list(settings.channels)
        lo = settings.min_us

        def on_outputs(pulses: list[float | None]) -> None:
            cmd = []
            for ch in chans:
                p = pulses[ch]
                cmd.append(0.0 if p is None else min(1.0, max(0.0, (p - lo) / span)))
            self.world.set_motor_commands(cmd)

        return on_outputs


class HilClock:
    """Real time; every ``sleep_until`` also steps the world up to now and ticks the hooks."""

    def __init__(self, hw: HilWorld, rt: RealtimeClock | None = None) -> None:
        self.hw = hw
        self._rt = rt or RealtimeClock()
        self.on_tick: list[Callable[[int], None]] = []

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        self._rt.sleep_until(t_ns)
        self.catch_up()

    def catch_up(self) -> None:
        now = time.monotonic_ns()
        self.hw.step_to(now)
        for hook in self.on_tick:
            hook(now)


# -- emulators with the hooks the scenario faults need ------------------------------------------


class HilMpu6050Emulator(Mpu6050Emulator):
    """The chip emulator plus three fault hooks: a stopped sample clock, a FIFO overrun, and
    SCL held low for a while inside the next transaction (clock stretching)."""

    stalled = False
    stretch_ns = 0  # consumed by the next transaction
    forced_overflows = 0

    def _advance(self, now: int) -> None:
        if self.stalled:
            self._running = False  # on resume the sample clock restarts from then
            return
        super()._advance(now)

    def force_overflow(self) -> None:
        """As if the host had not read for longer than the FIFO holds: it fills past its size
        and loses the oldest bytes (and frame alignment, 1024 not being a multiple of the
        frame). Padded with copies of the newest frame: a driver must discard an overflowed
        FIFO unread, so what the bytes say does not matter."""
        self._advance(self.clock.now_ns())
        fs = self.frame_size()
        if not self.regs[USER_CTRL] & USER_FIFO_EN or fs == 0:
            return
        last = bytes(self.fifo[-fs:]) if len(self.fifo) >= fs else bytes(fs)
        reps = (self.fifo_size - len(self.fifo)) // fs + 2
        self.fifo += last * reps
        self._overflow(len(self.fifo))
        del self.fifo[: len(self.fifo) - self.fifo_size]
        self.forced_overflows += 1

    def i2c_write(self, data: bytes) -> None:
        delay = self.stretch_ns
        if delay > 0:
            self.stretch_ns = 0
            time.sleep(delay / NS_PER_S)
        super().i2c_write(data)


class HilStreamEmulator(StreamCameraEmulator):
    """Adds ``drop(count)``: the next ``count`` frames are exposed (seq advances) but never
    sent, as the lockstep sim's camera.drop does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._drop_lock = threading.Lock()
        self._drop_next = 0
        self.dropped_by_request = 0

    def drop(self, count: int) -> None:
        with self._drop_lock:
            self._drop_next += count

    @property
    def drops_pending(self) -> int:
        return self._drop_next

    @property
    def stalled(self) -> bool:
        return self._now() < self._stall_until

    def _send(self, t_mid: int) -> None:
        with self._drop_lock:
            drop = self._drop_next > 0
            if drop:
                self._drop_next -= 1
                self.dropped_by_request += 1
        if drop:
            self._seq += 1
            return
        super()._send(t_mid)


class DelayLine:
    """A ``Transport`` that hands bytes on ``delay_ns`` after they were written, in order: a
    camera board whose output buffers up (camera.latency). With no delay and nothing queued
    a write goes straight through."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.delay_ns = 0
        self._q: deque[tuple[int, bytes]] = deque()
        self._last_due = 0
        self._inflight = False
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        return self.inner.path

    def write(self, data: bytes) -> int:
        with self._cv:
            direct = self.delay_ns <= 0 and not self._q and not self._inflight
            if not direct:
                due = max(time.monotonic_ns() + self.delay_ns, self._last_due)
                self._last_due = due
                self._q.append((due, bytes(data)))
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="hil-delay",
                                                    daemon=True)
                    self._thread.start()
                self._cv.notify()
        if direct:
            return self.inner.write(data)
        return len(data)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop:
                    if self._q:
                        wait = (self._q[0][0] - time.monotonic_ns()) / NS_PER_S
                        if wait <= 0:
                            break
                        self._cv.wait(wait)
                    else:
                        self._cv.wait()
                if self._stop:
                    return
                _, data = self._q.popleft()
                self._inflight = True
            try:
                self.inner.write(data)
            finally:
                with self._cv:
                    self._inflight = False

    def read(self, n: int, timeout_s: float) -> bytes:
        return self.inner.read(n, timeout_s)

    def line_baud(self) -> int | None:
        return self.inner.line_baud()

    def set_baud(self, baud: int) -> None:
        self.inner.set_baud(baud)

    def disconnect(self) -> None:
        self.inner.disconnect()

    def reconnect(self) -> None:
        self.inner.reconnect()

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        t = self._thread
        if t is not None:
            t.join(timeout=2.0)
        self.inner.close()


# -- scenario faults ----------------------------------------------------------------------------


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

    The anchor is the flight's start (``start``); ``restart`` re-anchors, reverting whatever
    had been applied: a preflight check may run the devices before the flight does.
    """

    def __init__(self, faults: FaultSet, targets: FaultTargets) -> None:
        self.t = targets
        self._relative = list(faults.faults)
        self.pending: list[Fault] = []
        self.active: list[Fault] = []
        self.events: list[tuple[int, str, str]] = []  # (t_ns, "on"/"off", kind)
        self.t0_ns: int | None = None
        self._next_overflow: dict[int, int] = {}
        self._camera_stalled = False
        self._camera_down = False
        # tick runs on the control thread; a re-anchor may come from another (a stall guard
        # cutting the outputs calls disarm)
        self._lock = threading.Lock()

    def start(self, t0_ns: int) -> None:
        """Anchor the scenario's relative fault times at the flight's start; any earlier
        anchor's faults are reverted first."""
        with self._lock:
            self._revert(t0_ns)
            self._anchor(t0_ns)

    def stop(self) -> None:
        """Revert every applied fault and forget the anchor until the next ``start``."""
        with self._lock:
            self._revert(time.monotonic_ns())
            self.t0_ns = None
            self.pending = []

    def _revert(self, now: int) -> None:
        if self.active:
            self.events += [(now, "reset", f.kind) for f in self.active]
            self.active = []
            self._next_overflow.clear()
            self.t.imu.stretch_ns = 0
            self._sync()

    def _anchor(self, t0_ns: int) -> None:
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
        with self._lock:
            self._tick(now)

    def _tick(self, now: int) -> None:
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
            if f.kind == "loop.delay":
                self.t.imu.stretch_ns = 0
            changed = True
        if changed:
            self._sync()
        self._periodic(now)

    def _onset(self, f: Fault, now: int) -> None:
        if f.kind == "camera.drop":
            self.t.camera.drop(int(f["count"]))
        elif f.kind == "loop.hang":
            self.t.imu.stretch_ns = round(f["hang_s"] * NS_PER_S)
        elif f.kind == "imu.fifo_overflow":
            self._next_overflow[id(f)] = now

    def _periodic(self, now: int) -> None:
        for f in self.active:
            if f.kind == "imu.fifo_overflow":
                due = self._next_overflow.get(id(f), now)
                if now >= due:
                    self.t.imu.force_overflow()
                    self._next_overflow[id(f)] = now + round(f["interval_s"] * NS_PER_S)
            elif f.kind == "loop.delay":
                self.t.imu.stretch_ns = round(f["delay_ms"] * 1e6)

    def _sum(self, kind: str, param: str) -> float:
        return sum(f[param] for f in self.active if f.kind == kind)

    def _any(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.active)

    def _sync(self) -> None:
        """Level-type faults: recompute every switch from the set of active faults, so
        overlapping faults and ends restore exactly the nominal state."""
        t = self.t
        cf = t.camera_faults
        cf.drop_prob = max((f["drop_prob"] for f in self.active
                            if f.kind == "camera.burst_drop"), default=0.0)
        cf.timestamp_shift_ns = round(self._sum("camera.stamp_shift", "shift_s") * NS_PER_S)
        skew = t.base_skew_ppm + self._sum("camera.clock_skew", "ppm")
        if skew != t.camera_clock.skew_ppm:
            t.camera_clock.set_skew(skew)
        stall = self._any("camera.stall")
        if stall != self._camera_stalled:
            self._camera_stalled = stall
            t.camera.stall(STALL_FOREVER_S if stall else 0.0)
        down = next((f for f in self.active if f.kind == "camera.disconnect"), None)
        if (down is not None) != self._camera_down:
            self._camera_down = down is not None
            if down is not None:
                forever = down.until_ns >= FOREVER_NS // 2
                t.camera.disconnect(None if forever else (down.until_ns - down.at_ns) / 1e9)
        t.delay_line.delay_ns = round(self._sum("camera.latency", "extra_s") * NS_PER_S)
        t.imu.stalled = self._any("imu.stall")
        t.hw.range_invalid = self._any("altimeter.invalid")
        t.bus.clear(t.imu_addr)
        t.bus.clear(t.lidar_addr)
        for f in self.active:
            if f.kind == "imu.bus_errors" and f["rate"] > 0.0:
                t.bus.inject(t.imu_addr, "eio", probability=f["rate"])
            elif f.kind == "imu.nan":
                t.bus.inject(t.imu_addr, "stuck")
            elif f.kind == "altimeter.stall":
                t.bus.inject(t.lidar_addr, "nack")


# -- building it -----------------------------------------------------------------------------------


class FlightStartActuators:
    """The PCA9685 driver as ``Hal.actuators``, watching for the flight's start.

    Faults are relative to the flight's first cycle, which the HAL cannot see directly. The
    flight software writes the actuators every cycle from its first, so the first ``write``
    anchors the faults. A preflight check runs the devices (and writes) before the flight and
    ends with an explicit ``disarm()``: a ``disarm()`` before the vehicle was ever armed
    reverts and un-anchors the faults, and the next ``write`` -- the flight's first cycle --
    anchors them again. (The driver's own all-off writes do not come through here.)
    """

    def __init__(self, driver: Pca9685, on_start: Callable[[], None],
                 on_reset: Callable[[], None]) -> None:
        self.driver = driver
        self.name = driver.name
        self.motor_count = driver.motor_count
        self._on_start = on_start
        self._on_reset = on_reset
        self._waiting = True
        self.armed_once = False

    def open(self) -> None:
        self.driver.open()

    def close(self) -> None:
        self.driver.close()

    def health(self) -> DeviceHealth:
        return self.driver.health()

    def write(self, cmd: ActuatorCommand) -> None:
        if self._waiting:
            self._waiting = False
            self._on_start()
        if cmd.armed:
            self.armed_once = True
        self.driver.write(cmd)

    def disarm(self) -> None:
        self.driver.disarm()
        if not self.armed_once:
            self._waiting = True
            self._on_reset()


@dataclass
class HilHal(Hal):
    """A Hal whose ``open`` also starts the camera board (once its driver is listening)."""

    after_open: list[Callable[[], None]] = field(default_factory=list)
    parts: HilParts | None = None  # the wiring, for tests and diagnostics

    def start(self) -> None:
        for hook in self.after_open:
            hook()


@dataclass
class HilParts:
    """Everything ``build_hil`` wires, for tests and the bench."""

    hw: HilWorld
    clock: HilClock
    bus: EmulatedI2cBus
    imu_emu: HilMpu6050Emulator
    lidar_emu: LidarLiteV3Emulator
    pca_emu: Pca9685Emulator
    camera_emu: HilStreamEmulator
    camera_faults: CameraFaults
    camera_clock: DeviceClock
    delay_line: DelayLine
    injector: HilFaultInjector
    imu: Mpu6050
    altimeter: LidarLiteV3
    motors: Pca9685
    camera: StreamCamera


def make_frame_source(hw: HilWorld, settings: HilSettings, seed: int) -> Callable[
        [int], npt.NDArray[np.uint8]]:
    """Render the world at the pose at ``t_ns``, at the size and focal length the driver
    reports (the sim's texture for the same seed)."""
    cam = settings.camera
    hfov = math.degrees(2.0 * math.atan(cam.width / 2.0 / cam.focal_px))
    pinhole = PinholeCamera(width=cam.width, height=cam.height, hfov_deg=hfov)
    texture = GroundTexture(seed=seed, texel_m=settings.camera_model.texel_m)

    def frame_source(t_ns: int) -> npt.NDArray[np.uint8]:
        t_w, p, v, r = hw.pose()
        dt = (t_ns - t_w) / NS_PER_S
        pos = (p[0] + v[0] * dt, p[1] + v[1] * dt, p[2] + v[2] * dt)
        return render(texture, pinhole, pos, np.array(r, dtype=np.float64).reshape(3, 3))

    return frame_source


def _seeds(seed: int) -> list[int]:
    return [int(s) for s in np.random.default_rng(seed).integers(0, 2**31, size=4)]


def _attach_i2c(settings: HilSettings, hw: HilWorld, clock: Any, seed: int
                ) -> tuple[EmulatedI2cBus, HilMpu6050Emulator, LidarLiteV3Emulator,
                           Pca9685Emulator]:
    s_imu, s_alt, s_bus, _ = _seeds(seed)
    im = settings.imu_model
    bus = EmulatedI2cBus(clock, seed=s_bus)
    # The chip sits as the driver's mounting says: body = mounting @ FRD_FROM_CHIP @ chip.
    chip_from_body = (settings.mpu6050.mounting() @ FRD_FROM_CHIP).T
    imu_emu = HilMpu6050Emulator(
        clock, hw.imu_truth(im.temp_c), who_am_i=im.who_am_i, rate_error_ppm=im.rate_error_ppm,
        seed=s_imu, accel_noise_mps2=im.accel_noise_mps2, gyro_noise_rps=im.gyro_noise_rps,
        accel_bias_mps2=im.accel_bias_mps2, gyro_bias_rps=im.gyro_bias_rps,
        chip_from_body=chip_from_body,
    )
    am = settings.altimeter_model
    lidar_emu = LidarLiteV3Emulator(clock, hw.range_m, acquisition_ns=am.acquisition_us * 1000,
                                    noise_m=am.noise_m, seed=s_alt)
    pca_emu = Pca9685Emulator(clock, hw.set_motors_from_pulses(settings.pca9685))
    bus.attach(settings.mpu6050.address, imu_emu)
    bus.attach(settings.lidarlite.address, lidar_emu)
    bus.attach(settings.pca9685.address, pca_emu)
    return bus, imu_emu, lidar_emu, pca_emu


def _camera_board(settings: HilSettings, hw: HilWorld, seed: int
                  ) -> tuple[HilStreamEmulator, CameraFaults, DeviceClock, DelayLine]:
    cm, cs = settings.camera_model, settings.camera
    faults = CameraFaults()
    dev_clock = DeviceClock(offset_ns=round(cm.clock_offset_s * NS_PER_S),
                            skew_ppm=cm.clock_skew_ppm)
    line = DelayLine(PtyTransport())
    emu = HilStreamEmulator(
        make_frame_source(hw, settings, seed), transport=line, width=cs.width,
        height=cs.height, rate_hz=cs.rate_hz, baud=cs.baud, exposure_us=cm.exposure_us,
        # the board is exactly as slow as the driver's settings say it is
        tx_delay_ns=cs.fixed_latency_ns, device_clock=dev_clock, faults=faults,
        seed=_seeds(seed)[3],
    )
    return emu, faults, dev_clock, line


def build_hil_parts(settings: HilSettings, planet: str, faults: FaultSet, seed: int) -> HilParts:
    t0 = time.monotonic_ns() // WORLD_STEP_NS * WORLD_STEP_NS
    world = World(settings.vehicle, GRAVITY[planet], t0_ns=t0)
    # half the accelerometer's range: a spread touchdown never clips
    hw = HilWorld(world, impact_cap_mps2=0.5 * settings.mpu6050.accel_fs_g * G0)
    clock = HilClock(hw)
    bus, imu_emu, lidar_emu, pca_emu = _attach_i2c(settings, hw, clock, seed)
    cam_emu, cam_faults, dev_clock, line = _camera_board(settings, hw, seed)
    injector = HilFaultInjector(faults, FaultTargets(
        bus=bus, imu=imu_emu, imu_addr=settings.mpu6050.address,
        lidar_addr=settings.lidarlite.address, hw=hw, camera=cam_emu,
        camera_faults=cam_faults, camera_clock=dev_clock, delay_line=line,
        base_skew_ppm=settings.camera_model.clock_skew_ppm))
    clock.on_tick.append(injector.tick)
    return HilParts(
        hw=hw, clock=clock, bus=bus, imu_emu=imu_emu, lidar_emu=lidar_emu, pca_emu=pca_emu,
        camera_emu=cam_emu, camera_faults=cam_faults, camera_clock=dev_clock, delay_line=line,
        injector=injector,
        imu=Mpu6050(bus, clock, settings.mpu6050),
        altimeter=LidarLiteV3(bus, clock, settings.lidarlite),
        motors=Pca9685(bus, clock, settings.pca9685),
        camera=StreamCamera(line.path, clock, settings.camera),
    )


class HilTruth(WorldTruth):
    """The world's truth, and how far the camera's stamps were from the board's exposures."""

    def __init__(self, world: World, camera: CameraTruthTap) -> None:
        super().__init__(world)
        self.camera = camera

    def timing_report(self) -> dict[str, dict[str, float]]:
        return {"camera": self.camera.report()}


def build_hil(settings: HilSettings, planet: str, faults: FaultSet, seed: int) -> Hal:
    p = build_hil_parts(settings, planet, faults, seed)
    camera = CameraTruthTap(p.camera, p.camera_emu)

    def start_board() -> None:
        p.camera_emu.start()  # after open: the driver is listening on the pty

    def stop_board() -> None:
        p.camera_emu.stop()  # joins its thread, closes the delay line and the pty

    return HilHal(
        backend="hil", clock=p.clock, imu=p.imu, rangefinder=p.altimeter, camera=camera,
        actuators=FlightStartActuators(
            p.motors, on_start=lambda: p.injector.start(p.clock.now_ns()),
            on_reset=p.injector.stop),
        truth=HilTruth(p.hw.world, camera), closers=[stop_board, p.bus.close], realtime=True,
        after_open=[start_board], parts=p,
    )


# -- bench targets: the emulated devices with the vehicle held in a hover ------------------------


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
    bus = _attach_i2c(settings, hw, clock, seed)[0]
    return I2cBenchTarget(bus=bus, clock=clock, devices=settings.i2c_devices(),
                          close=bus.close, description="emulated I2C bus (hil)")


def hil_camera_bench_target(settings: HilSettings, seed: int) -> CameraBenchTarget:
    hw = _hovering(settings)
    clock = RealtimeClock()
    emu, _, _, line = _camera_board(settings, hw, seed)
    emu.start()
    camera = StreamCamera(line.path, clock, settings.camera)

    def close() -> None:
        camera.close()
        emu.stop()

    return CameraBenchTarget(camera=camera, clock=clock, close=close,
                             description=f"stream camera emulator on {line.path} (hil)",
                             baud=settings.camera.baud)
