"""VC0706 driver against an in-memory camera: protocol bytes, retries, integrity checks,
hypothesis corruption."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import hal.vc0706 as vc
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


def jpeg(seed: int = 0, w: int = 160, h: int = 120, noise: int = 0, quality: int = 30) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = ((xx + 2 * yy) % 256).astype(np.uint8)
    img[rng.integers(0, h, 20), rng.integers(0, w, 20)] = 255
    if noise:
        img = rng.integers(0, noise, (h, w), dtype=np.uint8) + img // 2
    out = io.BytesIO()
    Image.fromarray(img, mode="L").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def pillow_image(data: bytes) -> np.ndarray:
    """The reference decoding, straight from Pillow (not through the code under test)."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def sof0_at(data: bytes) -> int:
    return data.index(b"\xff\xc0") + 5  # height, width: 2 bytes each


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
    """Answers like a VC0706; ``mutate`` may rewrite reply number ``which`` (0-based), and
    ``rewrite(command, reply)`` every reply (return b"" to drop it)."""

    def __init__(self, frame: bytes, size_code: int = 0x22) -> None:
        self.frame = frame
        self.reported_len: int | None = None  # frame length the camera claims, if not true
        self.addr_mask = 0xFFFFFFFF  # 0xFFFF: a camera that honours only 16 address bits
        self.size_code = size_code
        self.baudrate = 38400
        self.rx = bytearray()
        self.sent: list[bytes] = []
        self.replies = 0
        self.which = -1
        self.mutate: Callable[[bytes], bytes] = lambda b: b
        self.rewrite: Callable[[bytes, bytes], bytes] = lambda cmd, r: r

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
            n = len(self.frame) if self.reported_len is None else self.reported_len
            reply = ok + b"\x04" + n.to_bytes(4, "big")
        elif cmd == 0x32:
            addr, n = int.from_bytes(args[2:6], "big"), int.from_bytes(args[6:10], "big")
            addr &= self.addr_mask
            chunk = self.frame[addr : addr + n]
            reply = HEAD + chunk + bytes(n - len(chunk)) + HEAD
        else:
            reply = ok + b"\x00"
        reply = self.rewrite(bytes(data), reply)
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


def test_capture_reads_each_chunk_twice_with_32bit_address() -> None:
    data = jpeg()
    fake = FakeVc0706(data)
    cam = make_cam(fake, chunk_delay_10us=0x0102)
    fake.sent.clear()
    f = cam.capture()
    assert f is not None and f.image.shape == (120, 160) and f.t_ns < f.t_rx_ns
    assert np.array_equal(f.image, pillow_image(data))
    assert fake.sent[0] == b"\x56\x00\x36\x01\x00" and fake.sent[-1] == b"\x56\x00\x36\x01\x03"
    assert fake.sent.count(b"\x56\x00\x34\x01\x00") == 2  # frame length asked twice
    reads = [c for c in fake.sent if c[2] == 0x32]
    assert all(r[:6] == b"\x56\x00\x32\x0c\x00\x0a" and r[14:16] == b"\x01\x02" for r in reads)
    pairs = [(reads[i], reads[i + 1]) for i in range(0, len(reads), 2)]
    assert len(reads) % 2 == 0 and all(a == b for a, b in pairs)  # every chunk read twice
    spans = [(int.from_bytes(a[6:10], "big"), int.from_bytes(a[10:14], "big")) for a, _ in pairs]
    covered = bytearray(len(data))
    for addr, n in spans:
        assert 0 < n <= 64 and addr + n <= len(data)
        covered[addr : addr + n] = b"\x01" * n
    assert all(covered) and spans[0][0] == 0
    # consecutive chunks ask for different lengths: a late reply cannot pass as the next one
    assert all(a[1] != b[1] for a, b in zip(spans, spans[1:], strict=False))


