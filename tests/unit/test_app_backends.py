"""The backends table: one entry per backend, one clear error for anything else, and each
backend's modules loaded only when it is used (a rig has no simulator installed, a simulation
host may have no smbus2 or pyserial)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.backends import BACKENDS, backend_for
from app.bench import bench
from app.boot import prepare
from firmware.config import load_config
from hal.tomlschema import ConfigError
from tests.conftest import CONFIG, ROOT, SCENARIOS


def _modules_loaded_by(code: str) -> set[str]:
    """Top-level packages imported after running ``code`` in a fresh interpreter."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in "\
        "sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_config_schema_and_the_table_name_the_same_backends() -> None:
    for name in BACKENDS:
        cfg = load_config(CONFIG / f"{name}.toml")
        assert backend_for(cfg) is BACKENDS[name]


def test_an_unknown_backend_is_one_clear_error() -> None:
    cfg = load_config(CONFIG / "sim.toml")
    cfg.backend = "can"  # type: ignore[assignment]  # past the schema, as a new entry would be
    with pytest.raises(ConfigError, match=r"sim\.toml: backend: unknown backend 'can'"):
        backend_for(cfg)


def test_only_hardware_backends_gate_on_preflight_and_bench() -> None:
    assert {n for n, b in BACKENDS.items() if b.hardware} == {"hil", "rig"}


def test_the_rig_refuses_scenario_faults_when_prepared() -> None:
    with pytest.raises(ConfigError, match="the rig backend cannot inject faults"):
        prepare(CONFIG / "rig.toml", SCENARIOS / "fault_camera_drop.toml", 1)


def test_the_rig_refuses_a_simulated_world_when_prepared() -> None:
    with pytest.raises(ConfigError, match=r"windy_nominal_box\.toml: world: the rig flies"):
        prepare(CONFIG / "rig.toml", SCENARIOS / "windy_nominal_box.toml", 1)


def test_bench_on_the_simulation_names_the_backends_that_can() -> None:
    with pytest.raises(ConfigError,
                       match=r"bench needs a hardware backend \(hil or rig\), not 'sim'"):
        bench(CONFIG / "sim.toml", "i2c", 0.1)


def test_a_simulated_flight_loads_no_real_bus_library() -> None:
    loaded = _modules_loaded_by(
        "from app.boot import prepare, build_backend\n"
        "build_backend(prepare(None, None, 1)).close()")
    assert "sim_hal" in loaded  # the probe did build the simulation
    assert not loaded & {"smbus2", "serial"}


def test_a_rig_setup_loads_no_simulator() -> None:
    loaded = _modules_loaded_by(
        "from pathlib import Path\nfrom app.boot import prepare\n"
        f"prepare(Path({str(CONFIG / 'rig.toml')!r}), "
        f"Path({str(SCENARIOS / 'nominal_hover.toml')!r}), 1)")
    assert "app" in loaded and "sim_hal" not in loaded
