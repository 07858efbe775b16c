"""Mutation fuzzer for the camera stream wire format v2 (docs/camera-stream.md).

Each case encodes a few frames (tiny ones, or real 160x120 ones), corrupts the stream and feeds
it to ``hal.camera_stream.StreamParser`` in chunks (1 byte, random sizes, or all at once). The
corruptions: bit flips, byte inserts and deletes, a frame truncated at any offset, the stream
cut short, stray sync words, stray valid-looking headers (copies of real ones, valid random
ones, implausible ones), whole v1 frames, repeated ranges, and losses that start or end on a
frame or field boundary, among them the splice ``a[:k] + b[k:]`` (``k = 36``: another frame's
image under this frame's header). A deterministic sweep runs first: in a stream of tiny frames
every loss that starts or ends on a boundary (fed whole and byte by byte), and for real frames
the truncation ``a[:i] + b + c`` and the splice ``a[:i] + b[i:] + c`` at every offset ``i``.

The oracle (``expected``) knows nothing of how the parser works: a sent frame is deliverable
where its exact wire bytes occur in what was received; the parser must deliver exactly those,
leftmost first, never two that overlap, and nothing else. Every delivered frame is compared
field by field and byte by byte with what was sent, and the parser's byte accounting
(delivered + skipped + buffered = fed) is checked.

    .venv/bin/python -m fuzz.stream --count 1000000 --seed 1 [--jobs 2] [--no-sweep]
    .venv/bin/python -m fuzz.stream --atheris 60 [--seed S]   # coverage-guided; needs atheris

On a counterexample it prints a self-contained reproducer and exits 1. The last line printed is
a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import random
import struct
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from hal.camera_stream import SYNC, ParsedFrame, StreamParser, encode_frame

MAX_W, MAX_H = 160, 120  # the receiver's limits, and the size of a real frame
M32, M64 = (1 << 32) - 1, (1 << 64) - 1
# the header as the spec lays it out, for headers the encoder would never make
_HDR = struct.Struct("<4sBBHIQIHHI")
FIELD_OFFSETS = (0, 4, 5, 6, 8, 12, 20, 24, 26, 28, 32, 36)  # plus payload end, frame end
BATCH = 500  # cases per unit of work (progress, --jobs)
PROGRESS_S = 10.0


# --- frames and the oracle ----------------------------------------------------------------------


class Sent(NamedTuple):
    wire: bytes
    frame: ParsedFrame  # what the parser must deliver for it, built from the encoder's inputs


def make_sent(seq: int, t_mid_us: int, exposure_us: int, image: np.ndarray[Any, Any]) -> Sent:
    h, w = image.shape
    wire = encode_frame(seq, t_mid_us, exposure_us, image)
    frame = ParsedFrame(seq & M32, t_mid_us & M64, exposure_us & M32, w, h, 0, image.tobytes(),
                        len(wire))
    return Sent(wire, frame)


def crc_bytes(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "little")


def raw_header(seq: int, t_mid_us: int, exposure_us: int, w: int, h: int, *, version: int = 2,
               pixfmt: int = 0, reserved: int = 0, payload_len: int | None = None) -> bytes:
    """A header with a valid CRC and whatever fields it is given."""
    plen = w * h if payload_len is None else payload_len
    hdr = _HDR.pack(SYNC, version, pixfmt, reserved, seq & M32, t_mid_us & M64,
                    exposure_us & M32, w, h, plen & M32)
    return hdr + crc_bytes(hdr)


def encode_v1(seq: int, t_mid_us: int, exposure_us: int, image: np.ndarray[Any, Any]) -> bytes:
    """A frame in wire format v1 (version 1, payload CRC of the payload alone), by hand."""
    h, w = image.shape
    payload = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    return raw_header(seq, t_mid_us, exposure_us, w, h, version=1) + payload + crc_bytes(payload)


def header_inside(wire: bytes) -> bool:
    """A CRC-valid header somewhere after a frame's start. The parser drops a pending frame when
    a valid header turns up inside it (to resync early after a truncation), so the oracle
    assumes sent frames have none; for natural images the odds are about 2^-64 a position."""
    j = wire.find(SYNC, 1)
    while 0 <= j <= len(wire) - 36:
        if crc_bytes(wire[j : j + 32]) == wire[j + 32 : j + 36]:
            return True
        j = wire.find(SYNC, j + 1)
    return False


def expected(received: bytes, wires: Sequence[bytes]) -> list[int]:
    """Indices into ``wires`` of the frames a correct parser delivers from ``received``.

    A sent frame is deliverable wherever its exact wire bytes occur in ``received``: intact
    and contiguous, wherever the corruption left it, even when a coincidence rebuilt it (a
    truncation that removed a CRC byte equal to the next frame's first byte rebuilds the
    truncated frame from that byte). Occurrences may overlap; then the leftmost is delivered
    and one starting inside it is not, since its first bytes went into the earlier frame.
    So after any corruption the next intact frame is delivered unless a rebuilt frame ate
    its first bytes. Anything else is corrupt and must not be delivered.
    """
    at: dict[int, int] = {}
    for k, w in enumerate(wires):
        i = received.find(w)
        while i >= 0:
            at.setdefault(i, k)
            i = received.find(w, i + 1)
    out: list[int] = []
    end = 0
    for pos in sorted(at):
        if pos >= end:
            out.append(at[pos])
            end = pos + len(wires[at[pos]])
    return out


def feed(parser: StreamParser, data: bytes, chunks: Sequence[int]) -> list[ParsedFrame]:
    """Feed ``data`` in pieces of ``chunks`` sizes, cycled (empty: all at once)."""
    out: list[ParsedFrame] = []
    i = k = 0
    while i < len(data):
        n = chunks[k % len(chunks)] if chunks else len(data)
        out += parser.feed(data[i : i + n])
        i += n
        k += 1
    return out


@dataclass
class Case:
    sent: list[Sent]
    received: bytes
    chunks: list[int]
    ops: list[str]
    real: bool = False


@dataclass
class Verdict:
    exception: str = ""
    corrupted: int = 0  # delivered frames that equal no sent frame
    missed: int = 0  # expected frames not delivered: failures to resync
    unexpected: int = 0  # sent frames delivered that were not expected (or out of order)
    stats: str = ""  # parser counters that do not add up
    delivered: int = 0
    expected: int = 0
    bad_data: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.exception or self.corrupted or self.missed or self.unexpected
                    or self.stats)

    def describe(self) -> str:
        parts = [f"exception {self.exception}"] if self.exception else []
        parts += [f"{n} {what}" for n, what in ((self.corrupted, "corrupted deliveries"),
                  (self.missed, "missed frames"), (self.unexpected, "unexpected deliveries"))
                  if n]
        if self.stats:
            parts.append(f"counters do not add up: {self.stats}")
        return "; ".join(parts)


def check(case: Case) -> Verdict:
    v = Verdict()
    p = StreamParser(max_width=MAX_W, max_height=MAX_H)
    try:
        got = feed(p, case.received, case.chunks)
    except Exception as exc:  # the parser must never raise; report it as a counterexample
        v.exception = f"{type(exc).__name__}: {exc}"
        return v
    index: dict[ParsedFrame, int] = {}
    for k, s in enumerate(case.sent):
        index.setdefault(s.frame, k)
    delivered = [index.get(g, -1) for g in got]
    v.corrupted = delivered.count(-1)
    delivered = [k for k in delivered if k >= 0]
    want = expected(case.received, [s.wire for s in case.sent])
    v.missed = (Counter(want) - Counter(delivered)).total()
    v.unexpected = (Counter(delivered) - Counter(want)).total()
    if not (v.missed or v.unexpected) and delivered != want:
        v.unexpected = 1  # the right frames in the wrong order
    v.delivered, v.expected = len(got), len(want)
    st = p.stats
    v.bad_data = st.bad_data
    if (st.frames != len(got) or st.bytes_in != len(case.received)
            or sum(g.wire_bytes for g in got) + st.bytes_skipped + p.buffered != st.bytes_in):
        v.stats = f"{st} buffered={p.buffered}"
    return v


# --- case generation ----------------------------------------------------------------------------


class Chooser(Protocol):
    """Where a case's choices come from: a seeded RNG, or atheris's input bytes."""

    def between(self, lo: int, hi: int) -> int: ...

    def blob(self, n: int) -> bytes: ...


class RngChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def between(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def blob(self, n: int) -> bytes:
        return self.rng.randbytes(n)


def chance(ch: Chooser, percent: float) -> bool:
    """True with this probability; False when atheris's input has run out (it gives lo)."""
    return ch.between(0, 9999) >= 10_000 - percent * 100


