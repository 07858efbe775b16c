"""What the watchdog counted on the ground does not trip it at take-off."""

from __future__ import annotations

from tests.unit.test_watchdog_rows import FRAME_EVERY, Rig, only


def _cycles_of_frames(rig: Rig, frames: int) -> None:
    for _ in range(frames * FRAME_EVERY):
        rig.cycle()


def test_frames_lost_on_the_ground_do_not_trip_the_drop_burst_after_arming() -> None:
    cfg = only("frame_drop_burst")  # a lost frame also bends the stamp interval
    rig = Rig(cfg)
    rig.run(0.4)
    assert rig.wd.learned
    rig.frame_seq_step = 3  # two frames lost per frame, on the ground: a burst of 8
    _cycles_of_frames(rig, 4)
    assert rig.wd.checks["frame_drop_burst"].max_value > cfg.check("frame_drop_burst").threshold
    assert rig.wd.trip is None  # counted, not latched, on the ground
    rig.frame_seq_step = 1
    _cycles_of_frames(rig, 1)
    rig.wd.arm(rig.now)
    rig.airborne = True
    _cycles_of_frames(rig, 20)
    assert rig.wd.trip is None


def test_drops_after_arming_still_trip() -> None:
    cfg = only("frame_drop_burst")  # a lost frame also bends the stamp interval
    rig = Rig(cfg)
    rig.learn_and_fly()
    rig.frame_seq_step = 3
    _cycles_of_frames(rig, 4)
    assert rig.wd.trip is not None and rig.wd.trip.check == "frame_drop_burst"
