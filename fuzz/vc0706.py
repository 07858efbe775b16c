"""Fuzz the VC0706 driver's capture path with corrupted captures on a fake serial line.

    .venv/bin/python -m fuzz.vc0706 --count 100000 --seed 1 [--jobs 2] [--no-verify]
    .venv/bin/python -m fuzz.vc0706 --atheris 60

Each case builds the real driver (``hal.vc0706.Vc0706Camera``, default settings but no reset on
open) on a fake line whose bytes arrive at the baud rate on a fake clock (no real time passes),
facing a fake camera that answers from a JPEG. A plan corrupts single replies (bit flips in
headers, lengths and JPEG data, dropped and inserted bytes, truncation, stalls, babble, error
status, duplicates) and sometimes the frame buffer itself (SOF0 dimensions, truncation, a frame
length that lies, padding). One corrupted capture, then, once the line is quiet, a clean one.

Oracle: only Vc0706Error leaves ``capture()``; a delivered image equals the true JPEG's image
(decoded here with Pillow) exactly; once a freeze was sent the last FBUF_CTRL sent is resume;
no capture lasts longer than ``capture_timeout_s``; a failed capture shows in health (errors or
bad_data); the clean capture after it delivers the true image (resync). ``--no-verify`` turns
the driver's double read off, to show what it catches.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import multiprocessing
import os
import random
import sys
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from hal.vc0706 import Vc0706Camera, Vc0706Error, Vc0706Settings

W, H, SIZE_CODE = 160, 120, 0x22
START_NS = 1_000_000_000_000
LATENCY_NS = 200_000  # command received -> first reply byte
OK = bytes((0x76, 0x00))
VERSION = b"VC0703 1.00"

_T = TypeVar("_T")

# (kind, reply index, position, value, bytes); what each means is in ``mutate``
Mutation = tuple[str, int, int, int, bytes]
WIRE_KINDS = (
    "flip", "flip_data", "flip_data", "flip_head", "delete", "insert", "truncate", "drop",
    "garbage", "stall", "babble", "status", "len_byte", "len_flip", "len_value", "sof0", "dup",
)
BUFFER_KINDS = ("sof0", "truncate", "length_lie", "pad")


@dataclass(frozen=True)
class Case:
    jpeg: bytes
    buffer: tuple[str, int, bytes] = ("", 0, b"")  # frame-buffer corruption: kind, value, bytes
    mutations: tuple[Mutation, ...] = ()
    verify: bool = True
    baud: int = 38400


KINDS = ("escaped", "corrupted", "no_resume", "over_cap", "uncounted", "resync_failures")


@dataclass
class Outcome:
    findings: list[tuple[str, str]] = field(default_factory=list)  # (one of KINDS, text)
    delivered: int = 0  # the corrupted capture gave a (correct) frame
    rejected: int = 0  # it returned None (bad JPEG, counted)
    failed: int = 0  # it raised Vc0706Error
    mismatches: int = 0  # the driver's readings that disagreed
    capture_ns: int = 0


# --- fake clock, line and camera ---------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = START_NS

    def now_ns(self) -> int:
        return self.t

    def sleep_until(self, t_ns: int) -> None:
        self.t = max(self.t, t_ns)


class _Segment:
    """Bytes sent back to back: byte k (0-based) arrives at ``t0 + (k + 1) * byte_ns``."""

    __slots__ = ("byte_ns", "data", "t0", "taken")

    def __init__(self, t0: int, byte_ns: int, data: bytes) -> None:
        self.t0, self.byte_ns, self.data, self.taken = t0, byte_ns, data, 0


class FakeLine:
    """A serial port (``hal.camera_stream.SerialPort``) whose received bytes arrive one every
    10 bit times on a fake clock; ``read`` waits (moves the clock) up to its timeout."""

    def __init__(self, clock: FakeClock, camera: FakeCamera, timeout_s: float) -> None:
        self.clock = clock
        self.camera = camera
        self.timeout_ns = round(timeout_s * 1e9)
        self.baudrate = 38400
        self.sent: list[bytes] = []
        self.tail_ns = 0  # when the last scheduled byte arrives
        self._segs: deque[_Segment] = deque()

    def _arrived(self, t: int) -> int:
        total = 0
        for g in self._segs:
            done = (t - g.t0) // g.byte_ns
            if done < len(g.data):
                return total + max(0, done - g.taken)
            total += len(g.data) - g.taken
        return total

    def _take(self, m: int) -> bytes:
        out = b""
        while m > 0:
            g = self._segs[0]
            end = min(len(g.data), g.taken + m)
            out += g.data[g.taken : end]
            m -= end - g.taken
            g.taken = end
            if end == len(g.data):
                self._segs.popleft()
        return out

    def read(self, size: int = 1) -> bytes:
        """Like pyserial: returns once ``size`` bytes arrived or the timeout passed."""
        now = self.clock.t
        need = size
        for g in self._segs:  # when does the size-th pending byte arrive?
            rem = len(g.data) - g.taken
            if need <= rem:
                t_full = g.t0 + (g.taken + need) * g.byte_ns
                if t_full <= now:
                    return self._take(size)
                if t_full <= now + self.timeout_ns:
                    self.clock.t = t_full
                    return self._take(size)
                break
            need -= rem
        self.clock.t = now + self.timeout_ns
        return self._take(self._arrived(self.clock.t))

    def write(self, data: bytes) -> int:
        data = bytes(data)
        self.sent.append(data)
        bn = 10 * 1_000_000_000 // self.baudrate
        t_heard = self.clock.t + len(data) * bn
        for delay, out in self.camera.handle(data):
            t0 = max(t_heard + LATENCY_NS + delay, self.tail_ns)
            if out:
                self._segs.append(_Segment(t0, bn, out))
                self.tail_ns = t0 + len(out) * bn
        return len(data)

    @property
    def in_waiting(self) -> int:
        return self._arrived(self.clock.t)

    def reset_input_buffer(self) -> None:
        self._take(self._arrived(self.clock.t))

    def close(self) -> None:
        pass


def sof0_offset(jpeg: bytes) -> int:
    i = jpeg.find(b"\xff\xc0")
    if i < 0:
        raise ValueError("no SOF0 marker")
    return i + 5  # height (2 bytes), then width (2 bytes)


def frame_buffer(case: Case) -> tuple[bytes, int]:
    """The camera's frame buffer and the length it reports, after the buffer corruption."""
    buf, kind, value, data = case.jpeg, *case.buffer
    if kind == "sof0":
        i = sof0_offset(buf)
        buf = buf[:i] + data[:4] + buf[i + 4 :]
    elif kind == "truncate":
        buf = buf[: max(1, value % len(buf))]
    elif kind == "pad":
        buf = buf + data
    elif kind == "length_lie":
        return buf, max(0, len(buf) + value)
    return buf, len(buf)


