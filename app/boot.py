"""Composition root: configuration files in, a validated flight setup and its ``Hal`` out.

Everything is loaded and validated by ``prepare`` before anything is built or armed, so a
problem surfaces as one ``ConfigError`` line. Which backend builds the ``Hal`` is decided by
one table (``app.backends``); running the flight is ``app.session``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.backends import backend_for
from firmware.config import FlightConfig, Scenario, load_config, load_scenario
from hal.interfaces import Hal

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_CONFIG = CONFIG_DIR / "sim.toml"
DEFAULT_SCENARIO = CONFIG_DIR / "scenarios" / "flight6.toml"


@dataclass
class FlightSetup:
    cfg: FlightConfig
    scenario: Scenario
    seed: int
    contingency: bool = True
    arm: bool = False  # rig only: outputs live (also needs outputs enabled in the config)
    skip_preflight: bool = False
    preflight_s: float = 3.0
    extra: dict[str, Any] = field(default_factory=dict)


def prepare(config: Path | None, scenario: Path | None, seed: int,
            contingency: bool = True) -> FlightSetup:
    cfg_path = config if config is not None else (
        DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    cfg = load_config(cfg_path)
    scen = load_scenario(scenario if scenario is not None else DEFAULT_SCENARIO)
    if not contingency:
        cfg.contingency.enabled = False
    backend_for(cfg).check(cfg, scen)  # the backend's own settings and the faults it can make
    return FlightSetup(cfg, scen, seed, contingency)


def build_backend(setup: FlightSetup) -> Hal:
    """The setup's ``Hal``, built by its backend, devices not yet open."""
    return backend_for(setup.cfg).build_hal(setup.cfg, setup.scenario, setup.seed, setup.arm)
