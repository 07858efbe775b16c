"""`flightsw preflight --config config/hil.toml` as an operator runs it (issue 9: it said NOT
READY with the camera at 0.0 Hz, because preflight opened the devices one by one and never
started the emulated camera board that a flight starts)."""

from __future__ import annotations

import re

import pytest

from app.cli import main
from tests.conftest import CONFIG

pytestmark = pytest.mark.realtime  # a rate gate: run serially, as on the bench


def test_preflight_on_hil_sees_the_camera_at_its_rate(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    code = main(["preflight", "--config", str(CONFIG / "hil.toml"), "--seconds", "3"])
    out = capsys.readouterr().out
    cam = re.search(r"device camera\s+([\d.]+) Hz of ([\d.]+) nominal", out)
    assert cam, out
    rate, nominal = float(cam.group(1)), float(cam.group(2))
    assert rate >= 0.5 * nominal, out  # the board runs during preflight, as in a flight
    # the verdict itself also depends on this host's load: it must at least be consistent
    assert (code == 0) == ("READY TO ARM" in out), out
