"""The backends as one table (python-can's ``BACKENDS`` style): the one place that knows what
``backend = "sim" | "hil" | "rig"`` means.

Each entry loads and validates its own config section, builds the ``Hal`` (with the
scenario's faults, or refuses them), and gives ``flightsw bench`` a target (or refuses). A
backend's modules are imported only when that backend is used: a rig never imports
``sim_hal`` (the simulator is not installed there), a simulation never imports ``smbus2`` or
``serial`` (the real drivers). Adding a backend is one class and one row of ``BACKENDS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from firmware.config import FlightConfig, Scenario
from hal.interfaces import Hal
from hal.tomlschema import ConfigError

if TYPE_CHECKING:
    from hal.bench_target import CameraBenchTarget, I2cBenchTarget
    from sim_hal.faults import FaultSet


class Backend(Protocol):
    """What the deployment asks of a backend."""

    @property
    def hardware(self) -> bool:
        """Real devices (or device emulators behind the real drivers): the preflight gate
        runs before arming, and ``bench`` has something to measure."""
        ...

    def check(self, cfg: FlightConfig, scenario: Scenario) -> None:
        """Load and validate this backend's settings and the scenario's faults; a problem
        raises ``ConfigError`` before anything is built."""
        ...

    def build_hal(self, cfg: FlightConfig, scenario: Scenario, seed: int, arm: bool) -> Hal:
        """The devices, clock and (where there is one) truth of one flight, not yet open."""
        ...

    def bench_target(self, cfg: FlightConfig, which: str, seed: int
                     ) -> I2cBenchTarget | CameraBenchTarget:
        """What ``flightsw bench i2c|camera`` measures, or ``ConfigError`` if nothing."""
        ...


def _faults(scenario: Scenario, t0_ns: int) -> FaultSet:
    """The scenario's faults, parsed against the backend's time origin."""
    from sim_hal.faults import FaultSet, parse_faults

    return FaultSet(parse_faults(scenario.faults_raw, str(scenario.path), t0_ns=t0_ns))


def _world(scenario: Scenario) -> Any:
    """The scenario's [world] (wind, terrain, ground), validated by the simulator."""
    from sim_hal.world_settings import load_world_settings

    return load_world_settings(scenario.world_raw, scenario.path)


class SimBackend:
    """Everything simulated in lockstep: deterministic for a seed, faster than real time."""

    hardware = False

    def _settings(self, cfg: FlightConfig) -> Any:
        from sim_hal.backend import load_sim_settings

        return load_sim_settings(cfg.sim, cfg.source)

    def check(self, cfg: FlightConfig, scenario: Scenario) -> None:
        self._settings(cfg)
        _faults(scenario, t0_ns=0)
        _world(scenario)

    def build_hal(self, cfg: FlightConfig, scenario: Scenario, seed: int, arm: bool) -> Hal:
        from sim_hal.backend import T0_NS, build_sim

        settings = self._settings(cfg)
        return build_sim(settings, scenario.planet, _faults(scenario, t0_ns=T0_NS), seed,
                         _world(scenario))

    def bench_target(self, cfg: FlightConfig, which: str, seed: int
                     ) -> I2cBenchTarget | CameraBenchTarget:
        hardware = " or ".join(name for name, b in BACKENDS.items() if b.hardware)
        raise ConfigError(f"{cfg.source}: backend: bench needs a hardware backend ({hardware}), "
                          f"not {cfg.backend!r}")


class HilBackend:
    """The real drivers through real transports to device emulators the simulator drives."""

    hardware = True

    def _settings(self, cfg: FlightConfig) -> Any:
        from sim_hal.hil import load_hil_settings

        return load_hil_settings(cfg.hil, cfg.source)

    def check(self, cfg: FlightConfig, scenario: Scenario) -> None:
        self._settings(cfg)
        _faults(scenario, t0_ns=0)
        _world(scenario)

    def build_hal(self, cfg: FlightConfig, scenario: Scenario, seed: int, arm: bool) -> Hal:
        from sim_hal.hil import build_hil

        settings = self._settings(cfg)
        # t0 0: the faults are anchored when the flight starts (``Hal.flight_started``)
        return build_hil(settings, scenario.planet, _faults(scenario, t0_ns=0), seed,
                         _world(scenario))

    def bench_target(self, cfg: FlightConfig, which: str, seed: int
                     ) -> I2cBenchTarget | CameraBenchTarget:
        from sim_hal.hil import hil_camera_bench_target, hil_i2c_bench_target

        settings = self._settings(cfg)
        if which == "i2c":
            return hil_i2c_bench_target(settings, seed)
        return hil_camera_bench_target(settings, seed)


class RigBackend:
    """The Raspberry Pi test rig's real devices; faults cannot be injected into them."""

    hardware = True

    def _settings(self, cfg: FlightConfig) -> Any:
        from hal.rig import load_rig_settings

        return load_rig_settings(cfg.rig, cfg.source)

    @staticmethod
    def _refuse_faults(scenario: Scenario) -> None:
        if scenario.faults_raw:
            raise ConfigError(f"{scenario.path}: faults: the rig backend cannot inject faults")
        if scenario.world_raw:
            raise ConfigError(f"{scenario.path}: world: the rig flies in the real world")

    def check(self, cfg: FlightConfig, scenario: Scenario) -> None:
        self._settings(cfg)
        self._refuse_faults(scenario)

    def build_hal(self, cfg: FlightConfig, scenario: Scenario, seed: int, arm: bool) -> Hal:
        from hal.rig import build_rig

        settings = self._settings(cfg)
        self._refuse_faults(scenario)
        return build_rig(settings, arm=arm)

    def bench_target(self, cfg: FlightConfig, which: str, seed: int
                     ) -> I2cBenchTarget | CameraBenchTarget:
        from hal.rig import rig_camera_bench_target, rig_i2c_bench_target

        settings = self._settings(cfg)
        if which == "i2c":
            return rig_i2c_bench_target(settings)
        return rig_camera_bench_target(settings)


BACKENDS: dict[str, Backend] = {
    "sim": SimBackend(),
    "hil": HilBackend(),
    "rig": RigBackend(),
}


def backend_for(cfg: FlightConfig) -> Backend:
    """The table's entry for ``cfg.backend``; an unknown name is one clear error."""
    try:
        return BACKENDS[cfg.backend]
    except KeyError:
        known = ", ".join(BACKENDS)
        raise ConfigError(f"{cfg.source}: backend: unknown backend {cfg.backend!r} "
                          f"(known: {known})") from None
