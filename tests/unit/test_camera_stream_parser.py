"""Raw-frame stream: wire format, parser (incl. hypothesis corruption), timestamper, driver."""

from __future__ import annotations

import random
import threading
import time
import zlib
from typing import Any, NamedTuple

import numpy as np
import pytest
import serial
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from fuzz.stream import expected, header_inside
from hal.camera_stream import (
    HEADER_LEN,
    OVERHEAD,
    SYNC,
    FrameTimestamper,
    ParsedFrame,
    StreamCamera,
    StreamCameraSettings,
    StreamParser,
    encode_frame,
)
from hal.serial_reader import FrameQueue, wire_time_ns
from hal.tomlschema import ConfigError, load
from hal.types import Frame


class Sent(NamedTuple):
    seq: int
    t_mid_us: int
    exposure_us: int
    image: np.ndarray

    def wire(self) -> bytes:
        return encode_frame(self.seq, self.t_mid_us, self.exposure_us, self.image)

    def parsed(self) -> ParsedFrame:
        """What the parser must deliver for this frame, field by field."""
        h, w = self.image.shape
        return ParsedFrame(self.seq, self.t_mid_us, self.exposure_us, w, h, 0,
                           self.image.tobytes(), OVERHEAD + w * h)


def make(seq: int, w: int = 6, h: int = 4, fill: int | None = None) -> Sent:
    rng = np.random.default_rng(seq)
    img = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    if fill is not None:
        img[:] = fill
    return Sent(seq, 1_000_000 + seq * 33_333, 1500 + seq, img)


def matches(pf: ParsedFrame, s: Sent) -> bool:
    return pf == s.parsed()


def feed_in_chunks(p: StreamParser, data: bytes, sizes: list[int]) -> list[ParsedFrame]:
    out: list[ParsedFrame] = []
    i = 0
    k = 0
    while i < len(data):
        n = sizes[k % len(sizes)] if sizes else len(data)
        out += p.feed(data[i : i + n])
        i += n
        k += 1
    return out


def test_layout_is_as_documented() -> None:
    s = make(7, w=3, h=2)
    b = s.wire()
    assert b[:4] == SYNC
    assert len(b) == 36 + 6 + 4 == OVERHEAD + 6
    assert b[4:8] == bytes([2, 0, 0, 0])  # version 2, GRAY8, reserved
    assert int.from_bytes(b[8:12], "little") == 7
    assert int.from_bytes(b[12:20], "little") == s.t_mid_us
    assert int.from_bytes(b[20:24], "little") == s.exposure_us
    assert int.from_bytes(b[24:26], "little") == 3
    assert int.from_bytes(b[26:28], "little") == 2
    assert int.from_bytes(b[28:32], "little") == 6
    assert int.from_bytes(b[32:36], "little") == zlib.crc32(b[:32])
    assert b[36:42] == s.image.tobytes()
    # the payload CRC covers header bytes 0..31, then the payload (not the header CRC)
    assert int.from_bytes(b[42:46], "little") == zlib.crc32(b[:32] + b[36:42])
    assert wire_time_ns(300_000, 3_000_000) == 1_000_000_000


def test_roundtrip_byte_by_byte() -> None:
    sent = [make(i, w=5 + i, h=3) for i in range(4)]
    p = StreamParser()
    got = feed_in_chunks(p, b"".join(s.wire() for s in sent), [1])
    assert len(got) == 4 and all(matches(g, s) for g, s in zip(got, sent, strict=True))
    st_ = p.stats
    assert (st_.bad_data, st_.resyncs, st_.gaps, st_.bytes_skipped) == (0, 0, 0, 0)


def test_gaps_and_restart_counted() -> None:
    p = StreamParser()
    p.feed(b"".join(make(i).wire() for i in (0, 1, 4, 5)))
    assert (p.stats.gaps, p.stats.lost) == (1, 2)
    p.feed(make(0).wire())  # went backwards: a board restart, not 2^32 lost frames
    assert p.stats.restarts == 1 and p.stats.lost == 2


