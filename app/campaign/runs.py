"""One campaign run: from (scenario, dispersion file, run index) to a flight and its row.

A run is reproducible from those three alone (and the flight configuration): its entropy is a
SHA-256 of the scenario's and the dispersion file's names and the run index, from which numpy's
``SeedSequence`` derives every drawn value's stream and the flight's seed. Names, not paths or
contents, so that the same run of a variant (a tuned config, an edited threshold) gets the same
draws and seed: two campaigns compare on common random numbers. A database refuses to resume
with changed file contents (``ground.campaign.store``), so a name never hides a different file.

``fly_run`` is what a worker executes (a process of the local pool or a Dask worker): it takes
a picklable ``RunSpec`` and returns a plain dict, and never raises for a flight's own problem.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import shlex
import threading
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.backends import backend_for
from app.boot import DEFAULT_CONFIG, FlightSetup
from app.campaign.dispersion import Dispersion, load_dispersion
from app.campaign.dotted import set_value
from firmware.config import FlightConfig, load_scenario
from hal.tomlschema import ConfigError, load, read_toml

ENTROPY_TAG = "flightsw-campaign-v1"


@dataclass(frozen=True)
class RunSpec:
    """What a worker needs to fly one run (absolute paths; ``None``: no dispersion file, or
    the built-in defaults for the config)."""

    scenario: str
    dispersion: str | None
    config: str | None
    run_index: int


def default_config() -> str | None:
    return str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None


def run_entropy(spec: RunSpec) -> tuple[int, ...]:
    """Eight 32-bit words from the scenario's and dispersion's names and the run index."""
    disp = Path(spec.dispersion).stem if spec.dispersion else ""
    text = f"{ENTROPY_TAG}\0{Path(spec.scenario).stem}\0{disp}\0{spec.run_index}"
    digest = hashlib.sha256(text.encode()).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4))


def flight_seed(spec: RunSpec) -> int:
    """The flight's seed (0 .. 2**32-1, as ``flightsw fly --seed`` takes it)."""
    return int(np.random.SeedSequence(run_entropy(spec)).generate_state(1, np.uint32)[0])


@dataclass
class PreparedRun:
    setup: FlightSetup
    draws: dict[str, Any]  # key text -> drawn value; "fault_draw" -> the added fault
    fault_kinds: list[str]


def prepare_run(spec: RunSpec, dispersion: Dispersion | None = None) -> PreparedRun:
    """The run's validated setup: draws applied to the raw TOML, then the usual loaders and
    the backend's own checks (a bad draw is one ``ConfigError`` line naming the run)."""
    if dispersion is None and spec.dispersion is not None:
        dispersion = load_dispersion(Path(spec.dispersion))
    scen_path = Path(spec.scenario)
    cfg_raw = read_toml(Path(spec.config)) if spec.config else {}
    scen_raw = copy.deepcopy(read_toml(scen_path))
    docs = {"config": cfg_raw, "scenario": scen_raw}
    draws: dict[str, Any] = {}
    where = f"{spec.dispersion} run {spec.run_index}"
    if dispersion is not None:
        values, fault = dispersion.sample(run_entropy(spec))
        for key, value in values:
            set_value(docs[key.root], key, value, where)
            draws[key.text] = value
        if fault is not None:
            faults = scen_raw.setdefault("faults", [])
            if not isinstance(faults, list):
                raise ConfigError(f"{scen_path}: faults: expected an array of tables")
            faults.append(fault)
            draws["fault_draw"] = fault
    try:
        cfg = _load_config(cfg_raw, spec.config)
        scenario = replace(load_scenario(scen_path),
                           faults_raw=scen_raw.get("faults", []),
                           world_raw=scen_raw.get("world", {}))
        backend_for(cfg).check(cfg, scenario)
    except ConfigError as exc:
        if not draws:
            raise
        raise ConfigError(f"{where}: {exc}") from None
    kinds = sorted({str(f.get("kind")) for f in scenario.faults_raw})
    return PreparedRun(FlightSetup(cfg, scenario, flight_seed(spec)), draws, kinds)


def _load_config(raw: dict[str, Any], path: str | None) -> FlightConfig:
    """``firmware.config.load_config`` on a raw dict (that one reads a file)."""
    if path is None:
        return FlightConfig() if not raw else load(FlightConfig, raw, "(defaults)")
    cfg = load(FlightConfig, raw, path)
    cfg.source = path
    return cfg


def reproduce_command(spec: RunSpec) -> str:
    """The shell command that flies this run alone, with a flight log."""
    words = ["flightsw", "campaign", "fly", spec.scenario]
    if spec.dispersion:
        words += ["--dispersion", spec.dispersion]
    words += ["--run-index", str(spec.run_index)]
    if spec.config:
        words += ["--config", spec.config]
    return shlex.join(words)


def fly_run(spec: RunSpec) -> dict[str, Any]:
    """Fly one run; its database row as a plain dict (``status`` ok, config_error or error).

    The flight runs on a thread of its own: the flight session installs its signal handlers
    only on the main thread, and a campaign's Ctrl-C belongs to the campaign (which discards
    unfinished runs), not to the flights (which would turn it into a LAND_NOW)."""
    for name in ("firmware.flight", "firmware.contingency"):  # events live in the summary
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if threading.current_thread() is threading.main_thread():
        box: list[dict[str, Any]] = []
        worker = threading.Thread(target=lambda: box.append(_fly_row(spec)),
                                  name=f"run-{spec.run_index}", daemon=True)
        worker.start()
        worker.join()
        return box[0]
    return _fly_row(spec)


def _fly_row(spec: RunSpec) -> dict[str, Any]:
    from app.session import fly

    row: dict[str, Any] = base_row(spec)
    try:
        prepared = prepare_run(spec)
        row.update(draws=prepared.draws, fault_kinds=prepared.fault_kinds)
        result = fly(prepared.setup)
    except ConfigError as exc:
        return {**row, "status": "config_error", "error": str(exc)}
    except Exception as exc:  # a crash of the software under test is a result to keep
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return {**row, "status": "error",
                "error": f"{type(exc).__name__}: {exc} ({last.filename}:{last.lineno})"}
    plan_n, plan_e = prepared.setup.scenario.plan.landing_point()
    truth = result.hal.truth.truth() if result.hal.truth is not None else None
    end = truth.position_ned if truth is not None else result.fsw.nav.position_ned
    row.update(result.summary.as_dict())
    row.update(status="ok", landing_north_m=round(float(end[0]) - plan_n, 4),
               landing_east_m=round(float(end[1]) - plan_e, 4))
    return row


def base_row(spec: RunSpec) -> dict[str, Any]:
    return {"scenario_path": spec.scenario, "dispersion_path": spec.dispersion or "",
            "config_path": spec.config or "", "run_index": spec.run_index,
            "seed": flight_seed(spec), "reproduce": reproduce_command(spec),
            "draws": {}, "fault_kinds": []}
