"""ULog message encoding: PX4's binary log format, so pyulog, PlotJuggler and Flight Review
open our logs.

Format facts (PX4 "ULog File Format" spec): a 16-byte header (magic ``ULog`` 01 12 35, version
byte, uint64 start time in us), then messages, each ``uint16 size, uint8 type, payload`` with
``size`` excluding the 3-byte header, all little-endian and unaligned. Definitions come first
(flag bits 'B' right after the header, formats 'F', info 'I', parameters 'P'); the data section
starts at the first 'A'/'L'. A topic's format must begin with ``uint64_t timestamp``.
ULog's unit is the microsecond: times here are host monotonic ``t_ns // 1000``.

``ULogWriter`` packs messages and writes each one whole to a stream, synchronously; the
control cycle uses ``firmware.ulog_writer.AsyncLogWriter``, which packs with it on a thread.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol

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


# The spec's character sets: a message, info or parameter name ``a-zA-Z0-9_-/``, a field name
# ``a-zA-Z0-9_``. Readers split on other characters (``.`` nests a field in pyulog's names).
_NAME = re.compile(r"[a-zA-Z0-9_\-/]+")
_FIELD_NAME = re.compile(r"[a-zA-Z0-9_]+")


def _check_name(name: str, what: str, pattern: re.Pattern[str] = _NAME) -> None:
    if not pattern.fullmatch(name):
        raise ULogFormatError(f"bad {what} name {name!r} (the spec allows {pattern.pattern})")


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
        _check_name(fname, "field", _FIELD_NAME)
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