def test_garbage_before_and_between_is_skipped() -> None:
    p = StreamParser()
    a, b = make(1), make(2)
    got = p.feed(b"\x00\xc3\x3c\xa5junk" + a.wire() + SYNC[:3] + b"zz" + b.wire())
    assert [g.seq for g in got] == [1, 2]
    assert p.stats.resyncs >= 2 and p.stats.bytes_skipped == 8 + 5


def test_truncated_frame_dropped_as_soon_as_next_header_arrives() -> None:
    p = StreamParser()
    big, nxt = make(1, w=64, h=64), make(2)
    assert p.feed(big.wire()[:500]) == []
    got = p.feed(nxt.wire())
    # the next frame is delivered now, not after another frame's worth of bytes
    assert [g.seq for g in got] == [2] and matches(got[0], nxt)
    assert p.stats.truncated == 1


def test_bad_payload_crc_rejected_and_next_frame_found() -> None:
    p = StreamParser()
    bad = bytearray(make(1).wire())
    bad[HEADER_LEN + 2] ^= 0x10
    got = p.feed(bytes(bad) + make(2).wire())
    assert [g.seq for g in got] == [2]
    assert p.stats.bad_payload == 1


def test_implausible_header_rejected() -> None:
    p = StreamParser(max_width=16, max_height=16)
    got = p.feed(make(1, w=17, h=2).wire() + make(2).wire())
    assert [g.seq for g in got] == [2] and p.stats.bad_header == 1


# --- property: random corruption of valid streams ---------------------------------------------

frame_dims = st.tuples(st.integers(1, 12), st.integers(1, 6))
op = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=50)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 60)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("sync"), st.integers(0, 10**6), st.just(0)),  # a stray sync word
    # a copy of the n-th frame's header (valid CRC) out of place
    st.tuples(st.just("header"), st.integers(0, 10**6), st.integers(0, 3)),
)


def corrupt(data: bytes, ops: list[tuple[str, int, object]], headers: list[bytes]) -> bytes:
    b = bytearray(data)
    for kind, pos, arg in ops:
        if not b:
            break
        i = pos % len(b)
        if kind == "flip":
            assert isinstance(arg, int)
            b[i] ^= 1 << arg
        elif kind == "insert":
            assert isinstance(arg, bytes)
            b[i:i] = arg
        elif kind == "delete":
            assert isinstance(arg, int)
            del b[i : i + arg]
        elif kind == "truncate":
            del b[i:]
        elif kind == "header":
            assert isinstance(arg, int)
            b[i:i] = headers[arg % len(headers)]
        else:
            b[i:i] = SYNC
    return bytes(b)