def mutate(reply: bytes, muts: list[Mutation]) -> list[tuple[int, bytes]]:
    """Apply one reply's corruptions; returns (extra delay ns, bytes) transmissions to send."""
    out = bytearray(reply)
    delay, prefix, copies = 0, b"", 1
    for kind, _, pos, value, data in muts:
        n = len(out)
        is_fbuf = reply[2] == 0x32
        lo, hi = (5, n - 5) if is_fbuf else (5, n)
        if hi <= lo:
            lo, hi = 0, max(1, n)
        if kind == "drop":
            return []
        if kind == "stall":
            delay += value
        elif kind == "garbage":
            prefix = data + prefix
        elif kind == "babble":
            prefix = random.Random(pos).randbytes(value) + prefix
        elif kind == "dup":
            copies = 2
        elif n == 0:
            continue
        elif kind == "flip":
            out[pos % n] ^= 1 << (value & 7)
        elif kind == "flip_head":
            out[pos % min(5, n)] ^= 1 << (value & 7)
        elif kind == "flip_data":
            i = lo + pos % (hi - lo)
            if i < n:
                out[i] ^= 1 << (value & 7)
        elif kind == "delete":
            del out[pos % n : pos % n + value]
        elif kind == "insert":
            out[pos % (n + 1) : pos % (n + 1)] = data
        elif kind == "truncate":
            del out[pos % n :]
        elif kind == "status" and n > 3:
            out[3] = value or 1
        elif kind == "len_byte" and n > 4:
            # the case: a wrong length byte and as many extra bytes elsewhere
            out[4] = value & 0xFF
            at = lo + pos % max(1, hi - lo)
            out[at:at] = data[: value & 0xFF]
        elif kind == "len_flip" and n >= 9 and reply[2] == 0x34:
            v = int.from_bytes(out[5:9], "big") ^ (1 << (value % 32))
            out[5:9] = v.to_bytes(4, "big")
        elif kind == "len_value" and n >= 9 and reply[2] == 0x34:
            out[5:9] = (value & 0xFFFFFFFF).to_bytes(4, "big")
        elif kind == "sof0" and is_fbuf:
            i = out.find(b"\xff\xc0", 5)
            if i >= 0 and i + 9 <= n - 5:
                out[i + 5 : i + 9] = data[:4]
    # a duplicate is a second transmission: line errors hit each one independently, so it
    # goes out as the camera sent it (the same damage twice would be the camera's own fault,
    # which no reading on the host can tell from the truth)
    return [(delay, prefix + bytes(out))] + [(0, reply)] * (copies - 1)


