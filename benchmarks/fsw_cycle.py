"""One cycle of the full flight software fed by the simulated world, as a zero-argument
callable for ``benchmarks/loop_latency.py --cycle benchmarks.fsw_cycle:one_cycle``.

Each call advances the simulated world by one period (1 kHz physics, sensors, rendering the
camera when a frame is due) and runs FlightSoftware.cycle on it: a hovering vehicle that
keeps flying for as long as the benchmark calls. The wall-clock loop around it is the
benchmark's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.boot import CONFIG_DIR, build_backend, prepare  # noqa: E402
from firmware.executive import ExecStats  # noqa: E402
from firmware.flight import FlightSoftware  # noqa: E402

_setup = prepare(None, CONFIG_DIR / "scenarios" / "nominal_hover.toml", 1)
_setup.scenario.plan.takeoff_hold_s = 1e6  # hover for as long as the benchmark runs
_hal = build_backend(_setup)
_stats = ExecStats(round(1e9 / _setup.cfg.loop.rate_hz))
_fsw = FlightSoftware(_setup.cfg, _hal, _setup.scenario.plan, _setup.scenario.gravity, _stats)
_clock = _hal.clock


def one_cycle() -> None:
    now = _clock.now_ns() + _stats.period_ns
    _clock.sleep_until(now)  # the simulated world catches up; no real sleeping
    _fsw.cycle(now, _stats.cycles)
    _stats.cycles += 1