@pytest.mark.property
@settings(suppress_health_check=[*settings().suppress_health_check, HealthCheck.too_slow])
@given(
    dims=st.lists(frame_dims, min_size=1, max_size=4),
    ops=st.lists(op, min_size=1, max_size=4),
    chunks=st.lists(st.integers(1, 97), min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
)
# v1: frame 1's header (a 32-byte image) then the first clean frame whole: the clean frame's
# header bytes 0..31 and header CRC passed as frame 1's image and payload CRC
@example(dims=[(10, 2), (8, 4), (1, 4)], ops=[("truncate", 33184, 0)], chunks=[1], seed=0)
@example(dims=[(4, 6), (8, 4)], ops=[("truncate", 100, 0)], chunks=[1], seed=0)
@example(dims=[(8, 4)], ops=[("header", 0, 0)], chunks=[1], seed=0)  # its own header, twice
@example(dims=[(2, 4), (8, 1)], ops=[("header", 0, 0), ("header", 72, 1)], chunks=[1], seed=0)
# v1: a header copied in front of another frame's payload and CRC of the same size
@example(dims=[(1, 5), (1, 5), (1, 2), (12, 1)], ops=[("header", 772, 1)], chunks=[1], seed=0)
@example(dims=[(1, 3), (1, 3), (1, 3), (1, 1)], ops=[("header", 16782, 0)], chunks=[1], seed=0)
@example(dims=[(2, 4), (2, 4)], ops=[("delete", 0, 11), ("header", 10273, 0)], chunks=[1], seed=0)
@example(
    dims=[(12, 4), (12, 4)], ops=[("sync", 88, 0), ("header", 88, 0), ("header", 252, 1)],
    chunks=[1], seed=0,
)
@example(
    dims=[(1, 5), (1, 5), (2, 3), (10, 4)],
    ops=[("insert", 45, bytes(13)), ("delete", 45, 8), ("header", 45, 0), ("header", 122625, 1)],
    chunks=[1], seed=0,
)
# the last dirty frame loses only its final CRC byte, which equals the next sync byte: that
# frame is rebuilt (and delivered), the first clean frame is not (the v1 test demanded both)
@example(dims=[(5, 3), (4, 2)], ops=[("truncate", 102, 0)], chunks=[1], seed=170)
def test_corruption_never_delivers_bad_frames_and_resyncs(
    dims: list[tuple[int, int]], ops: list[tuple[str, int, object]], chunks: list[int],
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    dirty = [
        Sent(i, 10_000 * i + seed, 100, rng.integers(0, 256, (h, w), dtype=np.uint8))
        for i, (w, h) in enumerate(dims)
    ]
    clean = [make(100 + i, w=7, h=5) for i in range(2)]
    sent = dirty + clean
    wires = [s.wire() for s in sent]
    assume(not any(header_inside(w) for w in wires))  # the oracle's precondition (~2^-64)
    stream = corrupt(b"".join(wires[: len(dirty)]), ops, [w[:HEADER_LEN] for w in wires])
    stream += b"".join(wires[len(dirty) :])
    p = StreamParser(max_width=64, max_height=64)
    got = feed_in_chunks(p, stream, chunks)  # no exception may escape
    for g in got:
        assert g in [s.parsed() for s in sent], f"a corrupted frame was delivered: {g}"
    # Exactly the sent frames whose wire bytes arrived intact and contiguous, leftmost first,
    # never two that overlap. So the clean frames after the corruption are delivered unless a
    # frame rebuilt by coincidence took the first clean frame's first bytes.
    want = [sent[k].seq for k in expected(stream, wires)]
    assert [g.seq for g in got] == want
    assert want[-1:] == [101]
    assert sum(g.wire_bytes for g in got) + p.stats.bytes_skipped + p.buffered == len(stream)


@pytest.mark.property
@given(data=st.binary(max_size=3000), chunks=st.lists(st.integers(1, 500), min_size=1))
def test_pure_garbage_never_raises_or_delivers(data: bytes, chunks: list[int]) -> None:
    p = StreamParser()
    assert feed_in_chunks(p, data, chunks) == []
    tail = make(5)
    got = p.feed(tail.wire())
    assert len(got) == 1 and matches(got[0], tail)


# --- timestamper ------------------------------------------------------------------------------


def test_timestamper_maps_skewed_device_clock_through_jitter() -> None:
    s = StreamCameraSettings(width=8, height=8, baud=3_000_000, fixed_latency_ns=1_500_000)
    ts = FrameTimestamper(s)
    rnd = random.Random(3)
    period, skew, offset = 33_333_333, 200e-6, -7_000_000_000
    wire = wire_time_ns(OVERHEAD + 64, s.baud)
    errs = []
    for k in range(300):
        t_mid = 50_000_000_000 + k * period
        dev_us = round((t_mid - offset) * (1 + skew)) // 1000
        t_rx = t_mid + s.fixed_latency_ns + wire + int(rnd.uniform(0, 1_000_000))
        pf = ParsedFrame(k, dev_us, 100, 8, 8, 0, bytes(64), OVERHEAD + 64)
        f = ts.stamp(pf, t_rx)
        errs.append(f.t_ns - t_mid)
        assert f.t_rx_ns == t_rx and f.image.shape == (8, 8)
    # uncorrected, the offset is 7 s; the first stamp is off by its own jitter only
    assert abs(errs[0]) < 1_100_000
    assert max(abs(e) for e in errs[-100:]) < 100_000
    assert ts.mapper.stats.skew_ppm == pytest.approx(-200, abs=20)


def test_settings_reject_frames_that_cannot_fit_the_line() -> None:
    with pytest.raises(ConfigError, match=r"hil.toml: camera: a 160x120 frame takes 64.1 ms"):
        load(StreamCameraSettings, {"width": 160, "height": 120}, "hil.toml", "camera")
    ok = load(StreamCameraSettings, {"width": 160, "height": 120, "baud": 6_000_000}, "x", "c")
    assert ok.baud == 6_000_000


def test_frame_queue_drops_oldest_and_counts() -> None:
    q = FrameQueue(2)
    img = np.zeros((1, 1), np.uint8)
    for i in range(5):
        q.put(Frame(i, i, i, img))
    assert [f.seq for f in q.drain()] == [3, 4] and q.dropped == 3
    assert q.drain() == []


# --- driver with scripted ports (no tty, deterministic) ----------------------------------------


class ScriptPort:
    """Serves ``data`` then raises SerialException (a yanked cable), or idles if ``fail`` is 0."""

    def __init__(self, data: bytes, fail: bool) -> None:
        self.baudrate = 3_000_000
        self._data = bytearray(data)
        self._fail = fail
        self.closed = False

    def read(self, size: int = 1) -> bytes:
        if not self._data:
            if self._fail:
                raise serial.SerialException("device disconnected")
            time.sleep(0.005)  # the port's bounded timeout
            return b""
        out = bytes(self._data[:size])
        del self._data[:size]
        return out

    @property
    def in_waiting(self) -> int:
        return min(len(self._data), 777)

    def write(self, data: bytes) -> int:
        return len(data)

    def reset_input_buffer(self) -> None:
        self._data.clear()

    def close(self) -> None:
        self.closed = True


class MonoClock:
    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        time.sleep(max(0, t_ns - self.now_ns()) / 1e9)


def wait_for(cond: object, timeout_s: float = 5.0) -> bool:
    assert callable(cond)
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return bool(cond())


def test_driver_reconnects_after_serial_exception() -> None:
    first = b"".join(make(i, w=8, h=6).wire() for i in range(3))
    second = b"".join(make(i, w=8, h=6).wire() for i in range(3, 6))
    opens: list[ScriptPort] = []
    refused = {"n": 2}

    def factory() -> ScriptPort:
        if len(opens) == 1 and refused["n"] > 0:  # the device is away for a while
            refused["n"] -= 1
            raise serial.SerialException("could not open port")
        port = ScriptPort(first if not opens else second, fail=not opens)
        opens.append(port)
        return port

    s = StreamCameraSettings(width=8, height=6, reconnect_min_s=0.001, reconnect_max_s=0.01)
    cam = StreamCamera(factory, MonoClock(), s)
    cam.open()
    frames: list[Frame] = []

    def six() -> bool:
        frames.extend(cam.poll())
        return len(frames) >= 6

    assert wait_for(six)
    h = cam.health()
    assert [f.seq for f in frames] == list(range(6))
    assert np.array_equal(frames[4].image, make(4, w=8, h=6).image)
    assert h.reconnects == 1 and h.errors == 3 and h.connected
    assert "could not open" in h.last_error
    assert h.clock is not None and h.clock.updates == 6
    t0 = time.monotonic()
    cam.close()
    assert time.monotonic() - t0 < 5.0 and opens[-1].closed and not cam.health().connected


def test_driver_counts_wrong_size_and_queue_overflow() -> None:
    data = make(0, w=5, h=5).wire() + b"".join(make(i, w=8, h=6).wire() for i in range(1, 12))
    s = StreamCameraSettings(width=8, height=6, queue_len=4)
    cam = StreamCamera(lambda: ScriptPort(data, fail=False), MonoClock(), s)
    cam.open()
    assert wait_for(lambda: cam.health().samples >= 11)
    cam.close()
    got = cam.poll()
    h = cam.health()
    assert [f.seq for f in got] == [8, 9, 10, 11]
    assert h.overflows == 7 and h.bad_data == 1 and h.counters.wrong_size == 1
    assert h.lost == 7


def test_close_never_hangs_when_port_never_opens() -> None:
    def factory() -> ScriptPort:
        raise OSError(2, "No such file or directory")

    cam = StreamCamera(factory, MonoClock(), StreamCameraSettings(reconnect_max_s=0.05))
    cam.open()
    assert wait_for(lambda: cam.health().errors >= 2)
    done = threading.Event()

    def closer() -> None:
        cam.close()
        done.set()

    threading.Thread(target=closer, daemon=True).start()
    assert done.wait(5.0)
    assert not cam.health().connected and cam.poll() == []


# --- frames the host lost: a stream hole while the receive buffer was full ---------------------


class BacklogPort(ScriptPort):
    """A scripted port whose reads report ``waiting`` bytes waiting (4095: the line
    discipline's buffer was full, the reader had fallen that far behind)."""

    def __init__(self, data: bytes, waiting: int) -> None:
        super().__init__(data, fail=False)
        self.waiting = waiting

    @property
    def in_waiting(self) -> int:
        return self.waiting if self._data else 0


def _stream(seqs: list[int], cut: int | None = None) -> bytes:
    """Frames 8x6 with these seqs; frame ``cut`` (an index) loses its second half."""
    out = b""
    for i, k in enumerate(seqs):
        wire = make(k, w=8, h=6).wire()
        out += wire[: len(wire) // 2] if i == cut else wire
    return out


def _run_driver(data: bytes, waiting: int, n_frames: int) -> tuple[list[int], Any]:
    s = StreamCameraSettings(width=8, height=6, queue_len=64)
    port = BacklogPort(data, waiting)
    cam = StreamCamera(lambda: port, MonoClock(), s)
    cam.open()
    assert wait_for(lambda: cam.health().samples >= n_frames)
    cam.close()
    return [f.seq for f in cam.poll()], cam.health()


@pytest.mark.parametrize("waiting", [4095, 10_000])
def test_hole_while_receive_buffer_full_is_the_hosts_loss(waiting: int) -> None:
    # frames 3 (half of it) and 4 never made it: the sender had nowhere to put its bytes
    data = _stream([0, 1, 2, 3, 5, 6], cut=3)
    seqs, h = _run_driver(data, waiting, 5)
    assert seqs == [0, 1, 2, 5, 6]
    assert h.counters.rx_lost == 2 and h.overflows == 2  # judged as the host's, not the camera's
    assert h.lost == 2 and h.counters.rx_overruns >= 1


def test_hole_without_backlog_stays_the_cameras() -> None:
    data = _stream([0, 1, 2, 3, 5, 6], cut=3)
    seqs, h = _run_driver(data, 64, 5)  # the reader kept up: the wire lost them
    assert seqs == [0, 1, 2, 5, 6]
    assert h.counters.rx_lost == 0 and h.overflows == 0 and h.counters.rx_overruns == 0
    assert h.lost == 2 and h.bad_data >= 1


def test_clean_gap_with_backlog_stays_the_cameras() -> None:
    # no bytes lost in transit: the camera itself skipped 3 and 4, however late the reader was
    seqs, h = _run_driver(_stream([0, 1, 2, 5, 6]), 4095, 5)
    assert seqs == [0, 1, 2, 5, 6]
    assert h.counters.rx_lost == 0 and h.overflows == 0 and h.counters.rx_overruns >= 1
    assert h.lost == 2