def pick(ch: Chooser, items: Sequence[Any]) -> Any:
    return items[ch.between(0, len(items) - 1)]


def image_for(ch: Chooser, w: int, h: int) -> np.ndarray[Any, Any]:
    n = w * h
    kind = ch.between(0, 9)
    if kind < 6:
        data = ch.blob(n)
    elif kind < 8:
        data = bytes([ch.between(0, 255)]) * n
    elif kind < 9:
        data = (SYNC * (n // 4 + 1))[:n]  # sync words all through the image
    else:  # a smooth scene with noise, like the renderer's
        y, x = np.mgrid[0:h, 0:w]
        noise = np.frombuffer(ch.blob(n), np.uint8).reshape(h, w) >> 5
        return ((x * ch.between(0, 3) + y * ch.between(0, 3) + noise) & 0xFF).astype(np.uint8)
    return np.frombuffer(data, np.uint8).reshape(h, w)


def tiny_dims(ch: Chooser) -> tuple[int, int]:
    if chance(ch, 25):  # a 32-byte payload is as long as a header before its CRC
        return pick(ch, ((8, 4), (4, 8), (32, 1), (16, 2), (2, 16)))
    return ch.between(1, 12), ch.between(1, 6)


def make_frames(ch: Chooser, real: bool) -> list[Sent]:
    n = ch.between(2, 3) if real else ch.between(1, 5)
    dims = [(MAX_W, MAX_H)] * n if real else (
        [tiny_dims(ch)] * n if chance(ch, 50) else [tiny_dims(ch) for _ in range(n)])
    seq0 = pick(ch, (0, M32 - 1, ch.between(0, M32)))
    t0 = ch.between(0, pick(ch, ((1 << 20), (1 << 40), M64)))
    period = pick(ch, (33_333, 1, ch.between(0, 1 << 20)))
    exposure = ch.between(0, pick(ch, (1, 20_000, M32)))
    out = []
    for k, (w, h) in enumerate(dims):
        s = make_sent(seq0 + k, t0 + k * period, exposure, image_for(ch, w, h))
        if header_inside(s.wire):  # outside the oracle's precondition: use a plain image
            s = make_sent(seq0 + k, t0 + k * period, exposure, np.zeros((h, w), np.uint8))
        out.append(s)
    return out


def boundaries(sent: Sequence[Sent]) -> list[int]:
    """Offsets in the clean stream where a frame or one of its fields starts or ends."""
    out = []
    start = 0
    for s in sent:
        n = len(s.wire)
        out += [start + o for o in FIELD_OFFSETS] + [start + n - 4]
        start += n
    return out + [start]


def stray_header(ch: Chooser, sent: Sequence[Sent]) -> tuple[str, bytes]:
    kind = ch.between(0, 9)
    if kind < 4:
        return "hdrcopy", pick(ch, sent).wire[:36]  # a real header out of place
    w, h = tiny_dims(ch) if chance(ch, 60) else (ch.between(1, MAX_W), ch.between(1, MAX_H))
    seq, t, e = ch.between(0, M32), ch.between(0, M64), ch.between(0, M32)
    if kind < 7:
        return "hdr", raw_header(seq, t, e, w, h)
    bad = ch.between(0, 4)  # implausible in one field, CRC valid
    return "badhdr", raw_header(
        seq, t, e, MAX_W + 1 if bad == 0 else w, h, version=1 if bad == 1 else 2,
        pixfmt=1 if bad == 2 else 0, reserved=1 if bad == 3 else 0,
        payload_len=w * h + 1 if bad == 4 else None)


def structural(ch: Chooser, b: bytearray, sent: Sequence[Sent]) -> str:
    """One loss (or repeat) placed by frame and field boundaries of the clean stream."""
    starts = [0]
    for s in sent:
        starts.append(starts[-1] + len(s.wire))
    bounds = boundaries(sent)
    n = len(b)
    kind = pick(ch, ("trunc", "loss", "splice", "cut", "repeat"))
    if kind == "splice" and len(sent) < 2:
        kind = "trunc"
    if kind == "trunc":  # frame f truncated at offset o; the next frame follows
        f = ch.between(0, len(sent) - 1)
        x, y = starts[f] + ch.between(0, len(sent[f].wire) - 1), starts[f + 1]
    elif kind == "splice":  # a[:k] + b[k:]: k = 36 puts b's image under a's header
        i = ch.between(0, len(sent) - 2)
        j = ch.between(i + 1, len(sent) - 1)
        shortest = min(len(sent[i].wire), len(sent[j].wire))
        k = pick(ch, FIELD_OFFSETS) if chance(ch, 60) else ch.between(0, shortest)
        x, y = starts[i] + k, starts[j] + k
    elif kind == "cut":
        x, y = ch.between(0, n - 1), n
    else:
        mode = ch.between(0, 2)
        x = pick(ch, bounds) if mode != 1 else ch.between(0, n)
        y = pick(ch, bounds) if mode != 0 else ch.between(0, n)
        x, y = min(x, y), max(x, y)
    if kind == "repeat":
        b[y:y] = b[x:y]
    else:
        del b[x:y]
    return f"{kind}[{x}:{y}]"


def scatter(ch: Chooser, b: bytearray, sent: Sequence[Sent], bounds: Sequence[int]) -> str:
    """One corruption at a random place, or at a (clean-stream) boundary."""
    pos = min(pick(ch, bounds), len(b)) if chance(ch, 40) else ch.between(0, len(b))
    kind = pick(ch, ("flip", "flip", "insert", "delete", "sync", "header", "v1"))
    if kind == "flip":
        if not b:
            return "flip-"
        pos = min(pos, len(b) - 1)
        bit = ch.between(0, 7)
        b[pos] ^= 1 << bit
        return f"flip@{pos}.{bit}"
    if kind == "insert":
        junk = ch.blob(ch.between(1, 50))
        b[pos:pos] = junk
        return f"insert@{pos}+{len(junk)}"
    if kind == "delete":
        k = ch.between(1, 60)
        del b[pos : pos + k]
        return f"delete@{pos}-{k}"
    if kind == "sync":
        b[pos:pos] = SYNC
        return f"sync@{pos}"
    if kind == "header":
        what, hdr = stray_header(ch, sent)
        b[pos:pos] = hdr
        return f"{what}@{pos}"
    f = pick(ch, sent).frame
    img = np.frombuffer(f.payload, np.uint8).reshape(f.height, f.width)
    b[pos:pos] = encode_v1(f.seq, f.t_mid_us, f.exposure_us, img)  # same fields, v1 framing
    return f"v1@{pos}"


def chunking(ch: Chooser, n: int, real: bool, real_bytewise: float) -> list[int]:
    """Sizes fed in turn, cycled: [] is all at once, [1] byte by byte (rare for real frames:
    60 000 calls a case)."""
    r = ch.between(0, 9999)
    if r < 3000:
        return []
    if r >= 10_000 - (real_bytewise if real else 15) * 100:
        return [1]
    hi = 8192 if real else max(2, 2 * n)
    return [ch.between(1, hi) for _ in range(ch.between(1, 6))]


def build_case(ch: Chooser, real_bytewise: float = 0.03) -> Case:
    """One corrupted stream; ``real_bytewise`` is the percentage of real-frame cases fed byte
    by byte."""
    real = chance(ch, 5)
    sent = make_frames(ch, real)
    b = bytearray(b"".join(s.wire for s in sent))
    bounds = boundaries(sent)
    ops = [structural(ch, b, sent)] if chance(ch, 65) else []
    for _ in range(ch.between(0 if ops else 1, 3)):
        ops.append(scatter(ch, b, sent, bounds))
    return Case(sent, bytes(b), chunking(ch, len(b), real, real_bytewise), ops, real)


# --- the deterministic sweep ---------------------------------------------------------------------


@functools.cache
def sweep_frames() -> tuple[list[Sent], list[Sent]]:
    rng = np.random.default_rng(2024)
    tiny = [make_sent(7 + k, 1_000_000 + 33_333 * k, 1500, rng.integers(0, 256, (h, w), np.uint8))
            for k, (w, h) in enumerate(((8, 4), (3, 2), (8, 4), (12, 6)))]
    real = [make_sent(70 + k, 5_000_000 + 33_333 * k, 1500,
                      rng.integers(0, 256, (MAX_H, MAX_W), np.uint8)) for k in range(3)]
    assert not any(header_inside(s.wire) for s in tiny + real)
    return tiny, real


@functools.cache
def sweep_specs() -> list[tuple[str, int, int, int]]:
    """(kind, x, y, chunk): tiny -> loss [x, y) of the tiny stream, fed whole (chunk 0) or
    byte by byte; trunc -> a[:x] + b + c; splice -> a[:x] + b[x:] + c (real frames)."""
    tiny, real = sweep_frames()
    n = sum(len(s.wire) for s in tiny)
    bounds = sorted(set(boundaries(tiny)))
    pairs = {(x, y) for x in bounds for y in range(x + 1, n + 1)}
    pairs |= {(x, y) for y in bounds for x in range(y)}
    specs = [("tiny", x, y, c) for x, y in sorted(pairs) for c in (0, 1)]
    for x in range(len(real[0].wire) + 1):
        specs += [("trunc", x, 0, 0 if x % 2 else 1 + x % 4096), ("splice", x, 0, 0)]
    return specs


def sweep_case(i: int) -> Case:
    kind, x, y, chunk = sweep_specs()[i]
    tiny, real = sweep_frames()
    chunks = [chunk] if chunk else []
    if kind == "tiny":
        s = b"".join(f.wire for f in tiny)
        return Case(list(tiny), s[:x] + s[y:], chunks, [f"loss[{x}:{y}]"])
    a, b, c = (f.wire for f in real)
    data = a[:x] + b + c if kind == "trunc" else a[:x] + b[x:] + c
    return Case(list(real), data, chunks, [f"{kind}@{x}"], real=True)


# --- running -------------------------------------------------------------------------------------


@dataclass
class Tally:
    cases: int = 0
    sweep_cases: int = 0
    real_frame_cases: int = 0
    byte_chunked_cases: int = 0
    bytes_fed: int = 0
    frames_sent: int = 0
    frames_expected: int = 0
    frames_delivered: int = 0
    cases_with_bad_data: int = 0  # the parser saw (and counted) corruption
    escaped_exceptions: int = 0
    corrupted_deliveries: int = 0
    resync_failures: int = 0  # expected frames not delivered
    unexpected_deliveries: int = 0
    stats_mismatches: int = 0
    failing_cases: int = 0
    ops: Counter[str] = field(default_factory=Counter)

    def add(self, case: Case, v: Verdict, sweep: bool) -> None:
        self.cases += 1
        self.sweep_cases += sweep
        self.real_frame_cases += case.real
        self.byte_chunked_cases += case.chunks == [1]
        self.bytes_fed += len(case.received)
        self.frames_sent += len(case.sent)
        self.frames_expected += v.expected
        self.frames_delivered += v.delivered
        self.cases_with_bad_data += v.bad_data > 0
        self.escaped_exceptions += bool(v.exception)
        self.corrupted_deliveries += v.corrupted
        self.resync_failures += v.missed
        self.unexpected_deliveries += v.unexpected
        self.stats_mismatches += bool(v.stats)
        self.failing_cases += v.failed
        if not sweep:
            self.ops.update(op.split("@")[0].split("[")[0] for op in case.ops)

    def merge(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            if name == "ops":
                self.ops.update(other.ops)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


class Failure(NamedTuple):
    number: int
    case: Case
    verdict: Verdict


def case_at(seed: int, i: int, sweep: bool) -> tuple[Case, bool]:
    n_sweep = len(sweep_specs()) if sweep else 0
    if i < n_sweep:
        return sweep_case(i), True
    return build_case(RngChooser(random.Random(f"{seed}/{i - n_sweep}"))), False


def run_batch(job: tuple[int, int, int, bool, bool]) -> tuple[Tally, Failure | None]:
    seed, start, stop, sweep, keep_going = job
    tally = Tally()
    first: Failure | None = None
    for i in range(start, stop):
        case, from_sweep = case_at(seed, i, sweep)
        v = check(case)
        tally.add(case, v, from_sweep)
        if v.failed and first is None:
            first = Failure(i, case, v)
            if not keep_going:
                break
    return tally, first


def reproducer(case: Case, verdict: Verdict) -> str:
    want = expected(case.received, [s.wire for s in case.sent])
    sent = "\n".join(f'    bytes.fromhex("{s.wire.hex()}"),' for s in case.sent)
    return f'''# camera stream counterexample: {verdict.describe()}
# corruption: {" ".join(case.ops)}
import numpy as np

from hal.camera_stream import StreamParser, encode_frame

received = bytes.fromhex("{case.received.hex()}")
sent = [
{sent}
]
chunks = {case.chunks!r}  # sizes fed in turn, cycled; [] = all at once
want = {want!r}  # indices into sent: every intact occurrence, leftmost first, no overlaps

p = StreamParser(max_width={MAX_W}, max_height={MAX_H})
got = []
i = k = 0
while i < len(received):  # must not raise
    n = chunks[k % len(chunks)] if chunks else len(received)
    got += p.feed(received[i : i + n])
    i, k = i + n, k + 1
again = [encode_frame(f.seq, f.t_mid_us, f.exposure_us,
                      np.frombuffer(f.payload, np.uint8).reshape(f.height, f.width))
         for f in got]
assert all(f.pixfmt == 0 and f.wire_bytes == len(w) for f, w in zip(got, again))
assert again == [sent[j] for j in want], [sent.index(w) if w in sent else "corrupt" for w in again]
st = p.stats
assert st.frames == len(got) and st.bytes_in == len(received)
assert sum(f.wire_bytes for f in got) + st.bytes_skipped + p.buffered == st.bytes_in, st
'''


def figures(tally: Tally, seconds: float, mode: str, seed: int, jobs: int) -> dict[str, Any]:
    out: dict[str, Any] = {"fuzz": "stream", "mode": mode, "seed": seed, "jobs": jobs}
    out.update({k: v for k, v in vars(tally).items() if k != "ops"})
    out["random_cases"] = tally.cases - tally.sweep_cases
    out["seconds"] = round(seconds, 1)
    out["cases_per_s"] = round(tally.cases / seconds) if seconds > 0 else 0
    out["ops"] = dict(sorted(tally.ops.items()))
    return out


def report(tally: Tally, seconds: float, failure: Failure | None, mode: str, seed: int,
           jobs: int) -> int:
    if failure is not None:
        print(f"counterexample (case {failure.number}): {failure.verdict.describe()}")
        print(reproducer(failure.case, failure.verdict))
    figs = figures(tally, seconds, mode, seed, jobs)
    for k, v in figs.items():
        print(f"{k:>24}: {v}")
    print(json.dumps(figs), flush=True)
    return 1 if failure is not None or tally.failing_cases else 0


def batches(seed: int, total: int, sweep: bool, keep: bool) -> Iterator[tuple[int, int, int,
                                                                              bool, bool]]:
    for a in range(0, total, BATCH):
        yield seed, a, min(a + BATCH, total), sweep, keep


def run_random(count: int, seed: int, jobs: int, sweep: bool, keep_going: bool) -> int:
    total = (len(sweep_specs()) if sweep else 0) + count
    tally = Tally()
    failure: Failure | None = None
    t0 = last = time.monotonic()
    pool = multiprocessing.Pool(jobs) if jobs > 1 else None
    results: Iterable[tuple[Tally, Failure | None]] = (
        pool.imap_unordered(run_batch, batches(seed, total, sweep, keep_going))
        if pool is not None else map(run_batch, batches(seed, total, sweep, keep_going)))
    try:
        for part, fail in results:
            tally.merge(part)
            if fail is not None and (failure is None or fail.number < failure.number):
                failure = fail
            now = time.monotonic()
            if now - last >= PROGRESS_S:
                last = now
                print(f"fuzz.stream: {tally.cases}/{total} cases, "
                      f"{tally.cases / (now - t0):.0f}/s, {tally.failing_cases} failing",
                      file=sys.stderr, flush=True)
            if failure is not None and not keep_going:
                break
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return report(tally, time.monotonic() - t0, failure, "random", seed, jobs)


# --- atheris -------------------------------------------------------------------------------------


class DataChooser:
    """Choices from atheris's input, so coverage feedback steers the same case generator."""

    def __init__(self, fdp: Any) -> None:
        self.fdp = fdp

    def between(self, lo: int, hi: int) -> int:
        return int(self.fdp.ConsumeIntInRange(lo, hi))

    def blob(self, n: int) -> bytes:
        data: bytes = self.fdp.ConsumeBytes(n)
        return data + bytes(n - len(data))


def run_atheris(seconds: float, seed: int) -> int:
    try:
        import atheris
    except ImportError:
        print("fuzz.stream: --atheris needs atheris (pip install 'atheris>=2.3'), "
              "which is not installed", file=sys.stderr)
        return 2
    import hal.camera_stream as cs

    for fn in (cs.payload_crc, StreamParser.feed, StreamParser._header,
               StreamParser._inner_header, StreamParser._discard, StreamParser._count_seq):
        atheris.instrument_func(fn)
    tally = Tally()
    t0 = time.monotonic()

    def finish(failure: Failure | None) -> None:
        sys.stdout.flush()
        # libFuzzer ends the process from C, so report and leave here
        os._exit(report(tally, time.monotonic() - t0, failure, "atheris", seed, 1))

    def one(data: bytes) -> None:
        # a real frame byte by byte takes seconds instrumented: the random mode covers it
        case = build_case(DataChooser(atheris.FuzzedDataProvider(data)), real_bytewise=0)
        v = check(case)
        tally.add(case, v, False)
        if v.failed:
            finish(Failure(tally.cases - 1, case, v))
        if time.monotonic() - t0 >= seconds:
            finish(None)

    atheris.Setup([sys.argv[0], f"-seed={seed}", f"-max_total_time={int(seconds) + 60}",
                   "-max_len=4096", "-len_control=0"], one)
    atheris.Fuzz()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fuzz.stream", description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100_000, help="random cases (after the sweep)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--no-sweep", action="store_true", help="skip the deterministic sweep")
    ap.add_argument("--keep-going", action="store_true",
                    help="count every failing case instead of stopping at the first")
    ap.add_argument("--atheris", type=float, metavar="SECONDS",
                    help="coverage-guided fuzzing with atheris for this long instead")
    a = ap.parse_args(argv)
    if a.atheris is not None:
        return run_atheris(a.atheris, a.seed)
    return run_random(a.count, a.seed, max(1, a.jobs), not a.no_sweep, a.keep_going)


if __name__ == "__main__":
    sys.exit(main())

