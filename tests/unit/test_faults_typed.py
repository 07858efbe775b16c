"""Scenario faults are typed: one parameter dataclass per kind, validated by hal.tomlschema, and
queried by class by the simulated sensors."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from hal.tomlschema import ConfigError
from hal.types import NS_PER_S
from sim_hal.backend import T0_NS, SimClock
from sim_hal.faults import (
    FAULT_KINDS,
    FOREVER_NS,
    AltimeterInvalid,
    CameraDrop,
    CameraStampShift,
    FaultKind,
    FaultParams,
    FaultSet,
    ImuFifoOverflow,
    ImuStall,
    parse_faults,
)
from sim_hal.sensors import ImuModel, Noise, RangeModel, SimImu, SimRangefinder
from sim_hal.world import VehicleParams, World


def test_every_kind_has_one_parameter_class_naming_it() -> None:
    assert set(FAULT_KINDS) == set(FaultKind)
    for kind, cls in FAULT_KINDS.items():
        assert cls.kind is kind and issubclass(cls, FaultParams)
        assert dataclasses.is_dataclass(cls)
    assert len(set(FAULT_KINDS.values())) == len(FaultKind)


def test_a_kind_equals_its_toml_spelling() -> None:
    assert FaultKind("camera.drop") is FaultKind.CAMERA_DROP
    assert FaultKind.IMU_STALL == "imu.stall"


def test_parsed_faults_carry_typed_parameters_and_absolute_times() -> None:
    t0 = 7 * NS_PER_S
    faults = parse_faults([
        {"kind": "camera.drop", "at_s": 2},
        {"kind": "camera.stamp_shift", "at_s": 1.5, "duration_s": 0.25, "shift_s": -0.0333},
        {"kind": "imu.fifo_overflow", "at_s": 0.0},
    ], "scen.toml", t0_ns=t0)
    drop, shift, ovf = faults
    assert isinstance(drop.params, CameraDrop) and drop.params.count == 1  # the default
    assert drop.kind is FaultKind.CAMERA_DROP
    assert (drop.at_ns, drop.until_ns) == (t0 + 2 * NS_PER_S, FOREVER_NS)
    assert isinstance(shift.params, CameraStampShift) and shift.params.shift_s == -0.0333
    assert (shift.at_ns, shift.until_ns) == (t0 + 1_500_000_000, t0 + 1_750_000_000)
    assert isinstance(ovf.params, ImuFifoOverflow) and ovf.params.interval_s == 0.05


@pytest.mark.parametrize("entry,needle", [
    ({"kind": "camera.explode", "at_s": 1.0}, "faults[0].kind: unknown fault kind"),
    ({"at_s": 1.0}, "faults[0].kind: missing or not a string"),
    ({"kind": "camera.stamp_shift", "at_s": 1.0}, "faults[0].shift_s: missing required key"),
    ({"kind": "camera.burst_drop", "at_s": 1.0, "drop_prob": 2.0},
     "faults[0].drop_prob: must be <= 1.0 (got 2.0)"),
    ({"kind": "camera.drop", "at_s": 1.0, "cuont": 2}, "faults[0].cuont: unknown key"),
    ({"kind": "camera.drop", "at_s": 1.0, "count": 1.5}, "faults[0].count: expected an integer"),
    ({"kind": "imu.stall", "at_s": -1.0}, "faults[0].at_s: must be >= 0"),
    ({"kind": "imu.stall", "at_s": 1e300}, "faults[0].at_s: must be <= 1000000000"),
    ({"kind": "imu.stall", "at_s": 1.0, "duration_s": 0}, "faults[0]: duration_s: must be > 0"),
    ({"kind": "loop.hang", "at_s": 1.0, "hang_s": float("nan")},
     "faults[0].hang_s: must be a finite number"),
])
def test_a_bad_entry_is_one_line_naming_file_key_and_problem(entry: dict[str, Any],
                                                             needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_faults([entry], "scen.toml")
    text = str(err.value)
    assert text.startswith("scen.toml: ") and needle in text and "\n" not in text


def test_fault_set_answers_by_parameter_class_within_the_window() -> None:
    fs = FaultSet(parse_faults([
        {"kind": "imu.stall", "at_s": 1.0, "duration_s": 1.0},
        {"kind": "camera.drop", "at_s": 1.0, "count": 3},
    ], "scen.toml"))
    assert fs.active(ImuStall, NS_PER_S - 1) is None
    hit = fs.active(ImuStall, NS_PER_S)
    assert hit is not None and isinstance(hit.params, ImuStall)
    assert fs.active(ImuStall, 2 * NS_PER_S) is None  # the end is exclusive
    assert fs.active(AltimeterInvalid, NS_PER_S) is None  # another kind
    assert [f.params.count for f in fs.of_kind(CameraDrop)] == [3]
    assert fs.of_kind(CameraStampShift) == []


def _sim(kind_entry: dict[str, Any]) -> tuple[World, SimClock, FaultSet]:
    world = World(VehicleParams(), 3.71, t0_ns=T0_NS)
    faults = FaultSet(parse_faults([kind_entry], "scen.toml", t0_ns=T0_NS))
    return world, SimClock(world, 1_000_000), faults


def test_sim_altimeter_reads_invalid_exactly_while_the_fault_is_active() -> None:
    world, clock, faults = _sim({"kind": "altimeter.invalid", "at_s": 0.2, "duration_s": 0.2})
    alt = SimRangefinder(world, RangeModel(), faults, Noise(np.random.default_rng(1)))
    clock.tickers = [alt]
    clock.advance_to(T0_NS + 600_000_000)
    samples = alt.poll()
    assert len(samples) > 20
    at, until = T0_NS + 200_000_000, T0_NS + 400_000_000
    assert any(not s.valid for s in samples) and any(s.valid for s in samples)
    for s in samples:
        assert s.valid == (not at <= s.t_ns < until), s


def test_sim_imu_produces_nothing_while_stalled() -> None:
    world, clock, faults = _sim({"kind": "imu.stall", "at_s": 0.1, "duration_s": 0.1})
    imu = SimImu(world, ImuModel(), faults, Noise(np.random.default_rng(1)), clock.consume)
    clock.tickers = [imu]
    clock.advance_to(T0_NS + 100_000_000)  # the onset: the world's step ending there
    assert len(imu.poll()) > 80  # ~1 kHz
    clock.advance_to(T0_NS + 195_000_000)
    assert imu.poll() == []
    clock.advance_to(T0_NS + 300_000_000)
    assert len(imu.poll()) > 80