class FakeCamera:
    """Answers the driver's commands from a frame buffer; replies numbered from ``arm()`` on are
    corrupted as the case's plan says."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.buffer, self.reported = case.jpeg, len(case.jpeg)
        self.plan: dict[int, list[Mutation]] = {}
        self.replies = 0
        self.armed = False

    def arm(self) -> None:
        self.buffer, self.reported = frame_buffer(self.case)
        self.plan = {}
        for m in self.case.mutations:
            self.plan.setdefault(m[1], []).append(m)
        self.replies = 0
        self.armed = True

    def disarm(self) -> None:
        self.buffer, self.reported = self.case.jpeg, len(self.case.jpeg)
        self.armed = False

    def _answer(self, cmd: int, args: bytes) -> bytes:
        ok = OK + bytes((cmd, 0x00))
        if cmd == 0x11:
            return ok + bytes((len(VERSION),)) + VERSION
        if cmd == 0x30:
            return ok + bytes((1, SIZE_CODE))
        if cmd == 0x34:
            return ok + b"\x04" + self.reported.to_bytes(4, "big")
        if cmd == 0x32 and len(args) == 12:
            addr, n = int.from_bytes(args[2:6], "big"), int.from_bytes(args[6:10], "big")
            data = self.buffer[addr : addr + n]
            head = ok + b"\x00"
            return head + data + bytes(n - len(data)) + head
        return ok + b"\x00"

    def handle(self, cmd: bytes) -> list[tuple[int, bytes]]:
        if len(cmd) < 4 or cmd[:2] != b"\x56\x00":
            return []
        reply = self._answer(cmd[2], cmd[4:])
        i = self.replies
        self.replies += 1
        muts = self.plan.get(i) if self.armed else None
        return mutate(reply, muts) if muts else [(0, reply)]


# --- one case ----------------------------------------------------------------------------------


def settings_for(case: Case) -> Vc0706Settings:
    return Vc0706Settings(baud=case.baud, reset_on_open=False, verify_reads=case.verify)


def true_image(jpeg: bytes) -> npt.NDArray[np.uint8]:
    with Image.open(io.BytesIO(jpeg)) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def _capture(
    cam: Vc0706Camera, line: FakeLine, truth: npt.NDArray[np.uint8], label: str, out: Outcome,
) -> tuple[bool, bool]:
    """One capture under the oracle; returns (delivered a frame, raised Vc0706Error)."""
    h = cam.health()
    counted = h.errors + h.bad_data
    n_sent = len(line.sent)
    t0 = line.clock.t
    frame = None
    raised = False
    try:
        frame = cam.capture()
    except Vc0706Error:
        raised = True
    except Exception:  # the finding this harness looks for
        out.findings.append(("escaped", f"{label}: {traceback.format_exc()}"))
        return False, False
    dt = line.clock.t - t0
    out.capture_ns = max(out.capture_ns, dt)
    cap_ns = round(cam.settings.capture_timeout_s * 1e9)
    if dt > cap_ns:
        out.findings.append(
            ("over_cap", f"{label}: took {dt / 1e9:.3f} s, cap {cap_ns / 1e9:g} s")
        )
    fbuf = [c for c in line.sent[n_sent:] if len(c) == 5 and c[2] == 0x36]
    if any(c[4] == 0x00 for c in fbuf) and fbuf[-1][4] != 0x03:
        out.findings.append(("no_resume", f"{label}: no resume sent after the last freeze"))
    if frame is not None and not np.array_equal(frame.image, truth):
        out.findings.append(("corrupted", f"{label}: a corrupted image was delivered"))
    h = cam.health()
    if frame is None and h.errors + h.bad_data == counted:
        out.findings.append(("uncounted", f"{label}: the failure is not in health"))
    return frame is not None, raised


def run_case(case: Case) -> Outcome:
    out = Outcome()
    truth = true_image(case.jpeg)
    clock = FakeClock()
    camera = FakeCamera(case)
    s = settings_for(case)
    line = FakeLine(clock, camera, s.io_timeout_s)
    cam = Vc0706Camera(lambda: line, clock, s)
    cam.connect()
    camera.arm()
    got, raised = _capture(cam, line, truth, "corrupted capture", out)
    out.delivered, out.failed = int(got), int(raised)
    out.rejected = int(not got and not raised)
    camera.disarm()
    clock.t = max(clock.t, line.tail_ns) + 500_000_000  # the line is quiet: next period
    before = len(out.findings)
    got, _ = _capture(cam, line, truth, "clean capture after it", out)
    if not got or len(out.findings) > before:
        out.findings.append(("resync_failures", "the clean capture after it gave no frame"))
    out.mismatches = cam.mismatches
    return out


# --- case generation ---------------------------------------------------------------------------


def jpeg_pool() -> list[bytes]:
    """Six 160x120 JPEGs: gradients, noise and blocks at several qualities (2-7 KB)."""
    pool = []
    yy, xx = np.mgrid[0:H, 0:W]
    for i, q in enumerate((25, 40, 60, 30, 50, 75)):
        r = np.random.default_rng(i)
        img = (xx * (i + 1) + yy * 3) % 256
        img = img + r.integers(0, 12 * (i % 3 + 1), (H, W))
        img[r.integers(0, H, 40), r.integers(0, W, 40)] = 255
        b = io.BytesIO()
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L").save(
            b, format="JPEG", quality=q
        )
        pool.append(b.getvalue())
    return pool


class Chooser(Protocol):
    """The part of ``random.Random`` that ``make_case`` draws from."""

    def random(self) -> float: ...

    def choice(self, seq: Sequence[_T]) -> _T: ...

    def randrange(self, start: int, stop: int = ..., /) -> int: ...

    def randint(self, a: int, b: int) -> int: ...

    def randbytes(self, n: int) -> bytes: ...


class DataChooser:
    """A Chooser reading atheris's input, so coverage feedback steers the case generator."""

    def __init__(self, fdp: Any) -> None:
        self.fdp = fdp

    def random(self) -> float:
        return float(self.fdp.ConsumeProbability())

    def choice(self, seq: Sequence[_T]) -> _T:
        return seq[self.randint(0, len(seq) - 1)]

    def randrange(self, start: int, stop: int | None = None, /) -> int:
        lo, hi = (0, start) if stop is None else (start, stop)
        return self.randint(lo, hi - 1)

    def randint(self, a: int, b: int) -> int:
        return int(self.fdp.ConsumeIntInRange(a, b))

    def randbytes(self, n: int) -> bytes:
        data: bytes = self.fdp.ConsumeBytes(n)
        return data + bytes(n - len(data))


