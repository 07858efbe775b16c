"""One flight, from building its backend to closing it, with one cleanup path.

``FlightSession`` owns everything a flight starts besides the flight software itself: the
backend's devices, the flight log recorder, the real-time settings and GC policy, the stall
guard, the signal handlers, and the preflight gate before arming. Each is registered on one
``ExitStack`` the moment it exists, so whatever fails and wherever (a preflight refusal, a
device that will not open, an exception in flight) everything started so far is undone, in
reverse order: guard stopped, outputs off, signals and real-time settings restored, log closed,
then every device and the backend closed. ``fly`` is the one-call form.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from app.backends import backend_for
from app.boot import FlightSetup, build_backend
from app.preflight import require_preflight
from app.realtime import realtime_applied
from app.scoring import FlightScoring
from app.summary import FlightSummary, summarize
from firmware.executive import Executive
from firmware.flight import AIRBORNE, FlightSoftware
from firmware.timing import StallGuard
from hal.interfaces import Hal
from hal.realtime import GcPolicy
from hal.types import NS_PER_S

log = logging.getLogger(__name__)


@dataclass
class FlightResult:
    summary: FlightSummary
    fsw: FlightSoftware
    hal: Hal


def fly(setup: FlightSetup, on_status: Callable[[str], None] | None = None,
        hooks: Callable[[FlightSoftware], None] | None = None,
        log_path: Path | None = None, log_inline: bool | None = None) -> FlightResult:
    """Fly the setup. ``log_inline``: write the log in the cycle's thread (default: only
    for a lockstep simulation, which outruns a writer thread) or on a writer thread."""
    wall0 = time.perf_counter()
    with FlightSession(setup, hooks=hooks, log_path=log_path, log_inline=log_inline) as session:
        session.run(on_status)
    return session.result(time.perf_counter() - wall0)


class FlightSession:
    """``with FlightSession(setup) as s: s.run()``, then ``s.result(wall_s)`` once closed.

    Entering builds and wires everything (nothing runs yet; ``hooks`` see the flight software
    before anything is opened); ``run`` opens the devices, passes the preflight gate
    (hardware backends), starts the stall guard and flies until the flight software, the
    scoring (crash, time limit) or a signal ends it. Leaving undoes all of it.
    """

    def __init__(self, setup: FlightSetup,
                 hooks: Callable[[FlightSoftware], None] | None = None,
                 log_path: Path | None = None, log_inline: bool | None = None) -> None:
        self.setup = setup
        self._hooks = hooks
        self._log_path = log_path
        self._log_inline = log_inline
        self._cleanup = contextlib.ExitStack()
        self._pending_stops: list[str] = []
        self._started = False
        self.guard: StallGuard | None = None
        self.recorder: Any = None  # firmware.recorder.FlightRecorder when logging
        self.photo_writer: Any = None  # app.photo_writer.PhotoWriter when photos are logged

    # -- set-up and the one cleanup path ----------------------------------------------------------

    def __enter__(self) -> FlightSession:
        with contextlib.ExitStack() as cleanup:  # unwinds here if the set-up itself fails
            setup, cfg = self.setup, self.setup.cfg
            self.hal = hal = build_backend(setup)
            cleanup.callback(hal.close)
            self.exe = Executive(hal.clock, cfg.loop.rate_hz)
            self.fsw = FlightSoftware(cfg, hal, setup.scenario.plan, setup.scenario.gravity,
                                      self.exe.stats)
            if self._hooks is not None:
                self._hooks(self.fsw)
            # Real-time settings before anything starts a thread: threads inherit them, and a
            # SCHED_OTHER thread holding the GIL (the log writer) while a CPU hog runs would
            # stall the SCHED_FIFO loop waiting for it (a priority inversion through the GIL).
            rt_warning = self._realtime_setup(cleanup) if hal.realtime else ""
            if self._log_path is not None:
                self.recorder = self._open_recorder(self._log_path)
                cleanup.callback(self.recorder.close)
                if hal.photo_camera is not None and self.fsw.photos.wants_photos:
                    from app.photo_writer import PhotoWriter

                    self.photo_writer = PhotoWriter(self._log_path, self.recorder.times,
                                                    hal.photo_camera.name)
                    self.fsw.photos.on_photo.append(self.photo_writer.on_photo)
                    cleanup.callback(self.photo_writer.close)  # before the log closes
                if self.guard is not None:
                    self.guard.on_event = self._guard_event
            if rt_warning:
                self.fsw.event(hal.clock.now_ns(), rt_warning, logging.WARNING)
            self.scoring = FlightScoring(cfg, setup.scenario, hal, self.fsw)
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    cleanup.callback(signal.signal, sig, signal.signal(sig, self._on_signal))
            cleanup.callback(_disarm_quietly, hal)
            self._cleanup = cleanup.pop_all()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        return self._cleanup.__exit__(exc_type, exc, tb)

    def _open_recorder(self, log_path: Path) -> Any:
        from firmware.recorder import FlightRecorder

        setup, hal = self.setup, self.hal
        first = setup.scenario.first_fault_s()
        return FlightRecorder(log_path, self.fsw, {
            "backend": hal.backend, "seed": setup.seed, "scenario": setup.scenario.name,
            "planet": setup.scenario.planet, "config": setup.cfg.source,
            "scenario_path": str(setup.scenario.path), "plan": setup.scenario.plan.name,
            "contingency": int(setup.contingency),
            "first_fault_t_s": -1.0 if first is None else first},
            lockstep=(hal.backend == "sim" and not hal.realtime) if self._log_inline is None
            else self._log_inline)

    def _realtime_setup(self, cleanup: contextlib.ExitStack) -> str:
        """Real-time backends: scheduling, memory locking and GC policy (undone by
        ``cleanup``), and the stall guard (started by ``run`` once the devices are open).
        Returns the one-line warning of what was not permitted ("" if all was)."""
        cfg, hal, fsw = self.setup.cfg, self.hal, self.fsw
        warning: str = cleanup.enter_context(realtime_applied(cfg.realtime))
        self._gc_policy = GcPolicy(cfg.realtime.gc_policy)
        cleanup.callback(self._gc_policy.restore)
        if self._gc_policy.mode != "default":
            self.exe.on_slack = self._gc_policy.slack

        def cut_outputs() -> None:
            fsw.outputs_cut = guard.reason
            hal.actuators.disarm()

        guard = StallGuard(self.exe.period_ns, cfg.loop.stall_limit_periods, cut_outputs,
                           hang_limit_ns=round(cfg.loop.stall_hang_s * NS_PER_S))
        self.guard = guard
        return warning

    def _guard_event(self, level: int, text: str) -> None:
        """The stall guard's cut or recovered stall, into the flight log from the guard's
        thread, stamped with the flight's clock as it reads then (a stuck loop would never
        log its own cut). In a paced simulation that clock is the world's, which waits for
        the loop: a stall takes no flight time there."""
        self.recorder.on_thread_event(self.hal.clock.now_ns(), text, level)

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Only note it: the cycle acts on it at its next wake-up, in its own thread.
        self._pending_stops.append(signal.Signals(signum).name)

    # -- the flight -------------------------------------------------------------------------------

    def run(self, on_status: Callable[[str], None] | None = None) -> None:
        setup, hal, fsw = self.setup, self.hal, self.fsw
        hal.open()
        if backend_for(setup.cfg).hardware and not setup.skip_preflight:
            require_preflight(setup.cfg, hal, setup.preflight_s)
            fsw.event(hal.clock.now_ns(), "preflight passed")
        guard = self.guard
        if guard is not None:
            self._gc_policy.after_startup()  # the last start-up object exists by now
            guard.start()
            self._cleanup.callback(guard.stop)
        status_div = max(1, round(setup.cfg.loop.rate_hz / setup.cfg.loop.status_hz))
        scoring = self.scoring

        def cycle(now: int, index: int) -> bool:
            if not self._started:
                self._started = True
                hal.flight_started(now)
            if guard is not None:
                guard.kick()
                guard.airborne = fsw.mode in AIRBORNE
            while self._pending_stops:
                fsw.request_stop(now, self._pending_stops.pop(0))
            keep = fsw.cycle(now, index)
            scoring.sample(now, index)
            if on_status is not None and index % status_div == 0:
                on_status(fsw.status_line(now))
            if scoring.must_stop(now):
                return False
            return keep

        self.exe.run(cycle)

    def result(self, wall_s: float) -> FlightResult:
        """The flight's result; call after leaving the session (close errors count)."""
        summary = summarize(self.setup, self.fsw, self.hal, wall_s, self.guard,
                            self.scoring.after_fault, self.scoring.photos.report())
        return FlightResult(summary, self.fsw, self.hal)


def _disarm_quietly(hal: Hal) -> None:
    """Outputs off as the first cleanup step; a failure is logged and kept by ``hal.close``,
    which tries again."""
    try:
        hal.actuators.disarm()
    except Exception as exc:
        log.error("disarm failed: %s: %s", type(exc).__name__, exc)
