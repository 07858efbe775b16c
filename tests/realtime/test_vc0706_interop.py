"""The VC0706 emulator against drivers in the wild (REFERENCE.md "VC0706 in the wild").

First, each way the emulator used to differ from real cameras, byte by byte over a pty: the
version command sent with length 1 and no data byte, motion monitoring (0x37, 0x38, 0x39), the
16-bit-only read-frame address, the 1C1C divider for 57600, "freeze" on a frozen buffer.

Then a widely used third-party driver, Adafruit's CircuitPython VC0706 driver
(``adafruit-circuitpython-vc0706``, module ``adafruit_vc0706``, in the ``test`` extra), given a
pyserial ``Serial`` on the emulator's pty as its UART: it scans the baud rates with resets,
reads the version, changes the image size (the change the emulator used to lose), takes a
picture and reads the whole JPEG 32 bytes at a time with 16-bit addresses. The test skips if
the package is not installed.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator

import numpy as np
import pytest
import serial
from PIL import Image

from sim_hal.camera_emu_base import gradient_source
from sim_hal.vc0706_emu import Vc0706Emulator

pytestmark = pytest.mark.realtime  # a pty and the drivers' own timeouts: run serially

ADAFRUIT_WHY = "adafruit-circuitpython-vc0706 is not installed (pip install -e '.[test]')"
VERSION = b"\x56\x00\x11\x00"
SET_160x120 = b"\x56\x00\x31\x05\x04\x01\x00\x19\x22"
GET_SIZE = b"\x56\x00\x30\x04\x04\x01\x00\x19"
FREEZE = b"\x56\x00\x36\x01\x00"
RESUME = b"\x56\x00\x36\x01\x03"
FBUF_LEN = b"\x56\x00\x34\x01\x00"
SETTLE_S = 0.25  # a size change takes after a pause (field reports; the emulator: 200 ms)


def noise_source(width: int, height: int):  # type: ignore[no-untyped-def]
    def render(t_ns: int) -> np.ndarray:
        return np.random.default_rng(t_ns % 2**32).integers(0, 256, (height, width),
                                                            dtype=np.uint8)

    return render


@pytest.fixture
def emu() -> Iterator[Vc0706Emulator]:
    e = Vc0706Emulator(gradient_source(640, 480), baud=38400, size_code=0x00, paced=False)
    e.start()
    yield e
    e.stop()


@pytest.fixture
def line(emu: Vc0706Emulator) -> Iterator[serial.Serial]:
    s = serial.Serial(emu.path, 38400, timeout=0.5)
    yield s
    s.close()


def ask(line: serial.Serial, cmd: bytes, reply_len: int) -> bytes:
    line.write(cmd)
    return bytes(line.read(reply_len))


def read_fbuf_16bit(addr: int, n: int) -> bytes:
    """Read-frame the way the third-party driver builds it: only 16 address bits filled."""
    return bytes((0x56, 0x00, 0x32, 0x0C, 0x00, 0x0A, 0, 0, addr >> 8 & 0xFF, addr & 0xFF,
                  0, 0, n >> 8 & 0xFF, n & 0xFF, 0x00, 0x0A))


def frame_length(line: serial.Serial) -> int:
    r = ask(line, FBUF_LEN, 9)
    assert r[:5] == b"\x76\x00\x34\x00\x04"
    return int.from_bytes(r[5:9], "big")


# --- each difference from real cameras -------------------------------------------------------


def test_version_with_length_one_and_no_data_byte_is_answered_at_once(
    emu: Vc0706Emulator, line: serial.Serial
) -> None:
    t0 = time.monotonic()
    r = ask(line, b"\x56\x00\x11\x01", 16)  # length 1, no data byte
    assert r == b"\x76\x00\x11\x00\x0bVC0703 1.00"
    assert time.monotonic() - t0 < 0.4  # answered, not left waiting for a byte
    # the next command is not swallowed as that missing data byte
    assert ask(line, SET_160x120, 5) == b"\x76\x00\x31\x00\x00"
    time.sleep(SETTLE_S)
    assert ask(line, GET_SIZE, 6) == b"\x76\x00\x30\x00\x01\x22"


def test_motion_monitoring_commands_answer_ok(emu: Vc0706Emulator, line: serial.Serial) -> None:
    assert ask(line, b"\x56\x00\x38\x00", 6) == b"\x76\x00\x38\x00\x01\x00"  # off at start
    assert not emu.report_motion() and line.read(5) == b""  # off: no notice
    assert ask(line, b"\x56\x00\x37\x01\x01", 5) == b"\x76\x00\x37\x00\x00"
    assert emu.motion_enabled
    assert ask(line, b"\x56\x00\x38\x00", 6) == b"\x76\x00\x38\x00\x01\x01"
    assert emu.report_motion()
    assert line.read(5) == b"\x76\x00\x39\x00\x00"  # COMM_MOTION_DETECTED
    assert ask(line, b"\x56\x00\x37\x01\x00", 5) == b"\x76\x00\x37\x00\x00"
    assert ask(line, b"\x56\x00\x38\x00", 6) == b"\x76\x00\x38\x00\x01\x00"
    assert ask(line, b"\x56\x00\x37\x01\x07", 5)[3] != 0  # not on or off: error status


def test_read_frame_with_16_bit_address_gets_the_bytes_asked_for() -> None:
    emu = Vc0706Emulator(noise_source(640, 480), baud=38400, size_code=0x00, paced=False,
                         jpeg_quality=95)
    emu.start()
    line = serial.Serial(emu.path, 38400, timeout=0.5)
    try:
        assert ask(line, FREEZE, 5) == b"\x76\x00\x36\x00\x00"
        n = frame_length(line)
        frozen = emu.frozen
        assert frozen is not None and n == len(frozen) > 0x10000  # a frame above 64 KB
        head = b"\x76\x00\x32\x00\x00"
        r = ask(line, read_fbuf_16bit(0x1234, 32), 42)
        assert r == head + frozen[0x1234 : 0x1234 + 32] + head
        # a full 32-bit address reaches past 64 KB; a 16-bit one cannot (the driver's bug)
        far = b"\x56\x00\x32\x0c\x00\x0a\x00\x01\x00\x10\x00\x00\x00\x20\x00\x0a"
        assert ask(line, far, 42) == head + frozen[0x10010 : 0x10030] + head
        assert ask(line, read_fbuf_16bit(0x0010, 32), 42) == head + frozen[0x10:0x30] + head
    finally:
        line.close()
        emu.stop()


def test_divider_1c1c_sets_57600_and_unknown_dividers_are_refused(
    emu: Vc0706Emulator, line: serial.Serial
) -> None:
    assert ask(line, b"\x56\x00\x24\x03\x01\x99\x99", 5) == b"\x76\x00\x24\x03\x00"
    assert emu.baud == 38400
    assert ask(line, b"\x56\x00\x24\x03\x01\x1c\x1c", 5) == b"\x76\x00\x24\x00\x00"
    assert emu.baud == 57600 and emu.inexact_dividers == 1
    line.baudrate = 57600
    assert ask(line, VERSION, 16) == b"\x76\x00\x11\x00\x0bVC0703 1.00"


def test_freeze_on_a_frozen_buffer_keeps_the_picture(
    emu: Vc0706Emulator, line: serial.Serial
) -> None:
    assert ask(line, FREEZE, 5) == b"\x76\x00\x36\x00\x00"
    first, t_first = emu.frozen, emu.t_freeze_ns
    time.sleep(0.08)  # two video frames (33 ms each) later: a new freeze would see a new one
    assert ask(line, FREEZE, 5) == b"\x76\x00\x36\x00\x00"
    assert emu.frozen == first and emu.t_freeze_ns == t_first
    assert ask(line, RESUME, 5) == b"\x76\x00\x36\x00\x00"
    assert ask(line, FREEZE, 5) == b"\x76\x00\x36\x00\x00"
    assert emu.frozen != first and emu.t_freeze_ns > t_first


# --- Adafruit's CircuitPython driver ----------------------------------------------------------


def read_jpeg(cam, length: int) -> bytes:  # type: ignore[no-untyped-def]
    """The driver's documented loop: 32-byte reads until the frame length is covered."""
    buf = bytearray(32)
    out = bytearray()
    while len(out) < length:
        n = cam.read_picture_into(buf)
        assert n == 32, f"read stopped at {len(out)} of {length}"
        out += buf[:n]
    return bytes(out[:length])


