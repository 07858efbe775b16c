"""Read a ULog flight log (ours or PX4's) through pyulog, for the log tools and replay.

``read_log`` refuses, with ``LogFileError`` naming the problem in one line, anything that is
no usable ULog: not a regular file (``/dev/zero`` or a pipe never ends), too large to read
whole, a bad header, definitions that cannot be trusted (``ground.ulog_lint``), a file pyulog
cannot read. What it hands out is well-formed: each topic one numpy structured array with a
``uint64`` ``timestamp``, a field per declared field (``float[3]`` as an (n, 3) column,
``char[N]`` as bytes, a nested type's fields flattened with pyulog's names), plus the info,
logged strings, dropouts, and whether the file was cut short.

Our logs from before the PX4 topics named the motor commands ``actuator_outputs`` (fields
``motors``, ``armed``), the name PX4's own topic has; such a log's topic is read as
``motor_outputs``, so the tools find it under its one name and never take it for PX4's.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pyulog import ULog
from pyulog.exceptions import ULogException

from firmware import log_topics as lt
from firmware.ulog_encoder import BASIC_TYPES, MAGIC
from ground.ulog_lint import HEADER_BYTES, FieldDecl, ULogLintError, walk

log = logging.getLogger(__name__)

# A log is read whole, and at the peak it is in memory about three times (the file, pyulog's
# records, the tables): 1 GiB is an hour of our 500 Hz flight log and still fits a 4 GB
# ground laptop. A larger file is refused, not left to the OOM killer.
MAX_LOG_BYTES = 1 << 30
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe"),
               (stat.S_ISSOCK, "a socket"))
# What pyulog raises on damage it does not catch itself (a name clash in a record's fields,
# a string it cannot decode, an offset out of range...).
_PYULOG_FAILURES = (ULogException, RecursionError, struct.error, ValueError, KeyError,
                    IndexError, TypeError, OverflowError, UnicodeDecodeError)


class LogFileError(ValueError):
    """Not a ULog file, or one that must be refused (see the module docstring)."""


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
        for name in self.data.dtype.names or ():
            col = self.data[name]
            if col.ndim > 1:
                for i in range(col.shape[1]):
                    out[f"{name}[{i}]"] = col[:, i]
            else:
                out[name] = col
        return out


@dataclass(slots=True)
class LoggedString:
    level: int  # syslog severity 0 (emergency) .. 7 (debug)
    timestamp_us: int
    text: str


@dataclass(slots=True)
class Dropout:
    timestamp_us: int  # newest record timestamp seen before the dropout message
    duration_ms: int


@dataclass
class FlightLog:
    version: int
    start_us: int
    formats: dict[str, list[FieldDecl]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    params: dict[str, int | float] = field(default_factory=dict)
    topics: dict[tuple[str, int], Topic] = field(default_factory=dict)
    strings: list[LoggedString] = field(default_factory=list)
    dropouts: list[Dropout] = field(default_factory=list)
    truncated: bool = False  # the file ended inside a message
    bad_messages: int = 0  # subscriptions to no format, records of no subscription
    sync_count: int = 0

    def topic(self, name: str, multi_id: int = 0) -> Topic:
        try:
            return self.topics[(name, multi_id)]
        except KeyError:
            raise KeyError(f"no topic {name!r} multi_id {multi_id} in log") from None


def _check_header(head: bytes) -> None:
    if len(head) < HEADER_BYTES:
        raise LogFileError(f"not a ULog file (too short for the {HEADER_BYTES}-byte header: "
                           f"{len(head)} bytes)")
    if head[:7] != MAGIC:
        raise LogFileError(f"not a ULog file (bad magic: starts {bytes(head[:7])!r})")


def _read_bytes(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except ValueError as exc:  # a NUL byte in the path
        raise LogFileError(f"cannot open: {exc}") from None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = next((k for test, k in _FILE_KINDS if test(st.st_mode)), "a special file")
        raise LogFileError(f"is {kind}, not a regular ULog file")
    with open(fd, "rb") as fh:
        _check_header(fh.read(HEADER_BYTES))
        too_large = LogFileError(f"too large to read whole ({st.st_size} bytes; the limit is "
                                 f"{max_bytes})")
        if st.st_size > max_bytes:
            raise too_large
        fh.seek(0)
        buf = fh.read(max_bytes + 1)  # bounded: the file may grow while it is read
    if len(buf) > max_bytes:
        raise too_large
    return buf


def _pyulog(buf: bytes) -> ULog:
    """pyulog's reading of ``buf``; what it prints about damage goes to the debug log."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):
            return ULog(io.BytesIO(buf))
    except _PYULOG_FAILURES as exc:
        raise LogFileError(f"pyulog cannot read it: {type(exc).__name__}: {exc}") from None
    finally:
        if said.getvalue():
            log.debug("pyulog: %s", said.getvalue().strip())


