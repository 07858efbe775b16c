"""Every thread the flight starts runs with the loop's real-time policy, the flight log's
writer included: a SCHED_OTHER thread holding the GIL while a CPU hog runs would stall the
SCHED_FIFO loop (a priority inversion through the GIL)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from app.boot import prepare
from app.session import FlightSession
from tests.conftest import CONFIG, SCENARIOS

pytestmark = pytest.mark.realtime  # SCHED_FIFO where permitted, serially (Makefile)


def _policy(thread: threading.Thread) -> int:
    assert thread.native_id is not None
    return os.sched_getscheduler(thread.native_id)


def test_the_log_writer_runs_with_the_loops_policy(tmp_path: Path) -> None:
    setup = prepare(CONFIG / "hil.toml", SCENARIOS / "nominal_hover.toml", 1)
    setup.cfg.realtime.sched_fifo_priority = 80
    with FlightSession(setup, log_path=tmp_path / "f.ulg") as session:
        loop_policy = os.sched_getscheduler(0)
        if loop_policy != os.SCHED_FIFO:
            pytest.skip("SCHED_FIFO not permitted here (run as root or with LimitRTPRIO)")
        writer = session.recorder.w._thread
        assert writer is not None and writer.is_alive()
        assert _policy(writer) == loop_policy
