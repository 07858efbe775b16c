"""RealtimeClock: absolute deadlines, never early, EINTR resumed, fallback."""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from hal import realtime
from hal.realtime import RealtimeClock


def _deadlines(clock: RealtimeClock, n: int, seed: int) -> Iterator[int]:
    rnd = random.Random(seed)
    for _ in range(n):
        # In the past, right now, and up to 300 us ahead, where rounding errors would show.
        yield clock.now_ns() + rnd.choice([-1_000_000, -1, 0, 1, 50]) + rnd.randrange(300_000)


def test_uses_clock_nanosleep_on_linux() -> None:
    assert RealtimeClock().absolute


@pytest.mark.parametrize("spin_ns", [0, 100_000])
def test_sleep_until_never_returns_before_deadline(spin_ns: int) -> None:
    clock = RealtimeClock(spin_ns=spin_ns)
    for t in _deadlines(clock, 300, seed=spin_ns):
        clock.sleep_until(t)
        assert time.monotonic_ns() >= t


def test_fallback_never_early_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(realtime, "_fallback_warned", False)
    caplog.set_level(logging.WARNING, logger="hal.realtime")
    clock = RealtimeClock(use_libc=False)
    RealtimeClock(use_libc=False)
    assert not clock.absolute
    assert len([r for r in caplog.records if "falls back" in r.getMessage()]) == 1
    for t in _deadlines(clock, 100, seed=7):
        clock.sleep_until(t)
        assert time.monotonic_ns() >= t


def test_now_is_the_monotonic_clock() -> None:
    clock = RealtimeClock()
    a = time.monotonic_ns()
    b = clock.now_ns()
    c = time.monotonic_ns()
    assert a <= b <= c


class _Pinger:
    """Sends ``count`` SIGUSR1 to the main thread, one every ``every_s``."""

    def __init__(self, count: int, every_s: float) -> None:
        self.count = count
        self.every_s = every_s
        self.target = threading.main_thread().ident
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        assert self.target is not None
        for _ in range(self.count):
            time.sleep(self.every_s)
            signal.pthread_kill(self.target, signal.SIGUSR1)


@pytest.fixture
def usr1_handler() -> Iterator[list[int]]:
    seen: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(time.monotonic_ns()))
    try:
        yield seen
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_eintr_resumes_to_the_same_absolute_deadline(usr1_handler: list[int]) -> None:
    clock = RealtimeClock()
    pinger = _Pinger(count=4, every_s=0.01)
    deadline = clock.now_ns() + 200_000_000  # far beyond the last signal
    pinger.thread.start()
    clock.sleep_until(deadline)
    woke = clock.now_ns()
    pinger.thread.join()
    assert woke >= deadline
    assert clock.eintr >= 1  # the EINTR path really ran
    assert len(usr1_handler) == 4
    assert all(t < deadline for t in usr1_handler)  # handlers ran during the sleep


def test_a_raising_signal_handler_interrupts_the_sleep() -> None:
    # SIGINT's default handler raises KeyboardInterrupt: it must reach the caller, so a
    # stop request is never held up until the next deadline.
    class Stop(Exception):
        pass

    def raiser(signum: int, frame: object) -> None:
        raise Stop

    old = signal.signal(signal.SIGUSR1, raiser)
    try:
        clock = RealtimeClock()
        pinger = _Pinger(count=1, every_s=0.01)
        deadline = clock.now_ns() + 5_000_000_000
        pinger.thread.start()
        with pytest.raises(Stop):
            clock.sleep_until(deadline)
        assert clock.now_ns() < deadline
        pinger.thread.join()
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_sleep_releases_the_gil() -> None:
    # A thread counting while the main thread sleeps: with the GIL held it could not run.
    clock = RealtimeClock()
    counter = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            counter[0] += 1

    th = threading.Thread(target=spin, daemon=True)
    th.start()
    time.sleep(0.01)
    before = counter[0]
    clock.sleep_until(clock.now_ns() + 50_000_000)
    progressed = counter[0] - before
    stop.set()
    th.join()
    assert progressed > 1000


def test_one_clock_shared_by_threads_is_never_early() -> None:
    clock = RealtimeClock()
    early: list[int] = []

    def sleeper(seed: int) -> None:
        for t in _deadlines(clock, 100, seed):
            clock.sleep_until(t)
            if time.monotonic_ns() < t:
                early.append(t)

    threads = [threading.Thread(target=sleeper, args=(s,)) for s in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert early == []
