"""VC0706 driver against an in-memory camera: protocol bytes, retries, hypothesis corruption."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from hal.tomlschema import ConfigError, load
from hal.vc0706 import (
    BAUD_DIVIDERS,
    Vc0706Camera,
    Vc0706Error,
    Vc0706Settings,
    decode_jpeg,
)

BANNER = b"VC0703 1.00\r\nCtrl infr exist\r\nInit end\r\n"
HEAD = bytes((0x76, 0x00, 0x32, 0x00, 0x00))


def jpeg(seed: int = 0, w: int = 160, h: int = 120) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = ((xx + 2 * yy) % 256).astype(np.uint8)
    img[rng.integers(0, h, 20), rng.integers(0, w, 20)] = 255
    out = io.BytesIO()
    Image.fromarray(img, mode="L").save(out, format="JPEG", quality=30)
    return out.getvalue()


class StepClock:
    """Advances 1 ms per reading, so every deadline passes quickly and deterministically."""

    def __init__(self) -> None:
        self.t = 10**12

    def now_ns(self) -> int:
        self.t += 1_000_000
        return self.t

    def sleep_until(self, t_ns: int) -> None:
        self.t = max(self.t, t_ns)


class FakeVc0706:
    """Answers like a VC0706; ``mutate`` may rewrite reply number ``which`` (0-based)."""

    def __init__(self, frame: bytes, size_code: int = 0x22) -> None:
        self.frame = frame
        self.size_code = size_code
        self.baudrate = 38400
        self.rx = bytearray()
        self.sent: list[bytes] = []
        self.replies = 0
        self.which = -1
        self.mutate = lambda b: b

    def write(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        assert data[:2] == b"\x56\x00" and data[3] == len(data) - 4
        cmd, args = data[2], data[4:]
        ok = bytes((0x76, 0x00, cmd, 0x00))
        if cmd == 0x26:
            reply = ok + b"\x00" + BANNER
        elif cmd == 0x11:
            reply = ok + b"\x0bVC0703 1.00"
        elif cmd == 0x30:
            reply = ok + bytes((1, self.size_code))
        elif cmd == 0x31:
            self.size_code = args[4]
            reply = ok + b"\x00"
        elif cmd == 0x34:
            reply = ok + b"\x04" + len(self.frame).to_bytes(4, "big")
        elif cmd == 0x32:
            addr, n = int.from_bytes(args[2:6], "big"), int.from_bytes(args[6:10], "big")
            chunk = self.frame[addr : addr + n]
            reply = HEAD + chunk + bytes(n - len(chunk)) + HEAD
        else:
            reply = ok + b"\x00"
        if self.replies == self.which:
            reply = self.mutate(reply)
        self.replies += 1
        self.rx += reply
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out = bytes(self.rx[:size])
        del self.rx[:size]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self.rx)

    def reset_input_buffer(self) -> None:
        self.rx.clear()

    def close(self) -> None:
        pass


def make_cam(fake: FakeVc0706, **kw: object) -> Vc0706Camera:
    s = Vc0706Settings(chunk_size=64, retries=2, reply_timeout_s=0.05, size_settle_s=0.0)
    for k, v in kw.items():
        setattr(s, k, v)
    cam = Vc0706Camera(lambda: fake, StepClock(), s)
    cam.connect()
    return cam


def test_init_sends_documented_bytes() -> None:
    fake = FakeVc0706(jpeg(), size_code=0x00)
    cam = make_cam(fake)
    assert cam.banner.endswith("Init end\r\n") and cam.version_text == "VC0703 1.00"
    assert fake.sent[:3] == [b"\x56\x00\x11\x00", b"\x56\x00\x26\x00", b"\x56\x00\x11\x00"]
    assert b"\x56\x00\x30\x04\x04\x01\x00\x19" in fake.sent
    assert b"\x56\x00\x31\x05\x04\x01\x00\x19\x22" in fake.sent
    assert fake.size_code == 0x22


def test_capture_reads_in_chunks_with_32bit_address() -> None:
    data = jpeg()
    fake = FakeVc0706(data)
    cam = make_cam(fake, chunk_delay_10us=0x0102)
    fake.sent.clear()
    f = cam.capture()
    truth = decode_jpeg(data, 160, 120)
    assert f is not None and truth is not None
    assert f.image.shape == (120, 160) and f.t_ns < f.t_rx_ns
    assert np.array_equal(f.image, truth)
    assert fake.sent[0] == b"\x56\x00\x36\x01\x00" and fake.sent[-1] == b"\x56\x00\x36\x01\x03"
    reads = [c for c in fake.sent if c[2] == 0x32]
    assert len(reads) == -(-len(data) // 64)
    second = reads[1]
    assert second[:6] == b"\x56\x00\x32\x0c\x00\x0a"
    assert second[6:10] == (64).to_bytes(4, "big") and second[10:14] == (64).to_bytes(4, "big")
    assert second[14:16] == b"\x01\x02"


def test_large_frame_address_above_64k() -> None:
    fake = FakeVc0706(b"\xff\xd8" + bytes(70_000) + b"\xff\xd9")
    cam = make_cam(fake, chunk_size=65535)
    body, _ = cam.read_frame(len(fake.frame))
    assert body == fake.frame
    assert fake.sent[-1][6:10] == (65535).to_bytes(4, "big")


def test_byte_short_reply_is_retried_without_waiting_for_timeout() -> None:
    fake = FakeVc0706(jpeg())
    truth = decode_jpeg(fake.frame, 160, 120)
    assert truth is not None
    cam = make_cam(fake)
    clock = cam._clock
    assert isinstance(clock, StepClock)
    t0 = clock.t
    assert cam.capture() is not None
    clean_ns = clock.t - t0
    fake.which = fake.replies + 4  # freeze ack, length, chunk 0, chunk 1, chunk 2 <- short
    fake.mutate = lambda r: r[:20] + r[21:]
    t0 = clock.t
    f = cam.capture()
    assert f is not None and np.array_equal(f.image, truth)
    assert cam.chunk_retries == 1
    # detected at the first trailer byte: costs far less than one 50 ms reply timeout
    assert clock.t - t0 - clean_ns < 25_000_000


def test_baud_scan_and_switch() -> None:
    fake = FakeVc0706(jpeg())
    camera_baud = {"now": 57600}
    real_write = fake.write

    def write(data: bytes) -> int:
        if fake.baudrate != camera_baud["now"]:
            return len(data)  # wrong baud: the camera hears noise and stays quiet
        n = real_write(data)
        if data[2] == 0x24:
            div = data[5] << 8 | data[6]
            camera_baud["now"] = {v: k for k, v in BAUD_DIVIDERS.items()}[div]
        return n

    fake.write = write  # type: ignore[method-assign]
    cam = make_cam(fake, fast_baud=115200)
    assert b"\x56\x00\x24\x03\x01\x0d\xa6" in fake.sent
    assert cam.identify()["baud"] == 115200 and fake.baudrate == 115200
    assert camera_baud["now"] == 115200
    # scanned 38400 (configured) first, then found 57600
    assert cam.health().errors >= 1


def test_no_answer_raises_bounded() -> None:
    fake = FakeVc0706(jpeg())
    fake.write = lambda data: len(data)  # type: ignore[method-assign]
    with pytest.raises(Vc0706Error, match="no answer"):
        make_cam(fake)


def test_babbling_line_cannot_hold_the_driver() -> None:
    fake = FakeVc0706(jpeg())
    cam = make_cam(fake)
    noise = bytes(range(256)) * 4  # never "76 00 36": a wrong-baud line, endless bytes
    fake.read = lambda size=1: noise[:size]  # type: ignore[method-assign]
    clock = cam._clock
    assert isinstance(clock, StepClock)
    t0 = clock.t
    with pytest.raises(Vc0706Error, match="no reply"):
        cam.freeze()
    assert clock.t - t0 < 2_000_000_000  # bounded by the reply deadlines, not by the noise
    assert cam.garbage_bytes > 0


def test_settings_validation() -> None:
    with pytest.raises(ConfigError, match="baud 12345"):
        load(Vc0706Settings, {"baud": 12345}, "rig.toml", "camera")
    assert sorted(BAUD_DIVIDERS) == [9600, 19200, 38400, 57600, 115200]


# --- property: random corruption of one reply during a capture ---------------------------------

framing_op = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 8)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(b"")),
    st.tuples(st.just("prefix"), st.just(0), st.binary(min_size=1, max_size=20)),
    st.tuples(st.just("flip_head"), st.integers(0, 4), st.integers(0, 7)),
    st.tuples(st.just("flip_tail"), st.integers(0, 4), st.integers(0, 7)),
    st.tuples(st.just("drop"), st.just(0), st.just(b"")),
)


def apply(op: tuple[str, int, object], r: bytes) -> bytes:
    kind, pos, arg = op
    b = bytearray(r)
    if kind == "insert":
        assert isinstance(arg, bytes)
        b[pos % len(b) : pos % len(b)] = arg
    elif kind == "delete":
        assert isinstance(arg, int)
        del b[pos % len(b) : pos % len(b) + arg]
    elif kind == "truncate":
        del b[pos % len(b) :]
    elif kind == "prefix":
        assert isinstance(arg, bytes)
        b[0:0] = arg
    elif kind == "flip_head":
        assert isinstance(arg, int)
        b[pos] ^= 1 << arg
    elif kind == "flip_tail":
        assert isinstance(arg, int)
        if r[:3] != HEAD[:3]:
            return r  # only read-frame replies have a trailer
        b[len(b) - 5 + pos] ^= 1 << arg
    else:
        return b""
    return bytes(b)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=framing_op, which=st.integers(0, 12), seed=st.integers(0, 3))
def test_corrupted_reply_never_yields_a_wrong_image_and_next_capture_is_clean(
    op: tuple[str, int, object], which: int, seed: int
) -> None:
    data = jpeg(seed)
    truth = decode_jpeg(data, 160, 120)
    assert truth is not None
    fake = FakeVc0706(data)
    cam = make_cam(fake, chunk_size=256)
    fake.which = fake.replies + which
    fake.mutate = lambda r: apply(op, r)
    for _ in range(3):
        hit = fake.replies <= fake.which  # this capture may meet the corrupted reply
        try:
            f = cam.capture()
        except Vc0706Error:
            f = None
        if f is not None:
            assert np.array_equal(f.image, truth), "a corrupted frame was delivered"
        if not hit:
            # back in sync: the capture after the corrupted one is clean
            assert f is not None
            return
    raise AssertionError("the corrupted reply was never reached")
