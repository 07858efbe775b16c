"""The simulated camera's content-time faults: they move when an image's content was exposed
and nothing a driver can see. A world moving at a constant velocity makes the content time
readable from the rendered position (north = speed * t)."""

from __future__ import annotations

import numpy as np
import pytest

from hal.types import Frame
from sim_hal.faults import FaultSet, parse_faults
from sim_hal.sensors import CameraModel, Noise, SimCamera

SPEED = 3.0  # m/s north
STEP_NS = 1_000_000
T0 = 1_000_000_000


class LinearWorld:
    """What SimCamera reads of a world: time, position, velocity, attitude."""

    def __init__(self) -> None:
        self.t_ns = T0
        self.pos = [0.0, 0.0, -5.0]
        self.vel = [SPEED, 0.0, 0.0]
        self.q = [1.0, 0.0, 0.0, 0.0]

    def step(self) -> None:
        self.t_ns += STEP_NS
        self.pos = [SPEED * (self.t_ns - T0) / 1e9, 0.0, -5.0]


def run(faults: list[dict[str, object]], seconds: float = 3.0
        ) -> tuple[list[Frame], dict[int, float], SimCamera]:
    """Frames delivered, and the content time (s from T0) each seq's image shows."""
    world = LinearWorld()
    rendered: list[float] = []

    def render(pos: tuple[float, float, float], r: np.ndarray) -> np.ndarray:
        rendered.append(pos[0] / SPEED)
        return np.zeros((4, 4), dtype=np.uint8)

    fs = FaultSet(parse_faults(faults, "test", T0))
    cam = SimCamera(world, CameraModel(), fs, Noise(np.random.default_rng(3)),  # type: ignore[arg-type]
                    render, 60.0)
    content: dict[int, float] = {}
    frames: list[Frame] = []
    for _ in range(int(seconds * 1e9 / STEP_NS)):
        t0 = world.t_ns
        n = len(rendered)
        world.step()
        cam.tick(t0, world.t_ns)
        # renders happen in sequence order (deferred ones keep their order)
        for t in rendered[n:]:
            content[len(content) + 1] = t
        frames += cam.poll()
    return frames, content, cam


def metadata(frames: list[Frame]) -> list[tuple[int, int, int, int | None]]:
    return [(f.seq, f.t_ns, f.t_rx_ns, f.device_t_ns) for f in frames]


def test_nominal_images_show_their_stamped_mid_exposure() -> None:
    frames, content, cam = run([])
    assert len(frames) > 60
    for f in frames[10:]:
        # the stamp maps the camera's clock through receive times (1 ms of jitter)
        assert abs(content[f.seq] - (f.t_ns - T0) / 1e9) < 1e-3
    errors = np.abs(cam.stamp_errors_ns[10:])
    assert np.median(errors) < 100_000


@pytest.mark.parametrize("fault,shift_s", [
    ({"kind": "camera.delay_error", "at_s": 0.0, "error_ms": -15.0}, -0.015),
    ({"kind": "camera.delay_error", "at_s": 0.0, "error_ms": 12.0}, 0.012),
    ({"kind": "camera.pairing_slip", "at_s": 0.0, "frames": 1}, -1 / 30),
    ({"kind": "camera.pairing_slip", "at_s": 0.0, "frames": 2}, -2 / 30),
])
def test_a_content_fault_moves_the_content_and_nothing_a_driver_sees(fault, shift_s) -> None:
    nominal, content0, _ = run([])
    faulty, content1, cam = run([fault])
    assert metadata(faulty) == metadata(nominal)  # seq, stamps, receive times: all the same
    for f in faulty[5:]:
        # (a slip moves by whole frame periods of the camera's own clock: 40 ppm off ours)
        assert content1[f.seq] - content0[f.seq] == pytest.approx(shift_s, abs=1e-5)
    # the truth report sees it: stamps later than the content by the shift's size
    assert np.median(cam.stamp_errors_ns[5:]) / 1e9 == pytest.approx(-shift_s, abs=1e-3)


def test_pairing_slip_repeats_the_image_at_its_onset() -> None:
    """From onset each frame carries the image of the frame before: the frame at onset shows
    what the previous one showed."""
    faulty, content, _ = run([{"kind": "camera.pairing_slip", "at_s": 1.0, "frames": 1}])
    onset = next(f.seq for f in faulty[1:] if content[f.seq] < content[f.seq - 1] + 0.01)
    assert content[onset] == pytest.approx(content[onset - 1], abs=2e-6)
    assert all(content[s] > content[s - 1] + 0.03 for s in range(2, onset))


def test_an_exposure_later_than_the_latency_delays_the_send() -> None:
    """30 ms later than stamped with an 18 ms camera latency: no camera sends an image before
    exposing it, so those frames arrive 12 ms late (the metadata checks may see that)."""
    nominal, _, _ = run([])
    faulty, _, _ = run([{"kind": "camera.delay_error", "at_s": 0.0, "error_ms": 30.0}])
    by_seq = {f.seq: f for f in nominal}
    lates = [f.t_rx_ns - by_seq[f.seq].t_rx_ns for f in faulty[5:] if f.seq in by_seq]
    assert lates and all(11e6 <= d <= 13.1e6 for d in lates)
    assert [f.seq for f in faulty] == sorted(f.seq for f in faulty)


def test_delay_drift_grows_from_its_onset() -> None:
    _, c0, _ = run([], seconds=4.0)
    _, c1, _ = run([{"kind": "camera.delay_drift", "at_s": 1.0, "rate_ms_per_s": -5.0}],
                   seconds=4.0)
    shifts = [(c0[s], c1[s] - c0[s]) for s in c1 if s in c0]
    before = [d for t, d in shifts if t < 0.99]
    after = [(t, d) for t, d in shifts if t > 1.1]
    assert all(abs(d) < 1e-6 for d in before)
    for t, d in after:
        assert d == pytest.approx(-5e-3 * (t - 1.0), abs=2e-4)
