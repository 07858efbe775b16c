"""The flight log writer the control cycle uses: records queued, packed and written on a thread.

``AsyncLogWriter.data``/``log_string`` only append to a bounded deque; a writer thread packs
(with ``firmware.ulog_encoder.ULogWriter``) and writes, so the cycle never blocks on the disk.
The writer adds sync markers, marks lost spans with dropout messages and survives disk errors.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from firmware.ulog_encoder import ULogFormatError, ULogWriter, validate_format

log = logging.getLogger(__name__)


class _Sink:
    """Collects whole messages in memory for the async writer thread."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, b: bytes) -> int:
        self.chunks.append(bytes(b))
        return len(b)

    def take(self) -> list[bytes]:
        out, self.chunks = self.chunks, []
        return out


class WritableFile(Protocol):
    """What the async writer needs of a file; raw files may return short counts."""

    def write(self, b: bytes | memoryview, /) -> int | None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True, frozen=True)
class LogStats:
    records_written: int  # data records and logged strings that reached the file
    records_dropped: int  # lost to a full queue, an I/O error, or logged after close()
    io_errors: int  # failed write/flush/fsync calls
    bytes_written: int
    dropouts: int  # 'O' messages written
    records_invalid: int  # records the writer thread could not pack (wrong arity/type)
    queue_high_water: int
    queued: int  # records and control items waiting for the writer thread


# Queue item kinds besides a data record's msg_id (>= 0).
_K_STRING = -1
_K_CONTROL = -2
_K_GAP = -3
# Pending-message tags besides a record's timestamp (>= 0); None marks a message never dropped.
_TS_DROPOUT_IO = -1  # covers records lost to a failed write
_TS_DROPOUT_QUEUE = -3  # covers records dropped by the producer on a full queue
_TS_SYNC = -2
_DROPOUT_MSG_LEN = 5
_SIDE_LEN = 256


def _open_raw(path: Path) -> WritableFile:
    # Unbuffered, so a short write on a full disk is visible and no data waits in user space.
    return open(path, "wb", buffering=0)


