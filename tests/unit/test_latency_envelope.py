"""frame_latency judges the camera link, not the host: receptions a busy host made late do not
trip it; a slower link (every frame late) and a shorter latency (a stamp moved later) do."""

from __future__ import annotations

import math

from firmware.config import ContingencyConfig
from tests.unit.test_watchdog_rows import FRAME_EVERY, Rig


def _frames(rig: Rig, extra_latency_ns: list[int]) -> int | None:
    """Fly one frame per entry with that extra latency; the index of the frame at which the
    watchdog tripped, or None."""
    for i, extra in enumerate(extra_latency_ns):
        rig.frame_extra_latency_ns = extra
        for _ in range(FRAME_EVERY):
            rig.cycle()
        if rig.wd.trip is not None:
            return i
    return None


def _config() -> ContingencyConfig:
    # baselines from a few frames (the rig's clocks are settled from the start)
    return ContingencyConfig(learn_frames=3, learn_min_clock_updates=0)


def _flying() -> Rig:
    rig = Rig(_config())
    rig.learn_and_fly()
    return rig


def test_runs_of_late_receptions_from_a_busy_host_do_not_trip() -> None:
    # runs of three receptions 20 ms late (past the 8 ms threshold, as long as the persistence
    # of 3), as a loaded host delivers them, with on-time frames between the runs
    rig = _flying()
    assert _frames(rig, ([20_000_000] * 3 + [0] * 6) * 40) is None
    assert rig.wd.checks["frame_latency"].max_value < 0.008


def test_a_slower_link_trips_once_the_window_holds_only_late_frames() -> None:
    cfg = _config()
    rig = _flying()
    tripped_at = _frames(rig, [50_000_000] * 60)
    assert rig.wd.trip is not None and rig.wd.trip.check == "frame_latency"
    assert tripped_at is not None
    # not on the first late frames (the window still holds on-time ones), and at the latest
    # once a whole window of late frames has been seen, plus the persistence
    persistence = cfg.check("frame_latency").persistence
    period_ns = rig.frame_period_ns
    window_frames = math.ceil(cfg.latency_window_s * 1e9 / period_ns)
    assert persistence <= tripped_at <= window_frames + persistence


def test_a_shorter_latency_trips_without_waiting_for_the_window() -> None:
    persistence = _config().check("frame_latency").persistence
    rig = _flying()
    tripped_at = _frames(rig, [-9_000_000] * persistence)
    assert rig.wd.trip is not None and rig.wd.trip.check == "frame_latency"
    assert tripped_at == persistence - 1
