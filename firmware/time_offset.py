"""Camera-IMU time offset from the data itself: image motion against gyro rotation.

Every vision frame pair measures an image shift. Its rotational part is what the body turned
between the two *true* mid-exposures; navigation removes the rotation the gyro saw between
the two *stamps*. If the images were really exposed ``d`` later than stamped, the two differ by
about ``f * d * (omega(t1) - omega(t0))``: an offset shows wherever the body rate changes
across a frame interval (manoeuvres, gusts, control activity), and nowhere in a steady hover.

The estimator scores a grid of candidate offsets (the cross-correlation of image motion with
gyro motion, as a least-squares cost): for each frame pair it predicts the rotational shift
from the gyro over ``[t0 + d, t1 + d]`` and subtracts it from the measured shift; the change
of that residual from the previous pair's, clipped and squared, is added to the candidate's
cost, old pairs forgotten with a time constant. The caller subtracts the translation a
smoothed velocity predicts (``Navigator._feed_offset``); differencing consecutive pairs removes
what that prediction gets slowly wrong, so the raw velocity estimate, which vision corrects with
the very stamps being judged, is never needed. The cost's
minimum (refined by a parabola through its neighbours) is the estimate; the curvature there is
the information the pairs held about the offset, which gives its 1-sigma uncertainty
(Gauss-Newton, with the residual spread as the noise). Without rate changes the cost is flat,
the uncertainty large, and the estimate is reported as not confident.

What it assumes: the image shift of a frame pair is the shift a rotation gives at the pair's
correlation window (``vision.rotation_shift``: pitch and roll, and yaw for a window off the
image centre, which a yaw turns about the centre) plus a
translation that changes slowly from one pair to the next (true below a few m/s^2 and for
ground that is not much closer than the height); the gyro is well aligned with the camera.
What it cannot tell apart: a delay of the gyro itself (its low-pass filter's group delay) from
one of the camera: it measures the camera against the IMU as the navigation uses them, which
is what the navigation needs. It measures the offset of the image *content*: stamps wrong in
another way (intervals, gaps) are the metadata checks' to judge.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from firmware.vision import rotation_shift
from hal.tomlschema import rng
from hal.types import NS_PER_S

F64 = npt.NDArray[np.float64]

GYRO_KEEP_S = 2.0  # gyro angle history kept (search window + frame interval + wait, with margin)


@dataclass
class TimeOffsetConfig:
    """``[time_offset]``: the online camera-IMU time offset estimator."""

    enabled: bool = True
    # fuse frames at the estimated time while the estimate is confident and within the
    # camera_imu_offset check's threshold of the configured offset (nav.camera_time_offset_ms)
    correct: bool = True
    search_ms: float = field(default=100.0, metadata=rng(2, 500))  # candidates span +-search
    step_ms: float = field(default=2.0, metadata=rng(0.1, 50))
    time_constant_s: float = field(default=6.0, metadata=rng(0.5, 3600))  # forgetting
    max_sigma_ms: float = field(default=1.0, metadata=rng(0.01, 100))  # confident below
    # weighted pairs before the estimate is confident (corrections use it only then)
    min_pairs: float = field(default=30.0, metadata=rng(2, 100_000))
    # weighted pairs before the 2-sigma interval is judged by the watchdog: a gross offset is
    # plain long before the estimate is precise, and its interval says how plain
    judge_pairs: float = field(default=30.0, metadata=rng(2, 100_000))
    # a residual beyond this (pixels) counts as this: one bad flow result cannot pull the cost
    clip_px: float = field(default=1.0, metadata=rng(0.01, 100))
    # What the rotation and translation models may get wrong in every pair alike (pixels): a
    # bias no number of pairs averages away, which moves the estimate by bias / excitation.
    # The judged interval is widened by twice that. Nominal windy flights leave up to 0.011 px
    # (a steady 2-2.4 ms in cruise at 0.0045-0.005 px/ms); at take-off in a 9 m/s wind, tilting
    # steadily with hardly a rate change (0.0004-0.001 px/ms), the same bias read as 30-60 ms.
    judge_bias_px: float = field(default=0.012, metadata=rng(0, 10))


class OffsetEstimate(NamedTuple):
    """The estimate after the pairs so far (relative to the configured offset)."""

    t_ns: int  # stamp of the newest pair's second frame
    offset_s: float  # the images were really exposed this much later than stamped
    sigma_s: float  # 1-sigma uncertainty (inf without information)
    excitation_px_per_ms: float  # RMS residual a 1 ms offset makes per pair: 0 without motion
    pairs: float  # weighted number of pairs behind it
    confident: bool  # enough pairs and sigma below max_sigma_ms
    at_edge: bool  # the minimum is at the search limit: the offset may be larger still
    # The 2-sigma interval of the offset from the cost itself (the candidates whose cost is
    # within 4 sigma^2 of the minimum's), not from the parabola, so it stays honest for an
    # offset far out or a cost that is not parabolic, widened by what the models' bias could
    # move it (judge_bias_px). None before judge_pairs or without excitation.
    interval_s: tuple[float, float] | None = None

    @property
    def least_abs_s(self) -> float | None:
        """The smallest offset size the 2-sigma interval allows (0 if it holds 0)."""
        if self.interval_s is None:
            return None
        lo, hi = self.interval_s
        return 0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))


class CameraImuOffset:
    """Online estimator; feed it gyro delta angles every cycle and each frame pair's image
    shift (less a predicted translation). Not thread-safe; one per navigator."""

    def __init__(self, cfg: TimeOffsetConfig, focal_px: float,
                 rot_gain: tuple[float, float] = (1.0, 1.0)) -> None:
        self.cfg = cfg
        self.focal_px = focal_px
        self.rot_gain = rot_gain
        n = round(cfg.search_ms / cfg.step_ms)
        self.step_s = cfg.step_ms / 1e3
        self.grid_ns: F64 = np.arange(-n, n + 1, dtype=np.float64) * cfg.step_ms * 1e6
        self.search_ns = n * cfg.step_ms * 1e6
        self.cost: F64 = np.zeros_like(self.grid_ns)
        self._e2: F64 = np.empty_like(self.grid_ns)
        self._buf: F64 = np.empty_like(self.grid_ns)
        self._prev: tuple[int, F64, F64] | None = None  # the last pair's t1 and residuals
        self.wsum = 0.0
        self.w2sum = 0.0
        self._t_last: int | None = None
        # cumulative bias-corrected gyro angle about body x, y and z, at each cycle's last
        # sample
        self._gt: list[int] = []
        self._gx: list[float] = []
        self._gy: list[float] = []
        self._gz: list[float] = []
        self._ax = self._ay = self._az = 0.0
        self._pending: deque[tuple[int, int, float, float, float, float]] = deque()
        self.estimate: OffsetEstimate | None = None
        self.pairs_used = 0
        self.pairs_lost = 0  # pairs whose gyro history was gone (a gap, an IMU stall)

    # -- inputs ---------------------------------------------------------------------------
    def record_gyro(self, t_ns: int, dax: float, day: float, daz: float = 0.0) -> None:
        """The cycle's integrated body rotation (rad about x, y and z) up to ``t_ns``."""
        self._ax += dax
        self._ay += day
        self._az += daz
        gt = self._gt
        gt.append(t_ns)
        self._gx.append(self._ax)
        self._gy.append(self._ay)
        self._gz.append(self._az)
        if t_ns - gt[0] > 2 * GYRO_KEEP_S * NS_PER_S:
            cut = bisect_left(gt, t_ns - int(GYRO_KEEP_S * NS_PER_S))
            del gt[:cut]
            del self._gx[:cut]
            del self._gy[:cut]
            del self._gz[:cut]

    def add_pair(self, t0_ns: int, t1_ns: int, drow_px: float, dcol_px: float,
                 at_row: float = 0.0, at_col: float = 0.0) -> None:
        """A frame pair (the two stamps) and its measured image shift (pixels, row and
        column; rotation and translation together), measured at (``at_row``, ``at_col``)
        px from the image centre."""
        if t1_ns > t0_ns and math.isfinite(drow_px) and math.isfinite(dcol_px) \
                and math.isfinite(at_row) and math.isfinite(at_col):
            self._pending.append((t0_ns, t1_ns, drow_px, dcol_px, at_row, at_col))

    def update(self) -> OffsetEstimate | None:
        """Score the pairs the gyro history now covers at every candidate; the new estimate,
        or None when no pair was scored."""
        if not self._pending or not self._gt:
            return None
        newest = self._gt[-1]
        scored = False
        while self._pending and self._pending[0][1] + self.search_ns <= newest:
            t0, t1, row, col, at_row, at_col = self._pending.popleft()
            scored |= self._score(t0, t1, row, col, at_row, at_col)
        if not scored:
            return None
        self.estimate = self._estimate()
        return self.estimate

    # -- the cost -------------------------------------------------------------------------
    def _score(self, t0: int, t1: int, row: float, col: float, at_row: float,
               at_col: float) -> bool:
        gt = self._gt
        lo, hi = t0 - self.search_ns, t1 + self.search_ns
        if lo < gt[0]:
            self.pairs_lost += 1
            return False
        i = max(0, bisect_left(gt, lo) - 1)
        j = min(len(gt), bisect_left(gt, hi) + 1)
        ts = np.array(gt[i:j], dtype=np.float64) - t0
        if ts.size < 2 or np.any(np.diff(ts) > 0.1 * NS_PER_S):
            self.pairs_lost += 1  # a hole in the gyro history: its rotation is unknown
            return False
        grid = self.grid_ns
        tb = grid + float(t1 - t0)
        # residuals: measured shift - the shift of the rotation between t0 + d and t1 + d at
        # the window (vision.rotation_shift), at every candidate d
        turned = []
        for g in (self._gx, self._gy, self._gz):
            a = np.array(g[i:j], dtype=np.float64)
            da = np.interp(tb, ts, a)
            da -= np.interp(grid, ts, a)
            turned.append(da)
        k = rotation_shift(at_row, at_col, self.focal_px, self.rot_gain)
        er = row - (k.row[0] * turned[0] + k.row[1] * turned[1] + k.row[2] * turned[2])
        ec = col - (k.col[0] * turned[0] + k.col[1] * turned[1] + k.col[2] * turned[2])
        prev, self._prev = self._prev, (t1, er, ec)
        # What is scored is the change from the previous pair's residual: what is left of the
        # translation (and a gyro bias) changes little from one frame to the next and drops
        # out; the rotation signal changes fast and stays.
        if prev is None or prev[0] != t0:
            return False  # not consecutive (a lost frame, a reset): start again from here
        e2, buf = self._e2, self._buf
        np.subtract(er, prev[1], out=buf)
        np.multiply(buf, buf, out=e2)
        np.subtract(ec, prev[2], out=buf)
        buf *= buf
        e2 += buf
        e2 *= 0.5  # a difference has twice the variance of a residual
        np.minimum(e2, self.cfg.clip_px ** 2, out=e2)
        if self._t_last is None:
            lam = 1.0
        else:
            lam = math.exp(-max(0, t1 - self._t_last) / (self.cfg.time_constant_s * NS_PER_S))
        self._t_last = t1
        self.cost *= lam
        self.cost += e2
        self.wsum = lam * self.wsum + 1.0
        self.w2sum = lam * lam * self.w2sum + 1.0
        self.pairs_used += 1
        return True

    def _estimate(self) -> OffsetEstimate:
        c = self.cost
        j = int(np.argmin(c))
        at_edge = j == 0 or j == c.size - 1
        k = min(max(j, 1), c.size - 2)
        c0, c1, c2 = float(c[k - 1]), float(c[k]), float(c[k + 1])
        denom = c0 - 2.0 * c1 + c2
        frac = 0.0
        if denom > 0.0 and not at_edge:
            frac = max(-1.0, min(1.0, 0.5 * (c0 - c2) / denom))
        offset = float(self.grid_ns[j if at_edge else k]) / 1e9 + frac * self.step_s
        cmin = max(c1 - 0.25 * (c0 - c2) * frac, 1e-12)
        info = 0.5 * denom / (self.step_s ** 2)  # sum of w * |d residual / d offset|^2
        # the residual variance per component, times the forgetting's sum of squared weights
        # over its sum of weights: var(offset) = var_scale / info
        var_scale = (cmin / (2.0 * self.wsum) * (self.w2sum / self.wsum)
                     if self.wsum > 0.0 else math.inf)
        sigma = math.sqrt(var_scale / info) if info > 0.0 else math.inf
        excitation = math.sqrt(max(info, 0.0) / self.wsum) / 1e3 if self.wsum > 0 else 0.0
        cfg = self.cfg
        confident = (self.wsum >= cfg.min_pairs and sigma <= cfg.max_sigma_ms / 1e3)
        interval = None
        if self.wsum >= cfg.judge_pairs and excitation > 0.0:
            # J(d) - J_min = info (d - d_hat)^2: the 2-sigma interval is where J is within
            # 4 var_scale of its minimum
            interval = self._within(c, j, c[j] + 4.0 * var_scale)
            if interval is None and math.isfinite(sigma):  # inside one grid step: the parabola
                interval = (offset - 2.0 * sigma, offset + 2.0 * sigma)
            if interval is not None:
                widen = 2.0 * cfg.judge_bias_px / excitation / 1e3  # s
                interval = (interval[0] - widen, interval[1] + widen)
        t = self._t_last if self._t_last is not None else 0
        return OffsetEstimate(t, offset, sigma, excitation, self.wsum, confident, at_edge,
                              interval)

    def _within(self, c: F64, j: int, level: float) -> tuple[float, float] | None:
        """The span of candidates around ``j`` whose cost stays below ``level``, out to the
        first candidate on each side above it (a grid step wider than the truth at most: the
        watchdog errs on the side of not landing); None when no neighbour of ``j`` is below
        ``level`` (the interval lies within a step: ask the parabola)."""
        below = c <= level
        lo = j
        while lo > 0 and below[lo - 1]:
            lo -= 1
        hi = j
        while hi < c.size - 1 and below[hi + 1]:
            hi += 1
        if lo == hi:
            return None
        grid = self.grid_ns
        return float(grid[max(lo - 1, 0)]) / 1e9, float(grid[min(hi + 1, c.size - 1)]) / 1e9


def correction_ns(est: OffsetEstimate | None, bound_s: float, cfg: TimeOffsetConfig) -> int:
    """What navigation adds to a frame's stamp on top of the configured offset: the estimate,
    while it is confident and within ``bound_s`` (outside it the watchdog lands instead)."""
    if (est is None or not cfg.correct or not est.confident or est.at_edge
            or abs(est.offset_s) > bound_s):
        return 0
    return round(est.offset_s * NS_PER_S)
