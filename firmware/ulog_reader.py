"""Read ULog files (ours and PX4's) into numpy, without pyulog, for replay and log tools.

Handles the message types B, F, I, M, P, A, R, D, L, C, S, O; skips unknown types by size, as
the spec asks. Nested formats become nested numpy dtypes; ``_padding`` fields are left out.
A truncated last message (a log cut by SIGKILL or power loss) ends the read quietly with
``truncated`` set; a message that cannot be decoded is counted in ``bad_messages``. A file
that is no ULog, or whose definitions cannot be trusted (a format that does not parse, a
logged topic without a ``uint64_t timestamp``), is refused with ``ULogError``: every topic
handed out is then a well-formed table. Not done: resynchronising on sync markers inside a
corrupt file.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware.ulog import (
    BASIC_TYPES,
    MAGIC,
    MSG_ADD_LOGGED,
    MSG_DATA,
    MSG_DROPOUT,
    MSG_FLAG_BITS,
    MSG_FORMAT,
    MSG_INFO,
    MSG_INFO_MULTIPLE,
    MSG_LOGGING,
    MSG_LOGGING_TAGGED,
    MSG_PARAMETER,
    MSG_REMOVE_LOGGED,
    MSG_SYNC,
)

log = logging.getLogger(__name__)

_NP_TYPES: dict[str, str] = {
    "int8_t": "i1",
    "uint8_t": "u1",
    "int16_t": "<i2",
    "uint16_t": "<u2",
    "int32_t": "<i4",
    "uint32_t": "<u4",
    "int64_t": "<i8",
    "uint64_t": "<u8",
    "float": "<f4",
    "double": "<f8",
    "bool": "?",
}

_HDR = struct.Struct("<HB")
_U16 = struct.Struct("<H")
_U64 = struct.Struct("<Q")
_FLAG_DATA_APPENDED = 0x01  # incompat_flags[0] bit 0 (spec: "Flag Bits Message")
_HEADER_BYTES = 16  # magic (7), version (1), start timestamp (8)
# A log is read whole, and at the peak it is in memory about three times (the file, the
# records cut out of it, the arrays): 1 GiB is an hour of our 500 Hz flight log and still
# fits a 4 GB flight computer. A larger file is refused, not left to the OOM killer.
MAX_LOG_BYTES = 1 << 30
# A record is one message's payload less its 2-byte msg_id.
_MAX_RECORD = 0xFFFF - 2
_MAX_NESTING = 16  # PX4's deepest nested message is 3 levels
# Names as our writer allows them (PX4's are C identifiers), printable ASCII only.
_NAME = re.compile(r"[!-9<-Z\\^-~]+")
_FIELD = re.compile(r"([!-9<-Z\\^-~]+?)(?:\[([0-9]{1,5})\])? ([!-9<-Z\\^-~]+)")


class ULogError(ValueError):
    """Not a ULog file, or one this reader must refuse (unknown incompatible flags, malformed
    definitions, not a regular file, too large)."""


@dataclass(slots=True)
class FieldDef:
    type_name: str  # base type: a basic type or another format's name
    array_size: int  # 0 for a scalar
    name: str


@dataclass(slots=True)
class FormatDef:
    name: str
    fields: list[FieldDef]


@dataclass(slots=True)
class Topic:
    name: str
    multi_id: int
    data: npt.NDArray[np.void]  # structured: field name -> column (arrays as (n, k) columns)

    @property
    def timestamps_us(self) -> npt.NDArray[np.uint64]:
        ts: npt.NDArray[np.uint64] = self.data["timestamp"]
        return ts

    def __len__(self) -> int:
        return len(self.data)

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Flat columns named as pyulog names them (``accel[0]``, ``esc[1].rpm``); a char[N]
        field stays one column of bytes."""
        out: dict[str, npt.NDArray[Any]] = {}
        _flatten(self.data, "", out)
        return out