def test_integrity_check_can_be_switched_off() -> None:
    fake = FakeVc0706(jpeg())
    cam = make_cam(fake, verify_reads=False)
    fake.sent.clear()
    assert cam.capture() is not None
    reads = [c for c in fake.sent if c[2] == 0x32]
    assert len({c[6:10] for c in reads}) == len(reads)  # each address once
    assert fake.sent.count(b"\x56\x00\x34\x01\x00") == 1


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
    fake.which = fake.replies + 5  # freeze ack, 2 lengths, chunk 0 twice, chunk 1 <- short
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


@pytest.mark.property
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=framing_op, which=st.integers(0, 12), seed=st.integers(0, 3))
def test_corrupted_reply_never_yields_a_wrong_image_and_next_capture_is_clean(
    op: tuple[str, int, object], which: int, seed: int
) -> None:
    data = jpeg(seed)
    truth = pillow_image(data)
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


# --- integrity: what a single reading cannot be trusted with ----------------------------------


def flip_once_at(offset: int, bit: int) -> Callable[[bytes, bytes], bytes]:
    """Flip one bit of frame byte ``offset`` in the first read-frame reply that carries it."""
    done = [False]

    def rewrite(cmd: bytes, reply: bytes) -> bytes:
        addr, n = int.from_bytes(cmd[6:10], "big"), int.from_bytes(cmd[10:14], "big")
        if cmd[2] != 0x32 or done[0] or not addr <= offset < addr + n:
            return reply
        done[0] = True
        b = bytearray(reply)
        b[5 + offset - addr] ^= 1 << bit  # after the 5-byte reply header
        return bytes(b)

    return rewrite


def test_flipped_jpeg_bit_is_caught_by_the_second_read() -> None:
    data = jpeg(1)
    truth = pillow_image(data)
    middle = (data.index(b"\xff\xda") + len(data)) // 2  # inside the entropy-coded data
    fake = FakeVc0706(data)
    cam = make_cam(fake, verify_reads=False)
    fake.rewrite = flip_once_at(middle, 3)
    f = cam.capture()
    assert f is not None and not np.array_equal(f.image, truth), "one reading is fooled"

    fake = FakeVc0706(data)
    cam = make_cam(fake)
    fake.rewrite = flip_once_at(middle, 3)
    f = cam.capture()
    assert f is not None and np.array_equal(f.image, truth)
    assert cam.mismatches == 1 and cam.health().bad_data == 1
    assert cam.health().counters.mismatches == 1


def test_read_frame_length_byte_is_checked() -> None:
    """A length byte of 3 plus 3 bytes inserted before the trailer used to be accepted: the
    driver took the first 3 data bytes as reply data and the chunk came out shifted."""
    data = jpeg(2)
    fake = FakeVc0706(data)
    cam = make_cam(fake, verify_reads=False)  # the length check alone, without the re-read

    def corrupt(r: bytes) -> bytes:
        return r[:4] + b"\x03" + r[5:-5] + b"\x11\x22\x33" + r[-5:]

    fake.which = fake.replies + 2 + 1  # freeze ack, length, chunk 0, chunk 1 <- corrupted
    fake.mutate = corrupt
    f = cam.capture()
    assert f is not None and np.array_equal(f.image, pillow_image(data))
    assert cam.chunk_retries == 1 and "length byte 3" in cam.health().last_error


def test_implausible_frame_length_is_never_read() -> None:
    data = jpeg(3)
    fake = FakeVc0706(data)
    cam = make_cam(fake)
    fake.which = fake.replies + 1  # the first frame-length reply: a flipped high bit
    fake.mutate = lambda r: r[:5] + bytes((r[5] ^ 0x02,)) + r[6:]  # +32 MiB
    fake.sent.clear()
    f = cam.capture()
    assert f is not None and np.array_equal(f.image, pillow_image(data))
    requested = [
        int.from_bytes(c[6:10], "big") + int.from_bytes(c[10:14], "big")
        for c in fake.sent if c[2] == 0x32
    ]
    assert max(requested) == len(data)  # never asked past the real frame
    assert cam.health().bad_data >= 1


