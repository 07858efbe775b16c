"""Contingency watchdog: the checks of ``firmware.checks`` judged with persistence, latching
LAND_NOW.

Once per cycle the watchdog gets a frozen ``WatchdogInputs``, keeps what it must remember
(last-seen times, learned baselines, sliding windows), turns it into each phase's facts and
runs that phase's rows. A check is evaluated only when there is something to judge (frame
checks on each frame, window checks once the window is full), so persistence counts evidence,
not cycles. The first trip while armed latches LAND_NOW with the check's name as the reason;
nothing clears it in flight. On the ground a failing check is counted, not latched.

Timestamp checks are the core (Ingenuity flights 6 and 53): the camera's measurement and
receive times are compared with what was learned before take-off, frame by frame.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from firmware.checks import (
    CHECKS,
    Ages,
    CheckRow,
    ClockReading,
    CounterWindow,
    DeadlineWindow,
    FrameFacts,
    ImuBatch,
    SkewRange,
    Source,
    WatchdogInputs,
    When,
)
from firmware.config import CheckConfig, ContingencyConfig
from hal.types import NS_PER_S, Frame

log = logging.getLogger(__name__)

__all__ = ["CHECK_SOURCES", "TIMESTAMP_CHECKS", "CheckState", "Source", "Trip", "Watchdog"]

# check name -> the source it condemns, in the table's (the log's) order
CHECK_SOURCES: dict[str, Source] = {row.name: row.source for row in CHECKS}
TIMESTAMP_CHECKS = frozenset(row.name for row in CHECKS if row.timestamp)


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


_Rows = tuple[tuple[CheckRow, CheckState], ...]


class Watchdog:
    def __init__(self, cfg: ContingencyConfig, camera_rate_hz: float) -> None:
        self.cfg = cfg
        self.checks: dict[str, CheckState] = {
            row.name: CheckState(row.name, cfg.check(row.name), row.source) for row in CHECKS}
        self._deadline_rows = self._rows(When.DEADLINES)
        self._imu_rows = self._rows(When.IMU)
        self._frame_rows = self._rows(When.FRAME)
        self._innovation_rows = self._rows(When.INNOVATION)
        self._ages_rows = self._rows(When.AGES)
        self._counter_rows = self._rows(When.COUNTERS)
        self._offset_rows = self._rows(When.OFFSET)
        self.trip: Trip | None = None
        self.armed = False  # flight checks judged only while airborne
        self.cam_period_ns = NS_PER_S / camera_rate_hz
        # learned baselines (before take-off)
        self._learn_lat: list[int] = []
        self._learn_skew: list[SkewRange] = []
        self.lat_baseline_ns: float | None = None
        self.skew_baseline_ppm: SkewRange | None = None
        self._frames_seen = 0
        # last-seen state
        self.last_frame: Frame | None = None
        self.last_frame_rx_ns = 0
        self.last_imu_t_ns = 0
        self.last_imu_rx_ns = 0
        self.last_range_rx_ns = 0
        self.last_range_valid_ns = 0
        self._drops: deque[tuple[int, int]] = deque()
        self._latencies: deque[tuple[int, int]] = deque()  # (receive time, latency) in window
        self._cam_overflows_seen = 0
        self._window: deque[tuple[int, float, float, float, float]] = deque()
        self._deadlines: deque[tuple[int, int, int]] = deque()

    @property
    def learned(self) -> bool:
        return self.lat_baseline_ns is not None and self.skew_baseline_ppm is not None

    def arm(self, now_ns: int) -> None:
        """Start judging flight checks; ages and the drop window restart so that what was
        lost on the ground (counted there, never latched) cannot trip the first flight frame."""
        self.armed = True
        self._drops.clear()
        self.last_frame_rx_ns = max(self.last_frame_rx_ns, now_ns)
        self.last_range_valid_ns = max(self.last_range_valid_ns, now_ns)
        self.last_range_rx_ns = max(self.last_range_rx_ns, now_ns)

    def disarm(self) -> None:
        self.armed = False

    # -- the cycle ------------------------------------------------------------------------
    def evaluate(self, x: WatchdogInputs) -> None:
        """Judge one cycle's inputs, phase by phase (see ``firmware.checks.When``)."""
        now = x.now_ns
        # The loop's own health first: after a stall the host is named before anything its
        # lateness made look wrong.
        if self.armed:
            self._deadline_phase(x)
        if x.imu:
            self._imu_phase(x)
        if x.ranges:
            self.last_range_rx_ns = now
            for s in x.ranges:
                if s.valid:
                    self.last_range_valid_ns = now
        if x.airborne and x.earlier_innovation is not None:
            self._run(self._innovation_rows, x.earlier_innovation, now)
        for i, fr in enumerate(x.frames):
            self._frame_phase(fr, x)
            innovation = x.frame_innovations[i] if i < len(x.frame_innovations) else None
            if x.airborne and innovation is not None:
                self._run(self._innovation_rows, innovation, now)
        if self.armed:
            self._ages_phase(x)
            self._counters_phase(x)
        if x.airborne and x.camera_offset is not None:
            self._run(self._offset_rows, x.camera_offset, now)

    # -- evaluation core ------------------------------------------------------------------
    def _rows(self, when: When) -> _Rows:
        """The rows evaluated at ``when`` with their state, in precedence order."""
        rows = sorted((r for r in CHECKS if r.when is when), key=lambda r: r.precedence)
        return tuple((r, self.checks[r.name]) for r in rows)

    def _run(self, rows: _Rows, facts: Any, now_ns: int) -> None:
        for row, state in rows:
            value = row.value(facts)
            if value is not None:
                self._judge(state, value, now_ns)

    def _judge(self, c: CheckState, value: float, now_ns: int) -> None:
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
                    self.trip = Trip(c.name, c.source, now_ns, value, c.cfg.threshold)
                    log.warning("LAND_NOW: %s = %.4g > %.4g (persistence %d)", c.name, value,
                                c.cfg.threshold, c.cfg.persistence)
                elif not self.armed:
                    c.tripped = False  # on the ground: counted, not latched
                    c.fails = 0
        else:
            c.fails = 0

    def _slide(self, w: deque[Any], snap: Any) -> Any:
        """Append a (t, counters...) snapshot to a window_s sliding window; the snapshot one
        window ago, or None while the window is not yet full."""
        w.append(snap)
        horizon = snap[0] - int(self.cfg.window_s * NS_PER_S)
        while len(w) > 2 and w[1][0] <= horizon:
            w.popleft()
        old = w[0]
        return None if old[0] > horizon or len(w) < 2 else old

    # -- phases: remember, then judge -----------------------------------------------------
    def _deadline_phase(self, x: WatchdogInputs) -> None:
        """``deadlines`` counts the cycle's deadlines so far and ``missed`` those skipped (an
        overrunning cycle misses the next one; a stalled loop misses many while running no
        cycle at all)."""
        old = self._slide(self._deadlines, (x.now_ns, x.deadlines, x.missed))
        if old is not None:
            window = DeadlineWindow(x.deadlines - old[1], x.missed - old[2])
            self._run(self._deadline_rows, window, x.now_ns)

    def _imu_phase(self, x: WatchdogInputs) -> None:
        batch = ImuBatch(x.imu, self.last_imu_t_ns)
        self.last_imu_t_ns = max(self.last_imu_t_ns, max(s.t_ns for s in x.imu))
        self.last_imu_rx_ns = x.now_ns
        self._run(self._imu_rows, batch, x.now_ns)

    def _frame_phase(self, fr: Frame, x: WatchdogInputs) -> None:
        now_ns = x.now_ns
        self._frames_seen += 1
        self.last_frame_rx_ns = now_ns
        prev = self.last_frame
        latency = fr.t_rx_ns - fr.t_ns
        cam_clock, imu_clock = x.camera_clock, x.imu_clock
        rel_skew = (cam_clock.skew_range if cam_clock else SkewRange(0.0, 0.0)).minus(
            imu_clock.skew_range if imu_clock else SkewRange(0.0, 0.0))
        self._learn(latency, rel_skew, cam_clock, imu_clock)
        # Frames the host lost (its queue not drained in time, its receive buffer overrun) are
        # the host's problem, judged by exec_overruns and, if frames stop, frame_stale; the seq
        # gap checks judge the camera and the wire.
        host_dropped = x.camera_overflows - self._cam_overflows_seen
        self._cam_overflows_seen = x.camera_overflows
        dseq = dt = gap = burst = 0
        if prev is not None:
            dseq = fr.seq - prev.seq
            dt = fr.t_ns - prev.t_ns
            if dseq > 0:
                gap = max(0, dseq - 1 - host_dropped)
                if gap > 0:
                    self._drops.append((now_ns, gap))
                horizon = now_ns - int(self.cfg.drop_window_s * NS_PER_S)
                while self._drops and self._drops[0][0] < horizon:
                    self._drops.popleft()
                burst = sum(g for _, g in self._drops)
        facts = FrameFacts(fr, prev, dseq, dt, gap, burst, self.cam_period_ns, latency,
                           self._latency_floor(latency, now_ns), self.lat_baseline_ns,
                           rel_skew, self.skew_baseline_ppm, cam_clock, self.cfg.learn_frames)
        self._run(self._frame_rows, facts, now_ns)
        self.last_frame = fr

    def _latency_floor(self, latency: int, now_ns: int) -> int:
        """The lowest latency of the frames received within latency_window_s (this one
        included), counted from the learned baseline on."""
        if self.lat_baseline_ns is None:
            return latency
        w = self._latencies
        w.append((now_ns, latency))
        horizon = now_ns - int(self.cfg.latency_window_s * NS_PER_S)
        while w[0][0] < horizon:
            w.popleft()
        return min(lat for _, lat in w)

    def _learn(self, latency: int, rel_skew: SkewRange, cam_clock: ClockReading | None,
               imu_clock: ClockReading | None) -> None:
        """Before take-off: skip the first frames while the clock mapping settles, then take
        the medians of latency and relative skew as baselines."""
        if self.lat_baseline_ns is not None:
            return
        learn = self.cfg.learn_frames
        settled = all(c is not None and c.settled and
                      c.updates >= self.cfg.learn_min_clock_updates
                      for c in (cam_clock, imu_clock))
        if self._frames_seen > learn and settled:
            self._learn_lat.append(latency)
            self._learn_skew.append(rel_skew)
        if len(self._learn_lat) >= learn:
            self.lat_baseline_ns = float(sorted(self._learn_lat)[learn // 2])
            mid = learn // 2
            self.skew_baseline_ppm = SkewRange(sorted(r.lo for r in self._learn_skew)[mid],
                                               sorted(r.hi for r in self._learn_skew)[mid])

    def _ages_phase(self, x: WatchdogInputs) -> None:
        now_ns = x.now_ns
        expected = x.vision_expected and x.airborne
        ages = Ages((now_ns - self.last_imu_t_ns) / NS_PER_S,
                    (now_ns - self.last_range_rx_ns) / NS_PER_S,
                    (now_ns - self.last_range_valid_ns) / NS_PER_S,
                    (now_ns - self.last_frame_rx_ns) / NS_PER_S, expected, x.tilt_deg, x)
        if not expected:
            # while no frames are expected their age is held short, so it does not trip the
            # moment they are expected again
            self.last_frame_rx_ns = max(self.last_frame_rx_ns, now_ns - NS_PER_S // 10)
        self._run(self._ages_rows, ages, now_ns)

    def _counters_phase(self, x: WatchdogInputs) -> None:
        snap = (x.now_ns, float(x.imu_overflows), float(x.imu_errors), float(x.polls),
                float(x.imu_rejected))
        old = self._slide(self._window, snap)
        if old is None:
            return
        window = CounterWindow(snap[1] - old[1], snap[2] - old[2], max(1.0, snap[3] - old[3]),
                               snap[4] - old[4])
        self._run(self._counter_rows, window, x.now_ns)