class AsyncLogWriter:
    """Non-blocking ULog logger for the control cycle.

    Definitions (``add_format``, ``info``, ``param``, ``end_definitions``) and ``add_logged``
    are validated in the caller's thread and queued, never dropped. ``data`` and
    ``log_string`` only append to a bounded deque; when it is full the record is dropped and
    counted, and a dropout message covering the gap precedes the next record. The writer
    thread drains, packs and writes every ``flush_period_ns`` (a SIGKILL loses at most about
    that much) and adds a sync message every ``sync_period_ns`` of log time (the records'
    stamps, not the wall clock: a fast simulation gets one a second of its flight). Write
    errors (disk full) are counted and logged, never raised; a message cut by a short write
    is completed first when writes succeed again, so the file stays parseable, and a dropout
    marks the lost span.
    Safe for one producer thread plus any thread calling ``stats``; other threads log strings
    through ``log_string_from_thread`` only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        start_us: int,
        *,
        queue_len: int = 20_000,
        flush_period_ns: int = 50_000_000,
        sync_period_ns: int = 1_000_000_000,
        max_batch: int = 1_000,  # ~0.6 ms of packing: bounds how long the GIL is held
        opener: Callable[[Path], WritableFile] = _open_raw,
        threaded: bool = True,
    ) -> None:
        if not 0 < flush_period_ns <= 100_000_000:
            raise ValueError("flush_period_ns must be in (0, 100 ms]")
        if queue_len < 1 or max_batch < 1:
            raise ValueError("queue_len and max_batch must be >= 1")
        self.path = Path(path)
        self._file = opener(self.path)
        self._sink = _Sink()
        self._ulog = ULogWriter(self._sink, start_us)
        self._q: collections.deque[tuple[int, Any]] = collections.deque()
        # Logged strings from threads other than the producer (the stall guard): a deque of
        # its own, since data()'s bookkeeping is the producer's alone; append and popleft
        # are atomic. Rare messages: bounded only against a runaway (oldest lost first).
        self._side: collections.deque[tuple[int, int, str]] = collections.deque(
            maxlen=_SIDE_LEN)
        self._maxlen = queue_len
        self._flush_period_s = flush_period_ns / 1e9
        self._max_batch = max_batch
        # Producer-side state (only the producer thread writes these).
        self._formats: set[str] = set()
        self._defs_done = False
        self._next_id = 0
        self._q_drops = 0
        self._q_gap_start_us: int | None = None
        self._high_water = 0
        # Writer-thread state.
        # (message, ts_us or tag); starts with the file header and flag bits.
        self._pending: list[tuple[bytes, int | None]] = [(m, None) for m in self._sink.take()]
        self._tail = b""  # rest of a message cut by a short write; must be written first
        self._gap_start_us: int | None = None
        self._written = 0
        self._io_drops = 0
        self._invalid = 0
        self._io_errors = 0
        self._bytes = 0
        self._dropouts = 0
        # Sync markers go by log time (the records' own stamps), once per sync period: a fast
        # simulation gets as many as a real-time flight (one a second of its flight), and
        # where they go in a lockstep log does not depend on how fast the machine ran.
        self._sync_period_us = max(1, sync_period_ns // 1000)
        self._last_sync_us: int | None = None
        self._error_logged = False
        self._bad_ids_logged: set[int] = set()
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="ulog-writer", daemon=True)
            self._thread.start()

    # ---- producer side --------------------------------------------------------------------

    def _control(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._closed:
            raise RuntimeError("log closed")
        self._q.append((_K_CONTROL, (method, args, kwargs)))

    def add_format(self, name: str, fields: Sequence[tuple[str, str]]) -> None:
        if self._defs_done:
            raise ULogFormatError("formats belong to the definitions section")
        validate_format(name, fields)
        if name in self._formats:
            raise ULogFormatError(f"format {name} defined twice")
        self._formats.add(name)
        self._control("add_format", name, list(fields))

    def info(self, key: str, value: str | int | float) -> None:
        ULogWriter.pack_info(key, value)  # validate here, where the mistake is
        self._control("info", key, value)

    def param(self, name: str, value: int | float) -> None:
        ULogWriter.pack_param(name, value)  # validate here
        self._control("param", name, value)

    def end_definitions(self) -> None:
        self._defs_done = True
        self._control("end_definitions")

    def add_logged(self, format_name: str, multi_id: int = 0) -> int:
        if format_name not in self._formats:
            raise ULogFormatError(f"add_logged: no format {format_name!r}")
        if not 0 <= multi_id <= 255:
            raise ULogFormatError(f"multi_id {multi_id} out of 0..255")
        msg_id = self._next_id
        self._next_id += 1
        self._defs_done = True
        self._control("add_logged", format_name, multi_id, msg_id=msg_id)
        return msg_id

    def data(self, msg_id: int, values: tuple[Any, ...]) -> None:
        """Queue one record (timestamp in us first). Never blocks, packs or raises."""
        q = self._q
        n = len(q)
        if n < self._maxlen:
            gap = self._q_gap_start_us
            if gap is None:
                q.append((msg_id, values))
            else:  # one append, so the writer sees the gap and the record that ends it together
                q.append((_K_GAP, (gap, msg_id, values)))
                self._q_gap_start_us = None
            if n >= self._high_water:
                self._high_water = n + 1
        else:
            self._q_drops += 1
            if self._q_gap_start_us is None:
                try:
                    self._q_gap_start_us = int(values[0])
                except (TypeError, ValueError, IndexError):
                    self._q_gap_start_us = 0

    def log_string(self, level: int, timestamp_us: int, text: str) -> None:
        """Queue a logged string (syslog level 0..7). Never blocks or raises."""
        self._defs_done = True  # an 'L' message starts the data section
        self.data(_K_STRING, (timestamp_us, level, text))

    def log_string_from_thread(self, level: int, timestamp_us: int, text: str) -> None:
        """``log_string`` for any thread but the producer's (written at the next flush, the
        stamp tells when). Never blocks or raises; after ``close`` it counts as dropped."""
        if self._closed:
            self._q_drops += 1  # the producer is done by then: no race on the count
            return
        self._side.append((timestamp_us, level, text))

    @property
    def stats(self) -> LogStats:
        return LogStats(
            records_written=self._written,
            records_dropped=self._q_drops + self._io_drops,
            io_errors=self._io_errors,
            bytes_written=self._bytes,
            dropouts=self._dropouts,
            records_invalid=self._invalid,
            queue_high_water=self._high_water,
            queued=len(self._q),
        )

    def close(self) -> None:
        """Drain the queue, write, fsync, close the file, join the thread. Never raises on I/O."""
        if self._closed:
            return
        self._closed = True
        self._maxlen = 0  # from now on data() counts drops instead of queueing
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        else:
            self._drain()
        try:
            self._file.flush()
            fileno = getattr(self._file, "fileno", None)
            if fileno is not None:
                os.fsync(fileno())
        except (OSError, ValueError) as exc:
            self._io_errors += 1
            log.error("flight log %s: fsync failed: %s", self.path, exc)
        try:
            self._file.close()
        except OSError as exc:
            self._io_errors += 1
            log.error("flight log %s: close failed: %s", self.path, exc)
        s = self.stats
        log.info("flight log %s closed: %d records, %d dropped, %d bytes, %d I/O errors",
                 self.path, s.records_written, s.records_dropped, s.bytes_written, s.io_errors)

    def __enter__(self) -> AsyncLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writer thread --------------------------------------------------------------------

    def pump(self) -> None:
        """One writer cycle in the caller's thread; only for ``threaded=False`` (lockstep
        simulation, tests), where it makes the file's contents deterministic."""
        if self._thread is not None:
            raise RuntimeError("pump() is for threaded=False writers")
        self._cycle()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_period_s):
            self._cycle()
        self._drain()

    def _drain(self) -> None:
        # Everything queued before close() (the producer has stopped), then one more try.
        while self._q:
            self._cycle()
        self._cycle()

    def _cycle(self) -> None:
        try:
            self._pack_batch()
            self._write_pending()
        except Exception:  # the logger must outlive any one bad record
            log.exception("flight log writer: unexpected error")

    def _pack_batch(self) -> None:
        q, ulog, pending = self._q, self._ulog, self._pending
        side = self._side
        while side and not ulog.in_definitions:  # an 'L' among definitions would end them
            packed = self._pack_string(side.popleft())
            if packed[1] is not None:
                pending.append(packed)
        for _ in range(min(len(q), self._max_batch)):
            kind, arg = q.popleft()
            if kind == _K_GAP:
                gap_start_us, kind, arg = arg
                self._queue_gap_dropout(gap_start_us, arg)
            if kind >= 0:
                try:
                    msg = ulog.pack_data(kind, arg)
                    ts = int(arg[0])
                except (ULogFormatError, TypeError, ValueError, AttributeError) as exc:
                    self._invalid += 1
                    if kind not in self._bad_ids_logged:
                        self._bad_ids_logged.add(kind)
                        log.error("flight log: bad record for msg_id %d: %s", kind, exc)
                    continue
                pending.append((msg, ts))
                self._sync_after(ts)
            elif kind == _K_STRING:
                packed = self._pack_string(arg)
                if packed[1] is not None:
                    pending.append(packed)
            else:
                method, args, kwargs = arg
                try:
                    getattr(ulog, method)(*args, **kwargs)
                except ULogFormatError as exc:  # validated by the caller; should not happen
                    log.error("flight log: %s failed: %s", method, exc)
                pending.extend((m, None) for m in self._sink.take())

    def _pack_string(self, arg: Any) -> tuple[bytes, int | None]:
        """A logged string's message and stamp; (b"", None) and counted if it cannot be."""
        try:
            ts, level, text = arg
            return ULogWriter.pack_log_string(level, ts, str(text)), int(ts)
        except (ULogFormatError, TypeError, ValueError, struct.error):
            self._invalid += 1
            return b"", None

    def _sync_after(self, ts_us: int) -> None:
        """A sync marker after the record stamped ``ts_us`` if a sync period of log time has
        passed since the last one. Not among the definitions: pyulog would skip it there, but
        other readers may not."""
        if self._ulog.in_definitions:
            return
        if self._last_sync_us is None or ts_us < self._last_sync_us:
            self._last_sync_us = ts_us
        elif ts_us - self._last_sync_us >= self._sync_period_us:
            self._last_sync_us = ts_us
            self._pending.append((ULogWriter.pack_sync(), _TS_SYNC))

    def _queue_gap_dropout(self, gap_start_us: int, record: Any) -> None:
        """The queue was full from ``gap_start_us`` until ``record``: mark the span."""
        try:
            end_us = int(record[0])
        except (TypeError, ValueError, IndexError):
            end_us = gap_start_us
        log.warning("flight log queue was full: records dropped for %d us", end_us - gap_start_us)
        msg = ULogWriter.pack_dropout(-(-(end_us - gap_start_us) // 1000))
        self._pending.append((msg, _TS_DROPOUT_QUEUE))

    def _open_gap(self, start_us: int) -> None:
        if self._gap_start_us is None or start_us < self._gap_start_us:
            self._gap_start_us = start_us

    def _insert_dropout(self) -> None:
        """Put a dropout message before the first record written after a gap."""
        if self._gap_start_us is None:
            return
        for i, (_, ts) in enumerate(self._pending):
            if ts is not None and ts >= 0:
                duration_ms = -(-(ts - self._gap_start_us) // 1000)
                self._pending.insert(i, (ULogWriter.pack_dropout(duration_ms), _TS_DROPOUT_IO))
                return

    def _write_pending(self) -> None:
        self._insert_dropout()
        if not self._pending and not self._tail:
            return
        msgs = self._pending
        self._pending = []
        buf = self._tail + b"".join(m for m, _ in msgs)
        done = 0
        error: OSError | None = None
        try:
            while done < len(buf):
                n = self._file.write(memoryview(buf)[done:])
                if n is None:  # buffered file objects take everything or raise
                    n = len(buf) - done
                if n <= 0:
                    raise OSError(errno.EIO, "write returned 0")
                done += n
            self._file.flush()
        except OSError as exc:
            error = exc
        self._bytes += done
        # Account for each message by how much of it reached the file.
        pos = len(self._tail)
        if done < pos:
            self._tail = self._tail[done:]
        else:
            self._tail = b""
        for msg, ts in msgs:
            end = pos + len(msg)
            if done > pos:
                if done < end:  # cut mid-message: the rest must come first next time
                    self._tail = msg[done - pos :]
                self._count_written(msg, ts)
            elif ts is None or ts == _TS_DROPOUT_QUEUE:
                self._pending.append((msg, ts))  # definitions, subscriptions: keep them
            elif ts >= 0:
                self._io_drops += 1
                self._open_gap(ts)
            pos = end
        if error is not None:
            self._io_errors += 1
            if not self._error_logged:
                self._error_logged = True
                log.error("flight log %s: write failed (%s); dropping records until it "
                          "recovers", self.path, error)
        elif self._error_logged:
            self._error_logged = False
            log.warning("flight log %s: writing again", self.path)

    def _count_written(self, msg: bytes, ts: int | None) -> None:
        if ts is None or ts == _TS_SYNC:
            return
        if ts in (_TS_DROPOUT_IO, _TS_DROPOUT_QUEUE):
            self._dropouts += len(msg) // _DROPOUT_MSG_LEN
            if ts == _TS_DROPOUT_IO:
                self._gap_start_us = None
        else:
            self._written += 1
