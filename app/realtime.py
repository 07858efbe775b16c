"""The config's real-time settings applied for one scope and undone after it.

Shared by ``fly``, ``preflight`` and ``bench`` so that all three measure the loop as it would
fly. A process that flies many flights (a campaign, a test session) says each set-up problem
once, not once a flight.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from hal.realtime import RtRestore, RtSettings, apply_rt_settings, rt_warning_line

log = logging.getLogger(__name__)

_warned: set[str] = set()


def _warn_once(line: str) -> None:
    if line not in _warned:
        _warned.add(line)
        log.warning("%s", line)


@contextlib.contextmanager
def realtime_applied(rt: RtSettings) -> Iterator[str]:
    """The config's real-time settings for the calling thread (and the threads it starts),
    undone on exit; yields the one-line warning of what was not permitted ("" if all was)."""
    before = RtRestore()
    warning = rt_warning_line(apply_rt_settings(rt))
    if warning:
        _warn_once(warning)
    try:
        yield warning
    finally:
        before.restore(rt)
