"""Simulated sensors and actuators implementing the HAL device interfaces.

Each model is ticked by the sim clock after every world step (``tick(t0, t1)``) and produces
samples at its own rate on its own clock; ``poll()`` is what a driver would return. The IMU
and the camera stamp through ``hal.timesync.ClockMapper`` exactly as the real drivers do, so
the flight software sees estimated, not true, measurement times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hal.timesync import ClockMapper, SkewBounds
from hal.tomlschema import rng
from hal.types import (
    NS_PER_S,
    ActuatorCommand,
    DeviceHealth,
    Frame,
    ImuSample,
    RangeSample,
)
from sim_hal.faults import (
    MAX_CONTENT_SHIFT_NS,
    AltimeterInvalid,
    AltimeterStall,
    CameraBurstDrop,
    CameraClockSkew,
    CameraDisconnect,
    CameraDrop,
    CameraLatency,
    CameraStall,
    CameraStampShift,
    FaultSet,
    ImuBusErrors,
    ImuFifoOverflow,
    ImuNan,
    ImuStall,
    LoopDelay,
    LoopHang,
    content_shift_ns,
)
from sim_hal.pose_history import PoseHistory
from sim_hal.world import World

OBSERVE_EVERY = 25


class Noise:
    """Gaussian samples drawn in numpy blocks and handed out as Python floats (cheap)."""

    def __init__(self, rng_: np.random.Generator, block: int = 8192) -> None:
        self._rng = rng_
        self._block = block
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.standard_normal(self._block).tolist()
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return v

    def uniform(self) -> float:
        return float(self._rng.random())


@dataclass
class ImuModel:
    rate_hz: float = field(default=1000.0, metadata=rng(10, 8000))
    rate_error_ppm: float = field(default=1500.0, metadata=rng(-50_000, 50_000))
    accel_noise_mps2: float = field(default=0.03, metadata=rng(0, 5))
    gyro_noise_rps: float = field(default=0.002, metadata=rng(0, 1))
    accel_bias_max_mps2: float = field(default=0.05, metadata=rng(0, 5))
    gyro_bias_max_rps: float = field(default=0.005, metadata=rng(0, 1))
    temp_c: float = field(default=-20.0, metadata=rng(-120, 120))


@dataclass
class RangeModel:
    rate_hz: float = field(default=50.0, metadata=rng(1, 500))
    noise_m: float = field(default=0.02, metadata=rng(0, 5))
    min_m: float = field(default=0.05, metadata=rng(0, 10))
    max_m: float = field(default=40.0, metadata=rng(1, 1000))
    latency_ms: float = field(default=3.0, metadata=rng(0, 100))


@dataclass
class CameraModel:
    rate_hz: float = field(default=30.0, metadata=rng(1, 240))
    width: int = field(default=160, metadata=rng(16, 1280))
    height: int = field(default=120, metadata=rng(16, 960))
    hfov_deg: float = field(default=100.0, metadata=rng(10, 150))
    clock_offset_s: float = field(default=-0.731, metadata=rng(-1e6, 1e6))
    clock_skew_ppm: float = field(default=40.0, metadata=rng(-10_000, 10_000))
    latency_ms: float = field(default=18.0, metadata=rng(0, 1000))
    latency_jitter_ms: float = field(default=1.0, metadata=rng(0, 100))
    exposure_ms: float = field(default=2.0, metadata=rng(0.01, 100))
    texel_m: float = field(default=0.04, metadata=rng(0.001, 10))
    queue_len: int = field(default=4, metadata=rng(1, 100))


class _Timed:
    """Shared sim-device plumbing: name, health, open/close."""

    name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self._health = DeviceHealth()

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def health(self) -> DeviceHealth:
        return self._health


class SimImu(_Timed):
    def __init__(self, world: World, model: ImuModel, faults: FaultSet, noise: Noise,
                 consume: Callable[[int], None], name: str = "imu") -> None:
        super().__init__(name)
        self.world = world
        self.m = model
        self.rate_hz = model.rate_hz
        self.faults = faults
        self.noise = noise
        self._consume = consume
        self._period_nom_ns = NS_PER_S / model.rate_hz
        self._period_true_ns = self._period_nom_ns / (1.0 + model.rate_error_ppm * 1e-6)
        self._next_ns = float(world.t_ns) + self._period_true_ns
        self._seq = 0
        self._fifo: list[tuple[int, int, tuple[float, float, float],
                               tuple[float, float, float]]] = []
        ab, gb = model.accel_bias_max_mps2, model.gyro_bias_max_rps
        self.accel_bias = tuple(ab * (2 * noise.uniform() - 1) for _ in range(3))
        self.gyro_bias = tuple(gb * (2 * noise.uniform() - 1) for _ in range(3))
        # one observation every OBSERVE_EVERY polls: the fit window then spans seconds, which is
        # what a skew estimate needs (64 polls would be 128 ms)
        self.mapper = ClockMapper(window=64, step_ns=20_000_000)
        self.bounds = SkewBounds(window=128)
        self._polls = 0
        self._health.clock = self.mapper.stats
        self._last_overflow_ns = -(2**62)
        self._hung: set[int] = set()
        self.stamp_errors_ns: list[int] = []  # t_ns - true sample time, one sample per poll

    def tick(self, t0: int, t1: int) -> None:
        if self._next_ns > t1:
            return
        w = self.world
        stalled = self.faults.active(ImuStall, t1) is not None
        nan = self.faults.active(ImuNan, t1) is not None
        an, gn = self.m.accel_noise_mps2, self.m.gyro_noise_rps
        n = self.noise
        while self._next_ns <= t1:
            t = int(self._next_ns)
            self._next_ns += self._period_true_ns
            if stalled:
                continue
            self._seq += 1
            if nan:
                nanv = float("nan")
                self._fifo.append((self._seq, t, (nanv, nanv, nanv), (nanv, nanv, nanv)))
                continue
            fx, fy, fz = w.specific_force_body()
            ox, oy, oz = w.omega
            ab, gb = self.accel_bias, self.gyro_bias
            self._fifo.append((
                self._seq, t,
                (fx + ab[0] + an * n(), fy + ab[1] + an * n(), fz + ab[2] + an * n()),
                (ox + gb[0] + gn * n(), oy + gb[1] + gn * n(), oz + gb[2] + gn * n()),
            ))

    def poll(self) -> list[ImuSample]:
        now = self.world.t_ns
        delay = self.faults.active(LoopDelay, now)
        if delay is not None:
            self._consume(int(delay.params.delay_ms * 1e6))
            now = self.world.t_ns
        hang = self.faults.active(LoopHang, now)
        if hang is not None and id(hang) not in self._hung:
            # A call that does not come back (a wedged bus driver): real time passes.
            self._hung.add(id(hang))
            time.sleep(hang.params.hang_s)
        h = self._health
        bus = self.faults.active(ImuBusErrors, now)
        if bus is not None and self.noise.uniform() < bus.params.rate:
            h.note_error("EIO (errno 5) reading FIFO_COUNT")
            return []
        ovf = self.faults.active(ImuFifoOverflow, now)
        if ovf is not None and now - self._last_overflow_ns >= ovf.params.interval_s * NS_PER_S:
            self._last_overflow_ns = now
            h.overflows += 1
            h.resets += 1
            h.lost += len(self._fifo)
            self._fifo.clear()
            return []
        fifo = self._fifo
        if not fifo:
            return []
        self._fifo = []
        period = self._period_nom_ns
        last_seq = fifo[-1][0]
        # The newest sample was measured at most one period before this read.
        self._polls += 1
        dev_last = int(last_seq * period)
        if self._polls % OBSERVE_EVERY == 1 or not self.mapper.valid:
            self.mapper.observe(dev_last, now)
        mapper = self.mapper
        # as the driver's FifoTimestamper: the next sample had not been measured by this read
        st = mapper.stats
        period_host = period * (1.0 + st.skew_ppm * 1e-6)
        self.bounds.add(dev_last, SkewBounds.lower_edge(now, 1, period_host), now,
                        mapper.to_host(dev_last), now)
        self.bounds.publish(st)
        out = []
        for seq, _t_true, acc, gyr in fifo:
            dev = int(seq * period)
            out.append(ImuSample(mapper.to_host(dev), seq, acc, gyr, self.m.temp_c, dev))
        self.stamp_errors_ns.append(out[-1].t_ns - fifo[-1][1])
        h.samples += len(out)
        return out


class SimRangefinder(_Timed):
    def __init__(self, world: World, model: RangeModel, faults: FaultSet, noise: Noise,
                 name: str = "altimeter") -> None:
        super().__init__(name)
        self.world = world
        self.m = model
        self.rate_hz = model.rate_hz
        self.faults = faults
        self.noise = noise
        self._period = NS_PER_S / model.rate_hz
        self._next_ns = float(world.t_ns) + self._period
        self._seq = 0
        self._pending: list[tuple[int, RangeSample]] = []

    def tick(self, t0: int, t1: int) -> None:
        if self._next_ns > t1:
            return
        w = self.world
        m = self.m
        while self._next_ns <= t1:
            t = int(self._next_ns)
            self._next_ns += self._period
            if self.faults.active(AltimeterStall, t) is not None:
                continue
            self._seq += 1
            cos_tilt = w.r[8]
            if self.faults.active(AltimeterInvalid, t) is not None or cos_tilt < 0.5:
                d, ok = float("nan"), False
            else:
                if w.terrain is None:
                    d = -w.pos[2] / cos_tilt + m.noise_m * self.noise()
                else:  # along the body z axis (the column (r02, r12, r22)) to the terrain
                    r, pos = w.r, w.pos
                    d = w.terrain.range_along(pos[0], pos[1], pos[2], r[2], r[5], r[8],
                                              m.max_m + 1.0) + m.noise_m * self.noise()
                ok = m.min_m <= d <= m.max_m
                if not ok:
                    d = float("nan")
            self._pending.append((t + int(m.latency_ms * 1e6), RangeSample(t, self._seq, d, ok)))

    def poll(self) -> list[RangeSample]:
        if not self._pending:
            return []
        now = self.world.t_ns
        out = [s for due, s in self._pending if due <= now]
        if out:
            self._pending = [(due, s) for due, s in self._pending if due > now]
            self._health.samples += len(out)
            self._health.bad_data += sum(1 for s in out if not s.valid)
        return out


Renderer = Callable[[tuple[float, float, float], npt.NDArray[np.float64]], npt.NDArray[np.uint8]]


class SimCamera(_Timed):
    """A camera with its own clock (offset, skew) that renders the world at exposure time.

    The image shows the world at its true mid-exposure time, taken from a short history of
    world poses (interpolated between steps), not at the step that happened to follow it.
    Content-time faults (``sim_hal.faults.content_shift_ns``) move that time away from the
    stamp while stamp, sequence number and send time stay a healthy camera's.
    """

    def __init__(self, world: World, model: CameraModel, faults: FaultSet, noise: Noise,
                 renderer: Renderer, focal_px: float, name: str = "camera") -> None:
        super().__init__(name)
        self.world = world
        self.m = model
        self.rate_hz = model.rate_hz
        self.width, self.height = model.width, model.height
        self.focal_px = focal_px
        self.faults = faults
        self.noise = noise
        self.render = renderer
        # camera clock: cam = cam0 + (t - t0) * rate; rate changes at a clock_skew fault
        self._anchor_t = world.t_ns
        self._anchor_cam = world.t_ns + model.clock_offset_s * NS_PER_S
        self._rate = 1.0 + model.clock_skew_ppm * 1e-6
        self._skew_applied: set[int] = set()
        self._period_cam = NS_PER_S / model.rate_hz
        self._next_cam = self._anchor_cam + self._period_cam
        self._seq = 0
        self._drop_left = 0
        self._drops_done: set[int] = set()
        self._pending: list[tuple[int, Frame]] = []
        self._latency_ns = int(model.latency_ms * 1e6)
        self.mapper = ClockMapper(window=90)
        self._health.clock = self.mapper.stats
        # world poses far enough back for any content shift
        w = world
        self.poses = PoseHistory(MAX_CONTENT_SHIFT_NS + 2 * int(self._period_cam))
        self.poses.add(w.t_ns, w.pos, w.vel, w.q)
        # exposures whose content lies ahead of the world: (content time, stamp time, cam time,
        # sequence number)
        self._deferred: list[tuple[int, int, float, int]] = []
        self._content_t: dict[int, int] = {}  # seq -> true mid-exposure of its image
        self.stamp_errors_ns: list[int] = []  # each delivered frame: t_ns - its content's time

    def _true_of_cam(self, cam: float) -> float:
        return self._anchor_t + (cam - self._anchor_cam) / self._rate

    def _apply_skew_faults(self, t: int) -> None:
        for i, f in enumerate(self.faults.of_kind(CameraClockSkew)):
            if i not in self._skew_applied and f.at_ns <= t:
                self._skew_applied.add(i)
                cam_now = self._anchor_cam + (f.at_ns - self._anchor_t) * self._rate
                self._anchor_t, self._anchor_cam = f.at_ns, cam_now
                self._rate += f.params.ppm * 1e-6

    def tick(self, t0: int, t1: int) -> None:
        w = self.world
        self.poses.add(w.t_ns, w.pos, w.vel, w.q)
        self._apply_skew_faults(t1)
        if self._deferred and self._deferred[0][0] <= t1:
            due = [d for d in self._deferred if d[0] <= t1]
            self._deferred = [d for d in self._deferred if d[0] > t1]
            for t_content, t, cam_t, seq in due:
                self._expose(t_content, t, cam_t, seq)
        while True:
            t_cap = self._true_of_cam(self._next_cam)
            if t_cap > t1:
                return
            cam_t = self._next_cam
            self._next_cam += self._period_cam
            self._capture(int(t_cap), cam_t, t1)

    def _capture(self, t: int, cam_t: float, now: int) -> None:
        fs = self.faults
        if fs.active(CameraStall, t) is not None:
            return  # no exposure, no sequence number: the camera is stuck
        if fs.active(CameraDisconnect, t) is not None:
            return
        self._seq += 1
        for i, drop in enumerate(fs.of_kind(CameraDrop)):
            if i not in self._drops_done and drop.at_ns <= t:
                self._drops_done.add(i)
                self._drop_left += drop.params.count
        if self._drop_left > 0:
            self._drop_left -= 1
            self._health.lost += 1  # the driver sees it later as a sequence gap
            return
        burst = fs.active(CameraBurstDrop, t)
        if burst is not None and self.noise.uniform() < burst.params.drop_prob:
            return
        t_content = t + content_shift_ns(fs, t, self._period_cam / self._rate)
        if t_content > now:  # exposed later than stamped: wait for the world to get there
            self._deferred.append((t_content, t, cam_t, self._seq))
        else:
            self._expose(t_content, t, cam_t, self._seq)

    def _expose(self, t_content: int, t: int, cam_t: float, seq: int) -> None:
        """Render the world at ``t_content`` and queue the frame stamped for ``t``."""
        fs = self.faults
        pos, r = self.poses.at(t_content)
        image = self.render(pos, r)
        stamp = cam_t
        for shift in fs.of_kind(CameraStampShift):
            if shift.active(t):
                stamp += shift.params.shift_s * NS_PER_S
        lat = self._latency_ns + int(self.m.latency_jitter_ms * 1e6 * self.noise.uniform())
        extra = fs.active(CameraLatency, t)
        if extra is not None:
            lat += int(extra.params.extra_s * NS_PER_S)
        # no camera sends an image before it has exposed it
        due = max(t + lat, t_content + lat - self._latency_ns)
        frame = Frame(t, seq, due, image, int(stamp), int(self.m.exposure_ms * 1e6))
        self._content_t[seq] = t_content
        self._pending.append((due, frame))

    def poll(self) -> list[Frame]:
        now = self.world.t_ns
        down = self.faults.active(CameraDisconnect, now) is not None
        if down == self._health.connected:  # a change: count it as a driver would
            self._health.connected = not down
            if down:
                self._health.note_error("serial port failed: device disconnected")
            else:
                self._health.reconnects += 1
        if down:
            self._pending.clear()  # bytes in flight are lost with the line
            self._content_t.clear()
            return []
        if not self._pending:
            return []
        out = []
        keep = []
        for due, fr in self._pending:
            if due > now:
                keep.append((due, fr))
                continue
            dev = fr.device_t_ns
            assert dev is not None
            self.mapper.observe(dev, fr.t_rx_ns - self._latency_ns)
            t_ns = self.mapper.to_host(dev)
            out.append(fr._replace(t_ns=t_ns))
            self.stamp_errors_ns.append(t_ns - self._content_t.pop(fr.seq, t_ns))
        self._pending = keep
        out.sort(key=lambda f: f.seq)  # a deferred exposure may fall due after a later frame
        if len(out) > self.m.queue_len:
            self._health.overflows += 1
            self._health.lost += len(out) - self.m.queue_len
            out = out[-self.m.queue_len:]
        self._health.samples += len(out)
        return out


class SimActuators(_Timed):
    def __init__(self, world: World, name: str = "motors") -> None:
        super().__init__(name)
        self.world = world
        self.motor_count = len(world.cmd)
        self.armed = False
        self.last: tuple[float, ...] = (0.0,) * self.motor_count

    def write(self, cmd: ActuatorCommand) -> None:
        self.armed = cmd.armed
        if not cmd.armed:
            self.disarm()
            return
        motors = list(cmd.motors)
        self.last = tuple(motors)
        self.world.set_motor_commands(motors)

    def disarm(self) -> None:
        self.armed = False
        self.last = (0.0,) * self.motor_count
        self.world.set_motor_commands(self.last)

