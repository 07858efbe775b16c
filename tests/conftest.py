from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFIG = ROOT / "config"
SCENARIOS = CONFIG / "scenarios"

# Property tests: `make test` is reproducible (derandomized: the same examples every run, no
# example database to surprise a clean clone); `make fuzz` draws many new ones at random.
# Every counterexample ever found stays as an explicit @example in its test.
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True, max_examples=100)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("fuzz", max_examples=100_000, deadline=None, database=None,
                          print_blob=True, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _realtime_like_a_user(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked ``realtime`` run as a user runs the bench: with the shipped hil config's
    [realtime] settings (SCHED_FIFO, mlockall) where permitted, undone afterwards. Flights
    apply them themselves; this covers the bench and driver tests."""
    if request.node.get_closest_marker("realtime") is None:
        yield
        return
    from firmware.config import load_config
    from hal.realtime import RtRestore, apply_rt_settings

    rt = load_config(CONFIG / "hil.toml").realtime
    before = RtRestore()
    apply_rt_settings(rt)  # a step not permitted just stays as it was
    try:
        yield
    finally:
        before.restore(rt)
