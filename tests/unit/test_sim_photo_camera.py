"""The simulated still camera: trigger, busy, exposure and readout in sim time; pictures of
the world at the true mid-exposure, rendered where the cycle never waits (the world's step in
lockstep, a worker in real time); photo_truth; the same photos for the same seed; other
devices untouched; [sim.photo] errors name file and key."""

from __future__ import annotations

import io
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from firmware.config import load_config
from hal.geometry import euler_to_quat
from hal.interfaces import Hal
from hal.tomlschema import ConfigError
from hal.types import ActuatorCommand, Photo, PhotoExposure
from sim_hal.backend import T0_NS, SimClock, build_sim, load_sim_settings
from sim_hal.faults import FaultSet
from sim_hal.photo_camera import PhotoSettings, SimStillCamera
from sim_hal.world import GRAVITY, VehicleParams, World
from sim_hal.world_settings import build_world_parts, load_world_settings
from tests.photo_find import found_box, projected_box

ROOT = Path(__file__).resolve().parents[2]
SCEN = ROOT / "config" / "scenarios" / "x.toml"
MS = 1_000_000
SMALL = {"width": 160, "height": 120}
ROVER = {"kind": "rover", "north_m": 85.0, "east_m": 10.0, "heading_deg": 30.0}


def _sim(photo: dict[str, Any], world: dict[str, Any] | None = None, seed: int = 1) -> Hal:
    settings = load_sim_settings({"photo": photo}, "cfg.toml")
    return build_sim(settings, "mars", FaultSet([]), seed, load_world_settings(world, SCEN))


def _cycles(hal: Hal, until_ns: int, every_ns: int = 2 * MS
            ) -> list[tuple[int, list[PhotoExposure], list[Photo]]]:
    """Control cycles every ``every_ns`` up to ``until_ns``: (time, exposures, photos) of
    each cycle that got any."""
    cam = hal.photo_camera
    assert cam is not None
    out = []
    t = hal.clock.now_ns()
    while t < until_ns:
        t += every_ns
        hal.clock.sleep_until(t)
        exp, photos = cam.poll_exposures(), cam.poll()
        if exp or photos:
            out.append((t, exp, photos))
    return out


def _hover_looking_at_rover(hal: Hal, up_m: float = 5.0, north_m: float = 0.0) -> None:
    """The vehicle in the air at ``north_m``, yawed toward the rover; gravity alone moves
    it."""
    w = hal.truth.world  # type: ignore[union-attr]
    w.on_ground = False
    w.pos = [north_m, 0.0, -up_m]
    yaw = math.atan2(ROVER["east_m"], ROVER["north_m"] - north_m)
    w.q = list(euler_to_quat(0.0, 0.0, yaw))
    w._update_r()


def test_trigger_exposure_and_readout_follow_the_configured_timing_in_sim_time() -> None:
    hal = _sim({**SMALL, "trigger_latency_ms": 30.0, "exposure_ms": 3.0, "readout_s": 0.2,
                "stamp_uncertainty_ms": 0.7})
    cam = hal.photo_camera
    assert cam is not None and cam.width == 160 and cam.height == 120
    t_trig = T0_NS + 100 * MS
    hal.clock.sleep_until(t_trig)
    assert cam.trigger() == 1
    assert cam.poll_exposures() == [] and cam.poll() == []
    early = _cycles(hal, t_trig + 50 * MS)
    assert cam.trigger() is None  # still reading the first photo out
    late = _cycles(hal, t_trig + 400 * MS)
    (t_exp, exps, none), (t_photo, none2, photos) = early + late
    # the exposure ends 33 ms after the trigger; the photo is read 200 ms after that
    assert t_exp == t_trig + 34 * MS and none == []
    assert exps == [PhotoExposure(1, t_trig, t_trig + 31_500_000, 700_000)]
    assert t_photo == t_trig + 234 * MS and none2 == []
    (p,) = photos
    assert (p.seq, p.trigger_ns, p.t_ns, p.t_rx_ns, p.error) == (
        1, t_trig, t_trig + 31_500_000, t_trig + 233 * MS, "")
    with Image.open(io.BytesIO(p.jpeg)) as im:
        assert im.format == "JPEG" and im.size == (160, 120) and im.mode == "RGB"
    c = cam.health().counters
    assert (c.triggers, c.busy, c.exposures, c.photos, c.failures) == (  # type: ignore[union-attr]
        1, 1, 1, 1, 0)
    assert cam.health().samples == 1
    hal.close()


def test_a_trigger_is_taken_again_once_the_readout_is_done() -> None:
    hal = _sim({**SMALL, "trigger_latency_ms": 10.0, "exposure_ms": 2.0, "readout_s": 0.1})
    cam = hal.photo_camera
    assert cam is not None
    t = hal.clock.now_ns()
    assert cam.trigger() == 1
    hal.clock.sleep_until(t + 111 * MS)  # readout ends at t + 112 ms
    assert cam.trigger() is None
    hal.clock.sleep_until(t + 112 * MS)
    assert cam.trigger() == 2  # free, even though poll() has not collected photo 1 yet
    got = _cycles(hal, t + 400 * MS)
    assert [p.seq for _, _, ps in got for p in ps] == [1, 2]
    # photo 1's exposure was not polled in time: reported late, still once
    assert [e.seq for _, es, _ in got for e in es] == [1, 2]
    hal.close()


