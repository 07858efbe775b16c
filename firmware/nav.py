"""Navigation: attitude, altitude and horizontal velocity/position from IMU, altimeter, camera.

- Attitude: quaternion propagated with the gyro once per cycle (delta angles summed over the
  cycle's IMU samples, as PX4 integrates to the filter rate), corrected toward the gravity
  direction seen by the accelerometer (Mahony) after removing the estimated kinematic
  acceleration. Gyro bias comes from a stationary alignment on the ground. No magnetometer
  (Mars): heading is held by the aligned gyro alone.
- Altitude and horizontal motion: one three-state Kalman filter per axis (``AxisKf``).
- Delayed measurements are fused at their own timestamps: a short history of past states is
  kept, the innovation is formed against the state at the measurement's ``t_ns`` and applied
  to the present. Vision measures the horizontal displacement between two frames, de-rotated
  with the attitude change between the two frames' timestamps and scaled by height. That is why
  a frame stamped at the wrong time corrupts the estimate (Ingenuity flight 6): the history
  hands back the wrong interval's rotation and motion.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from firmware.config import NavConfig
from firmware.kf import AxisKf
from firmware.time_offset import (
    CameraImuOffset,
    OffsetEstimate,
    TimeOffsetConfig,
    correction_ns,
)
from firmware.vision import (
    FlowEngine,
    FlowObserver,
    FlowResult,
    ResettableFlowEngine,
    VisionFlowEngine,
    body_velocity,
    derotation_gain,
    nadir_pixel,
    translation_shift,
    window_depth,
    window_shape,
)
from hal.geometry import euler_to_quat, quat_to_euler, quat_to_matrix
from hal.types import NS_PER_S, Frame, ImuSample, RangeSample

# The time offset estimator's translation prediction follows the velocity this slowly (s).
VELOCITY_SMOOTH_S = 1.0
MAX_IMU_DT_S = 0.02  # larger gaps are not integrated as if nothing happened
# Beyond any MEMS IMU's full scale (2000 deg/s = 35 rad/s, 16 g = 157 m/s^2) with margin: a
# sample past these is corrupt, and one infinite value would zero the attitude quaternion.
MAX_GYRO_RPS = 100.0
MAX_ACCEL_MPS2 = 2000.0


def _no_reset() -> None:
    return None


@dataclass(slots=True)
class NavCounters:
    imu_used: int = 0
    imu_rejected: int = 0  # non-finite or out-of-order samples
    range_used: int = 0
    range_rejected: int = 0
    vision_used: int = 0
    vision_rejected: int = 0
    vision_skipped: int = 0  # too low, not trusted, or no history for the frame's time
    range_resets: int = 0  # height and climb rate taken from the altimeter (refused too long)


class Navigator:
    def __init__(self, cfg: NavConfig, gravity: float, imu_rate_hz: float,
                 cam_width: int, cam_height: int, focal_px: float,
                 flow_engine: FlowEngine | None = None,
                 offset_cfg: TimeOffsetConfig | None = None,
                 offset_bound_s: float = 0.012) -> None:
        self.cfg = cfg
        self.g = gravity
        self.nominal_imu_dt = 1.0 / imu_rate_hz
        self._half_imu_ns = round(0.5e9 / imu_rate_hz)
        self.focal_px = focal_px
        self.q = [1.0, 0.0, 0.0, 0.0]
        self.r = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        self.gyro_bias = [0.0, 0.0, 0.0]
        self.int_err = [0.0, 0.0, 0.0]
        self.rate = (0.0, 0.0, 0.0)  # latest bias-corrected body rate
        self.kn = AxisKf(cfg.accel_noise_mps2, cfg.accel_bias_noise)
        self.ke = AxisKf(cfg.accel_noise_mps2, cfg.accel_bias_noise)
        self.ku = AxisKf(cfg.accel_noise_mps2, cfg.accel_bias_noise)
        self.accel_kin = (0.0, 0.0, 0.0)  # NED kinematic acceleration estimate
        self.t_ns = 0
        self.aligned = False
        self._align: list[ImuSample] = []
        self.use_vision = True
        self.use_range = True
        win_rows, win_cols = window_shape(cfg.vision_window_px, cam_width, cam_height)
        engine = flow_engine if flow_engine is not None else VisionFlowEngine(
            cam_width, cam_height, win_rows if win_rows == win_cols else None)
        self.flow_engine: FlowEngine = engine
        self._flow_reset: Callable[[], None] = (
            engine.reset if isinstance(engine, ResettableFlowEngine) else _no_reset)
        # Called with every finished frame and its result (the flight recorder logs them).
        self.flow_observers: list[FlowObserver] = []
        self._pending: tuple[Frame, int | None] | None = None
        self.rot_gain = derotation_gain(win_cols, win_rows, focal_px)
        self._prev_frame_t: int | None = None
        self._hist_t: list[int] = []
        self._hist: list[tuple[float, ...]] = []
        # per history entry: the NED horizontal accelerations integrated then and the bias
        # estimates (a rewind dead-reckons from an older state with them)
        self._hist_acc: list[tuple[float, float, float, float]] = []
        self._hist_len = 0
        self.counters = NavCounters()
        self.last_vision_innov = 0.0  # m/s, magnitude of the last vision innovation
        self.last_vision_vel = (0.0, 0.0)
        self.last_flow = (0.0, 0.0, 0.0)
        self.range_ok_t_ns = 0
        self.vision_ok_t_ns = 0  # the newest frame whose velocity was fused
        self.range_test_ratio = 0.0  # the last range innovation over its gate (>1: refused)
        # Time the inertial integration has lost to gaps (each integrated over one period
        # only): PX4's estimator_status.time_slip
        self.time_slip_s = 0.0
        # the first valid altimeter reading refused by the gate since one was last used
        self._refused_since: tuple[int, float] | None = None
        self.rewound_s = 0.0  # how far the last vision rewind went back
        # camera-IMU time offset: the configured one is added to every frame stamp; the online
        # estimate (relative to it) is added too while it is confident and within the bound
        self.offset_cfg = offset_cfg if offset_cfg is not None else TimeOffsetConfig()
        self.offset_bound_s = offset_bound_s
        self.cam_offset_ns = round(cfg.camera_time_offset_ms * 1e6)
        self.time_offset = CameraImuOffset(self.offset_cfg, focal_px, self.rot_gain)
        self.offset_correction_ns = 0
        self.offset_update: OffsetEstimate | None = None  # new this cycle (the watchdog's)
        self._v_smooth = (0.0, 0.0, 0.0)  # NED velocity, low-passed, for the estimator

    # -- alignment ------------------------------------------------------------------------
    def align(self, samples: list[ImuSample]) -> None:
        """Stationary on the ground: average gyro (bias) and accelerometer (level)."""
        for s in samples:
            if _finite(s.gyro_rps) and _finite(s.accel_mps2):
                self._align.append(s)
        if not self._align:
            return
        span = (self._align[-1].t_ns - self._align[0].t_ns) / NS_PER_S
        if span < self.cfg.align_s:
            return
        n = len(self._align)
        gx = sum(s.gyro_rps[0] for s in self._align) / n
        gy = sum(s.gyro_rps[1] for s in self._align) / n
        gz = sum(s.gyro_rps[2] for s in self._align) / n
        fx = sum(s.accel_mps2[0] for s in self._align) / n
        fy = sum(s.accel_mps2[1] for s in self._align) / n
        fz = sum(s.accel_mps2[2] for s in self._align) / n
        self.gyro_bias = [gx, gy, gz]
        roll = math.atan2(-fy, -fz)
        pitch = math.atan2(fx, math.hypot(fy, fz))
        self.q = list(euler_to_quat(roll, pitch, 0.0))
        self._update_r()
        self.t_ns = self._align[-1].t_ns
        self._align = []
        self.aligned = True

    def restart_alignment(self) -> None:
        self._align = []

    # -- IMU ----------------------------------------------------------------------------------
    def propagate(self, samples: list[ImuSample]) -> None:
        if not samples:
            return
        cnt = self.counters
        bx, by, bz = self.gyro_bias
        t_prev = self.t_ns
        dax = day = daz = 0.0  # delta angle
        fsx = fsy = fsz = 0.0  # specific force * dt
        total = 0.0
        for s in samples:
            t = s.t_ns
            w = s.gyro_rps
            f = s.accel_mps2
            if t <= t_prev or not (_plausible(w, MAX_GYRO_RPS) and _plausible(f, MAX_ACCEL_MPS2)):
                cnt.imu_rejected += 1  # NaN, infinite or beyond any IMU's range: not integrated
                continue
            dt = (t - t_prev) / NS_PER_S
            if dt > MAX_IMU_DT_S:
                # A gap (stall, rejected data): integrate this sample over one period only.
                # Boosting the accelerometer correction after a gap was tried and is worse:
                # the vehicle is usually braking then, and the boost pulls toward a false
                # vertical.
                self.time_slip_s += dt - self.nominal_imu_dt
                dt = self.nominal_imu_dt
            t_prev = t
            dax += (w[0] - bx) * dt
            day += (w[1] - by) * dt
            daz += (w[2] - bz) * dt
            fsx += f[0] * dt
            fsy += f[1] * dt
            fsz += f[2] * dt
            total += dt
        if total <= 0.0:
            return
        cnt.imu_used += len(samples)
        self.t_ns = t_prev
        if self.offset_cfg.enabled:
            a = min(1.0, total / VELOCITY_SMOOTH_S)
            vs = self._v_smooth
            ak = self.accel_kin
            self._v_smooth = (vs[0] + ak[0] * total + a * (self.kn.v - vs[0]),
                              vs[1] + ak[1] * total + a * (self.ke.v - vs[1]),
                              vs[2] + ak[2] * total + a * (-self.ku.v - vs[2]))
            # A sample's rate stands for the period around its stamp, so the rotation summed
            # through the last sample is the attitude half a period after it (recording it at
            # the stamp put the gyro 0.5 ms ahead of the camera).
            self.time_offset.record_gyro(t_prev + self._half_imu_ns, dax, day, daz)
        fx, fy, fz = fsx / total, fsy / total, fsz / total
        self.rate = (dax / total, day / total, daz / total)

        # Mahony correction toward the expected specific-force direction. Only while vision
        # keeps the velocity (so the acceleration) estimate honest: without it the reference
        # is the IMU's own acceleration, a tilt error reads as acceleration, and the vehicle's
        # braking pulls the estimate off. The aligned gyro alone holds attitude far better for
        # the seconds of a LAND_NOW descent (landing spread 3.4 -> 2.3 m over six seeds).
        cfg = self.cfg
        r = self.r
        g = self.g
        ux, uy, uz = self.accel_kin[0], self.accel_kin[1], self.accel_kin[2] - g
        un = math.sqrt(ux * ux + uy * uy + uz * uz)
        fn = math.sqrt(fx * fx + fy * fy + fz * fz)
        if self.use_vision and fn > 0.0 and un > 0.0 and abs(fn - un) < cfg.accel_gate * g:
            # expected direction in body = R^T u
            bxu = (r[0] * ux + r[3] * uy + r[6] * uz) / un
            byu = (r[1] * ux + r[4] * uy + r[7] * uz) / un
            bzu = (r[2] * ux + r[5] * uy + r[8] * uz) / un
            mx, my, mz = fx / fn, fy / fn, fz / fn
            ex = my * bzu - mz * byu
            ey = mz * bxu - mx * bzu
            ez = mx * byu - my * bxu
            ie = self.int_err
            ie[0] += cfg.att_ki * ex * total
            ie[1] += cfg.att_ki * ey * total
            kp = cfg.att_kp * total
            dax += kp * ex + ie[0] * total
            day += kp * ey + ie[1] * total
            daz += kp * ez

        qw, qx, qy, qz = self.q
        hx, hy, hz = 0.5 * dax, 0.5 * day, 0.5 * daz
        nw = qw - qx * hx - qy * hy - qz * hz
        nx = qx + qw * hx + qy * hz - qz * hy
        ny = qy + qw * hy - qx * hz + qz * hx
        nz = qz + qw * hz + qx * hy - qy * hx
        inv = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
        self.q = [nw * inv, nx * inv, ny * inv, nz * inv]
        self._update_r()
        r = self.r
        an = r[0] * fx + r[1] * fy + r[2] * fz
        ae = r[3] * fx + r[4] * fy + r[5] * fz
        ad = r[6] * fx + r[7] * fy + r[8] * fz + g
        self.kn.predict(an, total)
        self.ke.predict(ae, total)
        self.ku.predict(-ad, total)
        # kinematic acceleration for the attitude reference: bias-corrected, smoothed
        k = min(1.0, total / 0.05)
        ak = self.accel_kin
        self.accel_kin = (ak[0] + k * (an - self.kn.b - ak[0]),
                          ak[1] + k * (ae - self.ke.b - ak[1]),
                          ak[2] + k * (ad + self.ku.b - ak[2]))
        self._remember(an, ae)

    def _remember(self, an: float, ae: float) -> None:
        self._hist_t.append(self.t_ns)
        q = self.q
        vs = self._v_smooth
        self._hist.append((self.kn.p, self.ke.p, self.ku.p, q[0], q[1], q[2], q[3],
                           self.kn.v, self.ke.v, vs[0], vs[1], vs[2]))
        self._hist_acc.append((an, ae, self.kn.b, self.ke.b))
        if len(self._hist_t) > 2 * self._hist_cap():
            cut = len(self._hist_t) - self._hist_cap()
            del self._hist_t[:cut]
            del self._hist[:cut]
            del self._hist_acc[:cut]

    def _hist_cap(self) -> int:
        if not self._hist_len:
            self._hist_len = max(8, int(self.cfg.history_s * 600))
        return self._hist_len

    def state_at(self, t_ns: int) -> tuple[float, ...] | None:
        """The state at ``t_ns``, interpolated from the history; None outside it."""
        ts = self._hist_t
        if not ts or t_ns < ts[0] or t_ns > ts[-1]:
            return None
        i = bisect_left(ts, t_ns)
        if ts[i] == t_ns or i == 0:
            return self._hist[i]
        t0, t1 = ts[i - 1], ts[i]
        a = (t_ns - t0) / (t1 - t0)
        s0, s1 = self._hist[i - 1], self._hist[i]
        return tuple(x0 + (x1 - x0) * a for x0, x1 in zip(s0, s1, strict=True))

    # -- altimeter ----------------------------------------------------------------------------
    def fuse_range(self, s: RangeSample) -> None:
        if not self.use_range:
            return
        cnt = self.counters
        if not s.valid or s.distance_m != s.distance_m:
            cnt.range_rejected += 1
            return
        past = self.state_at(s.t_ns)
        if past is None:
            cnt.range_rejected += 1
            return
        cfg = self.cfg
        cos_tilt = self._cos_tilt_of(past)
        height = s.distance_m * cos_tilt
        innov = height - past[2]
        # Tilted, the beam meets the ground range*sin(tilt) from the point below, where rough
        # ground is higher or lower by about the slope times that: 30 m up at 30 deg, 2 m
        # (a windy flight's height swung 5 m and its climb rate 13 m/s with 4 cm of noise)
        off_nadir = s.distance_m * math.sqrt(max(0.0, 1.0 - cos_tilt * cos_tilt))
        terrain_m = cfg.range_terrain_slope * off_nadir
        gate = cfg.range_gate_m + 3.0 * terrain_m
        self.range_test_ratio = abs(innov) / gate
        if abs(innov) > gate:
            cnt.range_rejected += 1
            self._range_refused(s.t_ns, height)
            return
        self._refused_since = None
        self.ku.update(0, innov, cfg.range_noise_m ** 2 + terrain_m * terrain_m)
        cnt.range_used += 1
        self.range_ok_t_ns = s.t_ns

    def _range_refused(self, t_ns: int, height: float) -> None:
        """A valid reading beyond the gate. When they have all been for range_reset_s, the
        estimate is what is wrong (a gate only ever keeps a wrong estimate wrong: a vehicle
        fell 35 m at 5.5 m/s through readings refused as 4-30 m off): take the height from
        the altimeter and the climb rate from its readings over that time."""
        first = self._refused_since
        if first is None:
            self._refused_since = (t_ns, height)
            return
        span = (t_ns - first[0]) / NS_PER_S
        if span < self.cfg.range_reset_s:
            return
        self.ku.reset(height, (height - first[1]) / span)
        self.counters.range_resets += 1
        self._refused_since = None

    @staticmethod
    def _cos_tilt_of(st: tuple[float, ...]) -> float:
        x, y = st[4], st[5]
        return 1.0 - 2.0 * (x * x + y * y)

    # -- vision -------------------------------------------------------------------------------
    def fuse_frame(self, fr: Frame) -> float | None:
        """Start on a frame: a third of the image work now, the rest over the next two cycles
        (``step_frame``), so no cycle carries a whole frame (about 0.5 ms). The fusion is at
        the frame's own timestamp either way. Returns the innovation of a frame still pending
        (only when frames arrive closer than three cycles apart)."""
        cnt = self.counters
        earlier = self.finish_frame() if self._pending is not None else None
        if not self.use_vision or self.ku.p < self.cfg.vision_min_alt_m:
            self._flow_reset()
            self._prev_frame_t = None
            cnt.vision_skipped += 1
            return earlier
        self.flow_engine.begin(fr, nadir_pixel(self.r, self.focal_px))
        self._pending = (fr, self._prev_frame_t)
        self._prev_frame_t = fr.t_ns
        return earlier

    def step_frame(self) -> float | None:
        """One cycle's share of the pending frame: its middle stage, else its last stage and
        the fusion. Returns the vision innovation (m/s) when one was formed. A cycle with no
        frame work scores the time offset estimator's waiting pairs instead (~90 us), so the
        two never share a cycle."""
        if self._pending is None:
            if self.offset_cfg.enabled:
                self._update_offset()
            return None
        if self.flow_engine.advance():
            return None
        return self.finish_frame()

    def finish_frame(self) -> float | None:
        """Finish the pending frame; returns the vision innovation (m/s) when one was formed."""
        if self._pending is None:
            return None
        fr, t_prev = self._pending
        self._pending = None
        cnt = self.counters
        flow = self.flow_engine.finish(fr)
        for observe in self.flow_observers:
            observe(fr, flow)
        if flow is None or t_prev is None:
            cnt.vision_skipped += 1
            return None
        self.last_flow = (flow.drow, flow.dcol, flow.quality)
        if flow.quality < self.cfg.vision_min_quality:
            cnt.vision_rejected += 1
            return None
        t0 = t_prev + self.cam_offset_ns  # the configured offset: stamps -> true exposures
        t1 = fr.t_ns + self.cam_offset_ns
        if self.offset_cfg.enabled:
            self._feed_offset(flow, t0, t1)
        c = self.offset_correction_ns
        s0 = self.state_at(t0 + c)
        s1 = self.state_at(t1 + c)
        dt = (fr.t_ns - t_prev) / NS_PER_S
        if s0 is None or s1 is None or dt <= 0.0:
            cnt.vision_skipped += 1
            return None
        dtheta = _delta_angle_body(s0[3:7], s1[3:7])
        height = 0.5 * (s0[2] + s1[2])
        rot = quat_to_matrix(s1[3:7])
        vx_b, vy_b, vz_b = body_velocity(flow, dtheta, height, rot, -self.ku.v, self.focal_px,
                                         dt, self.rot_gain)
        # Body -> NED with the full attitude (the heading alone would shrink the measurement
        # by cos(tilt): 2 % at 12 deg of cruise tilt)
        r0, r1, r2, r3, r4, r5 = rot[:6]
        vn = r0 * vx_b + r1 * vy_b + r2 * vz_b
        ve = r3 * vx_b + r4 * vy_b + r5 * vz_b
        self.last_vision_vel = (vn, ve)
        # compare with the estimate's mean velocity over the same interval (not its position
        # difference: position corrections would read as motion)
        en = 0.5 * (s0[7] + s1[7])
        ee = 0.5 * (s0[8] + s1[8])
        yn, ye = vn - en, ve - ee
        self.last_vision_innov = math.hypot(yn, ye)
        if self.last_vision_innov > self.cfg.vision_gate_mps:
            cnt.vision_rejected += 1
            return self.last_vision_innov
        r = self.cfg.vision_noise_mps ** 2
        self.kn.update(1, yn, r)
        self.ke.update(1, ye, r)
        cnt.vision_used += 1
        self.vision_ok_t_ns = fr.t_ns
        return self.last_vision_innov

    def _feed_offset(self, flow: FlowResult, t0: int, t1: int) -> None:
        """Give the offset estimator this pair's image shift less the translation a smoothed
        velocity predicts at this pair's attitude and height (scored in a later cycle).

        The estimator differences consecutive pairs, so a slow error of this prediction drops
        out; what it must get right is how the translation's shift changes with attitude (a
        pitch change at 2.5 m/s moves it with the pitch rate, which biased flight 53's cruise
        by 1.7 ms). The velocity is smoothed (time constant VELOCITY_SMOOTH_S) because vision
        corrects the raw estimate frame by frame with the very stamps judged here: its
        frame-to-frame changes carry the offset and shrank a 15 ms one to 12.5 ms."""
        b = self.state_at(t0 + (t1 - t0) // 2)  # the pair's translation is its mean
        dt = (t1 - t0) / NS_PER_S
        drow, dcol, y, x = flow.drow, flow.dcol, flow.at_row, flow.at_col
        if b is not None and dt > 0.0 and b[2] > 0.0:
            r = quat_to_matrix(b[3:7])
            vn, ve, vd = b[9:12]
            v_body = (r[0] * vn + r[3] * ve + r[6] * vd, r[1] * vn + r[4] * ve + r[7] * vd,
                      r[2] * vn + r[5] * ve + r[8] * vd)
            depth = window_depth(b[2], r, y, x, self.focal_px)
            trow, tcol = translation_shift(v_body, depth, y, x, self.focal_px, dt)
            drow -= trow
            dcol -= tcol
        self.time_offset.add_pair(t0, t1, drow, dcol, y, x)

    def _update_offset(self) -> None:
        """Score the pairs the gyro now covers; take the new estimate, if any, and the
        correction it allows."""
        est = self.time_offset.update()
        if est is not None:
            self.offset_update = est
            self.offset_correction_ns = correction_ns(est, self.offset_bound_s,
                                                      self.offset_cfg)

    def _rewind_horizontal(self, seconds: float) -> None:
        """Vision has just been condemned: what it taught the horizontal state over the last
        ``seconds`` (the checks' detection time) may be its lie. Go back to the state and
        accelerometer bias of then and dead-reckon to now on the accelerations integrated
        since. A vision fault found late had pulled the velocity 1-2 m/s off and its bias
        with it; braking on that estimate slid the vehicle into a 2.5 m/s touchdown."""
        ts = self._hist_t
        if seconds <= 0.0 or len(ts) < 2:
            return
        i = max(0, bisect_left(ts, self.t_ns - int(seconds * NS_PER_S)))
        if i >= len(ts) - 1:
            return
        h, acc = self._hist, self._hist_acc
        pn, pe, vn, ve = h[i][0], h[i][1], h[i][7], h[i][8]
        bn, be = acc[i][2], acc[i][3]
        for j in range(i + 1, len(ts)):
            dt = (ts[j] - ts[j - 1]) / NS_PER_S
            an, ae = acc[j][0] - bn, acc[j][1] - be
            pn += (vn + 0.5 * an * dt) * dt
            pe += (ve + 0.5 * ae * dt) * dt
            vn += an * dt
            ve += ae * dt
        for kf, p, v, b in ((self.kn, pn, vn, bn), (self.ke, pe, ve, be)):
            kf.p, kf.v, kf.b = p, v, b
        self.rewound_s = (ts[-1] - ts[i]) / NS_PER_S

    def take_offset_update(self) -> OffsetEstimate | None:
        """The estimate made since the last call (None if none)."""
        est, self.offset_update = self.offset_update, None
        return est

    def stop_trusting(self, vision: bool = False, altimeter: bool = False) -> None:
        """Stop fusing a source for the rest of the flight (LAND_NOW's trip actions)."""
        if vision:
            if self.use_vision:
                self._rewind_horizontal(self.cfg.vision_rewind_s)
            self.use_vision = False
            self._flow_reset()
            self._prev_frame_t = None
            self._pending = None
        if altimeter:
            self.use_range = False

    # -- outputs --------------------------------------------------------------------------
    def euler(self) -> tuple[float, float, float]:
        return quat_to_euler(self.q)

    def tilt_deg(self) -> float:
        return math.degrees(math.acos(max(-1.0, min(1.0, self.r[8]))))

    @property
    def position_ned(self) -> tuple[float, float, float]:
        return (self.kn.p, self.ke.p, -self.ku.p)

    @property
    def velocity_ned(self) -> tuple[float, float, float]:
        return (self.kn.v, self.ke.v, -self.ku.v)

    @property
    def height_m(self) -> float:
        return self.ku.p

    def _update_r(self) -> None:
        self.r = quat_to_matrix(self.q)

def _finite(v: tuple[float, float, float]) -> bool:
    return math.isfinite(v[0]) and math.isfinite(v[1]) and math.isfinite(v[2])


def _plausible(v: tuple[float, float, float], limit: float) -> bool:
    """Finite and within ``limit`` on every axis (NaN and inf compare False)."""
    return -limit <= v[0] <= limit and -limit <= v[1] <= limit and -limit <= v[2] <= limit


def _delta_angle_body(q0: tuple[float, ...], q1: tuple[float, ...]) -> tuple[float, float, float]:
    """Small-angle rotation vector (body frame) taking attitude q0 to q1: 2*vec(q0^-1 q1)."""
    aw, ax, ay, az = q0[0], -q0[1], -q0[2], -q0[3]
    bw, bx, by, bz = q1
    w = aw * bw - ax * bx - ay * by - az * bz
    x = aw * bx + ax * bw + ay * bz - az * by
    y = aw * by - ax * bz + ay * bw + az * bx
    z = aw * bz + ax * by - ay * bx + az * bw
    s = 2.0 if w >= 0 else -2.0
    return (s * x, s * y, s * z)