def _flatten(arr: npt.NDArray[Any], prefix: str, out: dict[str, npt.NDArray[Any]]) -> None:
    names = arr.dtype.names
    if names is None:
        if arr.ndim > 1 and arr.dtype.kind != "S":
            for i in range(arr.shape[1]):
                _flatten(arr[:, i], f"{prefix}[{i}]", out)
        else:
            out[prefix] = arr
        return
    for name in names:
        sub = arr[name]
        key = f"{prefix}.{name}" if prefix else name
        if sub.ndim > 1:
            for i in range(sub.shape[1]):
                _flatten(sub[:, i], f"{key}[{i}]", out)
        else:
            _flatten(sub, key, out)


@dataclass(slots=True)
class LoggedString:
    level: int  # syslog severity 0 (emergency) .. 7 (debug)
    timestamp_us: int
    text: str
    tag: int | None = None  # 'C' (tagged) messages only


@dataclass(slots=True)
class Dropout:
    timestamp_us: int  # newest record timestamp seen before the dropout message
    duration_ms: int


@dataclass
class ULogData:
    version: int
    start_us: int
    formats: dict[str, FormatDef] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    info_multiple: dict[str, list[list[Any]]] = field(default_factory=dict)
    params: dict[str, int | float] = field(default_factory=dict)
    changed_params: list[tuple[int, str, int | float]] = field(default_factory=list)
    topics: dict[tuple[str, int], Topic] = field(default_factory=dict)
    strings: list[LoggedString] = field(default_factory=list)
    dropouts: list[Dropout] = field(default_factory=list)
    sync_count: int = 0
    truncated: bool = False  # the file ended inside a message
    bad_messages: int = 0  # data for unknown msg_ids, undecodable messages
    last_timestamp_us: int = 0

    def topic(self, name: str, multi_id: int = 0) -> Topic:
        try:
            return self.topics[(name, multi_id)]
        except KeyError:
            raise KeyError(f"no topic {name!r} multi_id {multi_id} in log") from None


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _parse_format(text: str, at: int) -> FormatDef:
    """``name:type field;type field;...`` as the spec gives it; anything else is refused."""
    name, colon, body = text.partition(":")
    where = f"format message at byte {at}"
    if not colon or not _NAME.fullmatch(name):
        raise ULogError(f"{where}: bad format name {_short(name)}")
    fields: list[FieldDef] = []
    seen: set[str] = set()
    for item in body.split(";"):
        item = item.strip()
        if not item:
            continue  # the trailing ';'
        m = _FIELD.fullmatch(item)
        if m is None:
            raise ULogError(f"{where}: format {name!r}: bad field {_short(item)}")
        base, count, fname = m.group(1), m.group(2), m.group(3)
        size = int(count) if count is not None else 0
        if count is not None and not 1 <= size <= _MAX_RECORD:
            raise ULogError(f"{where}: format {name!r}: field {fname!r}: array size {size} "
                            f"out of 1..{_MAX_RECORD}")
        if fname in seen:
            raise ULogError(f"{where}: format {name!r}: field {fname!r} defined twice")
        seen.add(fname)
        fields.append(FieldDef(base, size, fname))
    if not fields:
        raise ULogError(f"{where}: format {name!r} has no fields")
    return FormatDef(name, fields)


