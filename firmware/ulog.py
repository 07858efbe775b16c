"""Flight logs in ULog, PX4's binary log format, so pyulog, PlotJuggler and Flight Review open them.

Format facts (PX4 "ULog File Format" spec): a 16-byte header (magic ``ULog`` 01 12 35, version
byte, uint64 start time in us), then messages, each ``uint16 size, uint8 type, payload`` with
``size`` excluding the 3-byte header, all little-endian and unaligned. Definitions come first
(flag bits 'B' right after the header, formats 'F', info 'I', parameters 'P'); the data section
starts at the first 'A'/'L'. A topic's format must begin with ``uint64_t timestamp``.
ULog's unit is the microsecond: times here are host monotonic ``t_ns // 1000``.

``ULogWriter`` writes synchronously to a stream. ``AsyncLogWriter`` is what the control cycle
uses: its ``data``/``log_string`` only append to a bounded deque, and a writer thread packs
and writes, so the cycle never blocks on the disk.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAGIC = b"ULog\x01\x12\x35"
FILE_VERSION = 1
SYNC_MAGIC = bytes((0x2F, 0x73, 0x13, 0x20, 0x25, 0x0C, 0xBB, 0x12))
MAX_PAYLOAD = 0xFFFF  # uint16 message size

# type name -> (struct code, size in bytes)
BASIC_TYPES: dict[str, tuple[str, int]] = {
    "int8_t": ("b", 1),
    "uint8_t": ("B", 1),
    "int16_t": ("h", 2),
    "uint16_t": ("H", 2),
    "int32_t": ("i", 4),
    "uint32_t": ("I", 4),
    "int64_t": ("q", 8),
    "uint64_t": ("Q", 8),
    "float": ("f", 4),
    "double": ("d", 8),
    "bool": ("?", 1),
    "char": ("c", 1),
}

MSG_FLAG_BITS = ord("B")
MSG_FORMAT = ord("F")
MSG_INFO = ord("I")
MSG_INFO_MULTIPLE = ord("M")
MSG_PARAMETER = ord("P")
MSG_PARAMETER_DEFAULT = ord("Q")
MSG_ADD_LOGGED = ord("A")
MSG_REMOVE_LOGGED = ord("R")
MSG_DATA = ord("D")
MSG_LOGGING = ord("L")
MSG_LOGGING_TAGGED = ord("C")
MSG_SYNC = ord("S")
MSG_DROPOUT = ord("O")

# Syslog severities; ULog stores them as the ASCII digits '0'..'7'.
EMERG, ALERT, CRIT, ERR, WARNING, NOTICE, INFO, DEBUG = range(8)

_HDR = struct.Struct("<HB")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class ULogFormatError(ValueError):
    """A format, name or value the ULog writer cannot represent."""


class ByteStream(Protocol):
    """Where ``ULogWriter`` writes (a binary file, ``io.BytesIO``, ...)."""

    def write(self, b: bytes, /) -> Any: ...


def split_type(type_str: str) -> tuple[str, int]:
    """``"float[3]"`` -> ``("float", 3)``; ``"float"`` -> ``("float", 0)``."""
    if type_str.endswith("]") and "[" in type_str:
        base, _, count = type_str[:-1].partition("[")
        if not count.isdigit() or int(count) < 1:
            raise ULogFormatError(f"bad array size in type {type_str!r}")
        return base, int(count)
    return type_str, 0


def _check_name(name: str, what: str) -> None:
    if not name or any(c in name for c in " :;[]\0") or not name.isascii():
        raise ULogFormatError(f"bad {what} name {name!r}")


def _message(msg_type: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ULogFormatError(f"message {chr(msg_type)!r} too long ({len(payload)} bytes)")
    return _HDR.pack(len(payload), msg_type) + payload


class _Packer:
    """One subscription's pre-compiled 'D' message: header, msg_id and payload in one pack."""

    __slots__ = ("converters", "msg_id", "n_values", "struct")

    def __init__(self, msg_id: int, fields: Sequence[tuple[str, str]]) -> None:
        codes: list[str] = []
        converters: list[Callable[[Any], list[Any]] | None] = []
        size = 0
        fields = list(fields)
        # PX4 omits trailing padding from 'D' messages and pyulog rejects records that have it.
        while fields and fields[-1][1].startswith("_padding"):
            fields.pop()
        for type_str, name in fields:
            base, count = split_type(type_str)
            code, width = BASIC_TYPES[base]
            n = max(count, 1)
            size += width * n
            if name.startswith("_padding"):
                codes.append(f"{width * n}x")  # zero bytes; no value expected
                continue
            if base == "char":
                codes.append(f"{n}s")
                converters.append(_as_bytes)
            elif count:
                codes.append(f"{count}{code}")
                converters.append(_as_list(count, name))
            else:
                codes.append(code)
                converters.append(None)
        self.msg_id = msg_id
        self.n_values = len(converters)
        # None when every field is a scalar: values go to pack() untouched (the common case).
        self.converters = converters if any(c is not None for c in converters) else None
        payload = 2 + size
        if payload > MAX_PAYLOAD:
            raise ULogFormatError(f"record of {size} bytes is too long for ULog")
        self.struct = struct.Struct("<HBH" + "".join(codes))

    def pack(self, values: Sequence[Any]) -> bytes:
        if len(values) != self.n_values:
            raise ULogFormatError(f"msg_id {self.msg_id}: {len(values)} values, "
                                  f"format has {self.n_values}")
        size = self.struct.size - 3
        if self.converters is None:
            return self.struct.pack(size, MSG_DATA, self.msg_id, *values)
        args: list[Any] = [size, MSG_DATA, self.msg_id]
        for conv, v in zip(self.converters, values, strict=True):
            if conv is None:
                args.append(v)
            else:
                args.extend(conv(v))
        return self.struct.pack(*args)


