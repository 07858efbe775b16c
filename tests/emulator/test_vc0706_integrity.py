"""VC0706 capture integrity on a fake line with a fake clock (fuzz/vc0706.py's): the time cap
no camera can exceed, and a short run of the fuzz harness with its full oracle."""

from __future__ import annotations

import numpy as np
import pytest

from fuzz.vc0706 import (
    Case,
    FakeCamera,
    FakeClock,
    FakeLine,
    Totals,
    jpeg_pool,
    run_range,
    true_image,
)
from hal.vc0706 import CaptureTimeout, Vc0706Camera, Vc0706Settings

RESUME = b"\x56\x00\x36\x01\x03"


class SlowCamera(FakeCamera):
    """Every read-frame reply comes ``delay_ns`` late (less than a reply timeout) and, with
    ``babble``, after a burst of noise: valid answers, just never fast enough."""

    def __init__(self, case: Case, delay_ns: int, babble: int = 0) -> None:
        super().__init__(case)
        self.delay_ns = delay_ns
        self.babble = babble

    def handle(self, cmd: bytes) -> list[tuple[int, bytes]]:
        out = super().handle(cmd)
        if len(cmd) > 2 and cmd[2] == 0x32 and self.armed:
            noise = bytes(range(0x80, 0x80 + 64)) * (self.babble // 64)
            out = [(d + self.delay_ns, noise + b) for d, b in out]
        return out


def rig(camera: FakeCamera, **kw: object) -> tuple[Vc0706Camera, FakeLine, FakeClock]:
    s = Vc0706Settings(reset_on_open=False)
    for k, v in kw.items():
        setattr(s, k, v)
    clock = FakeClock()
    line = FakeLine(clock, camera, s.io_timeout_s)
    cam = Vc0706Camera(lambda: line, clock, s)
    cam.connect()
    return cam, line, clock


def capped(cam: Vc0706Camera, line: FakeLine, clock: FakeClock) -> int:
    t0 = clock.t
    n = len(line.sent)
    with pytest.raises(CaptureTimeout):
        cam.capture()
    assert [c for c in line.sent[n:] if c[2] == 0x36][-1] == RESUME
    return clock.t - t0


@pytest.mark.parametrize("babble", [0, 3000])
def test_slow_or_babbling_camera_cannot_stretch_a_capture(babble: int) -> None:
    case = Case(jpeg_pool()[5])
    cam, _, clock = rig(FakeCamera(case))
    t0 = clock.t
    assert cam.capture() is not None
    cap_s = (clock.t - t0) / 1e9 + 2.0  # room for a clean capture and the resume reserve
    camera = SlowCamera(case, delay_ns=400_000_000, babble=babble)
    cam, line, clock = rig(camera, capture_timeout_s=cap_s)
    camera.arm()  # each read-frame reply 0.4 s late: about 10 s more over the whole frame
    took = capped(cam, line, clock)
    assert cap_s * 1e9 - 1.5e9 < took <= cap_s * 1e9
    assert cam.capture_timeouts == 1 and cam.health().counters.capture_timeouts == 1
    camera.disarm()
    clock.t = line.tail_ns + 1_000_000_000  # the line is quiet again
    f = cam.capture()
    assert f is not None and np.array_equal(f.image, true_image(case.jpeg))


def test_frame_length_at_the_plausible_maximum_is_capped() -> None:
    case = Case(jpeg_pool()[0], buffer=("length_lie", 160 * 120 * 3 - len(jpeg_pool()[0]), b""))
    camera = FakeCamera(case)
    cam, line, clock = rig(camera, capture_timeout_s=6.0)
    camera.arm()  # both length answers agree on 57 600 bytes: 30 s to read twice at 38400
    assert capped(cam, line, clock) <= 6.0e9


def test_fuzz_harness_finds_nothing_with_integrity_on() -> None:
    t = run_range((11, 0, 250, True, False))
    assert t.cases == 250 and t.n_bad == 0, t.examples[:1]
    assert t.mismatches > 0 and t.rejected > 0 and t.failed > 0  # it did meet corruption


def test_fuzz_oracle_catches_what_a_single_read_lets_through() -> None:
    t: Totals = run_range((12, 0, 250, False, False))
    assert t.bad["corrupted"] > 0  # the harness would see a regression
    assert t.bad["escaped"] == t.bad["no_resume"] == t.bad["over_cap"] == 0
