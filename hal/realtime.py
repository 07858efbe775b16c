"""The real clock and the real-time set-up of the flight computer (Linux).

``RealtimeClock`` sleeps to absolute deadlines on CLOCK_MONOTONIC, the clock behind
``time.monotonic_ns``, so ``now_ns`` and ``sleep_until`` agree by construction. Python 3.11 has
only relative sleeps, which would let every cycle's scheduling delay accumulate into drift;
libc's ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ...)`` through ctypes does not.
ctypes releases the GIL for the call, so other threads (serial readers, the stall guard) run.

``apply_rt_settings`` applies SCHED_FIFO, ``mlockall`` and CPU affinity from config; each step
that is not permitted comes back as one warning line instead of an exception, so a bench
machine without privileges still flies (with worse timing, which the loop statistics show).
``GcPolicy`` keeps the cyclic garbage collector out of the control cycle.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import gc
import logging
import os
import resource
import struct
import time
from dataclasses import dataclass, field
from typing import Literal

from hal.tomlschema import rng

log = logging.getLogger(__name__)

# <time.h>, <bits/mman-linux.h>: the same values on every Linux architecture.
CLOCK_MONOTONIC = 1
TIMER_ABSTIME = 1
MCL_CURRENT = 1
MCL_FUTURE = 2

_NS_PER_S = 1_000_000_000


class _Timespec(ctypes.Structure):
    # time_t and long are both C long on glibc's LP64 (arm64, x86-64) and default ILP32
    # (armhf) ABIs; a 32-bit time_t only overflows in 2038 of *monotonic* time, i.e. never.
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc_cache: list[ctypes.CDLL | None] = []
_fallback_warned = False


def _load_libc() -> ctypes.CDLL | None:
    """libc with ``clock_nanosleep`` and ``mlockall`` prototyped, or None if unavailable."""
    if _libc_cache:
        return _libc_cache[0]
    lib: ctypes.CDLL | None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        lib.clock_nanosleep.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Timespec), ctypes.POINTER(_Timespec)
        ]
        lib.clock_nanosleep.restype = ctypes.c_int
        lib.mlockall.argtypes = [ctypes.c_int]
        lib.mlockall.restype = ctypes.c_int
    except (OSError, AttributeError) as exc:
        log.debug("libc not usable through ctypes: %s", exc)
        lib = None
    _libc_cache.append(lib)
    return lib


class RealtimeClock:
    """``hal.interfaces.Clock`` on the host's CLOCK_MONOTONIC.

    ``spin_ns`` > 0 sleeps to ``deadline - spin_ns`` and busy-waits the rest: it trades that
    much CPU per cycle for a wake-up that no longer includes the kernel's timer and scheduling
    latency (as long as that latency is below ``spin_ns``). Measured in
    benchmarks/loop_latency.py; off by default.
    """

    def __init__(self, spin_ns: int = 0, use_libc: bool = True) -> None:
        global _fallback_warned
        self.spin_ns = max(0, int(spin_ns))
        self.eintr = 0  # sleeps interrupted by a signal and resumed (telemetry, tests)
        libc = _load_libc() if use_libc else None
        self._nanosleep = libc.clock_nanosleep if libc is not None else None
        if self._nanosleep is None and not _fallback_warned:
            _fallback_warned = True
            log.warning(
                "libc clock_nanosleep unavailable: RealtimeClock falls back to time.sleep "
                "(relative sleeps; expect more wake-up latency)"
            )

    @property
    def absolute(self) -> bool:
        """True when sleeping with clock_nanosleep(TIMER_ABSTIME), False on the fallback."""
        return self._nanosleep is not None

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        wake = t_ns - self.spin_ns
        if wake <= time.monotonic_ns():
            # Measured: clock_nanosleep to a just-passed deadline still costs tens of us
            # (timer slack, a trip through the scheduler); a late cycle must not pay it.
            pass
        elif self._nanosleep is not None:
            self._sleep_abs(wake)
        else:
            self._sleep_rel(wake)
        if self.spin_ns:
            now = time.monotonic_ns
            while now() < t_ns:
                pass

    def _sleep_abs(self, t_ns: int) -> None:
        nanosleep = self._nanosleep
        assert nanosleep is not None
        # A timespec per call (~0.5 us) keeps the clock safe to share between threads.
        ts = _Timespec(*divmod(t_ns, _NS_PER_S))
        ref = ctypes.byref(ts)
        while True:
            # clock_nanosleep returns the error number itself (it does not set errno).
            rc = nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ref, None)
            if rc == 0:
                return
            if rc != errno.EINTR:
                raise OSError(rc, f"clock_nanosleep: {os.strerror(rc)}")
            # The absolute deadline is unchanged, so resuming cannot stretch the cycle.
            # Python-level signal handlers run here, between the two calls.
            self.eintr += 1

    @staticmethod
    def _sleep_rel(t_ns: int) -> None:
        # time.sleep may return early on some platforms; loop until the deadline has passed.
        while True:
            remaining = t_ns - time.monotonic_ns()
            if remaining <= 0:
                return
            time.sleep(remaining / _NS_PER_S)


@dataclass
class RtSettings:
    """Real-time set-up of the flight process (a config table, e.g. ``[realtime]``)."""

    sched_fifo_priority: int = field(default=0, metadata=rng(0, 99))  # 0 = SCHED_OTHER
    mlockall: bool = False
    cpu_affinity: list[int] = field(default_factory=list, metadata=rng(0, 1023))  # [] = any
    gc_policy: Literal["default", "freeze", "manual"] = "default"
    spin_us: int = field(default=0, metadata=rng(0, 1000))
    # PM QoS: hold /dev/cpu_dma_latency at this many us while the process lives, so idle
    # CPUs are not put into deep sleep states with slow exits (cyclictest holds 0 by
    # default); -1 = leave the system's setting alone.
    cpu_dma_latency_us: int = field(default=-1, metadata=rng(-1, 100_000))
    # Timer slack of the calling thread (prctl PR_SET_TIMERSLACK): SCHED_OTHER sleeps may be
    # stretched by it (default 50 us, measured as +50 us on the median wake-up); SCHED_FIFO
    # threads get none anyway. 1 = as exact as possible, -1 = leave alone.
    timer_slack_ns: int = field(default=-1, metadata=rng(-1, 1_000_000_000))

    def validate(self) -> str | None:
        if self.timer_slack_ns == 0:
            return "timer_slack_ns: 0 means 'kernel default' to prctl; use 1, or -1 to leave alone"
        if len(set(self.cpu_affinity)) != len(self.cpu_affinity):
            return f"cpu_affinity: duplicate CPUs in {self.cpu_affinity}"
        return None

    @property
    def spin_ns(self) -> int:
        return self.spin_us * 1000


PR_SET_TIMERSLACK = 29  # <linux/prctl.h>


def _call_set_timerslack(ns: int) -> int:
    """prctl(PR_SET_TIMERSLACK, ns); returns 0 or the errno. A seam for tests."""
    libc = _load_libc()
    if libc is None:
        return errno.ENOSYS
    if libc.prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(ns), 0, 0, 0) == 0:
        return 0
    return ctypes.get_errno()


def _call_mlockall(flags: int) -> int:
    """mlockall(flags); returns 0 or the errno. A seam for tests."""
    libc = _load_libc()
    if libc is None:
        return errno.ENOSYS
    if libc.mlockall(flags) == 0:
        return 0
    return ctypes.get_errno()


CPU_DMA_LATENCY = "/dev/cpu_dma_latency"
_dma_latency_fd: list[int] = []  # held open: the request lasts as long as the descriptor


def hold_cpu_dma_latency(us: int, path: str | None = None) -> str | None:
    """Request a CPU wake-up latency bound of ``us`` for this process's lifetime.

    The kernel's PM QoS interface (Documentation/power/pm_qos_interface.rst): the request
    holds while the file stays open and is dropped when it is closed (at exit). Returns a
    warning line, or None when held.
    """
    target = path or CPU_DMA_LATENCY
    try:
        fd = os.open(target, os.O_WRONLY)
    except OSError as exc:
        return f"cpu_dma_latency {us} us not applied ({exc.strerror}: {target})"
    try:
        os.write(fd, struct.pack("=i", us))  # a binary s32, native byte order
    except OSError as exc:
        os.close(fd)
        return f"cpu_dma_latency {us} us not applied ({exc.strerror}: {target})"
    for old in _dma_latency_fd:
        os.close(old)
    _dma_latency_fd[:] = [fd]
    return None


def release_cpu_dma_latency() -> None:
    for fd in _dma_latency_fd:
        os.close(fd)
    _dma_latency_fd.clear()


def _rlimit_text(which: int) -> str:
    soft, _ = resource.getrlimit(which)
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)


def apply_rt_settings(s: RtSettings) -> list[str]:
    """Apply SCHED_FIFO, mlockall, CPU affinity, timer slack and the PM QoS latency request.

    Returns one warning line per step that could not be applied (never raises for lack of
    permission). Call it from the thread that will run the control loop, before starting
    other threads: Linux scheduling policy is per thread and inherited by threads created
    later, affinity likewise. The garbage-collector part is ``GcPolicy(s.gc_policy)``, whose
    ``after_startup()`` belongs after the last start-up allocation, not here.
    """
    warnings: list[str] = []
    if s.cpu_affinity:
        try:
            os.sched_setaffinity(0, s.cpu_affinity)
        except OSError as exc:
            have = sorted(os.sched_getaffinity(0))
            warnings.append(
                f"cpu_affinity {s.cpu_affinity} not applied ({exc.strerror}); "
                f"running on CPUs {have}"
            )
    if s.mlockall:
        err = _call_mlockall(MCL_CURRENT | MCL_FUTURE)
        if err:
            limit = _rlimit_text(resource.RLIMIT_MEMLOCK)
            warnings.append(
                f"mlockall not applied ({os.strerror(err)}; RLIMIT_MEMLOCK={limit} bytes): "
                "page faults can stall the loop; run as root or with LimitMEMLOCK=infinity"
            )
    if s.sched_fifo_priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(s.sched_fifo_priority))
        except OSError as exc:
            limit = _rlimit_text(resource.RLIMIT_RTPRIO)
            warnings.append(
                f"SCHED_FIFO priority {s.sched_fifo_priority} not applied ({exc.strerror}; "
                f"RLIMIT_RTPRIO={limit}): the loop runs under SCHED_OTHER; run as root, with "
                "CAP_SYS_NICE or with LimitRTPRIO>=priority"
            )
    if s.timer_slack_ns > 0:
        err = _call_set_timerslack(s.timer_slack_ns)
        if err:
            warnings.append(f"timer_slack_ns {s.timer_slack_ns} not applied ({os.strerror(err)})")
    if s.cpu_dma_latency_us >= 0:
        problem = hold_cpu_dma_latency(s.cpu_dma_latency_us)
        if problem:
            warnings.append(problem)
    return warnings


# What a user runs to let a shell (not only root or the systemd unit) take every step.
RT_PERMIT_HINT = (
    "to permit it: run as root, or under deploy/flightsw.service (LimitRTPRIO, "
    "LimitMEMLOCK), or add '<user> - rtprio 90' and '<user> - memlock unlimited' to "
    "/etc/security/limits.d/flightsw.conf and log in again"
)


def rt_warning_line(warnings: list[str]) -> str:
    """All the steps that were not permitted, as one line with what to run to permit them."""
    if not warnings:
        return ""
    return f"real-time set-up incomplete: {'; '.join(warnings)}; {RT_PERMIT_HINT}"


def _call_munlockall() -> None:
    libc = _load_libc()
    if libc is not None:
        libc.munlockall()


class RtRestore:
    """The calling thread's scheduling and affinity, and the process's memory locking, as they
    were before ``apply_rt_settings``: ``restore()`` puts them back (a flight inside a longer
    process, e.g. a test session, must not leave it SCHED_FIFO and locked)."""

    def __init__(self) -> None:
        self.policy = os.sched_getscheduler(0)
        self.param = os.sched_getparam(0)
        self.affinity = os.sched_getaffinity(0)

    def restore(self, s: RtSettings) -> None:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, self.policy, self.param)
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, self.affinity)
        if s.mlockall:
            _call_munlockall()
        if s.cpu_dma_latency_us >= 0:
            release_cpu_dma_latency()


class GcPolicy:
    """Keeps the cyclic garbage collector out of the control cycle.

    - ``default``: the interpreter's own automatic collections (a gen-2 pass can take
      milliseconds once the heap is large: a missed 500 Hz deadline).
    - ``freeze``: ``after_startup()`` collects once, moves every start-up object to the
      permanent generation (``gc.freeze``, never scanned again) and stops automatic gen-2
      collections; gen-0/1 stay automatic and are short because the heap they scan is small.
    - ``manual``: as ``freeze``, plus automatic collection off altogether; the executive calls
      ``slack(budget_ns)`` with the time left before the next deadline and collections run
      only when they fit, youngest generation first.

    Reference cycles created in flight are then reclaimed only in slack (manual) or in gen-0/1
    (freeze); flight code should not create them per cycle anyway.
    """

    _NEVER = 2**31 - 1  # the thresholds are C ints; gen-2 count never exceeds this

    def __init__(
        self,
        mode: Literal["default", "freeze", "manual"] = "default",
        gen0_threshold: int = 700,
        margin: float = 2.0,
    ) -> None:
        self.mode = mode
        self.gen0_threshold = gen0_threshold
        self.margin = margin
        # Cost estimate per generation, seeded with guesses (refined as collections run); a
        # collection runs only if margin * cost fits the budget.
        self.cost_ns = [20_000, 100_000, 500_000]
        self.collections = [0, 0, 0]
        self._saved_threshold = gc.get_threshold()

    def after_startup(self) -> None:
        if self.mode == "default":
            return
        gc.collect()
        gc.freeze()
        t0, t1, _ = gc.get_threshold()
        gc.set_threshold(t0, t1, self._NEVER)
        if self.mode == "manual":
            gc.disable()
        log.info("gc policy %s: %d objects frozen", self.mode, gc.get_freeze_count())

    def slack(self, budget_ns: int) -> int:
        """Collect if due and it fits in ``budget_ns``; returns the generation run or -1.

        ``manual``: any generation, by the interpreter's own count rules. ``freeze``: only the
        gen-2 pass that automatic collection no longer makes (so cycles promoted to gen 2 in
        flight are still reclaimed, between deadlines). ``default``: nothing.
        """
        if self.mode == "default":
            return -1
        c0, c1, c2 = gc.get_count()
        _, t1, t2 = self._saved_threshold
        gen = -1
        if self.mode == "manual" and c0 > self.gen0_threshold:
            gen = 0
            if c1 >= t1:
                gen = 1
        if c2 >= t2 and (gen == 1 or self.mode == "freeze"):
            gen = 2
        # Fall back to a younger generation if the one due does not fit.
        lowest = 0 if self.mode == "manual" else 2
        while gen >= lowest and self.margin * self.cost_ns[gen] > budget_ns:
            gen -= 1
        if gen < lowest:
            return -1
        t_start = time.monotonic_ns()
        gc.collect(gen)
        spent = time.monotonic_ns() - t_start
        # Decaying maximum: one slow pass raises the estimate at once, it relaxes slowly.
        self.cost_ns[gen] = max(spent, (7 * self.cost_ns[gen] + spent) // 8)
        self.collections[gen] += 1
        return gen

    def restore(self) -> None:
        """Back to the interpreter's defaults (tests, benchmarks)."""
        gc.unfreeze()
        gc.set_threshold(*self._saved_threshold)
        gc.enable()
