"""One cleanup path for everything `fly` starts (issue 9): a preflight refusal, a device that
fails to open, and a disarm that fails must each leave no thread, signal handler or open log
behind, and a failed disarm is logged and reported, never swallowed."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import pytest
from pyulog import ULog

from app.boot import build_backend, prepare
from app.preflight import PreflightRefused
from app.session import fly
from firmware.flight import FlightSoftware
from tests.conftest import CONFIG, SCENARIOS


def _state() -> tuple[set[str], object, object]:
    names = {t.name for t in threading.enumerate()}
    return names, signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


def _assert_left_nothing(before: tuple[set[str], object, object]) -> None:
    names, sigint, sigterm = before
    leftover = {t.name for t in threading.enumerate() if t.is_alive()} - names
    assert not leftover, f"threads left running: {leftover}"
    assert signal.getsignal(signal.SIGINT) is sigint
    assert signal.getsignal(signal.SIGTERM) is sigterm


def test_preflight_refusal_closes_the_log_the_backend_and_the_signal_handlers(
        tmp_path: Path) -> None:
    setup = prepare(CONFIG / "hil.toml", SCENARIOS / "nominal_hover.toml", 1)
    setup.preflight_s = 0.5

    started: list[int] = []

    def blind_camera(fsw: FlightSoftware) -> None:
        fsw.hal.camera.poll = lambda: []  # type: ignore[method-assign]
        fsw.hal.flight_started = started.append  # type: ignore[method-assign,assignment]

    before = _state()
    log_path = tmp_path / "refused.ulg"
    with pytest.raises(PreflightRefused, match="device camera"):
        fly(setup, hooks=blind_camera, log_path=log_path)
    _assert_left_nothing(before)
    assert started == []  # refused before the flight: the backend was never told it started
    ULog(str(log_path))  # the log was closed, not abandoned half-written


def test_a_device_that_fails_to_open_leaves_nothing_behind(tmp_path: Path) -> None:
    setup = prepare(CONFIG / "hil.toml", SCENARIOS / "nominal_hover.toml", 1)

    def broken_altimeter(fsw: FlightSoftware) -> None:
        def refuse() -> None:
            raise OSError(121, "Remote I/O error")

        fsw.hal.rangefinder.open = refuse  # type: ignore[method-assign]

    before = _state()
    with pytest.raises(OSError, match="Remote I/O"):
        fly(setup, hooks=broken_altimeter, log_path=tmp_path / "broken.ulg")
    _assert_left_nothing(before)


class _StuckOutputs:
    name = "motors"
    motor_count = 4

    def open(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> object: ...

    def write(self, cmd: object) -> None: ...

    def disarm(self) -> None:
        raise OSError(5, "Input/output error")


def test_a_failed_disarm_is_logged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    setup = prepare(None, SCENARIOS / "nominal_hover.toml", 1)
    hal = build_backend(setup)
    hal.actuators = _StuckOutputs()  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR):
        hal.close()  # never raises
    assert len(hal.close_errors) == 1 and "disarm motors failed" in hal.close_errors[0]
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical and "OUTPUTS MAY STILL BE LIVE" in critical[0].getMessage()


def test_what_close_could_not_do_reaches_the_flight_summary() -> None:
    setup = prepare(None, SCENARIOS / "nominal_hover.toml", 1)

    def failing_closer(fsw: FlightSoftware) -> None:
        def unplug() -> None:
            raise RuntimeError("bus already gone")

        fsw.hal.closers.append(unplug)

    s = fly(setup, hooks=failing_closer).summary
    assert s.landed and len(s.close_errors) == 1, s.close_errors
    assert "bus already gone" in s.close_errors[0]


def test_the_backend_is_told_once_when_the_first_cycle_runs() -> None:
    """Faults are anchored at the flight's start: ``Hal.flight_started`` is called exactly
    once, with the first cycle's time, before that cycle runs (the flight software has not
    yet taken its time origin)."""
    setup = prepare(None, SCENARIOS / "nominal_hover.toml", 1)
    calls: list[tuple[int, int | None]] = []

    def watch_start(fsw: FlightSoftware) -> None:
        fsw.hal.flight_started = (  # type: ignore[method-assign]
            lambda t_ns: calls.append((t_ns, fsw.t0_ns)))

    result = fly(setup, hooks=watch_start)
    assert result.summary.landed
    assert calls == [(result.fsw.t0_ns, None)]