def _table(d: ULog.Data, decls: list[FieldDecl]) -> npt.NDArray[np.void]:
    """pyulog's flat columns regrouped by declared field into one structured array."""
    cols: dict[str, npt.NDArray[Any]] = d.data
    names: list[str] = []
    arrays: list[npt.NDArray[Any]] = []
    for f in decls:
        if f.name.startswith("_padding"):
            continue
        if f.type_name not in BASIC_TYPES:  # nested: pyulog's flattened names, as they are
            prefixes = (f"{f.name}.", f"{f.name}[")
            for key, col in cols.items():
                if key.startswith(prefixes) and "._padding" not in key:
                    names.append(key)
                    arrays.append(col)
            continue
        if f.array_size == 0:
            scalar = cols.get(f.name)
            if scalar is not None:
                names.append(f.name)
                arrays.append(_as_declared(scalar, f.type_name, 1))
            continue
        parts = [cols.get(f"{f.name}[{i}]") for i in range(f.array_size)]
        if any(p is None for p in parts):
            continue
        stacked = np.stack([p for p in parts if p is not None], axis=1)
        names.append(f.name)
        arrays.append(_as_declared(stacked, f.type_name, f.array_size))
    n = len(arrays[0]) if arrays else 0
    dtype = np.dtype([(k, a.dtype, a.shape[1:]) for k, a in zip(names, arrays, strict=True)])
    out = np.empty(n, dtype=dtype)
    for k, a in zip(names, arrays, strict=True):
        out[k] = a
    return out


def _as_declared(col: npt.NDArray[Any], type_name: str, count: int) -> npt.NDArray[Any]:
    """pyulog gives a bool or a char as int8: back to booleans, and characters to bytes
    (``count`` of them, ``col`` holding one column a character)."""
    if type_name == "bool":
        return col.astype(bool)
    if type_name == "char":
        chars = np.ascontiguousarray(col.reshape(len(col), -1).astype(np.uint8))
        return chars.view(f"S{max(count, 1)}")[:, 0]
    return col


def _level(raw: int) -> int:
    """ULog stores '0'..'7'; accept raw 0..7 from other writers too."""
    return raw - 0x30 if 0x30 <= raw <= 0x37 else raw


def parse_log(buf: bytes) -> FlightLog:
    """Read a whole ULog file held in memory."""
    _check_header(buf)
    try:
        framing = walk(buf)
    except ULogLintError as exc:
        raise LogFileError(str(exc)) from None
    u = _pyulog(buf)
    out = FlightLog(version=buf[7], start_us=int(u.start_timestamp), formats=framing.formats,
                    truncated=framing.truncated, bad_messages=framing.bad_messages,
                    sync_count=framing.sync_count)
    out.info = {k: (v.rstrip("\0") if isinstance(v, str) else v)
                for k, v in u.msg_info_dict.items()}
    out.params = dict(u.initial_parameters)
    for d in u.data_list:
        decls = framing.formats.get(d.name)
        if decls is not None:
            out.topics[(d.name, d.multi_id)] = Topic(d.name, d.multi_id, _table(d, decls))
    strings = [LoggedString(_level(m.log_level), int(m.timestamp), m.message.rstrip("\0"))
               for m in u.logged_messages]
    for tagged in u.logged_messages_tagged.values():
        strings += [LoggedString(_level(m.log_level), int(m.timestamp), m.message.rstrip("\0"))
                    for m in tagged]
    out.strings = sorted(strings, key=lambda s: s.timestamp_us)
    out.dropouts = [Dropout(int(x.timestamp), int(x.duration)) for x in u.dropouts]
    _rename_legacy_motor_outputs(out)
    return out


def _rename_legacy_motor_outputs(d: FlightLog) -> None:
    """An old log's ``actuator_outputs`` (ours: the motor commands) as ``motor_outputs``.
    Told from PX4's topic of that name by its fields; a log that has both is left alone."""
    old, new = lt.LEGACY_MOTOR_OUTPUTS_NAME, lt.MOTOR_OUTPUTS.name
    decls = d.formats.get(old)
    ours = {name for _, name in lt.MOTOR_OUTPUTS.fields}
    if decls is None or new in d.formats or {f.name for f in decls} != ours:
        return
    d.formats[new] = d.formats.pop(old)
    for (name, multi_id), t in list(d.topics.items()):
        if name == old:
            del d.topics[(name, multi_id)]
            t.name = new
            d.topics[(new, multi_id)] = t


def read_log(path: str | os.PathLike[str], max_bytes: int = MAX_LOG_BYTES) -> FlightLog:
    """Read a ULog file from disk. ``OSError`` for a file that cannot be opened or read,
    ``LogFileError`` for one that is no usable ULog."""
    return parse_log(_read_bytes(path, max_bytes))