def _dtype(
    name: str, formats: dict[str, FormatDef], cache: dict[str, np.dtype[Any]],
    outer: tuple[str, ...] = (),
) -> np.dtype[Any]:
    """Packed little-endian dtype of a format; padding fields occupy bytes but get no name.

    Refuses (``ULogError``) a nested type that is not defined, nests itself, nests too deep
    or makes a record larger than a message can hold."""
    if name in cache:
        return cache[name]
    if name in outer or len(outer) >= _MAX_NESTING:
        raise ULogError(f"format {outer[0]!r}: nested types {' > '.join(outer)} > {name} "
                        "loop or nest too deep")
    fmt = formats[name]
    names: list[str] = []
    types: list[Any] = []
    offsets: list[int] = []
    off = 0
    for f in fmt.fields:
        if f.type_name == "char":
            base: np.dtype[Any] = np.dtype(f"S{max(f.array_size, 1)}")
            count = 0
        elif f.type_name in _NP_TYPES:
            base = np.dtype(_NP_TYPES[f.type_name])
            count = f.array_size
        elif f.type_name in formats:
            base = _dtype(f.type_name, formats, cache, (*outer, name))
            count = f.array_size
        else:
            raise ULogError(f"format {name!r}: field {f.name!r} has unknown type "
                            f"{_short(f.type_name)}")
        dt = np.dtype((base, (count,))) if count else base
        if not f.name.startswith("_padding"):
            names.append(f.name)
            types.append(dt)
            offsets.append(off)
        off += dt.itemsize
        if off > _MAX_RECORD:
            raise ULogError(f"format {name!r}: a record of over {_MAX_RECORD} bytes does not "
                            "fit a message")
    result: np.dtype[Any] = np.dtype(
        {"names": names, "formats": types, "offsets": offsets, "itemsize": off}
    )
    cache[name] = result
    return result


def _topic_dtype(
    name: str, formats: dict[str, FormatDef], cache: dict[str, np.dtype[Any]]
) -> np.dtype[Any]:
    """The dtype of a logged topic: a format with a ``uint64_t timestamp`` (the spec's rule;
    every reader of a topic sorts and aligns by it)."""
    dt = _dtype(name, formats, cache)
    fields: dict[str, Any] = dict(dt.fields or {})
    ts = fields.get("timestamp")
    if ts is None or ts[0] != np.dtype("<u8"):
        raise ULogError(f"format {name!r} is logged but has no uint64_t timestamp field")
    return dt


def _split_type(type_str: str) -> tuple[str, int]:
    """``"float[3]"`` -> ``("float", 3)``; ``"float"`` -> ``("float", 0)``; ValueError if
    the array size is not a plain decimal number."""
    if type_str.endswith("]") and "[" in type_str:
        base, _, count = type_str[:-1].partition("[")
        if not (count.isascii() and count.isdigit()) or len(count) > 5:
            raise ValueError(f"bad array size in type {type_str!r}")
        return base, int(count)
    return type_str, 0


def _decode_value(type_key: str, raw: bytes) -> tuple[str, Any]:
    type_str, _, key = type_key.partition(" ")
    base, count = _split_type(type_str)
    if base == "char":
        return key, raw.decode(errors="replace").rstrip("\0")
    if base not in BASIC_TYPES:
        return key, raw
    code = BASIC_TYPES[base][0]
    n = max(count, 1)
    vals = struct.unpack_from(f"<{n}{code}", raw)
    return key, list(vals) if count else vals[0]


class _Sub:
    __slots__ = ("chunks", "dtype", "key", "ts_off")

    def __init__(self, key: tuple[str, int], dtype: np.dtype[Any]) -> None:
        self.key = key
        self.dtype = dtype
        self.chunks: list[bytes] = []
        fields: dict[str, Any] = dict(dtype.fields or {})
        self.ts_off: int = fields["timestamp"][1] if "timestamp" in fields else -1


def _check_header(head: bytes) -> None:
    """Raise ``ULogError`` unless ``head`` starts with the 16-byte ULog file header."""
    if len(head) < _HEADER_BYTES:
        raise ULogError(f"not a ULog file (too short for the {_HEADER_BYTES}-byte header: "
                        f"{len(head)} bytes)")
    if head[:7] != MAGIC:
        raise ULogError(f"not a ULog file (bad magic: starts {bytes(head[:7])!r})")


