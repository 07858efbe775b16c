"""Preflight refuses on each kind of failure and passes when all is well."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.boot import build_backend, prepare
from app.cli import main
from firmware.preflight import run_preflight
from tests.conftest import CONFIG


def scenario(tmp: Path, faults: str = "") -> Path:
    p = tmp / "s.toml"
    p.write_text(f'plan = "{CONFIG / "plans" / "hover.toml"}"\nplanet = "mars"\n{faults}')
    return p


def check(tmp: Path, faults: str = "", log_dir: str | None = None,
          break_device: str | None = None) -> dict[str, bool]:
    setup = prepare(None, scenario(tmp, faults), 1)
    setup.cfg.log.dir = log_dir or str(tmp / "logs")
    hal = build_backend(setup)
    if break_device:
        dev = getattr(hal, break_device)

        def refuse() -> None:
            raise OSError(121, "Remote I/O error")

        dev.open = refuse
    try:
        rep = run_preflight(setup.cfg, hal, seconds=1.5)
    finally:
        hal.close()
    return {c.name: c.ok for c in rep.checks} | {"ok": rep.ok}


def test_all_well_passes(tmp_path):
    assert check(tmp_path)["ok"]


@pytest.mark.parametrize("kind,failed", [
    ("altimeter.stall", "device altimeter"),
    ("camera.stall", "device camera"),
    ("imu.stall", "device imu"),
])
def test_a_silent_device_is_refused(tmp_path, kind, failed):
    r = check(tmp_path, f'[[faults]]\nkind = "{kind}"\nat_s = 0.0\n')
    assert not r["ok"] and not r[failed]


def test_a_loop_that_cannot_hold_its_rate_is_refused(tmp_path):
    r = check(tmp_path, '[[faults]]\nkind = "loop.delay"\nat_s = 0.0\ndelay_ms = 2.5\n')
    assert not r["ok"] and not r["loop rate"]


def test_an_unwritable_log_directory_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = check(tmp_path, log_dir=str(blocker / "logs"))
    assert not r["ok"] and not r["log directory"]


def test_a_device_that_does_not_answer_is_named(tmp_path):
    r = check(tmp_path, break_device="rangefinder")
    assert not r["ok"] and r["device altimeter"] is False


def test_preflight_command(capsys):
    assert main(["preflight", "--seconds", "1"]) == 0
    assert "READY TO ARM" in capsys.readouterr().out