def _as_bytes(v: Any) -> list[Any]:
    return [v.encode() if isinstance(v, str) else bytes(v)]


def _as_list(count: int, name: str) -> Callable[[Any], list[Any]]:
    def conv(v: Any) -> list[Any]:
        out = list(v)
        if len(out) != count:
            raise ULogFormatError(f"field {name}: {len(out)} values, expected {count}")
        return out

    return conv


def validate_format(name: str, fields: Sequence[tuple[str, str]]) -> None:
    """Raise ``ULogFormatError`` unless ``fields`` make a loggable topic format."""
    _check_name(name, "format")
    if not fields or tuple(fields[0]) != ("uint64_t", "timestamp"):
        raise ULogFormatError(f"format {name}: first field must be ('uint64_t', 'timestamp')")
    seen: set[str] = set()
    for type_str, fname in fields:
        _check_name(fname, "field")
        base, _ = split_type(type_str)
        if base not in BASIC_TYPES:
            raise ULogFormatError(f"format {name}: unknown type {type_str!r} of {fname}")
        if fname in seen:
            raise ULogFormatError(f"format {name}: duplicate field {fname}")
        seen.add(fname)


class ULogWriter:
    """Writes a ULog stream synchronously. Every ``stream.write`` call is one whole message."""

    def __init__(self, stream: ByteStream, start_us: int) -> None:
        self._stream = stream
        self._formats: dict[str, list[tuple[str, str]]] = {}
        self._packers: dict[int, _Packer] = {}
        self._next_id = 0
        self._definitions = True
        stream.write(MAGIC + bytes((FILE_VERSION,)) + struct.pack("<Q", start_us))
        # Flag bits must follow the header in version 1 files; all zero: no appended data.
        stream.write(_message(MSG_FLAG_BITS, bytes(16) + struct.pack("<3Q", 0, 0, 0)))

    @property
    def in_definitions(self) -> bool:
        return self._definitions

    def add_format(self, name: str, fields: Sequence[tuple[str, str]]) -> None:
        if not self._definitions:
            raise ULogFormatError("formats belong to the definitions section")
        validate_format(name, fields)
        if name in self._formats:
            raise ULogFormatError(f"format {name} defined twice")
        self._formats[name] = [(t, n) for t, n in fields]
        text = name + ":" + "".join(f"{t} {n};" for t, n in fields)
        self._stream.write(_message(MSG_FORMAT, text.encode()))

    def info(self, key: str, value: str | int | float) -> None:
        """Info message; allowed in both sections (a later one with the same key wins)."""
        self._stream.write(self.pack_info(key, value))

    @staticmethod
    def pack_info(key: str, value: str | int | float) -> bytes:
        _check_name(key, "info key")
        if isinstance(value, str):
            raw = value.encode()
            type_key = f"char[{len(raw)}] {key}"
        elif isinstance(value, bool | int):
            if _INT32_MIN <= value <= _INT32_MAX:
                type_key, raw = f"int32_t {key}", struct.pack("<i", value)
            else:
                type_key, raw = f"int64_t {key}", struct.pack("<q", value)
        elif isinstance(value, float):
            type_key, raw = f"double {key}", struct.pack("<d", value)
        else:
            raise ULogFormatError(f"info {key}: unsupported value type {type(value).__name__}")
        tk = type_key.encode()
        return _message(MSG_INFO, bytes((len(tk),)) + tk + raw)

    def param(self, name: str, value: int | float) -> None:
        """Parameter (int32_t or float); in the data section it records a change."""
        self._stream.write(self.pack_param(name, value))

    @staticmethod
    def pack_param(name: str, value: int | float) -> bytes:
        _check_name(name, "parameter")
        if isinstance(value, bool | int):
            if not _INT32_MIN <= value <= _INT32_MAX:
                raise ULogFormatError(f"parameter {name}: {value} does not fit int32_t")
            type_key, raw = f"int32_t {name}", struct.pack("<i", value)
        elif isinstance(value, float):
            type_key, raw = f"float {name}", struct.pack("<f", value)
        else:
            raise ULogFormatError(f"parameter {name}: unsupported type {type(value).__name__}")
        tk = type_key.encode()
        return _message(MSG_PARAMETER, bytes((len(tk),)) + tk + raw)

    def end_definitions(self) -> None:
        """Nothing is written: the data section starts with the first 'A' or 'L' message."""
        self._definitions = False

    def add_logged(self, format_name: str, multi_id: int = 0, *, msg_id: int | None = None) -> int:
        """Subscribe a topic; returns its msg_id. ``msg_id`` lets a wrapper pre-allocate ids."""
        if format_name not in self._formats:
            raise ULogFormatError(f"add_logged: no format {format_name!r}")
        if not 0 <= multi_id <= 255:
            raise ULogFormatError(f"multi_id {multi_id} out of 0..255")
        if msg_id is None:
            msg_id = self._next_id
        if msg_id in self._packers or not 0 <= msg_id <= 0xFFFF:
            raise ULogFormatError(f"msg_id {msg_id} in use or out of range")
        self._next_id = max(self._next_id, msg_id + 1)
        self._definitions = False
        self._packers[msg_id] = _Packer(msg_id, self._formats[format_name])
        payload = struct.pack("<BH", multi_id, msg_id) + format_name.encode()
        self._stream.write(_message(MSG_ADD_LOGGED, payload))
        return msg_id

    def remove_logged(self, msg_id: int) -> None:
        self._packers.pop(msg_id)
        self._stream.write(_message(MSG_REMOVE_LOGGED, struct.pack("<H", msg_id)))

    def pack_data(self, msg_id: int, values: Sequence[Any]) -> bytes:
        try:
            packer = self._packers[msg_id]
        except KeyError:
            raise ULogFormatError(f"data: msg_id {msg_id} not subscribed") from None
        try:
            return packer.pack(values)
        except struct.error as exc:
            raise ULogFormatError(f"data: msg_id {msg_id}: {exc}") from None

    def data(self, msg_id: int, values: Sequence[Any]) -> None:
        """One record: ``values`` in field order, timestamp (us) first, arrays as sequences,
        char[N] as str or bytes, no values for _padding fields."""
        self._stream.write(self.pack_data(msg_id, values))

    @staticmethod
    def pack_log_string(level: int, timestamp_us: int, text: str) -> bytes:
        if not 0 <= level <= 7:
            raise ULogFormatError(f"log level {level} out of 0..7")
        raw = text.encode(errors="replace")[: MAX_PAYLOAD - 9]
        return _message(MSG_LOGGING, struct.pack("<BQ", ord("0") + level, timestamp_us) + raw)

    def log_string(self, level: int, timestamp_us: int, text: str) -> None:
        self._definitions = False
        self._stream.write(self.pack_log_string(level, timestamp_us, text))

    @staticmethod
    def pack_sync() -> bytes:
        return _message(MSG_SYNC, SYNC_MAGIC)

    def sync(self) -> None:
        """Sync marker: lets a reader resynchronise after corruption."""
        self._stream.write(self.pack_sync())

    @staticmethod
    def pack_dropout(duration_ms: int) -> bytes:
        """One or more 'O' messages (each holds at most 65535 ms)."""
        duration_ms = max(1, duration_ms)
        out = bytearray()
        while duration_ms > 0:
            chunk = min(duration_ms, 0xFFFF)
            out += _message(MSG_DROPOUT, struct.pack("<H", chunk))
            duration_ms -= chunk
        return bytes(out)

    def dropout(self, duration_ms: int) -> None:
        self._stream.write(self.pack_dropout(duration_ms))


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
    that much) and adds a sync message every ``sync_period_ns``. Write errors (disk full) are
    counted and logged, never raised; a message cut by a short write is completed first when
    writes succeed again, so the file stays parseable, and a dropout marks the lost span.
    Safe for one producer thread plus any thread calling ``stats``.
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
        self._maxlen = queue_len
        self._flush_period_s = flush_period_ns / 1e9
        self._sync_period_ns = sync_period_ns
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
        self._last_sync_ns = time.monotonic_ns()
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
            now = time.monotonic_ns()
            # Not among the definitions: pyulog would skip it there, but other readers may not.
            if now - self._last_sync_ns >= self._sync_period_ns and not self._ulog.in_definitions:
                self._last_sync_ns = now
                self._pending.append((ULogWriter.pack_sync(), _TS_SYNC))
            self._write_pending()
        except Exception:  # the logger must outlive any one bad record
            log.exception("flight log writer: unexpected error")

    def _pack_batch(self) -> None:
        q, ulog, pending = self._q, self._ulog, self._pending
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
            elif kind == _K_STRING:
                try:
                    ts, level, text = arg
                    msg = ulog.pack_log_string(level, ts, str(text))
                except (ULogFormatError, TypeError, ValueError, struct.error):
                    self._invalid += 1
                    continue
                pending.append((msg, int(ts)))
            else:
                method, args, kwargs = arg
                try:
                    getattr(ulog, method)(*args, **kwargs)
                except ULogFormatError as exc:  # validated by the caller; should not happen
                    log.error("flight log: %s failed: %s", method, exc)
                pending.extend((m, None) for m in self._sink.take())

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
