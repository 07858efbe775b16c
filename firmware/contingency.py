"""Contingency watchdog: named checks with thresholds and persistence, latching LAND_NOW.

Every check is a row: a name, a value computed from what the cycle saw, a threshold and a
persistence (consecutive failing evaluations before it trips), all from config. A check is
evaluated only when there is something to judge (frame checks on each frame, window checks a
few times a second), so persistence counts evidence, not cycles. The first trip latches
LAND_NOW with the check's name as the reason; nothing clears it in flight.

Timestamp checks are the core (Ingenuity flights 6 and 53): the camera's measurement and
receive times are compared with what was learned before take-off, frame by frame.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, fields
from typing import Any, Literal

from firmware.config import CheckConfig, ContingencyConfig
from hal.types import NS_PER_S, DeviceHealth, Frame, ImuSample, RangeSample

log = logging.getLogger(__name__)

Source = Literal["vision", "imu", "range", "exec", "nav", "operator"]

# check name -> the source it condemns (what LAND_NOW stops trusting)
CHECK_SOURCES: dict[str, Source] = {
    "frame_latency": "vision",
    "frame_interval": "vision",
    "frame_seq_gap": "vision",
    "frame_drop_burst": "vision",
    "frame_nonmonotonic": "vision",
    "camera_clock_residual": "vision",
    "camera_clock_skew": "vision",
    "frame_stale": "vision",
    "vision_innovation": "vision",
    "imu_nonmonotonic": "imu",
    "imu_stale": "imu",
    "imu_fifo_overflow": "imu",
    "imu_bus_errors": "imu",
    "imu_bad_data": "imu",
    "range_stale": "range",
    "range_invalid": "range",
    "exec_overruns": "exec",
    "tilt": "nav",
}

TIMESTAMP_CHECKS = frozenset({
    "frame_latency", "frame_interval", "frame_nonmonotonic", "camera_clock_residual",
    "camera_clock_skew", "imu_nonmonotonic",
})


@dataclass(slots=True)
class CheckState:
    name: str
    cfg: CheckConfig
    source: Source
    value: float = 0.0
    fails: int = 0
    evaluations: int = 0
    tripped: bool = False
    max_value: float = 0.0


@dataclass(slots=True)
class Trip:
    check: str
    source: Source
    t_ns: int
    value: float
    threshold: float


class Watchdog:
    def __init__(self, cfg: ContingencyConfig, camera_rate_hz: float) -> None:
        self.cfg = cfg
        self.checks: dict[str, CheckState] = {}
        for f in fields(cfg):
            v = getattr(cfg, f.name)
            if isinstance(v, CheckConfig):
                self.checks[f.name] = CheckState(f.name, v, CHECK_SOURCES[f.name])
        self.trip: Trip | None = None
        self.armed = False  # flight checks judged only while airborne
        self.cam_period_ns = NS_PER_S / camera_rate_hz
        # learned baselines (before take-off)
        self._learn_lat: list[int] = []
        self._learn_skew: list[float] = []
        self.lat_baseline_ns: float | None = None
        self.skew_baseline_ppm: float | None = None
        self._frames_seen = 0
        # last-seen state
        self.last_frame: Frame | None = None
        self.last_frame_rx_ns = 0
        self.last_imu_t_ns = 0
        self.last_imu_rx_ns = 0
        self.last_range_rx_ns = 0
        self.last_range_valid_ns = 0
        self._drops: deque[tuple[int, int]] = deque()
        self._cam_overflows_seen = 0
        self._window: deque[tuple[int, float, float, float, float]] = deque()
        self._deadlines: deque[tuple[int, int, int]] = deque()

    @property
    def learned(self) -> bool:
        return self.lat_baseline_ns is not None and self.skew_baseline_ppm is not None

    def arm(self, now_ns: int) -> None:
        """Start judging flight checks; ages restart so pre-arm gaps do not count."""
        self.armed = True
        self.last_frame_rx_ns = max(self.last_frame_rx_ns, now_ns)
        self.last_range_valid_ns = max(self.last_range_valid_ns, now_ns)
        self.last_range_rx_ns = max(self.last_range_rx_ns, now_ns)

    def disarm(self) -> None:
        self.armed = False

    # -- evaluation core ------------------------------------------------------------------
    def _judge(self, name: str, value: float, now_ns: int) -> None:
        c = self.checks[name]
        c.value = value
        c.evaluations += 1
        if value > c.max_value:
            c.max_value = value
        if not c.cfg.enabled or not self.cfg.enabled:
            return
        if value > c.cfg.threshold:
            c.fails += 1
            if c.fails >= c.cfg.persistence and not c.tripped:
                c.tripped = True
                if self.armed and self.trip is None:
                    self.trip = Trip(name, c.source, now_ns, value, c.cfg.threshold)
                    log.warning("LAND_NOW: %s = %.4g > %.4g (persistence %d)", name, value,
                                c.cfg.threshold, c.cfg.persistence)
                elif not self.armed:
                    c.tripped = False  # on the ground: counted, not latched
                    c.fails = 0
        else:
            c.fails = 0

    # -- inputs ---------------------------------------------------------------------------
    def on_imu(self, samples: list[ImuSample], now_ns: int) -> None:
        if not samples:
            return
        last = self.last_imu_t_ns
        backwards = 0
        for s in samples:
            if s.t_ns <= last:
                backwards += 1
            else:
                last = s.t_ns
        self.last_imu_t_ns = last
        self.last_imu_rx_ns = now_ns
        self._judge("imu_nonmonotonic", float(backwards), now_ns)

    def on_range(self, samples: list[RangeSample], now_ns: int) -> None:
        if not samples:
            return
        self.last_range_rx_ns = now_ns
        for s in samples:
            if s.valid:
                self.last_range_valid_ns = now_ns

    def on_frame(self, fr: Frame, now_ns: int, camera: DeviceHealth, imu: DeviceHealth) -> None:
        self._frames_seen += 1
        self.last_frame_rx_ns = now_ns
        prev = self.last_frame
        latency = fr.t_rx_ns - fr.t_ns
        cam_clock, imu_clock = camera.clock, imu.clock
        rel_skew = (cam_clock.skew_ppm if cam_clock else 0.0) - \
            (imu_clock.skew_ppm if imu_clock else 0.0)
        learn = self.cfg.learn_frames
        if self.lat_baseline_ns is None:
            # skip the first frames while the clock mapping settles, then take medians
            settled = all(c is not None and c.settled and
                          c.updates >= self.cfg.learn_min_clock_updates
                          for c in (cam_clock, imu_clock))
            if self._frames_seen > learn and settled:
                self._learn_lat.append(latency)
                self._learn_skew.append(rel_skew)
            if len(self._learn_lat) >= learn:
                self.lat_baseline_ns = float(sorted(self._learn_lat)[learn // 2])
                self.skew_baseline_ppm = sorted(self._learn_skew)[learn // 2]
        # Frames the host's own queue dropped (the cycle was late to drain it) are the host's
        # problem, judged by exec_overruns; the seq gap checks judge the camera and the wire.
        host_dropped = camera.overflows - self._cam_overflows_seen
        self._cam_overflows_seen = camera.overflows
        if prev is not None:
            dseq = fr.seq - prev.seq
            dt = fr.t_ns - prev.t_ns
            self._judge("frame_nonmonotonic", 1.0 if (dseq <= 0 or dt <= 0) else 0.0, now_ns)
            if dseq > 0:
                gap = max(0, dseq - 1 - host_dropped)
                self._judge("frame_seq_gap", float(gap), now_ns)
                if gap > 0:
                    self._drops.append((now_ns, gap))
                horizon = now_ns - int(self.cfg.drop_window_s * NS_PER_S)
                while self._drops and self._drops[0][0] < horizon:
                    self._drops.popleft()
                self._judge("frame_drop_burst", float(sum(g for _, g in self._drops)), now_ns)
                per_step = dt / dseq
                self._judge("frame_interval",
                            abs(per_step - self.cam_period_ns) / self.cam_period_ns, now_ns)
        if self.lat_baseline_ns is not None:
            self._judge("frame_latency", abs(latency - self.lat_baseline_ns) / NS_PER_S, now_ns)
            assert self.skew_baseline_ppm is not None
            self._judge("camera_clock_skew", abs(rel_skew - self.skew_baseline_ppm), now_ns)
        if cam_clock is not None and cam_clock.updates > learn:
            self._judge("camera_clock_residual", abs(cam_clock.residual_ns) / NS_PER_S, now_ns)
        self.last_frame = fr

    def on_vision_innovation(self, innov_mps: float, now_ns: int) -> None:
        self._judge("vision_innovation", innov_mps, now_ns)

    def _slide(self, w: deque[Any], snap: Any) -> Any:
        """Append a (t, counters...) snapshot to a window_s sliding window; the snapshot one
        window ago, or None while the window is not yet full."""
        w.append(snap)
        horizon = snap[0] - int(self.cfg.window_s * NS_PER_S)
        while len(w) > 2 and w[1][0] <= horizon:
            w.popleft()
        old = w[0]
        return None if old[0] > horizon or len(w) < 2 else old

    def on_timing(self, now_ns: int, deadlines: int, missed: int) -> None:
        """The loop's own health, judged first in every cycle: after a stall the host is named
        before anything its lateness made look wrong. ``deadlines`` counts the cycle's
        deadlines so far and ``missed`` those skipped (an overrunning cycle misses the next
        one; a stalled loop misses many while running no cycle at all)."""
        if not self.armed:
            return
        old = self._slide(self._deadlines, (now_ns, deadlines, missed))
        if old is None:
            return
        self._judge("exec_overruns", (missed - old[2]) / max(1, deadlines - old[1]), now_ns)

    def periodic(self, now_ns: int, imu: DeviceHealth, polls: int, imu_rejected: int,
                 tilt_deg: float, vision_expected: bool) -> None:
        """Ages and rates; called every cycle (ages) with window statistics inside."""
        if not self.armed:
            return
        self._judge("imu_stale", (now_ns - self.last_imu_t_ns) / NS_PER_S, now_ns)
        self._judge("range_stale", (now_ns - self.last_range_rx_ns) / NS_PER_S, now_ns)
        self._judge("range_invalid", (now_ns - self.last_range_valid_ns) / NS_PER_S, now_ns)
        if vision_expected:
            self._judge("frame_stale", (now_ns - self.last_frame_rx_ns) / NS_PER_S, now_ns)
        else:
            self.last_frame_rx_ns = max(self.last_frame_rx_ns, now_ns - NS_PER_S // 10)
        self._judge("tilt", tilt_deg, now_ns)
        # counters over a sliding window: (t, overflows, errors, polls, bad)
        snap = (now_ns, float(imu.overflows), float(imu.errors), float(polls),
                float(imu_rejected))
        old = self._slide(self._window, snap)
        if old is None:
            return
        d_polls = max(1.0, snap[3] - old[3])
        self._judge("imu_fifo_overflow", snap[1] - old[1], now_ns)
        self._judge("imu_bus_errors", (snap[2] - old[2]) / d_polls, now_ns)
        self._judge("imu_bad_data", snap[4] - old[4], now_ns)