def test_adafruit_driver_against_the_emulator(emu: Vc0706Emulator) -> None:
    adafruit_vc0706 = pytest.importorskip("adafruit_vc0706", reason=ADAFRUIT_WHY)
    uart = serial.Serial(emu.path, 38400, timeout=0.1)
    try:
        cam = adafruit_vc0706.VC0706(uart)  # scans 9600..115200 sending resets
        assert uart.baudrate == 38400
        assert "VC0703 1.00" in cam.version  # sent as 56 00 11 01: length 1, no data byte
        # right after it, the size change that used to be swallowed
        cam.image_size = adafruit_vc0706.IMAGE_SIZE_160x120
        time.sleep(SETTLE_S)
        assert cam.take_picture()
        assert emu.frozen is not None
        with Image.open(io.BytesIO(emu.frozen)) as im:
            assert im.size == (160, 120), "the image-size change was lost"
        length = cam.frame_length
        assert length == len(emu.frozen)
        data = read_jpeg(cam, length)
        assert data == emu.frozen
        with Image.open(io.BytesIO(data)) as im:
            assert im.size == (160, 120)  # the size change took effect
            im.load()
        assert cam.resume_video()
        assert emu.frozen is None

        cam.motion_detection = True
        assert emu.motion_enabled and cam.motion_detection
        assert emu.report_motion()
        assert cam.motion_detected

        # its image-size getter sends a malformed request ("\0x04" in a bytes literal): the
        # emulator answers it with an error status and stays in step for the next command
        with contextlib.suppress(RuntimeError):
            cam.image_size  # noqa: B018
        assert "VC0703 1.00" in cam.version

        cam.baudrate = 115200  # divider 0DA6
        assert emu.baud == 115200 and "VC0703 1.00" in cam.version
        cam.baudrate = 57600  # divider 1C1C: the datasheet says 1C4C
        assert emu.baud == 57600 and "VC0703 1.00" in cam.version
        assert cam.take_picture()
        length = cam.frame_length
        with Image.open(io.BytesIO(read_jpeg(cam, length))) as im:
            assert im.size == (160, 120)
        assert cam.resume_video()
    finally:
        uart.close()
