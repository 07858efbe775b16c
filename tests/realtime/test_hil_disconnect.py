"""Issue 4: the camera's serial line dies mid-flight over a real pseudo-terminal. No crash,
the driver reports the port failing, the camera goes stale, LAND_NOW lands the vehicle."""

from __future__ import annotations

import pytest

from app.boot import prepare
from app.session import fly
from tests.conftest import CONFIG, SCENARIOS

pytestmark = pytest.mark.realtime  # run serially, as on the bench (Makefile)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_camera_disconnect_mid_flight_over_a_pty():
    setup = prepare(CONFIG / "hil.toml", SCENARIOS / "fault_camera_disconnect.toml", 1)
    setup.skip_preflight = True  # a shared CI host may not hold 90 % of the rate
    result = fly(setup)
    s = result.summary
    assert s.backend == "hil"
    assert s.land_now_reason == "frame_stale", s
    assert s.landed and not s.crashed and s.touchdown_speed_mps <= 1.0, s
    health = result.hal.camera.health()
    assert health.errors >= 1  # the port failure was counted
    assert health.last_error, "the driver must say why the camera went away"