def make_case(rng: Chooser, pool: list[bytes], verify: bool = True) -> Case:
    jpeg = rng.choice(pool)
    n_chunks = -(-len(jpeg) // Vc0706Settings().chunk_size)
    n_replies = 4 + 2 * n_chunks  # freeze, two lengths, chunks read twice, resume
    buffer: tuple[str, int, bytes] = ("", 0, b"")
    if rng.random() < 0.15:
        kind = rng.choice(BUFFER_KINDS)
        if kind == "sof0":
            dims = rng.choice([b"\xff\xff\xff\xff", rng.randbytes(4), b"\x00\x78\x00\xa1"])
            if dims == jpeg[sof0_offset(jpeg) : sof0_offset(jpeg) + 4]:
                dims = b"\xff\xff\xff\xff"
            buffer = (kind, 0, dims)
        elif kind == "truncate":
            buffer = (kind, rng.randrange(1, len(jpeg)), b"")
        elif kind == "pad":
            buffer = (kind, 0, bytes(rng.randint(1, 64)) if rng.random() < 0.5
                      else rng.randbytes(rng.randint(1, 600)))
        else:
            buffer = (kind, rng.choice([-1, 1]) * rng.randint(1, 400), b"")
    muts: list[Mutation] = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        kind = rng.choice(WIRE_KINDS)
        at = rng.randrange(n_replies + 2)
        pos = rng.randrange(1 << 16)
        value, data = rng.randrange(256), b""
        if kind in ("delete",):
            value = rng.randint(1, 8)
        elif kind == "insert":
            data = rng.randbytes(rng.randint(1, 8))
        elif kind == "garbage":
            data = rng.randbytes(rng.randint(1, 64))
        elif kind == "stall":
            value = rng.choice((rng.randint(1, 400), rng.randint(400, 3000))) * 1_000_000
        elif kind == "babble":
            value = rng.randint(100, 40_000)
        elif kind == "len_byte":
            value = rng.randint(1, 255)
            data = rng.randbytes(value)
        elif kind == "len_flip":
            value = rng.randrange(32)
        elif kind == "len_value":
            value = rng.choice((rng.randrange(1 << 32), len(jpeg) + rng.randint(-300, 300)))
        elif kind == "sof0":
            data = rng.choice((b"\xff\xff\xff\xff", rng.randbytes(4)))
        muts.append((kind, at, pos, value, data))
    return Case(jpeg, buffer, tuple(muts), verify, rng.choice((38400, 115200)))


def case_source(case: Case) -> str:
    """A self-contained reproducer for ``case``."""
    return (
        "from fuzz.vc0706 import Case, run_case\n"
        f"case = Case(jpeg=bytes.fromhex({case.jpeg.hex()!r}),\n"
        f"            buffer={case.buffer!r},\n"
        f"            mutations={case.mutations!r},\n"
        f"            verify={case.verify!r}, baud={case.baud!r})\n"
        "print(run_case(case).findings)\n"
    )


# --- drivers ----------------------------------------------------------------------------------


@dataclass
class Totals:
    cases: int = 0
    delivered: int = 0
    rejected: int = 0
    failed: int = 0
    mismatches: int = 0
    max_capture_s: float = 0.0
    bad: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    examples: list[str] = field(default_factory=list)

    def add(self, case: Case, out: Outcome) -> None:
        self.cases += 1
        self.delivered += out.delivered
        self.rejected += out.rejected
        self.failed += out.failed
        self.mismatches += out.mismatches
        self.max_capture_s = max(self.max_capture_s, out.capture_ns / 1e9)
        for kind in {k for k, _ in out.findings}:
            self.bad[kind] += 1
        if out.findings and len(self.examples) < 3:
            text = "\n".join(t for _, t in out.findings)
            self.examples.append(f"{text}\n--- reproducer ---\n{case_source(case)}")

    def merge(self, other: Totals) -> None:
        self.cases += other.cases
        self.delivered += other.delivered
        self.rejected += other.rejected
        self.failed += other.failed
        self.mismatches += other.mismatches
        self.max_capture_s = max(self.max_capture_s, other.max_capture_s)
        for k, v in other.bad.items():
            self.bad[k] += v
        self.examples += other.examples[: 3 - len(self.examples)]

    @property
    def n_bad(self) -> int:
        return sum(self.bad.values())


def cases(seed: int, start: int, stop: int, verify: bool) -> Iterator[Case]:
    pool = jpeg_pool()
    for i in range(start, stop):
        yield make_case(random.Random(seed * 1_000_003 + i), pool, verify)


def run_range(args: tuple[int, int, int, bool, bool]) -> Totals:
    seed, start, stop, verify, progress = args
    t = Totals()
    t0 = time.monotonic()
    for k, case in enumerate(cases(seed, start, stop, verify), 1):
        t.add(case, run_case(case))
        if progress and k % 2000 == 0:
            rate = k / (time.monotonic() - t0)
            print(f"  {k}/{stop - start} cases, {t.n_bad} bad, {rate:.0f}/s", file=sys.stderr)
    return t


def fuzz_random(count: int, seed: int, jobs: int, verify: bool) -> Totals:
    if jobs <= 1:
        return run_range((seed, 0, count, verify, True))
    step = -(-count // jobs)
    parts = [(seed, i, min(count, i + step), verify, i == 0) for i in range(0, count, step)]
    total = Totals()
    with multiprocessing.Pool(jobs) as pool:
        for t in pool.imap(run_range, parts):
            total.merge(t)
    return total


def report(t: Totals, wall: float, mode: str, seed: int, verify: bool) -> int:
    """Print the figures, then one JSON line; the exit status: 1 if anything was found."""
    for ex in t.examples:
        print(ex)
    print(f"cases {t.cases} ({mode}, seed {seed}, verify_reads {verify}) in {wall:.0f} s")
    print(f"corrupted capture: {t.delivered} gave a frame, {t.rejected} rejected as "
          f"bad JPEG, {t.failed} failed (Vc0706Error); {t.mismatches} disagreeing readings")
    b = t.bad
    print(f"escaped exceptions {b['escaped']}, corrupted deliveries {b['corrupted']}, missing "
          f"resume {b['no_resume']}, over time cap {b['over_cap']} (longest "
          f"{t.max_capture_s:.2f} s), uncounted failures {b['uncounted']}, resync failures "
          f"{b['resync_failures']}")
    figures = {k: v for k, v in vars(t).items() if k not in ("examples", "bad")}
    print(json.dumps({"fuzz": "vc0706", "mode": mode, "seed": seed, "verify_reads": verify,
                      "seconds": round(wall, 1), **figures, **b}))
    sys.stdout.flush()
    return 1 if t.n_bad else 0


def fuzz_atheris(seconds: float, seed: int, verify: bool) -> int:
    try:
        import atheris
    except ImportError:
        print("fuzz.vc0706: --atheris needs atheris (pip install atheris), which is not "
              "installed", file=sys.stderr)
        return 2
    import hal.vc0706 as vc

    for fn in (vc.jpeg_extent, vc._scan_end, vc.decode_jpeg, vc.chunk_plan,
               *(f for cls in (vc.Vc0706Device, vc.Vc0706Camera)
                 for f in vars(cls).values() if callable(f))):
        atheris.instrument_func(fn)
    pool = jpeg_pool()
    totals = Totals()
    t0 = time.monotonic()

    def one(data: bytes) -> None:
        case = make_case(DataChooser(atheris.FuzzedDataProvider(data)), pool, verify)
        totals.add(case, run_case(case))
        if totals.n_bad or time.monotonic() - t0 >= seconds:
            # libFuzzer ends the process from C: report and leave here
            os._exit(report(totals, time.monotonic() - t0, "atheris", seed, verify))

    atheris.Setup([sys.argv[0], f"-seed={seed}", f"-max_total_time={int(seconds) + 60}",
                   "-max_len=4096"], one)
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz.vc0706", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--atheris", type=float, metavar="SECONDS",
                   help="coverage-guided fuzzing with atheris for this long instead")
    p.add_argument("--no-verify", action="store_true", help="driver reads each chunk once")
    a = p.parse_args(argv)
    verify = not a.no_verify
    logging.getLogger("hal.vc0706").setLevel(logging.ERROR)  # its warnings are expected here
    if a.atheris is not None:
        return fuzz_atheris(a.atheris, a.seed, verify)
    t0 = time.monotonic()
    t = fuzz_random(a.count, a.seed, max(1, a.jobs), verify)
    return report(t, time.monotonic() - t0, "random", a.seed, verify)


if __name__ == "__main__":
    raise SystemExit(main())
