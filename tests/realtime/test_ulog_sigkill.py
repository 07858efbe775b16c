"""A process logging at 500 records/s and killed with SIGKILL leaves a readable, recent log."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pyulog import ULog

from ground.logfile import read_log

pytestmark = pytest.mark.realtime  # run serially, as on the bench (Makefile)

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from firmware.ulog_writer import AsyncLogWriter

w = AsyncLogWriter(sys.argv[1], time.monotonic_ns() // 1000)
w.add_format("state", [("uint64_t", "timestamp"), ("uint32_t", "k")]
             + [("float", f"x{i}") for i in range(12)])
w.end_definitions()
sid = w.add_logged("state")
period_ns = 2_000_000
t = time.monotonic_ns()
print("ready", flush=True)
k = 0
while True:
    t += period_ns
    delay = t - time.monotonic_ns()
    if delay > 0:
        time.sleep(delay / 1e9)
    w.data(sid, (time.monotonic_ns() // 1000, k) + (0.25 * k,) * 12)
    if k % 500 == 0:
        w.log_string(6, time.monotonic_ns() // 1000, f"alive {k}")
    k += 1
"""

# The writer flushes every 50 ms, so at most ~50 ms of records (plus one batch's packing)
# are lost. The bound allows 100 ms plus 250 ms for a loaded 2-core CI machine, where the
# writer thread can wait for the GIL or the scheduler for a few scheduler ticks.
ALLOWED_LOSS_US = 100_000 + 250_000


def test_sigkill_leaves_readable_recent_log(tmp_path: Path) -> None:
    path = tmp_path / "killed.ulg"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready, "child never started"
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(1.2)
        # CLOCK_MONOTONIC is system-wide, so this is the clock the child stamps records with.
        t_kill_us = time.monotonic_ns() // 1000
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert child.stderr is not None
    stderr = child.stderr.read().decode()
    assert "Traceback" not in stderr, stderr

    d = read_log(path)
    st = d.topic("state")
    ts = st.timestamps_us.astype(np.int64)
    assert len(st) > 300  # ~1.2 s at 500 Hz, minus what the kill lost
    assert np.all(np.diff(ts) > 0)
    np.testing.assert_array_equal(st.data["k"], np.arange(len(st)))  # no record lost midway
    assert ts[-1] <= t_kill_us
    assert t_kill_us - ts[-1] <= ALLOWED_LOSS_US, f"lost {(t_kill_us - ts[-1]) / 1000:.0f} ms"
    assert [s.text for s in d.strings][:1] == ["alive 0"]

    u = ULog(str(path))
    assert len(u.get_dataset("state").data["timestamp"]) == len(st)
    np.testing.assert_array_equal(u.get_dataset("state").data["x11"], st.data["x11"])