def test_photo_truth_is_the_world_at_the_true_mid_exposure() -> None:
    hal = _sim({**SMALL, "trigger_latency_ms": 20.0, "exposure_ms": 3.0, "readout_s": 0.05})
    cam, w = hal.photo_camera, hal.truth.world  # type: ignore[union-attr]
    assert cam is not None and hal.photo_truth is not None
    _hover_looking_at_rover(hal, 20.0)
    w.vel = [2.0, -1.0, 0.5]
    w.omega = [0.4, -0.3, 0.6]  # turning, so the attitude moves between steps
    t = hal.clock.now_ns()
    seq = cam.trigger()
    assert seq == 1 and hal.photo_truth(1) is None
    steps = {}
    for k in range(1, 30):
        hal.clock.sleep_until(t + k * MS)
        steps[k] = (list(w.pos), list(w.vel), w.euler())
    truth = hal.photo_truth(1)
    assert truth is not None and truth.t_ns == t + 21_500_000
    (p0, v0, e0), (p1, v1, e1) = steps[21], steps[22]
    assert np.allclose(truth.position_ned, (np.add(p0, p1)) / 2, atol=1e-12)
    assert np.allclose(truth.velocity_ned, (np.add(v0, v1)) / 2, atol=1e-12)
    assert np.allclose((truth.roll, truth.pitch, truth.yaw), np.add(e0, e1) / 2, atol=1e-6)
    assert hal.photo_truth(2) is None
    hal.close()


def test_the_photo_shows_the_rover_where_its_true_pose_projects_it() -> None:
    hal = _sim({"jpeg_quality": 95, "readout_s": 0.1}, {"objects": [ROVER]})
    cam = hal.photo_camera
    assert cam is not None and hal.photo_truth is not None
    _hover_looking_at_rover(hal, 8.0, 62.0)  # 25 m away: the mast is wider than JPEG's blocks
    assert cam.trigger() == 1
    (photo,) = [p for _, _, ps in _cycles(hal, hal.clock.now_ns() + 300 * MS) for p in ps]
    truth = hal.photo_truth(1)
    assert truth is not None and not truth.on_ground
    img = np.asarray(Image.open(io.BytesIO(photo.jpeg)).convert("RGB"))
    q = euler_to_quat(truth.roll, truth.pitch, truth.yaw)
    model = PhotoSettings().model()
    parts = build_world_parts(load_world_settings({"objects": [ROVER]}, SCEN), 1, 0)
    want = projected_box(parts.objects[0].corners_ned(), truth.position_ned, q, model)
    found = found_box(img)
    assert found is not None
    # 3 px: JPEG halves the colour resolution, and the grey test needs colour (the raw
    # renderer's pictures hold to 1 px: test_photo_render)
    assert max(abs(a - b) for a, b in zip(found, want, strict=True)) <= 3.0, (found, want)
    hal.close()


def _photos_of_a_short_flight(seed: int) -> list[bytes]:
    hal = _sim({"readout_s": 0.05}, {"objects": [ROVER]}, seed)
    cam = hal.photo_camera
    assert cam is not None
    _hover_looking_at_rover(hal, 8.0)
    hal.truth.world.omega = [0.0, 0.0, 0.5]  # type: ignore[union-attr]
    out = []
    for _ in range(3):
        assert cam.trigger() is not None
        out += [p.jpeg for _, _, ps in _cycles(hal, hal.clock.now_ns() + 100 * MS) for p in ps]
    hal.close()
    return out


def test_the_same_seed_gives_the_same_photos() -> None:
    a = _photos_of_a_short_flight(4)
    assert len(a) == 3 and len(set(a)) == 3  # three views, each different
    assert a == _photos_of_a_short_flight(4)
    assert a != _photos_of_a_short_flight(5)  # another seed, another ground texture