def test_frame_length_flip_within_bounds_is_caught_by_asking_twice() -> None:
    data = jpeg(4)
    fake = FakeVc0706(data)
    cam = make_cam(fake)
    fake.which = fake.replies + 1
    fake.mutate = lambda r: r[:7] + bytes((r[7] ^ 0x20,)) + r[8:]  # +/- 8 KiB: plausible
    fake.sent.clear()
    f = cam.capture()
    assert f is not None and np.array_equal(f.image, pillow_image(data))
    assert fake.sent.count(b"\x56\x00\x34\x01\x00") == 3  # a third answer settled it
    ends = [int.from_bytes(c[6:10], "big") + int.from_bytes(c[10:14], "big")
            for c in fake.sent if c[2] == 0x32]
    assert max(ends) == len(data) and cam.mismatches == 1


@pytest.mark.parametrize("lie", [-1, -40, 33, 400])
def test_frame_length_that_disagrees_with_the_jpeg_markers_is_rejected(lie: int) -> None:
    fake = FakeVc0706(jpeg(5))
    fake.reported_len = len(fake.frame) + lie  # the camera says it consistently
    cam = make_cam(fake)
    assert cam.capture() is None
    h = cam.health()
    assert h.bad_data == 1 and h.lost == 1


def test_frame_buffer_padding_after_eoi_is_tolerated() -> None:
    fake = FakeVc0706(jpeg(5))
    fake.reported_len = len(fake.frame) + 32  # zeros after EOI, as the buffer may pad
    cam = make_cam(fake)
    f = cam.capture()
    assert f is not None and np.array_equal(f.image, pillow_image(fake.frame))


def test_corrupted_sof0_dimensions_do_not_escape_decode() -> None:
    data = bytearray(jpeg(6))
    i = sof0_at(bytes(data))
    data[i : i + 4] = b"\xff\xff\xff\xff"  # 65535 x 65535: two bytes changed twice
    bomb = bytes(data)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))  # what used to escape decode_jpeg
    assert decode_jpeg(bomb, 160, 120) is None
    fake = FakeVc0706(bomb)  # and through the capture path: the camera's buffer says so
    cam = make_cam(fake)
    assert cam.capture() is None and cam.health().bad_data == 1


def test_decode_checks_the_size_before_pillow_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[int] = []
    real_open = Image.open

    def spy(fp: io.BytesIO, *a: object, **kw: object) -> Image.Image:
        opened.append(1)
        return real_open(fp, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(vc.Image, "open", spy)
    big = jpeg(7, w=320, h=240)
    assert decode_jpeg(big, 160, 120) is None and opened == []
    assert decode_jpeg(jpeg(7), 160, 120) is not None and opened == [1]


@pytest.mark.property
@settings(deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 10**5), st.binary(min_size=0, max_size=4), st.integers(0, 4)),
        min_size=1, max_size=4,
    ),
)
def test_decode_jpeg_never_raises_and_never_returns_a_wrong_size(
    edits: list[tuple[int, bytes, int]],
) -> None:
    b = bytearray(jpeg(8))
    for pos, new, cut in edits:
        p = pos % (len(b) + 1)
        b[p : p + cut] = new
    out = decode_jpeg(bytes(b), 160, 120)
    assert out is None or (out.shape == (120, 160) and out.dtype == np.uint8)


def test_jpeg_extent_reads_markers_not_pillow() -> None:
    data = jpeg(9)
    assert vc.jpeg_extent(data) == (160, 120, len(data))
    assert vc.jpeg_extent(data[:-2]) is None  # no EOI
    assert vc.jpeg_extent(data + bytes(10)) == (160, 120, len(data))
    assert vc.jpeg_extent(b"\xff\xd8" + data) is None  # SOI twice
    assert vc.jpeg_extent(data[2:]) is None


# --- freeze and resume on every path ----------------------------------------------------------

FREEZE = b"\x56\x00\x36\x01\x00"
RESUME = b"\x56\x00\x36\x01\x03"


def drop(command: bytes, times: int = 10**9) -> Callable[[bytes, bytes], bytes]:
    left = [times]

    def rewrite(cmd: bytes, reply: bytes) -> bytes:
        if cmd == command and left[0] > 0:
            left[0] -= 1
            return b""
        return reply

    return rewrite


