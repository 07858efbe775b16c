"""Read ULog files (ours and PX4's) into numpy, without pyulog, for replay and log tools.

Handles the message types B, F, I, M, P, A, R, D, L, C, S, O; skips unknown types by size, as
the spec asks. Nested formats become nested numpy dtypes; ``_padding`` fields are left out.
A truncated last message (a log cut by SIGKILL or power loss) ends the read quietly with
``truncated`` set. Not done: resynchronising on sync markers inside a corrupt file.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
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
    split_type,
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


class ULogError(ValueError):
    """Not a ULog file, or one this reader must refuse (unknown incompatible flags)."""


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


def _parse_format(text: str) -> FormatDef:
    name, _, body = text.partition(":")
    fields = []
    for item in body.split(";"):
        item = item.strip()
        if not item:
            continue
        type_str, _, fname = item.partition(" ")
        base, count = split_type(type_str)
        fields.append(FieldDef(base, count, fname.strip()))
    return FormatDef(name, fields)


def _dtype(
    name: str, formats: dict[str, FormatDef], cache: dict[str, np.dtype[Any]]
) -> np.dtype[Any]:
    """Packed little-endian dtype of a format; padding fields occupy bytes but get no name."""
    if name in cache:
        return cache[name]
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
        else:
            base = _dtype(f.type_name, formats, cache)
            count = f.array_size
        dt = np.dtype((base, (count,))) if count else base
        if not f.name.startswith("_padding"):
            names.append(f.name)
            types.append(dt)
            offsets.append(off)
        off += dt.itemsize
    result: np.dtype[Any] = np.dtype(
        {"names": names, "formats": types, "offsets": offsets, "itemsize": off}
    )
    cache[name] = result
    return result


def _decode_value(type_key: str, raw: bytes) -> tuple[str, Any]:
    type_str, _, key = type_key.partition(" ")
    base, count = split_type(type_str)
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


def parse_ulog(buf: bytes) -> ULogData:
    """Parse a whole ULog file held in memory."""
    if len(buf) < 16 or buf[:7] != MAGIC:
        raise ULogError("not a ULog file (bad magic)")
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
    pos = 16
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
        pos = stop
        try:
            if mtype == MSG_DATA:
                msg_id = _U16.unpack_from(buf, start)[0]
                sub = subs.get(msg_id)
                if sub is None:
                    out.bad_messages += 1
                else:
                    sub.chunks.append(buf[start + 2 : stop])
            elif mtype == MSG_ADD_LOGGED:
                in_data = True
                multi_id, msg_id = struct.unpack_from("<BH", buf, start)
                fname = buf[start + 3 : stop].decode(errors="replace")
                if fname not in out.formats:
                    out.bad_messages += 1
                    continue
                key = (fname, multi_id)
                sub = _Sub(key, _dtype(fname, out.formats, cache))
                old = subs.get(msg_id)
                if old is not None:
                    last_ts()
                    collected.setdefault(old.key, []).append((old.dtype, old.chunks))
                subs[msg_id] = sub
                collected.setdefault(key, [])
            elif mtype == MSG_REMOVE_LOGGED:
                msg_id = _U16.unpack_from(buf, start)[0]
                last_ts()
                old = subs.pop(msg_id, None)
                if old is not None:
                    collected.setdefault(old.key, []).append((old.dtype, old.chunks))
            elif mtype in (MSG_LOGGING, MSG_LOGGING_TAGGED):
                in_data = True
                tag: int | None = None
                if mtype == MSG_LOGGING:
                    level, ts = struct.unpack_from("<BQ", buf, start)
                    text_at = start + 9
                else:
                    level, tag, ts = struct.unpack_from("<BHQ", buf, start)
                    text_at = start + 11
                # ULog stores '0'..'7'; accept raw 0..7 from other writers too.
                level = level - 0x30 if 0x30 <= level <= 0x37 else level
                text = buf[text_at:stop].decode(errors="replace").rstrip("\0")
                out.strings.append(LoggedString(level, ts, text, tag))
            elif mtype == MSG_SYNC:
                out.sync_count += 1
            elif mtype == MSG_DROPOUT:
                out.dropouts.append(Dropout(last_ts(), _U16.unpack_from(buf, start)[0]))
            elif mtype in (MSG_INFO, MSG_PARAMETER):
                klen = buf[start]
                type_key = buf[start + 1 : start + 1 + klen].decode(errors="replace")
                name, value = _decode_value(type_key, buf[start + 1 + klen : stop])
                if mtype == MSG_INFO:
                    out.info[name] = value
                elif in_data:
                    out.changed_params.append((last_ts(), name, value))
                else:
                    out.params[name] = value
            elif mtype == MSG_INFO_MULTIPLE:
                continued = buf[start]
                klen = buf[start + 1]
                type_key = buf[start + 2 : start + 2 + klen].decode(errors="replace")
                name, value = _decode_value(type_key, buf[start + 2 + klen : stop])
                lists = out.info_multiple.setdefault(name, [])
                if continued and lists:
                    lists[-1].append(value)
                else:
                    lists.append([value])
            elif mtype == MSG_FORMAT:
                fmt = _parse_format(buf[start:stop].decode(errors="replace"))
                out.formats[fmt.name] = fmt
                cache.clear()
            elif mtype == MSG_FLAG_BITS:
                incompat = buf[start + 8 : start + 16]
                if incompat[0] & ~_FLAG_DATA_APPENDED or any(incompat[1:]):
                    raise ULogError("unknown incompatible flag bits set: refusing the file")
                if incompat[0] & _FLAG_DATA_APPENDED:
                    offsets = [o for o in struct.unpack_from("<3Q", buf, start + 16) if o]
                    segments_end = [o for o in offsets if o <= len(buf)] + [len(buf)]
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


def read_ulog(path: str | os.PathLike[str]) -> ULogData:
    """Read a ULog file from disk (see ``parse_ulog``)."""
    return parse_ulog(Path(path).read_bytes())
