"""``flightsw bench i2c|camera``: identify and measure the devices of a hardware backend (the
emulated ones of hil, or the rig's real ones), with the real-time settings they would fly with.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from app.backends import backend_for
from app.boot import CONFIG_DIR
from app.realtime import realtime_applied
from firmware.config import load_config
from ground.bench import BenchReport, bench_camera, bench_i2c
from hal.bench_target import I2cBenchTarget


def bench(config: Path | None, which: str, seconds: float, seed: int = 1) -> BenchReport:
    cfg = load_config(config if config is not None else CONFIG_DIR / "hil.toml")
    target = backend_for(cfg).bench_target(cfg, which, seed)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(target.close)
        cleanup.enter_context(realtime_applied(cfg.realtime))  # measured as it would fly
        if isinstance(target, I2cBenchTarget):
            report = bench_i2c(target.bus, target.clock, target.devices, seconds)
        else:
            report = bench_camera(target.camera, target.clock, seconds, baud=target.baud)
    report.lines.insert(0, f"bench {which}: {target.description} ({cfg.source})")
    return report