class _SlowRenderer:
    def __init__(self, seconds: float, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.threads: list[str] = []

    def __call__(self, pos: Any, q: Any) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("out of memory")
        return np.full((120, 160, 3), 128, dtype=np.uint8)


def _camera(renderer: _SlowRenderer, synchronous: bool = True, **kw: Any
            ) -> tuple[SimClock, SimStillCamera]:
    world = World(VehicleParams(), GRAVITY["mars"], t0_ns=T0_NS)
    clock = SimClock(world, MS)
    cam = SimStillCamera(world, PhotoSettings(**{**SMALL, **kw}), lambda: renderer,
                         synchronous=synchronous)
    clock.tickers = [cam]
    return clock, cam


def test_in_lockstep_the_worlds_step_renders_and_poll_never_waits() -> None:
    slow = _SlowRenderer(0.3)
    clock, cam = _camera(slow, trigger_latency_ms=5.0, exposure_ms=1.0, readout_s=0.05)
    assert cam.trigger() == 1
    wall = time.perf_counter()
    clock.sleep_until(T0_NS + 10 * MS)  # the world steps through the exposure: it renders
    assert time.perf_counter() - wall >= 0.3
    assert cam.poll_exposures()[0].seq == 1
    clock.sleep_until(T0_NS + 60 * MS)
    wall = time.perf_counter()
    (photo,) = cam.poll()
    assert time.perf_counter() - wall < 0.1  # the cycle's poll did no rendering
    assert photo.error == "" and photo.jpeg[:2] == b"\xff\xd8"
    assert slow.threads == [threading.current_thread().name]  # no thread beside the cycle
    assert cam.health().counters.render_waits == 0  # type: ignore[union-attr]


def test_in_real_time_a_worker_renders_and_the_step_at_readout_waits_for_it() -> None:
    slow = _SlowRenderer(0.6)
    clock, cam = _camera(slow, synchronous=False, trigger_latency_ms=5.0, exposure_ms=1.0,
                         readout_s=0.1)
    wall = time.perf_counter()
    assert cam.trigger() == 1
    clock.sleep_until(T0_NS + 10 * MS)  # the exposure: the worker starts rendering
    assert cam.poll_exposures()[0].seq == 1
    assert time.perf_counter() - wall < 0.4  # the caller did not render
    clock.sleep_until(T0_NS + 120 * MS)  # the readout time: the step waits for the worker
    assert time.perf_counter() - wall >= 0.6
    t = time.perf_counter()
    (photo,) = cam.poll()
    assert time.perf_counter() - t < 0.1
    assert photo.error == "" and photo.jpeg[:2] == b"\xff\xd8"
    assert slow.threads and slow.threads[0] != threading.current_thread().name
    c = cam.health().counters
    assert c.render_waits == 1 and c.render_wait_ms > 100  # type: ignore[union-attr]
    cam.close()


def test_a_failed_render_gives_a_photo_with_its_error() -> None:
    clock, cam = _camera(_SlowRenderer(0.0, fail=True), readout_s=0.01)
    assert cam.trigger() == 1
    clock.sleep_until(T0_NS + 100 * MS)
    (photo,) = cam.poll()
    assert photo.jpeg == b"" and "render failed: RuntimeError: out of memory" in photo.error
    h = cam.health()
    assert h.errors == 1 and h.samples == 0 and "out of memory" in h.last_error
    assert h.counters.failures == 1  # type: ignore[union-attr]
    cam.close()


def _fly(hal: Hal, photos: bool) -> list[Any]:
    """1.5 s of flight at full thrust; every device polled each 2 ms cycle."""
    seen: list[Any] = []
    t = hal.clock.now_ns()
    for k in range(750):
        t += 2 * MS
        hal.clock.sleep_until(t)
        seen += hal.imu.poll()
        seen += hal.rangefinder.poll()
        seen += [(f.t_ns, f.seq, f.image.tobytes()) for f in hal.camera.poll()]
        hal.actuators.write(ActuatorCommand((0.6,) * 4, armed=True))
        if photos and hal.photo_camera is not None:
            if k % 150 == 0:
                hal.photo_camera.trigger()
            hal.photo_camera.poll_exposures()
            hal.photo_camera.poll()
    seen.append(hal.truth.truth())  # type: ignore[union-attr]
    hal.close()
    return seen


def test_taking_photos_changes_nothing_else_in_the_simulation() -> None:
    world = {"preset": "jezero", "objects": [ROVER]}
    with_photos = _fly(_sim({**SMALL, "readout_s": 0.1}, world), photos=True)
    without = _fly(_sim({"enabled": False}, world), photos=False)
    assert with_photos == without


def test_a_disabled_camera_is_absent() -> None:
    hal = _sim({"enabled": False})
    assert hal.photo_camera is None and hal.photo_truth is None
    assert all(d.name != "photo_camera" for d in hal.devices())


def test_the_shipped_sim_config_spells_out_the_defaults() -> None:
    cfg = load_config(ROOT / "config" / "sim.toml")
    assert load_sim_settings(cfg.sim, cfg.source).photo == PhotoSettings()


@pytest.mark.parametrize("raw,key,problem", [
    ({"width": 8}, "sim.photo.width", "must be >= 16"),
    ({"jpeg_quality": 0}, "sim.photo.jpeg_quality", "must be >= 1"),
    ({"jpeg_quality": 90.5}, "sim.photo.jpeg_quality", "expected an integer"),
    ({"readout_s": "x"}, "sim.photo.readout_s", "expected a number"),
    ({"mount_pitch_deg": 120.0}, "sim.photo.mount_pitch_deg", "must be <= 90"),
    ({"exposure_ms": math.inf}, "sim.photo.exposure_ms", "finite"),
    ({"enabled": "yes"}, "sim.photo.enabled", "expected true or false"),
    ({"fov": 60.0}, "sim.photo.fov", "unknown key"),
])
def test_bad_photo_settings_give_one_line_naming_file_and_key(
        raw: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_sim_settings({"photo": raw}, "cfg.toml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("cfg.toml: ") and key in msg and problem in msg
