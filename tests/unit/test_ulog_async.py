"""AsyncLogWriter under a full queue and a full disk: never raises, counts, marks the gaps."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pyulog import ULog

from firmware.ulog_writer import AsyncLogWriter
from ground.logfile import read_log

FIELDS = [("uint64_t", "timestamp"), ("float", "v"), ("uint32_t", "k")]
RECORD_BYTES = 3 + 2 + 8 + 4 + 4


class FlakyFile:
    """A file that can be 'full': writes raise ENOSPC, optionally after a short write."""

    def __init__(self, path: Path) -> None:
        self._f = path.open("wb", buffering=0)
        self.full = False
        self.budget: int | None = None  # bytes accepted before the disk is full
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.writes = 0

    def write(self, b: bytes | memoryview, /) -> int:
        self.entered.set()
        self.gate.wait()
        self.writes += 1
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        if self.budget is not None:
            if self.budget == 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            b = bytes(b)[: self.budget]
            self.budget -= len(b)
        n = self._f.write(b)
        assert n is not None
        return n

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        self._f.close()


def make(path: Path, **kw: object) -> tuple[AsyncLogWriter, FlakyFile, int]:
    ff = FlakyFile(path)
    w = AsyncLogWriter(path, 0, opener=lambda p: ff, **kw)  # type: ignore[arg-type]  # kw
    w.add_format("t", FIELDS)
    w.param("P", 1)
    w.end_definitions()
    return w, ff, w.add_logged("t")


def put(w: AsyncLogWriter, tid: int, ks: range) -> None:
    for k in ks:
        w.data(tid, (1000 * k, 0.5 * k, k))  # timestamps 1 ms apart


def ks_in(path: Path) -> list[int]:
    return [int(k) for k in read_log(path).topic("t").data["k"]]


def check_pyulog(path: Path, n: int) -> ULog:
    u = ULog(str(path))
    assert not u.file_corruption
    assert len(u.get_dataset("t").data["k"]) == n
    return u


def test_disk_full_counted_dropout_marked_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "full.ulg"
    w, ff, tid = make(path, threaded=False)
    put(w, tid, range(0, 10))
    w.pump()
    ff.full = True
    put(w, tid, range(10, 20))
    w.log_string(4, 15_000, "lost with the disk")
    w.pump()  # no exception escapes
    put(w, tid, range(20, 30))
    w.pump()
    s = w.stats
    assert s.io_errors == 2 and s.records_dropped == 21 and s.records_written == 10
    ff.full = False
    put(w, tid, range(30, 40))
    w.pump()
    w.close()
    s = w.stats
    assert s.records_written == 20 and s.dropouts == 1 and s.io_errors == 2
    assert ks_in(path) == list(range(10)) + list(range(30, 40))
    d = read_log(path)
    # Lost from t=10 ms to the first record after recovery at t=30 ms.
    assert [(o.timestamp_us, o.duration_ms) for o in d.dropouts] == [(9000, 20)]
    assert d.strings == []
    u = check_pyulog(path, 20)
    assert [(o.timestamp, o.duration) for o in u.dropouts] == [(9000, 20)]


def test_short_write_keeps_file_parseable(tmp_path: Path) -> None:
    path = tmp_path / "short.ulg"
    w, ff, tid = make(path, threaded=False)
    w.pump()  # header and definitions
    put(w, tid, range(0, 10))
    ff.budget = 3 * RECORD_BYTES + 7  # the disk fills in the middle of record 3
    w.pump()
    assert w.stats.io_errors == 1
    assert w.stats.records_dropped == 6  # 0..2 whole, 3 cut (and completed later), 4..9 lost
    put(w, tid, range(10, 12))
    w.pump()  # budget 0: still full, tail of record 3 still pending
    assert w.stats.io_errors == 2
    ff.budget = None
    put(w, tid, range(12, 15))
    w.pump()
    w.close()
    assert ks_in(path) == [0, 1, 2, 3, 12, 13, 14]
    assert w.stats.records_written == 7 and w.stats.records_dropped == 8
    d = read_log(path)
    assert not d.truncated and d.bad_messages == 0
    assert [o.duration_ms for o in d.dropouts] == [8]  # t=4 ms .. t=12 ms
    check_pyulog(path, 7)


def test_queue_full_drops_counts_and_marks_gap(tmp_path: Path) -> None:
    path = tmp_path / "q.ulg"
    ff = FlakyFile(path)
    ff.gate.clear()  # the writer thread will block in its first write
    w = AsyncLogWriter(path, 0, queue_len=20, opener=lambda p: ff)
    assert ff.entered.wait(10), "writer thread never wrote"
    w.add_format("t", FIELDS)
    w.end_definitions()
    tid = w.add_logged("t")  # 3 control items in the queue
    put(w, tid, range(0, 100))  # 17 fit, 83 dropped, all without blocking
    assert w.stats.records_dropped == 83
    assert w.stats.queue_high_water == 20
    ff.gate.set()
    deadline = time.monotonic() + 10
    while w.stats.queued and time.monotonic() < deadline:
        time.sleep(0.005)
    put(w, tid, range(100, 105))  # the first of these carries the gap
    w.close()
    s = w.stats
    assert s.records_written == 22 and s.dropouts == 1 and s.io_errors == 0
    assert ks_in(path) == list(range(17)) + list(range(100, 105))
    d = read_log(path)
    assert [(o.timestamp_us, o.duration_ms) for o in d.dropouts] == [(16_000, 83)]
    check_pyulog(path, 22)


def test_threaded_disk_full_then_recovery(tmp_path: Path) -> None:
    path = tmp_path / "thr.ulg"
    w, ff, tid = make(path, flush_period_ns=5_000_000)
    put(w, tid, range(0, 10))
    deadline = time.monotonic() + 10
    while w.stats.records_written < 10 and time.monotonic() < deadline:
        time.sleep(0.005)
    ff.full = True
    k = 10
    while w.stats.io_errors < 3 and time.monotonic() < deadline:
        put(w, tid, range(k, k + 5))
        k += 5
        time.sleep(0.005)
    assert w.stats.io_errors >= 3
    ff.full = False
    put(w, tid, range(1000, 1010))
    w.close()
    s = w.stats
    got = ks_in(path)
    assert got[:10] == list(range(10)) and got[-10:] == list(range(1000, 1010))
    assert s.records_written == len(got)
    assert s.records_dropped == (k - 10) - (len(got) - 20) > 0
    assert s.dropouts >= 1 and len(read_log(path).dropouts) == s.dropouts
    check_pyulog(path, len(got))


def test_bad_records_and_use_after_close_never_raise(tmp_path: Path) -> None:
    path = tmp_path / "bad.ulg"
    w, _, tid = make(path, threaded=False)
    w.data(tid, (1, 2.0))  # wrong arity: caught in the writer, counted
    w.data(tid, ("x", 2.0, 3))
    w.data(tid + 5, (1, 2.0, 3))  # unknown msg_id
    w.log_string(99, 5, "bad level")
    w.data(tid, (7, 1.0, 7))
    w.pump()
    w.close()
    w.close()  # idempotent
    w.data(tid, (8, 1.0, 8))  # after close: counted as dropped
    assert w.stats.records_invalid == 4 and w.stats.records_written == 1
    assert w.stats.records_dropped == 1
    assert ks_in(path) == [7]
    with pytest.raises(RuntimeError):
        w.add_logged("t")


def test_sync_markers_written(tmp_path: Path) -> None:
    path = tmp_path / "sync.ulg"
    w, _, tid = make(path, threaded=False, sync_period_ns=0)
    for i in range(3):
        put(w, tid, range(10 * i, 10 * i + 10))
        w.pump()
    w.close()
    d = read_log(path)
    assert d.sync_count >= 3
    np.testing.assert_array_equal(d.topic("t").data["k"], np.arange(30))
    check_pyulog(path, 30)


def test_sync_markers_follow_log_time_not_the_wall_clock(tmp_path: Path) -> None:
    """A lockstep simulation writes 5.999 s of log time in a few milliseconds of wall time:
    it still gets one sync marker per second of log time, and the same bytes every run."""
    files = []
    for run in range(2):
        path = tmp_path / f"log{run}.ulg"
        w, _, tid = make(path, threaded=False, sync_period_ns=1_000_000_000)
        put(w, tid, range(6000))  # 1 ms apart: 0 .. 5.999 s
        w.pump()
        w.close()
        files.append(path.read_bytes())
        assert read_log(path).sync_count == 5
    assert files[0] == files[1]


def test_strings_from_another_thread_are_logged_while_the_producer_writes(
        tmp_path: Path) -> None:
    """The stall guard logs from its own thread while the cycle's thread keeps writing: its
    strings all arrive, with their own stamps, and no record of the producer is lost."""
    path = tmp_path / "side.ulg"
    w, _, tid = make(path, flush_period_ns=1_000_000)
    stop = threading.Event()

    def guard() -> None:
        for i in range(50):
            w.log_string_from_thread(3, 1000 * i, f"guard {i}")
        stop.set()

    t = threading.Thread(target=guard)
    t.start()
    k = 0
    while not stop.is_set() or k < 2000:
        w.data(tid, (1000 * k, 0.5 * k, k))
        k += 1
    t.join()
    w.close()
    w.log_string_from_thread(3, 0, "after close")  # dropped, counted, no exception
    assert w.stats.records_dropped == 1
    d = read_log(path)
    assert [s.text for s in d.strings] == [f"guard {i}" for i in range(50)]
    assert [s.timestamp_us for s in d.strings] == [1000 * i for i in range(50)]
    assert all(s.level == 3 for s in d.strings)
    assert ks_in(path) == list(range(k))
