"""Wake-up latency of a 500 Hz loop on RealtimeClock, measured against cyclictest.

For each scenario (idle / stress-ng on the other CPUs, SCHED_OTHER / SCHED_FIFO) it runs our
loop for the duration, then cyclictest (rt-tests) with the same period, priority, CPU, memory
locking and cycle count, and prints p50/p99/p99.9/max wake-up latency of both and the ratio
p99_ours / p99_cyclictest, then one JSON line. Wake-up latency = actual wake minus deadline.

    python benchmarks/loop_latency.py              # 60 s per run (8 runs)
    python benchmarks/loop_latency.py --quick      # 2.5 s per run, ~25 s in all

Each scenario alternates ours and cyclictest in chunks (one per 10 s, at least 2; --quick 5),
so that background load that comes and goes (a shared machine) hits both alike.
    python benchmarks/loop_latency.py --cycle pkg.mod:one_cycle   # a real cycle's work

Needs root (or CAP_SYS_NICE + RLIMIT_MEMLOCK) for the SCHED_FIFO runs, and the Debian packages
rt-tests and stress-ng (`sudo apt-get install -y rt-tests stress-ng`); without them the
corresponding parts are skipped with a note.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware.timing import LatencyHistogram, StallGuard
from hal.realtime import (
    GcPolicy,
    RealtimeClock,
    RtSettings,
    apply_rt_settings,
    release_cpu_dma_latency,
)

PERIOD_NS = 2_000_000  # 500 Hz


def _load_cycle(spec: str | None, work_us: int) -> Callable[[], object]:
    """The per-cycle callable: ``module:function`` (called with no arguments), or a busy
    wait of ``work_us`` (0 = the empty cycle)."""
    if spec:
        mod_name, _, attr = spec.partition(":")
        if not attr:
            raise SystemExit(f"--cycle {spec}: expected module:function")
        fn = getattr(importlib.import_module(mod_name), attr)
        if not callable(fn):
            raise SystemExit(f"--cycle {spec}: not callable")
        return fn
    if work_us <= 0:
        return lambda: None
    work_ns = work_us * 1000
    now = time.monotonic_ns

    def busy() -> None:
        end = now() + work_ns
        while now() < end:
            pass

    return busy


class OursAccum:
    """Our loop's figures, accumulated over the chunks of one scenario."""

    def __init__(self) -> None:
        self.wake = LatencyHistogram("wake")
        self.cycle = LatencyHistogram("cycle")
        self.overruns = self.slips = self.gc_in_slack = 0

    def result(self) -> dict[str, Any]:
        return {"wake": self.wake.summary(), "cycle": self.cycle.summary(),
                "overruns": self.overruns, "slips": self.slips, "gc_in_slack": self.gc_in_slack}


def run_ours(
    clock: RealtimeClock, cycles: int, cycle: Callable[[], object], gc_policy: GcPolicy,
    acc: OursAccum,
) -> None:
    """The executive's timing skeleton: absolute deadlines, deadline += period, slips
    counted and skipped (never drift)."""
    now = clock.now_ns
    wake_add = acc.wake.add
    cycle_add = acc.cycle.add
    deadline = now() + PERIOD_NS
    for _ in range(cycles):
        clock.sleep_until(deadline)
        t_wake = now()
        wake_add(t_wake - deadline)
        cycle()
        t_end = now()
        cycle_add(t_end - t_wake)
        deadline += PERIOD_NS
        if t_end > deadline:
            acc.overruns += 1
            missed = (t_end - deadline) // PERIOD_NS
            acc.slips += missed
            deadline += missed * PERIOD_NS
        elif gc_policy.slack(deadline - t_end) >= 0:
            acc.gc_in_slack += 1


