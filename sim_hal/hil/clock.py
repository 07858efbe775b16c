"""The hil clock: real time, and every ``sleep_until`` also steps the world up to now."""

from __future__ import annotations

import time
from collections.abc import Callable

from hal.realtime import RealtimeClock
from sim_hal.hil.world_link import HilWorld


class HilClock:
    """Real time; every ``sleep_until`` also steps the world up to now and ticks the hooks."""

    def __init__(self, hw: HilWorld, rt: RealtimeClock | None = None) -> None:
        self.hw = hw
        self._rt = rt or RealtimeClock()
        self.on_tick: list[Callable[[int], None]] = []

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        self._rt.sleep_until(t_ns)
        self.catch_up()

    def catch_up(self) -> None:
        now = time.monotonic_ns()
        self.hw.step_to(now)
        for hook in self.on_tick:
            hook(now)

