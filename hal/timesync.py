"""Map a device clock onto the host clock: offset and skew, robust to receive jitter.

Observations are pairs (device time of an event, host time the event was *seen*), where the
host time is the receive time minus the known wire/transfer time. Scheduling and transfer
jitter only ever make the host see an event late, never early, so the true mapping is the
*lower envelope* of the points. The fit is the classic linear-programming answer: the line
below every point in the window that minimises the summed distance to them, which is the
edge of the lower convex hull straddling the window's mean device time. Unlike least squares
it is unbiased by one-sided jitter.

The mapping the driver stamps with slews toward the fit at a bounded rate (never jumps), so a
single bad point cannot yank every later timestamp. A busy host only ever makes points late,
so the two directions are not alike:

- a point *earlier* than the mapping allows by more than a step is impossible for a healthy
  mapping (a device reset or reconnect): re-initialise at once, and count it;
- a point *later* than the mapping by more than ``late_gate_ns`` is what a busy host looks
  like: it is kept out of the fit and counted in ``late_points``, and the mapping is left
  alone. A run of them in the fit window would tilt the hull (half a 3 s window 2 ms late
  reads as a 1300 ppm skew). Only when every point has been that late for
  ``late_confirm_ns`` of host time (the device clock really moved: a board whose clock paused
  or slowed) are they believed, and beyond a step the mapping re-initialises. Frames read in
  one burst after a stall share one receive time, so they can never confirm on their own;
- both rules hold once the window is full (``ClockStats.settled``); before that the skew and
  offset are still being acquired, and an envelope more than ``acquire_jump_ns`` earlier than
  the mapping re-initialises it (a first point seen 120 ms late on a busy start must not take
  a minute of slewing to unlearn; nothing is judged before the fit settles);
- inside a step, the fit moves the mapping later no faster than ``slew_late_ns_per_s``
  (default a quarter of the earlier-going rate): sustained lateness from load raises the lower
  envelope, an earlier point is always evidence.

Residuals (observation minus the stamping mapping) and skew are exposed in ``ClockStats`` for
the watchdog.

``FifoTimestamper`` puts a mapper to work for a device with no clock at all, whose samples wait
in a FIFO: it makes the observations from the reads and counts the samples.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np

from hal.types import ClockStats


class ClockMapper:
    def __init__(
        self,
        window: int = 64,
        slew_ns_per_s: float = 2_000_000.0,  # at most 2 ms of correction per second
        step_ns: float = 200_000_000.0,  # beyond 200 ms: re-initialise instead of slewing
        refit_every: int = 1,
        slew_late_ns_per_s: float | None = None,  # default: a quarter of slew_ns_per_s
        late_confirm_ns: int = 1_000_000_000,  # every point late this long: believe them
        late_gate_ns: float = 2_000_000.0,  # later than this: the host was slow, not the device
        max_skew_ppm: float = 50_000.0,  # no oscillator is 5 % off: a steeper hull edge is noise
        acquire_jump_ns: float = 5_000_000.0,  # until the window is full: jump, not slew
    ) -> None:
        self._pts: deque[tuple[int, int]] = deque(maxlen=max(2, window))
        self._slew = slew_ns_per_s / 1e9
        self._slew_late = (slew_ns_per_s / 4 if slew_late_ns_per_s is None
                           else slew_late_ns_per_s) / 1e9
        self._late_confirm_ns = late_confirm_ns
        self._late_gate = late_gate_ns
        self._max_skew = max_skew_ppm * 1e-6
        self._acquire_jump = acquire_jump_ns
        self._late_since: int | None = None  # host time of the first of a run of late points
        self._late_run = 0
        self._step = step_ns
        self._refit_every = max(1, refit_every)
        self._since_fit = 0
        # Published mapping: host = h0 + (device - d0) * (1 + skew)
        self._d0 = 0
        self._h0 = 0.0
        self._skew = 0.0
        self._valid = False
        self.stats = ClockStats()

    @property
    def valid(self) -> bool:
        return self._valid

    def to_host(self, device_ns: int) -> int:
        return int(self._h0 + (device_ns - self._d0) * (1.0 + self._skew))

    def reset(self) -> None:
        self._pts.clear()
        self._valid = False
        self._late_since = None
        self.stats.settled = False

    def observe(self, device_ns: int, host_ns: int) -> None:
        pts = self._pts
        st = self.stats
        if pts and device_ns <= pts[-1][0]:
            # Device time went backwards or stood still: its clock restarted.
            st.step_resets += 1
            self.reset()
        st.updates += 1
        if not self._valid:
            pts.append((device_ns, host_ns))
            self._d0, self._h0, self._skew = device_ns, float(host_ns), 0.0
            self._valid = True
            st.residual_ns = 0.0
            st.offset_ns = float(host_ns - device_ns)
            return
        residual = host_ns - (self._h0 + (device_ns - self._d0) * (1.0 + self._skew))
        # Until the window is full the skew is still being learnt (an IMU oscillator 2 % off
        # drifts 2 ms in 100 ms): then only a step counts as late, and slewing is symmetric.
        settled = len(pts) == pts.maxlen
        if residual > (self._late_gate if settled else self._step):
            if not self._late_confirmed(host_ns):
                # The host was slow to see it: says nothing of the device, so it is neither
                # fitted nor published as the clock's residual (which the watchdog judges).
                st.late_points += 1
                st.last_late_ns = residual
                return
        else:
            self._late_since = None
        st.residual_ns = residual
        if abs(st.residual_ns) > self._step:
            # A real step (the device restarted, reconnected or its clock paused): the old
            # points describe another mapping, so start again from this one.
            st.step_resets += 1
            pts.clear()
            self._late_since = None
            st.settled = False
            pts.append((device_ns, host_ns))
            self._d0, self._h0 = device_ns, float(host_ns)
            st.offset_ns = float(host_ns - device_ns)
            return
        pts.append((device_ns, host_ns))
        self._since_fit += 1
        if self._since_fit < self._refit_every or len(pts) < 3:
            return
        self._since_fit = 0
        fit = self._fit()
        if fit is None:
            return
        fit_h, fit_slope = fit  # fit line evaluated at device_ns, and its slope
        current = self._h0 + (device_ns - self._d0) * (1.0 + self._skew)
        diff = fit_h - current
        span = max(0, device_ns - self._d0)
        if not settled and diff < -self._acquire_jump:
            # still acquiring and the envelope is far earlier: the first points were seen late
            # on a busy start. Nothing has been judged yet, so re-initialise (counted) rather
            # than slew for a minute.
            st.step_resets += 1
            new_h = fit_h
        elif abs(diff) > self._step:
            st.step_resets += 1
            new_h = fit_h
        else:
            later = self._slew_late if settled else self._slew
            new_h = current + max(-self._slew * span, min(later * span, diff))
        self._d0, self._h0, self._skew = device_ns, new_h, fit_slope - 1.0
        st.settled = settled
        st.skew_ppm = st.skew_lo_ppm = st.skew_hi_ppm = self._skew * 1e6
        st.offset_ns = new_h - device_ns

    def _late_confirmed(self, host_ns: int) -> bool:
        """Another late point: has every point been late for ``late_confirm_ns``?"""
        if self._late_since is None:
            self._late_since, self._late_run = host_ns, 0
        self._late_run += 1
        return self._late_run >= 3 and host_ns - self._late_since >= self._late_confirm_ns

    def _fit(self) -> tuple[float, float] | None:
        pts = self._pts
        dx0, hy0 = pts[0]
        hull: list[tuple[float, float]] = []
        sx = 0.0
        for d, h in pts:
            x, y = float(d - dx0), float(h - hy0)
            sx += x
            while len(hull) >= 2:
                (x1, y1), (x2, y2) = hull[-2], hull[-1]
                # keep only counter-clockwise turns: the lower hull
                if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) <= 0:
                    hull.pop()
                else:
                    break
            hull.append((x, y))
        if len(hull) < 2:
            return None
        xm = sx / len(pts)
        for (x1, y1), (x2, y2) in zip(hull, hull[1:], strict=False):
            if x2 >= xm:
                break
        if x2 == x1:
            return None
        # a short window with one late point at an end gives any slope at all
        slope = min(1.0 + self._max_skew, max(1.0 - self._max_skew, (y2 - y1) / (x2 - x1)))
        x_last = float(pts[-1][0] - dx0)
        return hy0 + y1 + slope * (x_last - x1), slope


class SkewBounds:
    """The range of skews a clock without timestamps can have, from two-sided bounds.

    A FIFO device's read says more than the upper bound the mapping fits: sample ``n`` was
    measured no later than ``hi`` (the count latched before the read ended) and no earlier than
    ``lo`` (sample ``n + 1`` had not been measured when the read began). Every line through all
    the bands is a possible clock; their slopes span ``[skew_lo, skew_hi]``. A read loop locked
    to the sample rate (a fixed-rate loop at a multiple of an IMU's period, or a lockstep
    simulation) sees the samples at one phase for seconds on end: the lower-envelope fit then
    swings by up to a period over the window (hundreds of ppm) while the interval stays honest
    about it, and it narrows to a few ppm as soon as the phase moves.

    Kept per block of host time like the mapper's points: the tightest band edges of each block
    relative to the current mapping, ``window`` blocks.
    """

    # The lower edge is one sample period before the next sample, a period known only to the
    # skew estimate: widen it by this fraction of a period (5 us at 1 kHz, a few ppm over the
    # window) so an estimate still hundreds of ppm off cannot make the bands inconsistent.
    PERIOD_SLACK = 0.005

    @classmethod
    def lower_edge(cls, next_not_before_ns: float, periods: int, period_ns: float) -> float:
        """The earliest a sample can have been measured when the one ``periods`` later had not
        been by ``next_not_before_ns``."""
        return next_not_before_ns - periods * period_ns * (1.0 + cls.PERIOD_SLACK)

    def __init__(self, window: int = 128, block_ns: int = 32_000_000) -> None:
        self._lo: deque[tuple[float, float]] = deque(maxlen=window)
        self._hi: deque[tuple[float, float]] = deque(maxlen=window)
        self._block_ns = block_ns
        self._blk_start: int | None = None
        self._blk_lo: tuple[float, float, float] | None = None  # (key, device, host)
        self._blk_hi: tuple[float, float, float] | None = None
        self.skew_lo_ppm = -math.inf
        self.skew_hi_ppm = math.inf

    def reset(self) -> None:
        self._lo.clear()
        self._hi.clear()
        self._blk_start = None
        self._blk_lo = self._blk_hi = None
        self.skew_lo_ppm, self.skew_hi_ppm = -math.inf, math.inf

    def add(self, device_ns: int, lo_ns: float, hi_ns: float, mapped_ns: float,
            now_ns: int) -> None:
        """Sample at ``device_ns`` was measured within ``[lo_ns, hi_ns]`` (host); ``mapped_ns``
        is where the current mapping puts it (to pick each block's tightest edges)."""
        lo_key, hi_key = lo_ns - mapped_ns, hi_ns - mapped_ns
        if self._blk_lo is None or lo_key > self._blk_lo[0]:
            self._blk_lo = (lo_key, float(device_ns), lo_ns)
        if self._blk_hi is None or hi_key < self._blk_hi[0]:
            self._blk_hi = (hi_key, float(device_ns), hi_ns)
        if self._blk_start is None:
            self._blk_start = now_ns
        if now_ns - self._blk_start < self._block_ns:
            return
        assert self._blk_hi is not None
        self._lo.append(self._blk_lo[1:])
        self._hi.append(self._blk_hi[1:])
        self._blk_start, self._blk_lo, self._blk_hi = now_ns, None, None
        self._solve()

    def publish(self, stats: ClockStats) -> None:
        """Put the interval into the clock's stats, beside the mapper's fitted skew."""
        stats.skew_lo_ppm, stats.skew_hi_ppm = self.skew_lo_ppm, self.skew_hi_ppm

    def _solve(self) -> None:
        if len(self._lo) < 2:
            return
        lo = np.asarray(self._lo)
        hi = np.asarray(self._hi)
        x0, y0 = lo[0]
        dx = (hi[:, 0] - x0)[None, :] - (lo[:, 0] - x0)[:, None]  # hi point j minus lo point i
        dy = (hi[:, 1] - y0)[None, :] - (lo[:, 1] - y0)[:, None]
        ahead, behind = dx > 0, dx < 0
        if not ahead.any() or not behind.any():
            return
        s_hi = float(np.min(dy[ahead] / dx[ahead]))  # the line may not leave a band upward...
        s_lo = float(np.max(dy[behind] / dx[behind]))  # ...nor downward
        if s_lo > s_hi:
            # no clock fits every band: a sample counted wrong (a FIFO reset): start again
            self.reset()
            return
        self.skew_lo_ppm, self.skew_hi_ppm = (s_lo - 1.0) * 1e6, (s_hi - 1.0) * 1e6


class FifoStamps(NamedTuple):
    first: int  # the device sample counter of the oldest sample read
    t_ns: list[int]  # host time of each sample, oldest first
    lost: int  # samples the counter skipped since the last read (popped by a failed read)


class FifoTimestamper:
    """Host times for samples read in batches from the FIFO of a device that has no clock of
    its own, only a nominal sample rate (an MPU-6050's).

    Device time is the driver's sample counter times the nominal period. Each read gives one
    observation: the newest sample was measured at most one period before the FIFO count
    latched, at ``t_read_end_ns + latency_ns`` less one period per sample left in the FIFO. The
    ``ClockMapper`` fits offset and skew to the lower envelope and every sample is stamped
    through it. It is fed the lowest observation of each ``block_ns`` block (relative to the
    current mapping), so its window spans seconds at little cost; any observation bounds the
    truth from above, so the choice is safe.

    After ``resync()`` (a FIFO reset or a failed read that may have popped samples) the counter
    is re-derived from the observation against the last stamp, so lost samples show as a gap.
    """

    def __init__(self, period_nom_ns: float, window: int = 128, block_ns: int = 32_000_000,
                 latency_ns: int = 0) -> None:
        self.period_nom_ns = period_nom_ns
        self.mapper = ClockMapper(window=window)
        self._block_ns = block_ns
        self._latency_ns = latency_ns
        self._blk: tuple[int, int] | None = None
        self._blk_key = 0
        self._blk_start = 0
        self._next_counter = 0
        self._resync = True
        self._have_counter = False
        self._last_host = 0
        self.bounds = SkewBounds(window=window, block_ns=block_ns)

    @property
    def stats(self) -> ClockStats:
        return self.mapper.stats

    def period_host_ns(self) -> float:
        """The sample period on the host clock, by the current skew estimate."""
        return self.period_nom_ns * (1.0 + self.mapper.stats.skew_ppm * 1e-6)

    def reset(self) -> None:
        """Forget the mapping and the counter (the device was (re)opened)."""
        self.mapper.reset()
        self.bounds.reset()
        self._blk = None
        self._have_counter = False

    def resync(self) -> None:
        """The next read may not follow on from the last one: re-derive the counter."""
        self._resync = True

    def stamp(self, k: int, remaining: int, t_read_end_ns: int, now_ns: int) -> FifoStamps:
        """Stamp ``k`` samples just read (``k`` >= 1), ``remaining`` left in the FIFO, the read
        finished at ``t_read_end_ns``; ``now_ns`` is the poll's time, taken before the read
        began (the lower edge of the skew bounds, and the blocks)."""
        period = self.period_host_ns()
        # An upper bound of the newest sample's time: the count latched before the read
        # finished (not before it started: a preemption in between would put samples that
        # arrived meanwhile in ``remaining``, and pull the bound below the truth, which a
        # lower-envelope fit then keeps for its whole window).
        t_obs = t_read_end_ns + self._latency_ns - round(remaining * period)
        lost = 0
        if self._resync and self._have_counter:
            # t_obs lies within one period after the newest sample's true time: floor, with a
            # little slack for the mapping's own error.
            est = self._next_counter - 1 + math.floor((t_obs - self._last_host) / period + 0.1)
            newest = max(self._next_counter + k - 1, est)
            lost = newest - (k - 1) - self._next_counter
        elif self._resync:
            newest = k - 1
        else:
            newest = self._next_counter + k - 1
        self._resync = False
        self._have_counter = True
        pn = self.period_nom_ns
        dev = round(newest * pn)
        self._observe(dev, t_obs, now_ns)
        if lost:
            self.bounds.reset()  # the counter was re-derived: it may be a sample off
        # sample newest + remaining + 1 was not in the FIFO when the count latched, after now_ns
        lo = SkewBounds.lower_edge(now_ns + self._latency_ns, remaining + 1, period)
        self.bounds.add(dev, lo, t_obs, self.mapper.to_host(dev), now_ns)
        self.bounds.publish(self.mapper.stats)
        first = newest - k + 1
        self._next_counter = newest + 1
        to_host = self.mapper.to_host
        t_ns = [to_host(round(c * pn)) for c in range(first, newest + 1)]
        self._last_host = t_ns[-1]
        return FifoStamps(first, t_ns, lost)

    def _observe(self, dev: int, host: int, now: int) -> None:
        mapper = self.mapper
        if not mapper.valid:
            mapper.observe(dev, host)
            self._blk_start = now
            return
        key = host - mapper.to_host(dev)
        if self._blk is None or key < self._blk_key:
            self._blk, self._blk_key = (dev, host), key
        if now - self._blk_start >= self._block_ns:
            mapper.observe(*self._blk)
            self._blk = None
            self._blk_start = now
