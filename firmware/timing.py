"""Loop timing telemetry and the software stall watchdog.

``LatencyHistogram`` keeps wake-up latency and cycle time in fixed log-linear buckets (the
HdrHistogram layout): exact below 64 ns, then 32 linear sub-buckets per power of two, so a
value is known to within 1/32 (3.1 %) of itself from nanoseconds to minutes. ``add`` is a few
integer operations and no allocation, cheap enough to run twice per 500 Hz cycle.

``StallGuard`` is F Prime's Health idea reduced to what a Python process can do: a thread that
expects the control cycle to check in every period and, if it stops for longer than a limit
(a hung driver call, a deadlock), cuts the motor outputs itself, since the stuck loop cannot.
In flight a cut is a crash, so there the limit is the much longer ``hang_limit_ns``: a stall
the loop recovers from (a busy host) is counted and left to the watchdog, which lands on
missed deadlines; only a loop that stays stuck is cut.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_SUB_BITS = 5  # 32 sub-buckets per octave: bucket width <= value / 32
_SUB = 1 << _SUB_BITS
_TOP = _SUB_BITS + 1


def _bucket(ns: int) -> int:
    shift = ns.bit_length() - _TOP
    if shift <= 0:
        return ns
    return (shift << _SUB_BITS) + (ns >> shift)


def _bucket_bounds(i: int) -> tuple[int, int]:
    """[lo, hi) of the values that land in bucket ``i``."""
    if i < 2 * _SUB:
        return i, i + 1
    shift = (i >> _SUB_BITS) - 1
    mantissa = i - (shift << _SUB_BITS)
    return mantissa << shift, (mantissa + 1) << shift


class LatencyHistogram:
    """Histogram of non-negative nanosecond durations; negative values count as 0.

    Values above ``max_trackable_ns`` land in the last bucket (``max_ns`` stays exact).
    """

    __slots__ = ("_counts", "_last", "count", "max_ns", "min_ns", "name", "total_ns")

    def __init__(self, name: str = "", max_trackable_ns: int = 60 * 1_000_000_000) -> None:
        self.name = name
        self._last = _bucket(max_trackable_ns)
        self._counts = [0] * (self._last + 1)
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0
        self.min_ns = 0

    def add(self, ns: int) -> None:
        if ns < 0:
            ns = 0
        shift = ns.bit_length() - _TOP
        i = ns if shift <= 0 else (shift << _SUB_BITS) + (ns >> shift)
        if i > self._last:
            i = self._last
        self._counts[i] += 1
        if self.count == 0:
            self.min_ns = self.max_ns = ns
        elif ns > self.max_ns:
            self.max_ns = ns
        elif ns < self.min_ns:
            self.min_ns = ns
        self.count += 1
        self.total_ns += ns

    @property
    def mean_ns(self) -> int:
        return self.total_ns // self.count if self.count else 0

    def percentile(self, p: float) -> int:
        """Smallest recorded value v with at least p % of the samples <= v, to within the
        bucket resolution (the bucket's midpoint, clamped to the exact min and max)."""
        if self.count == 0:
            return 0
        if not 0.0 <= p <= 100.0:
            raise ValueError(f"percentile must be in [0, 100] (got {p})")
        # Rank as an integer: no float rounding for p such as 99.9 on large counts.
        rank = max(1, -(-round(p * 1_000_000) * self.count // 100_000_000))
        seen = 0
        for i, c in enumerate(self._counts):
            seen += c
            if seen >= rank:
                if i == self._last:
                    return self.max_ns  # the overflow bucket has no useful midpoint
                lo, hi = _bucket_bounds(i)
                mid = (lo + hi - 1) // 2
                return min(max(mid, self.min_ns), self.max_ns)
        return self.max_ns

    def count_above(self, ns: int) -> int:
        """Samples in buckets wholly above ``ns`` (a lower bound on samples > ns)."""
        first = _bucket(max(ns, 0)) + 1
        return sum(self._counts[first:])

    def buckets(self) -> list[tuple[int, int, int]]:
        """Non-empty buckets as (lo_ns, hi_ns, count), for logs and plots."""
        return [(*_bucket_bounds(i), c) for i, c in enumerate(self._counts) if c]

    def merge(self, other: LatencyHistogram) -> None:
        if other.count == 0:
            return
        n = min(len(self._counts), len(other._counts))
        for i in range(n):
            self._counts[i] += other._counts[i]
        for i in range(n, len(other._counts)):
            self._counts[self._last] += other._counts[i]
        self.min_ns = other.min_ns if self.count == 0 else min(self.min_ns, other.min_ns)
        self.max_ns = max(self.max_ns, other.max_ns)
        self.count += other.count
        self.total_ns += other.total_ns

    def reset(self) -> None:
        self._counts = [0] * (self._last + 1)
        self.count = self.total_ns = self.max_ns = self.min_ns = 0

    def summary(self) -> dict[str, float]:
        """count plus mean/p50/p99/p99.9/max in microseconds."""
        us = 1e-3
        return {
            "count": float(self.count),
            "mean_us": self.mean_ns * us,
            "p50_us": self.percentile(50) * us,
            "p99_us": self.percentile(99) * us,
            "p99_9_us": self.percentile(99.9) * us,
            "max_us": self.max_ns * us,
        }


class StallGuard:
    """A software watchdog thread for the control cycle.

    The cycle calls ``kick()`` once per iteration (one clock read and one attribute store: no
    lock). The guard wakes every ``check_ns`` (default one period); if the last kick is older
    than ``limit_periods * period_ns`` it calls ``cut_outputs()`` once, from its own thread,
    records ``tripped``, ``reason``, ``t_trip_ns``, ``stalled_ns``, logs an error and exits.

    A loop that is merely slow (every gap between kicks below the limit) never trips: the age
    is measured from the kick's own timestamp, not from when the guard noticed it. If the guard
    itself wakes later than ``late_tolerance_ns`` after its previous check, the whole process
    was starved (not the cycle alone), so that check re-bases the window instead of tripping;
    a cycle that is really stuck trips one limit later. The default tolerance is half the limit,
    but at least twice the interpreter's GIL switch interval, since a cycle stuck in Python
    code holds the GIL and delays the guard by up to one interval per check.

    Two limits. On the ground (``airborne`` False, the cycle sets it) a stall of
    ``limit_periods`` cuts: nothing is lost by stopping the motors. In flight a cut is a
    certain crash while a recovered stall usually is not, so the guard waits ``hang_limit_ns``
    (default the same limit) before cutting; a shorter stall is counted in ``transient_stalls``
    and ``max_transient_ns`` once the loop kicks again.

    ``on_event(level, text)``, if set, hears the cut and each recovered in-flight stall as
    they happen, from the guard's thread (the flight log takes them as logged strings: a
    loop that stays stuck never gets to report its own cut).

    Limitation: a hang inside a C call that holds the GIL stops this thread too; only
    something outside the process covers that (docs/rig.md, safety notes). Give the guard a
    SCHED_FIFO priority above the loop's when the loop runs SCHED_FIFO on a single CPU, or
    a loop spinning there would starve it.
    """

    def __init__(
        self,
        period_ns: int,
        limit_periods: int,
        cut_outputs: Callable[[], None],
        check_ns: int | None = None,
        late_tolerance_ns: int | None = None,
        now_ns: Callable[[], int] = time.monotonic_ns,
        name: str = "stall-guard",
        sched_fifo_priority: int = 0,
        hang_limit_ns: int | None = None,
    ) -> None:
        if period_ns <= 0 or limit_periods < 1:
            raise ValueError("period_ns must be > 0 and limit_periods >= 1")
        self.period_ns = period_ns
        self.limit_periods = limit_periods
        self.limit_ns = period_ns * limit_periods
        self.hang_limit_ns = max(self.limit_ns, hang_limit_ns or self.limit_ns)
        self.airborne = False  # set by the cycle: which limit applies
        self.transient_stalls = 0  # stalls past limit_ns in flight that the loop recovered from
        self.max_transient_ns = 0
        self._stall_kick_ns: int | None = None  # the last kick before an open in-flight stall
        self.check_ns = check_ns if check_ns is not None else period_ns
        if late_tolerance_ns is None:
            switch_ns = int(sys.getswitchinterval() * 1e9)
            late_tolerance_ns = max(self.limit_ns // 2, 2 * switch_ns)
        self.late_tolerance_ns = late_tolerance_ns
        self.name = name
        self.sched_fifo_priority = sched_fifo_priority
        self._cut = cut_outputs
        self.on_event: Callable[[int, str], None] | None = None  # (logging level, text)
        self._now = now_ns
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        t0 = now_ns()
        self.last_kick_ns = t0
        self._window_start_ns = t0
        self._last_check_ns = t0
        self.checks = 0
        self.starved_checks = 0  # checks where the guard itself woke late
        self.tripped = False
        self.reason = ""
        self.t_trip_ns = 0
        self.stalled_ns = 0

    def kick(self) -> None:
        self.last_kick_ns = self._now()

    def start(self) -> None:
        """Start watching; the window opens now (as if kicked)."""
        if self._thread is not None:
            raise RuntimeError("StallGuard already started")
        now = self._now()
        self.last_kick_ns = self._window_start_ns = self._last_check_ns = now
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def check(self) -> bool:
        """One evaluation (the thread's body; callable directly with a fake clock)."""
        if self.tripped:
            return True
        now = self._now()
        self.checks += 1
        late = now - self._last_check_ns - self.check_ns
        self._last_check_ns = now
        if late > self.late_tolerance_ns:
            self.starved_checks += 1
            self._window_start_ns = now
            return False
        kick = self.last_kick_ns
        if self._stall_kick_ns is not None and kick != self._stall_kick_ns:
            self._note_recovery(kick)
        age = now - max(kick, self._window_start_ns)
        if age <= self.limit_ns:
            return False
        limit = self.hang_limit_ns if self.airborne else self.limit_ns
        if age <= limit:
            self._stall_kick_ns = kick  # stalled in flight: cut only if it does not recover
            return False
        stalled = now - kick  # the true age, even if the window was re-based
        self.tripped = True
        self.t_trip_ns = now
        self.stalled_ns = stalled
        where = "in flight " if self.airborne else ""
        self.reason = (
            f"control cycle stalled: no kick for {stalled / 1e6:.1f} ms "
            f"({where}limit {limit / 1e6:.1f} ms"
            + (f" = {self.limit_periods} periods)" if limit == self.limit_ns else ")")
        )
        log.error("%s: %s; cutting outputs", self.name, self.reason)
        try:
            self._cut()
        except Exception:
            log.exception("%s: cut_outputs raised", self.name)
        self._tell(logging.ERROR, f"{self.name}: {self.reason}; outputs cut")
        return True

    def _tell(self, level: int, text: str) -> None:
        """``on_event``, which must not take the guard down with it."""
        if self.on_event is None:
            return
        try:
            self.on_event(level, text)
        except Exception:
            log.exception("%s: on_event raised", self.name)

    def _note_recovery(self, kick_ns: int) -> None:
        assert self._stall_kick_ns is not None
        gap = kick_ns - self._stall_kick_ns
        self._stall_kick_ns = None
        self.transient_stalls += 1
        self.max_transient_ns = max(self.max_transient_ns, gap)
        text = (f"{self.name}: control cycle stalled {gap / 1e6:.1f} ms in flight and "
                f"recovered (cut at {self.hang_limit_ns / 1e6:.0f} ms)")
        log.warning("%s", text)
        self._tell(logging.WARNING, text)

    def _run(self) -> None:
        if self.sched_fifo_priority > 0:
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.sched_fifo_priority))
            except OSError as exc:
                log.warning("%s: SCHED_FIFO not applied (%s)", self.name, exc.strerror)
        wait_s = self.check_ns / 1e9
        while not self._stop.wait(wait_s):
            if self.check():
                return