def parse_ulog(buf: bytes) -> ULogData:
    """Parse a whole ULog file held in memory."""
    _check_header(buf)
    out = ULogData(version=buf[7], start_us=_U64.unpack_from(buf, 8)[0])
    out.last_timestamp_us = out.start_us
    subs: dict[int, _Sub] = {}
    collected: dict[tuple[str, int], list[tuple[np.dtype[Any], list[bytes]]]] = {}
    cache: dict[str, np.dtype[Any]] = {}
    in_data = False

    def last_ts() -> int:
        # Newest record time so far, read lazily (only dropouts and parameter changes need
        # it): the max over each subscription's latest record, as topics are monotonic.
        for s in subs.values():
            if s.ts_off >= 0 and s.chunks and len(s.chunks[-1]) >= s.ts_off + 8:
                ts = _U64.unpack_from(s.chunks[-1], s.ts_off)[0]
                out.last_timestamp_us = max(out.last_timestamp_us, ts)
        return out.last_timestamp_us

    segments_end = [len(buf)]
    pos = _HEADER_BYTES
    end = len(buf)
    seg = 0
    while True:
        if pos + 3 > end:
            if pos < end and seg == len(segments_end) - 1:
                out.truncated = True
            if seg + 1 < len(segments_end):
                pos, seg = segments_end[seg], seg + 1
                end = segments_end[seg]
                continue
            break
        size, mtype = _HDR.unpack_from(buf, pos)
        start = pos + 3
        stop = start + size
        if stop > end:
            if seg + 1 < len(segments_end):  # appended data starts at the next offset
                pos, seg = segments_end[seg], seg + 1
                end = segments_end[seg]
                continue
            out.truncated = True
            break
        first_message = pos == _HEADER_BYTES
        pos = stop
        if mtype == MSG_DATA:  # the hot path: no copy of the payload until it is kept
            sub = subs.get(_U16.unpack_from(buf, start)[0]) if size >= 2 else None
            if sub is None:
                out.bad_messages += 1
            else:
                sub.chunks.append(buf[start + 2 : stop])
            continue
        # Every other message is decoded from its own payload, so a short one fails here
        # instead of reading the next message's bytes.
        msg = buf[start:stop]
        try:
            if mtype == MSG_ADD_LOGGED:
                in_data = True
                multi_id, msg_id = struct.unpack_from("<BH", msg)
                fname = msg[3:].decode(errors="replace")
                if fname not in out.formats:
                    out.bad_messages += 1
                    continue
                key = (fname, multi_id)
                sub = _Sub(key, _topic_dtype(fname, out.formats, cache))
                old = subs.get(msg_id)
                if old is not None:
                    last_ts()
                    collected.setdefault(old.key, []).append((old.dtype, old.chunks))
                subs[msg_id] = sub
                collected.setdefault(key, [])
            elif mtype == MSG_REMOVE_LOGGED:
                msg_id = _U16.unpack_from(msg)[0]
                last_ts()
                old = subs.pop(msg_id, None)
                if old is not None:
                    collected.setdefault(old.key, []).append((old.dtype, old.chunks))
            elif mtype in (MSG_LOGGING, MSG_LOGGING_TAGGED):
                in_data = True
                tag: int | None = None
                if mtype == MSG_LOGGING:
                    level, ts = struct.unpack_from("<BQ", msg)
                    text_at = 9
                else:
                    level, tag, ts = struct.unpack_from("<BHQ", msg)
                    text_at = 11
                # ULog stores '0'..'7'; accept raw 0..7 from other writers too.
                level = level - 0x30 if 0x30 <= level <= 0x37 else level
                text = msg[text_at:].decode(errors="replace").rstrip("\0")
                out.strings.append(LoggedString(level, ts, text, tag))
            elif mtype == MSG_SYNC:
                out.sync_count += 1
            elif mtype == MSG_DROPOUT:
                out.dropouts.append(Dropout(last_ts(), _U16.unpack_from(msg)[0]))
            elif mtype in (MSG_INFO, MSG_PARAMETER):
                klen = msg[0]
                if 1 + klen > size:
                    raise ValueError("key longer than the message")
                type_key = msg[1 : 1 + klen].decode(errors="replace")
                name, value = _decode_value(type_key, msg[1 + klen :])
                if mtype == MSG_INFO:
                    out.info[name] = value
                elif in_data:
                    out.changed_params.append((last_ts(), name, value))
                else:
                    out.params[name] = value
            elif mtype == MSG_INFO_MULTIPLE:
                continued, klen = msg[0], msg[1]
                if 2 + klen > size:
                    raise ValueError("key longer than the message")
                type_key = msg[2 : 2 + klen].decode(errors="replace")
                name, value = _decode_value(type_key, msg[2 + klen :])
                lists = out.info_multiple.setdefault(name, [])
                if continued and lists:
                    lists[-1].append(value)
                else:
                    lists.append([value])
            elif mtype == MSG_FORMAT:
                fmt = _parse_format(msg.decode(errors="replace"), start - 3)
                out.formats[fmt.name] = fmt
                cache.clear()
            elif mtype == MSG_FLAG_BITS:
                # The spec puts it first, right after the header; elsewhere (a corrupt or
                # spliced file) its offsets could send the read backwards, forever.
                if not first_message:
                    raise ValueError("flag bits message not first")
                incompat = msg[8:16]
                if incompat[0] & ~_FLAG_DATA_APPENDED or any(incompat[1:]):
                    raise ULogError("unknown incompatible flag bits set: refusing the file")
                if incompat[0] & _FLAG_DATA_APPENDED:
                    # appended data lies after this message and inside the file, in order
                    offsets = struct.unpack_from("<3Q", msg, 16)
                    ends = sorted({o for o in offsets if stop < o <= len(buf)})
                    segments_end = [*ends, len(buf)]
                    seg = 0
                    end = segments_end[0]
        except (struct.error, IndexError, KeyError, ValueError) as exc:
            if isinstance(exc, ULogError):
                raise
            out.bad_messages += 1
            log.debug("ulog: bad %r message at %d: %s", chr(mtype), start - 3, exc)
    last_ts()
    for sub in subs.values():
        collected.setdefault(sub.key, []).append((sub.dtype, sub.chunks))
    for key, parts in collected.items():
        arrays = [_to_array(dt, chunks) for dt, chunks in parts if chunks]
        if not arrays:
            continue
        data = arrays[0] if len(arrays) == 1 else _concat(arrays)
        out.topics[key] = Topic(key[0], key[1], data)
    return out


