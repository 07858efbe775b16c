"""Preflight: can this machine and these devices fly? Checked before arming, never in flight.

Runs the executive at the configured rate for a few seconds with the outputs off, draining
every device as a flight would, then judges: each device opened (its driver checks identity)
and delivered data at its nominal rate; the loop held its rate (refused below 90 % of nominal,
as ArduPilot refuses to arm on a slow loop); the log directory is writable; the outputs are
off. Any failure is named, one line each. The fractions are ``[preflight]`` config.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from firmware.config import FlightConfig
from firmware.executive import Executive
from hal.interfaces import Hal
from hal.types import NS_PER_S, ActuatorCommand

log = logging.getLogger(__name__)

@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class PreflightReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def lines(self) -> list[str]:
        return [f"  {'PASS' if c.ok else 'FAIL'}  {c.name:<18} {c.detail}" for c in self.checks]


def run_preflight(cfg: FlightConfig, hal: Hal, seconds: float = 3.0,
                  opened: bool = False) -> PreflightReport:
    rep = PreflightReport()
    rep.add("config", True, f"{cfg.source} is valid")
    if not opened:
        for dev in hal.devices():
            try:
                dev.open()
            except Exception as exc:
                rep.add(f"device {dev.name}", False, f"does not answer: {exc}")
        if rep.failures():
            return rep
        hal.start()  # what feeds the devices (hil: the camera board) runs as in a flight
    need = cfg.preflight
    counts = {"imu": 0, "altimeter": 0, "camera": 0}
    off = ActuatorCommand((0.0,) * hal.actuators.motor_count, armed=False)
    exe = Executive(hal.clock, cfg.loop.rate_hz)
    n_cycles = max(1, round(seconds * cfg.loop.rate_hz))
    t_start = hal.clock.now_ns()

    def cycle(now: int, index: int) -> bool:
        counts["imu"] += len(hal.imu.poll())
        counts["altimeter"] += len(hal.rangefinder.poll())
        counts["camera"] += len(hal.camera.poll())
        hal.actuators.write(off)
        return exe.stats.cycles + 1 < n_cycles

    exe.run(cycle)
    elapsed = (hal.clock.now_ns() - t_start) / NS_PER_S
    for dev, key in ((hal.imu, "imu"), (hal.rangefinder, "altimeter"), (hal.camera, "camera")):
        rate = counts[key] / elapsed if elapsed > 0 else 0.0
        nominal = dev.rate_hz
        h = dev.health()
        ok = rate >= need.min_rate_fraction * nominal and h.connected
        detail = f"{rate:.1f} Hz of {nominal:.1f} nominal, {h.errors} errors"
        if h.last_error:
            detail += f", last: {h.last_error}"
        rep.add(f"device {dev.name}", ok, detail)
    st = exe.stats
    achieved = st.cycles / elapsed if elapsed > 0 else 0.0
    rep.add("loop rate", achieved >= need.min_loop_fraction * cfg.loop.rate_hz and
            st.overruns <= need.max_overrun_fraction * st.cycles,
            f"{achieved:.0f} Hz of {cfg.loop.rate_hz:.0f} (need {need.min_loop_fraction:.0%}), "
            f"{st.overruns} overruns, {st.slips} slips, max cycle {st.max_cycle_ns / 1e3:.0f} us")
    rep.add("log directory", *_writable(Path(cfg.log.dir)))
    try:
        hal.actuators.disarm()
        rep.add("outputs", True, "off (disarmed)")
    except Exception as exc:
        rep.add("outputs", False, f"could not be switched off: {exc}")
    return rep


def _writable(d: Path) -> tuple[bool, str]:
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=d, prefix=".preflight-")
        os.write(fd, b"x")
        os.close(fd)
        os.unlink(name)
        return True, f"{d} is writable"
    except OSError as exc:
        return False, f"{d} is not writable: {exc.strerror}"