def test_resume_is_sent_when_the_freeze_is_never_acknowledged() -> None:
    fake = FakeVc0706(jpeg())
    cam = make_cam(fake)
    fake.rewrite = drop(FREEZE)
    fake.sent.clear()
    with pytest.raises(Vc0706Error):
        cam.capture()
    ctrl = [c for c in fake.sent if c[2] == 0x36]
    assert FREEZE in ctrl and ctrl[-1] == RESUME


def test_lost_freeze_ack_is_followed_by_resume_before_freezing_again() -> None:
    data = jpeg()
    fake = FakeVc0706(data)
    cam = make_cam(fake)
    fake.rewrite = drop(FREEZE, times=1)
    fake.sent.clear()
    f = cam.capture()
    assert f is not None and np.array_equal(f.image, pillow_image(data))
    ctrl = [c for c in fake.sent if c[2] == 0x36]
    # a stopped buffer would keep the old picture: never "freeze" twice in a row
    assert ctrl[:3] == [FREEZE, RESUME, FREEZE] and ctrl[-1] == RESUME


def test_failed_resume_keeps_the_frame_and_resumes_before_the_next_freeze() -> None:
    data = jpeg()
    fake = FakeVc0706(data)
    cam = make_cam(fake)
    fake.rewrite = drop(RESUME)
    f = cam.capture()
    assert f is not None and cam.resume_failures == 1
    assert cam.health().counters.resume_failures == 1
    fake.rewrite = lambda cmd, r: r
    fake.sent.clear()
    assert cam.capture() is not None
    assert fake.sent[0] == RESUME and fake.sent[1] == FREEZE


def test_camera_honouring_only_16_address_bits_never_gives_a_wrong_frame() -> None:
    big = jpeg(10, w=640, h=480, noise=120, quality=95)
    assert len(big) > 70_000
    fake = FakeVc0706(big, size_code=0x00)
    cam = make_cam(fake, image_size="640x480", chunk_size=8192)
    f = cam.capture()  # this driver fills 32 bits: the whole frame
    assert f is not None and np.array_equal(f.image, pillow_image(big))
    fake.addr_mask = 0xFFFF  # reads past 64 KB wrap to the start (SOI in mid-frame)
    assert cam.capture() is None and cam.health().bad_data >= 1


def test_settings_bound_the_time_cap() -> None:
    with pytest.raises(ConfigError, match="leaves no time to read"):
        load(Vc0706Settings, {"capture_timeout_s": 1.0, "reply_timeout_s": 0.5}, "rig.toml",
             "camera")
    # 64 reply timeouts of 0.1 s are shorter than a 10 s cap: a late reply could come back
    with pytest.raises(ConfigError, match="must stay below 64 reply timeouts"):
        load(Vc0706Settings, {"reply_timeout_s": 0.1}, "rig.toml", "camera")
    with pytest.raises(ConfigError, match="below 16 reply timeouts"):
        load(Vc0706Settings, {"chunk_size": 32}, "rig.toml", "camera")
    load(Vc0706Settings, {}, "rig.toml", "camera")  # the defaults pass


@pytest.mark.property
@settings(deadline=None)
@given(length=st.integers(1, 300_000), chunk_size=st.integers(8, 65535))
def test_chunk_plan_covers_the_frame_with_distinct_neighbouring_lengths(
    length: int, chunk_size: int
) -> None:
    plan = vc.chunk_plan(length, chunk_size)
    pos = 0
    for addr, n, skip in plan:
        assert 0 < n <= chunk_size and addr >= 0 and addr + n <= length
        assert addr + skip == pos  # the kept part starts where the last one ended
        pos = addr + n
    assert pos == length
    cycle = vc.chunk_len_cycle(chunk_size)
    assert cycle >= min(64, chunk_size // 2)
    lengths = [n for _, n, _ in plan]
    for i in range(len(lengths)):
        window = lengths[max(0, i - cycle + 1) : i + 1]
        assert len(set(window)) == len(window)
    assert sum(lengths) - length < cycle  # overlap costs at most a cycle's worth of bytes