def _to_array(dt: np.dtype[Any], chunks: list[bytes]) -> npt.NDArray[Any]:
    size = dt.itemsize
    if any(len(c) != size for c in chunks):
        # Trailing padding is omitted by PX4; longer records are cut (pyulog does the same).
        chunks = [c[:size].ljust(size, b"\0") for c in chunks]
    return np.frombuffer(b"".join(chunks), dtype=dt)


def _concat(arrays: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    try:
        return np.concatenate(arrays)
    except TypeError:  # the format changed between subscriptions: keep the first layout
        first = arrays[0].dtype
        return np.concatenate([a for a in arrays if a.dtype == first])


_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe"),
               (stat.S_ISSOCK, "a socket"))


def read_ulog(path: str | os.PathLike[str], max_bytes: int = MAX_LOG_BYTES) -> ULogData:
    """Read a ULog file from disk (see ``parse_ulog``).

    Only a regular file is read (``/dev/zero`` or a pipe never ends), its header is checked
    before the rest is read, and a file over ``max_bytes`` is refused. ``OSError`` for a
    file that cannot be opened or read, ``ULogError`` for one that is no usable ULog."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except ValueError as exc:  # a NUL byte in the path
        raise ULogError(f"cannot open: {exc}") from None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = next((k for test, k in _FILE_KINDS if test(st.st_mode)), "a special file")
        raise ULogError(f"is {kind}, not a regular ULog file")
    with open(fd, "rb") as fh:
        _check_header(fh.read(_HEADER_BYTES))
        too_large = ULogError(f"too large to read whole ({st.st_size} bytes; the limit is "
                              f"{max_bytes})")
        if st.st_size > max_bytes:
            raise too_large
        fh.seek(0)
        buf = fh.read(max_bytes + 1)  # bounded: the file may grow while it is read
    if len(buf) > max_bytes:
        raise too_large
    return parse_ulog(buf)
