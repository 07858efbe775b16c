"""Preflight: the ``flightsw preflight`` command and the gate ``fly`` passes before arming.

Both run the same checks (``firmware.preflight``) with the same real-time settings, so what
the command reports is what the gate will decide.
"""

from __future__ import annotations

import contextlib

from app.boot import FlightSetup, build_backend
from app.realtime import realtime_applied
from firmware.config import FlightConfig
from firmware.preflight import PreflightReport, run_preflight
from hal.interfaces import Hal
from hal.tomlschema import ConfigError


class PreflightRefused(ConfigError):
    """Preflight failed on a hardware backend: the vehicle was never armed."""


def preflight(setup: FlightSetup, seconds: float) -> PreflightReport:
    """What ``fly`` checks before arming, with the same real-time settings."""
    hal = build_backend(setup)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(hal.close)
        if hal.realtime:
            cleanup.enter_context(realtime_applied(setup.cfg.realtime))
        return run_preflight(setup.cfg, hal, seconds)
    raise AssertionError("unreachable")  # mypy: ExitStack may swallow exceptions


def require_preflight(cfg: FlightConfig, hal: Hal, seconds: float) -> None:
    """The gate before arming, on devices already open: raises ``PreflightRefused`` naming
    every failed check."""
    report = run_preflight(cfg, hal, seconds, opened=True)
    if not report.ok:
        why = "; ".join(f"{c.name}: {c.detail}" for c in report.failures())
        raise PreflightRefused(f"preflight failed, not arming: {why}")
