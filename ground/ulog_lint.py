"""What pyulog does not refuse: a walk over a ULog file's framing before pyulog reads it.

pyulog is built to recover what it can from a damaged log, silently: it takes a malformed
field (``float no rth``) as a field named ``no``, recurses without end on a format that nests
itself, ends the data quietly when a logged topic has no timestamp, and does not say that the
file was cut short. A ground tool must instead refuse such a log with the problem named, and
say when a log is incomplete. So this module walks the messages (headers only, a few lines of
``struct``), checks every format the definitions declare by the spec's rules, checks each
logged topic's format as a whole (types known, no nesting loop, a record that fits a message,
a ``uint64_t timestamp``), and counts what cannot be decoded. It decodes no data: pyulog does.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from firmware.ulog_encoder import (
    BASIC_TYPES,
    MSG_ADD_LOGGED,
    MSG_DATA,
    MSG_FLAG_BITS,
    MSG_FORMAT,
    MSG_LOGGING,
    MSG_LOGGING_TAGGED,
    MSG_REMOVE_LOGGED,
    MSG_SYNC,
)

HEADER_BYTES = 16  # magic (7), version (1), start timestamp (8)
_HDR = struct.Struct("<HB")
_U16 = struct.Struct("<H")
_FLAG_DATA_APPENDED = 0x01  # incompat_flags[0] bit 0 (spec: "Flag Bits Message")
# A record is one message's payload less its 2-byte msg_id.
MAX_RECORD = 0xFFFF - 2
# What pyulog reads in the definitions section (spec: "Definitions Section"). Any other type
# there sends pyulog's corruption recovery seeking back by the message's size, which never
# ends when that size runs past the end of the file: refused before pyulog sees it.
_DEFINITION_TYPES = frozenset(b"IMFPQALCB")
_MAX_NESTING = 16  # PX4's deepest nested message is 3 levels
# Names as our writer allows them (PX4's are C identifiers), printable ASCII only.
_NAME = re.compile(r"[!-9<-Z\\^-~]+")
_FIELD = re.compile(r"([!-9<-Z\\^-~]+?)(?:\[([0-9]{1,5})\])? ([!-9<-Z\\^-~]+)")


class ULogLintError(ValueError):
    """A log whose definitions cannot be trusted: every topic would be read wrongly."""


@dataclass(frozen=True, slots=True)
class FieldDecl:
    type_name: str  # a basic type or another format's name
    array_size: int  # 0 for a scalar
    name: str


@dataclass(slots=True)
class Framing:
    """What the walk found: the declared formats, and damage pyulog would pass over."""

    formats: dict[str, list[FieldDecl]] = field(default_factory=dict)
    truncated: bool = False  # the file ends inside a message
    # subscriptions to no format, records of no subscription or of another size than their
    # format's (pyulog skips them)
    bad_messages: int = 0
    sync_count: int = 0


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_format(text: str, at: int) -> tuple[str, list[FieldDecl]]:
    """``name:type field;type field;...`` as the spec gives it; anything else is refused."""
    name, colon, body = text.partition(":")
    where = f"format message at byte {at}"
    if not colon or not _NAME.fullmatch(name):
        raise ULogLintError(f"{where}: bad format name {_short(name)}")
    fields: list[FieldDecl] = []
    seen: set[str] = set()
    for item in body.split(";"):
        if not item:
            continue  # the trailing ';' (pyulog splits the same way, spaces and all)
        m = _FIELD.fullmatch(item)
        if m is None:
            raise ULogLintError(f"{where}: format {name!r}: bad field {_short(item)}")
        base, count, fname = m.group(1), m.group(2), m.group(3)
        size = int(count) if count is not None else 0
        if count is not None and not 1 <= size <= MAX_RECORD:
            raise ULogLintError(f"{where}: format {name!r}: field {fname!r}: array size "
                                f"{size} out of 1..{MAX_RECORD}")
        if fname in seen:
            raise ULogLintError(f"{where}: format {name!r}: field {fname!r} defined twice")
        seen.add(fname)
        fields.append(FieldDecl(base, size, fname))
    if not fields:
        raise ULogLintError(f"{where}: format {name!r} has no fields")
    return name, fields


def record_size(name: str, formats: dict[str, list[FieldDecl]],
                outer: tuple[str, ...] = ()) -> int:
    """Bytes of one record of format ``name``; refuses a type not defined, a format that nests
    itself or nests too deep, a record larger than a message holds."""
    if name in outer or len(outer) >= _MAX_NESTING:
        raise ULogLintError(f"format {outer[0]!r}: nested types {' > '.join(outer)} > {name} "
                            "loop or nest too deep")
    size = 0
    for f in formats[name]:
        if f.type_name in BASIC_TYPES:
            width = BASIC_TYPES[f.type_name][1]
        elif f.type_name in formats:
            width = record_size(f.type_name, formats, (*outer, name))
        else:
            raise ULogLintError(f"format {name!r}: field {f.name!r} has unknown type "
                                f"{_short(f.type_name)}")
        size += width * max(f.array_size, 1)
        if size > MAX_RECORD:
            raise ULogLintError(f"format {name!r}: a record of over {MAX_RECORD} bytes does "
                                "not fit a message")
    return size


def check_logged(name: str, formats: dict[str, list[FieldDecl]]) -> tuple[int, int]:
    """A logged topic: a well-formed format with a ``uint64_t timestamp`` (the spec's rule;
    every reader sorts and aligns a topic by it). Returns the sizes a record may have: less
    its trailing padding (PX4 leaves that out) up to whole."""
    fields = formats[name]
    size = record_size(name, formats)
    if FieldDecl("uint64_t", 0, "timestamp") not in fields:
        raise ULogLintError(f"format {name!r} is logged but has no uint64_t timestamp field")
    smallest = size
    for f in reversed(fields):
        if not f.name.startswith("_padding") or f.type_name not in BASIC_TYPES:
            break
        smallest -= BASIC_TYPES[f.type_name][1] * max(f.array_size, 1)
    return smallest, size


def walk(buf: bytes) -> Framing:
    """Check the framing of a whole ULog file held in memory (header already checked)."""
    out = Framing()
    subscribed: dict[int, tuple[int, int]] = {}  # msg_id: the record sizes it may have
    checked: dict[str, tuple[int, int]] = {}
    in_definitions = True
    # Appended data (a flag in the first message) starts at given offsets: a message cut at
    # one of them is no truncation, the next part follows.
    segment_ends = [len(buf)]
    pos, end = HEADER_BYTES, len(buf)
    while True:
        size, mtype = _HDR.unpack_from(buf, pos) if pos + 3 <= end else (end, 0)
        start, stop = pos + 3, pos + 3 + size
        if in_definitions and pos + 3 <= end and mtype not in _DEFINITION_TYPES:
            raise ULogLintError(f"offset {pos}: a message of unknown type {mtype} among the "
                                "definitions")
        if stop > end:
            if len(segment_ends) > 1:
                pos, end = end, segment_ends[1]
                segment_ends.pop(0)
                continue
            break
        first_message = pos == HEADER_BYTES
        pos = stop
        if mtype == MSG_DATA:
            sizes = subscribed.get(_U16.unpack_from(buf, start)[0]) if size >= 2 else None
            if sizes is None or not sizes[0] <= size - 2 <= sizes[1]:
                out.bad_messages += 1
        elif mtype == MSG_ADD_LOGGED:
            in_definitions = False
            if size < 3:
                out.bad_messages += 1
                continue
            msg_id = _U16.unpack_from(buf, start + 1)[0]
            name = buf[start + 3 : stop].decode(errors="replace")
            if name not in out.formats:
                out.bad_messages += 1
                subscribed.pop(msg_id, None)
                continue
            if name not in checked:
                checked[name] = check_logged(name, out.formats)
            subscribed[msg_id] = checked[name]
        elif mtype == MSG_REMOVE_LOGGED and size >= 2:
            subscribed.pop(_U16.unpack_from(buf, start)[0], None)
        elif mtype in (MSG_LOGGING, MSG_LOGGING_TAGGED):
            in_definitions = False
        elif mtype == MSG_SYNC:
            out.sync_count += 1
        elif mtype == MSG_FLAG_BITS and first_message and size >= 40:
            if buf[start + 8] & _FLAG_DATA_APPENDED:
                offsets = struct.unpack_from("<3Q", buf, start + 16)
                segment_ends = [*sorted({o for o in offsets if stop < o <= len(buf)}),
                                len(buf)]
                end = segment_ends[0]
        elif mtype == MSG_FORMAT and in_definitions:  # pyulog reads formats only there
            name, fields = parse_format(buf[start:stop].decode(errors="replace"), start - 3)
            out.formats[name] = fields
            checked.clear()
    out.truncated = pos < end
    return out