class CyclictestAccum:
    """cyclictest's 1-us histogram and totals, summed over the chunks of one scenario."""

    def __init__(self) -> None:
        self.hist: dict[int, int] = {}
        self.total = 0
        self.sum_us = 0.0
        self.max_us = 0.0

    def percentile(self, p: float) -> float:
        # Samples beyond the histogram's range (overflows) count as the maximum.
        rank = max(1, -(-round(p * 1_000_000) * self.total // 100_000_000))
        seen = 0
        for us in sorted(self.hist):
            seen += self.hist[us]
            if seen >= rank:
                return float(us)
        return self.max_us

    def result(self) -> dict[str, Any]:
        return {
            "count": float(self.total),
            "mean_us": round(self.sum_us / max(self.total, 1), 2),
            "p50_us": self.percentile(50),
            "p99_us": self.percentile(99),
            "p99_9_us": self.percentile(99.9),
            "max_us": self.max_us,
        }


def run_cyclictest(
    cycles: int, priority: int, cpu: int, mlock: bool, acc: CyclictestAccum
) -> str | None:
    """One cyclictest run added to ``acc``; returns a note if it could not run."""
    exe = shutil.which("cyclictest")
    if exe is None:
        return "cyclictest not installed (apt-get install rt-tests)"
    with tempfile.TemporaryDirectory() as tmp:
        js = Path(tmp) / "ct.json"
        cmd = [exe, "-q", "-t", "1", "-i", str(PERIOD_NS // 1000), "-l", str(cycles),
               "-a", str(cpu), "-h", "100000", f"--histfile={tmp}/hist", f"--json={js}"]
        # "-p 0" would still select SCHED_FIFO (priority 2); --policy=other alone does not.
        cmd += ["-p", str(priority)] if priority > 0 else ["--policy=other"]
        if mlock:
            cmd.append("-m")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not js.exists():
            return f"cyclictest failed ({proc.returncode}): {proc.stderr.strip()[:200]}"
        data = json.loads(js.read_text())
    th = data["thread"]["0"]
    for k, v in th["histogram"].items():
        acc.hist[int(k)] = acc.hist.get(int(k), 0) + int(v)
    n = int(th["cycles"])
    acc.total += n
    acc.sum_us += float(th["avg"]) * n
    acc.max_us = max(acc.max_us, float(th["max"]))
    return None


@contextlib.contextmanager
def stress_other_cpus(cpu: int, seconds: float) -> Iterator[str | None]:
    """stress-ng CPU load on every CPU but ``cpu``; yields a note if it could not run."""
    exe = shutil.which("stress-ng")
    others = sorted(os.sched_getaffinity(0) - {cpu}) or sorted(os.sched_getaffinity(0))
    if exe is None:
        yield "stress-ng not installed (apt-get install stress-ng)"
        return
    cmd = [exe, "--cpu", str(len(others)), "--taskset", ",".join(map(str, others)),
           "--timeout", f"{int(seconds) + 10}s", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)  # let the workers start
        yield None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def set_policy(
    priority: int, cpu: int, mlock: bool, dma_latency: bool, slack_ns: int
) -> list[str]:
    if priority <= 0:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return apply_rt_settings(RtSettings(
        sched_fifo_priority=priority, mlockall=mlock, cpu_affinity=[cpu],
        cpu_dma_latency_us=0 if dma_latency else -1, timer_slack_ns=slack_ns,
    ))


def micro_costs() -> dict[str, float]:
    """Per-call cost of what the cycle adds: two histogram adds, a kick, a past-deadline sleep."""
    n = 200_000
    h = LatencyHistogram()
    guard = StallGuard(PERIOD_NS, 10, lambda: None)
    clock = RealtimeClock()
    out: dict[str, float] = {}
    for name, fn, arg in (("hist_add_ns", h.add, 37_123), ("kick_ns", guard.kick, None),
                          ("sleep_until_past_ns", clock.sleep_until, 0)):
        t0 = time.perf_counter_ns()
        if arg is None:
            for _ in range(n):
                fn()  # type: ignore[call-arg]
        else:
            for _ in range(n):
                fn(arg)  # type: ignore[call-arg]
        out[name] = (time.perf_counter_ns() - t0) / n
    t0 = time.perf_counter_ns()
    for _ in range(n):
        pass
    loop = (time.perf_counter_ns() - t0) / n
    return {k: round(max(0.0, v - loop), 1) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per run (60)")
    ap.add_argument("--quick", action="store_true", help="2.5 s per run")
    ap.add_argument("--priority", type=int, default=80, help="SCHED_FIFO priority (80)")
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)),
                    help="CPU to pin the loop (and cyclictest) to (default: the last)")
    ap.add_argument("--spin-us", type=int, default=0, help="RealtimeClock spin before deadline")
    ap.add_argument("--gc", choices=["default", "freeze", "manual"], default="freeze")
    ap.add_argument("--no-mlock", action="store_true", help="neither we nor cyclictest mlockall")
    ap.add_argument("--no-dma-latency", action="store_true",
                    help="don't hold /dev/cpu_dma_latency=0 for our loop (cyclictest does)")
    ap.add_argument("--timer-slack-ns", type=int, default=1,
                    help="our loop's timer slack (1; -1 = the kernel's 50 us, as cyclictest)")
    ap.add_argument("--cycle", metavar="MODULE:FUNCTION",
                    help="callable doing one cycle's work (default: the empty cycle)")
    ap.add_argument("--work-us", type=int, default=0, help="busy work per cycle, if no --cycle")
    ap.add_argument("--scenarios", default="idle-other,idle-fifo,stress-other,stress-fifo",
                    help="comma-separated subset of idle|stress-other|fifo")
    ap.add_argument("--chunks", type=int, default=0,
                    help="alternate ours/cyclictest this many times per scenario "
                         "(default: one chunk per 10 s, at least 2; 5 with --quick)")
    ap.add_argument("--no-cyclictest", action="store_true")
    args = ap.parse_args(argv)

    duration = 2.5 if args.quick else args.duration
    chunks = args.chunks or (5 if args.quick else max(2, round(duration / 10)))
    chunk_cycles = max(1, int(duration * 1e9) // PERIOD_NS // chunks)
    cycles = chunk_cycles * chunks
    mlock = not args.no_mlock
    cycle = _load_cycle(args.cycle, args.work_us)
    clock = RealtimeClock(spin_ns=args.spin_us * 1000)
    gc_policy = GcPolicy(args.gc)
    gc_policy.after_startup()

    micro = micro_costs()
    print(f"per call: histogram add {micro['hist_add_ns']:.0f} ns, stall-guard kick "
          f"{micro['kick_ns']:.0f} ns, sleep_until (deadline passed) "
          f"{micro['sleep_until_past_ns']:.0f} ns")
    print(f"period {PERIOD_NS // 1000} us, {cycles} cycles ({duration:g} s) per run in "
          f"{chunks} alternating chunks, cpu "
          f"{args.cpu}, spin {args.spin_us} us, timer slack {args.timer_slack_ns} ns, gc "
          f"{args.gc}, mlockall {mlock}, cycle "
          f"{args.cycle or (f'busy {args.work_us} us' if args.work_us else 'empty')}")
    hdr = f"{'scenario':<14}{'tool':<12}{'p50':>8}{'p99':>9}{'p99.9':>9}{'max':>9}  (us)"
    print(hdr)

    results: list[dict[str, Any]] = []
    notes: list[str] = []
    for name in args.scenarios.split(","):
        load, _, policy = name.partition("-")
        if load not in ("idle", "stress") or policy not in ("other", "fifo"):
            raise SystemExit(f"unknown scenario {name!r}")
        prio = args.priority if policy == "fifo" else 0
        stress_cm = (stress_other_cpus(args.cpu, 2 * duration) if load == "stress"
                     else contextlib.nullcontext())
        ours_acc = OursAccum()
        ct_acc = CyclictestAccum()
        ct_note: str | None = "skipped" if args.no_cyclictest else None
        with stress_cm as stress_note:
            if stress_note:
                notes.append(f"{name}: {stress_note}")
            # Alternate the two in chunks so slow changes in background load hit both alike.
            for i in range(chunks):
                warn = set_policy(prio, args.cpu, mlock, not args.no_dma_latency,
                                  args.timer_slack_ns)
                if i == 0:
                    notes += [f"{name}: {w}" for w in warn]
                run_ours(clock, chunk_cycles, cycle, gc_policy, ours_acc)
                set_policy(0, args.cpu, False, False, -1)
                release_cpu_dma_latency()
                if ct_note is None:
                    ct_note = run_cyclictest(chunk_cycles, prio, args.cpu, mlock, ct_acc)
        ours = ours_acc.result()
        ct: dict[str, Any] | str = ct_acc.result() if ct_note is None else ct_note
        row: dict[str, Any] = {"scenario": name, "sched_fifo": prio, "stress": load == "stress",
                               "ours": ours}
        w = ours["wake"]
        print(f"{name:<14}{'ours':<12}{w['p50_us']:>8.1f}{w['p99_us']:>9.1f}"
              f"{w['p99_9_us']:>9.1f}{w['max_us']:>9.1f}  overruns {ours['overruns']}, "
              f"slips {ours['slips']}, cycle max {ours['cycle']['max_us']:.0f} us")
        if isinstance(ct, dict):
            row["cyclictest"] = ct
            row["ratio_p99"] = round(w["p99_us"] / max(ct["p99_us"], 1.0), 2)
            print(f"{'':<14}{'cyclictest':<12}{ct['p50_us']:>8.1f}{ct['p99_us']:>9.1f}"
                  f"{ct['p99_9_us']:>9.1f}{ct['max_us']:>9.1f}  ratio p99 ours/cyclictest "
                  f"{row['ratio_p99']:.2f}")
        else:
            row["cyclictest"] = None
            notes.append(f"{name}: {ct}")
        results.append(row)
    for n in notes:
        print(f"note: {n}")
    print(json.dumps({
        "benchmark": "loop_latency", "period_us": PERIOD_NS // 1000, "duration_s": duration,
        "cycles": cycles, "chunks": chunks, "cpu": args.cpu, "priority": args.priority,
        "spin_us": args.spin_us, "timer_slack_ns": args.timer_slack_ns,
        "gc": args.gc, "mlockall": mlock, "cycle": args.cycle or f"busy:{args.work_us}",
        "micro_ns": micro, "results": results, "notes": notes,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
