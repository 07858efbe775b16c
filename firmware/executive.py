"""Fixed-rate executive on absolute deadlines (F Prime's rate group driver, in spirit).

``deadline += period`` every cycle, never "sleep a period", so jitter does not accumulate.
An overrun is a cycle that took longer than the period; a slip is a deadline that had
already passed when the cycle finished: the executive skips forward to the next future
deadline (counting every skipped one) instead of bursting cycles to catch up.

Two kinds of time. Deadlines, overruns, slips and wake-up latency are on the flight's clock
(``Clock``): the host's monotonic clock in real time, simulated time in a simulation, where
they are as deterministic as the rest of the flight (a simulated slow cycle, the sim's
``loop.delay`` fault, is simulated time). How long the cycle's work took the host is measured
apart, with ``time.perf_counter_ns`` around it, on every backend: a lockstep simulation's
clock stands still while the cycle works, so only the host's own clock can say. Those
figures (``*_cycle_ns``, ``cycle_hist``) are telemetry only: nothing the flight decides reads
them, so a simulated flight stays reproducible for its seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware.timing import LatencyHistogram
from hal.interfaces import Clock
from hal.types import NS_PER_S


@dataclass(slots=True)
class ExecStats:
    period_ns: int
    cycles: int = 0
    overruns: int = 0  # cycles longer than the period on the flight's clock
    slips: int = 0
    # the host's time for the cycle's work (perf_counter_ns): telemetry, never a decision
    max_cycle_ns: int = 0
    total_cycle_ns: int = 0
    last_cycle_ns: int = 0
    # how late the cycle woke after its deadline, on the flight's clock: 0 by construction on
    # a simulated clock, which wakes exactly at the deadline (lockstep and paced alike)
    max_wake_latency_ns: int = 0
    last_wake_latency_ns: int = 0
    # the cycle's length on the flight's clock (what an overrun is judged by)
    last_elapsed_ns: int = 0
    max_elapsed_ns: int = 0
    wake_hist: LatencyHistogram = field(default_factory=lambda: LatencyHistogram("wake"))
    cycle_hist: LatencyHistogram = field(default_factory=lambda: LatencyHistogram("cycle"))

    @property
    def mean_cycle_ns(self) -> float:
        return self.total_cycle_ns / self.cycles if self.cycles else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "cycles": self.cycles,
            "overruns": self.overruns,
            "slips": self.slips,
            "max_cycle_us": self.max_cycle_ns / 1e3,
            "mean_cycle_us": self.mean_cycle_ns / 1e3,
            "max_wake_latency_us": self.max_wake_latency_ns / 1e3,
            "wake_latency_us": self.wake_hist.summary(),
            "cycle_time_us": self.cycle_hist.summary(),
        }


def next_deadline(deadline: int, period: int, now: int) -> tuple[int, int]:
    """The next deadline after ``deadline`` that is still in the future, and how many were
    skipped to get there."""
    nxt = deadline + period
    if nxt > now:
        return nxt, 0
    missed = (now - nxt) // period + 1
    return nxt + missed * period, missed


class Executive:
    def __init__(self, clock: Clock, rate_hz: float) -> None:
        self.clock = clock
        self.period_ns = round(NS_PER_S / rate_hz)
        self.stats = ExecStats(self.period_ns)
        self.on_timing: Callable[[int, int], None] | None = None  # (wake latency, cycle ns)
        self.on_slack: Callable[[int], object] | None = None  # ns left before the next deadline

    def run(self, cycle: Callable[[int, int], bool]) -> None:
        """Call ``cycle(now_ns, index)`` at the fixed rate until it returns False."""
        clock = self.clock
        host_ns = time.perf_counter_ns
        period = self.period_ns
        st = self.stats
        deadline = clock.now_ns() + period
        index = 0
        while True:
            clock.sleep_until(deadline)
            t_wake = clock.now_ns()
            w0 = host_ns()
            keep_going = cycle(t_wake, index)
            work = host_ns() - w0
            t_end = clock.now_ns()
            elapsed = t_end - t_wake
            late = t_wake - deadline
            st.cycles += 1
            st.last_cycle_ns = work
            st.last_wake_latency_ns = late
            st.last_elapsed_ns = elapsed
            st.total_cycle_ns += work
            if work > st.max_cycle_ns:
                st.max_cycle_ns = work
            if elapsed > st.max_elapsed_ns:
                st.max_elapsed_ns = elapsed
            if late > st.max_wake_latency_ns:
                st.max_wake_latency_ns = late
            if elapsed > period:
                st.overruns += 1
            st.wake_hist.add(max(0, late))
            st.cycle_hist.add(work)
            if self.on_timing is not None:
                self.on_timing(late, work)
            if not keep_going:
                return
            deadline, missed = next_deadline(deadline, period, t_end)
            st.slips += missed
            index += 1 + missed
            if self.on_slack is not None:
                self.on_slack(deadline - clock.now_ns())
