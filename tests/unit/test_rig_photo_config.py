"""The rig's cameras from config (hal/rig.py): the stream camera navigates, the VC0706 takes the
photos; the VC0706 as navigation camera only with a warning naming its frame rate; config
errors one line each. Also the still camera's timing arithmetic (hal/vc0706.py)."""

from __future__ import annotations

import logging
import math

import pytest

from firmware.config import load_config
from hal import rig
from hal.camera_stream import StreamCamera
from hal.tomlschema import ConfigError, load
from hal.vc0706 import Vc0706Camera, Vc0706Settings, capture_wire_s, freeze_exposure
from hal.vc0706_still import Vc0706StillCamera, Vc0706StillSettings
from sim_hal.i2c_bus import EmulatedI2cBus, ManualClock
from sim_hal.pca9685_emu import Pca9685Emulator
from tests.conftest import CONFIG


@pytest.fixture
def no_i2c(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulated bus where smbus2 would open /dev/i2c-N, with the PCA9685 on it: closing
    the Hal switches its outputs off."""
    clk = ManualClock()
    bus = EmulatedI2cBus(clk)
    bus.attach(0x40, Pca9685Emulator(clk))
    monkeypatch.setattr(rig, "open_i2c_bus", lambda n: bus)


def test_defaults_stream_navigates_and_the_vc0706_takes_photos() -> None:
    s = rig.load_rig_settings({}, "r.toml")
    assert s.camera_protocol == "stream" and s.camera_port == "/dev/ttyUSB0"
    p = s.photo
    assert (p.protocol, p.port, p.image_size) == ("vc0706", "/dev/serial0", "640x480")
    assert (p.baud, p.fast_baud, p.verify_reads) == (38400, 115200, True)
    assert (p.hfov_deg, p.mount_pitch_deg) == (60.0, 22.0)
    # the shipped file says the same
    cfg = load_config(CONFIG / "rig.toml")
    shipped = rig.load_rig_settings(cfg.rig, str(cfg.source))
    assert shipped.camera_protocol == "stream" and shipped.photo == p


def test_build_wires_the_photo_camera_without_a_warning(
    no_i2c: None, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hal.rig")
    hal = rig.build_rig(rig.load_rig_settings({}, "r.toml"), arm=False)
    try:
        assert isinstance(hal.camera, StreamCamera)
        cam = hal.photo_camera
        assert isinstance(cam, Vc0706StillCamera) and cam in hal.devices()
        assert (cam.width, cam.height, cam.mount_pitch_deg) == (640, 480, 22.0)
        assert cam.focal_px == pytest.approx(320 / math.tan(math.radians(30)))
        assert hal.photo_truth is None  # no truth on a rig
    finally:
        hal.close()
    assert not [r for r in caplog.records if "VC0706" in r.getMessage()]
    assert hal.close_errors == []


def test_vc0706_as_navigation_camera_warns_with_its_frame_rate(
    no_i2c: None, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hal.rig")
    s = rig.load_rig_settings({"camera_protocol": "vc0706", "camera_port": "/dev/ttyUSB1"},
                              "r.toml")
    hal = rig.build_rig(s, arm=False)
    hal.close()
    assert isinstance(hal.camera, Vc0706Camera)
    (rec,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert rec.getMessage().startswith(
        "VC0706 as navigation camera: 0.4 frames/s at 160x120, 38400 baud; vision needs ~30")
    # faster line, smaller share of the period: the figure follows the settings
    fast = Vc0706Settings(fast_baud=115200, rate_hz=30.0)
    assert rig.vc0706_frame_rate(fast) == pytest.approx(1 / capture_wire_s(fast, 5000))
    assert 1.0 < rig.vc0706_frame_rate(fast) < 1.2
    assert rig.vc0706_frame_rate(Vc0706Settings(rate_hz=0.1)) == 0.1


def test_no_photo_camera(no_i2c: None) -> None:
    hal = rig.build_rig(rig.load_rig_settings({"photo": {"protocol": "none"}}, "r.toml"),
                        arm=False)
    hal.close()
    assert hal.photo_camera is None and len(hal.devices()) == 4


@pytest.mark.parametrize("raw,message", [
    ({"photo": {"image_size": "1024x768"}},
     r"^r\.toml: rig\.photo\.image_size: must be one of '640x480', '320x240', '160x120' "
     r"\(got '1024x768'\)$"),
    ({"photo": {"prot": "vc0706"}}, r"^r\.toml: rig\.photo\.prot: unknown key \(known: .*\)$"),
    ({"photo": {"port": ""}}, r"^r\.toml: rig\.photo: port: must name a serial device$"),
    ({"camera_protocol": "vc0706", "camera_port": "/dev/serial0"},
     r"^r\.toml: rig: photo\.port: /dev/serial0 is the navigation camera's camera_port too"),
    ({"photo": {"fast_baud": 0}},
     r"^r\.toml: rig\.photo: capture_timeout_s 20 is too short for a 640x480 photo at 38400 "
     r"baud: a typical one \(~37 KB, read twice\) keeps the line busy 20\.3 s, a busy scene "
     r"31 s"),
    ({"photo": {"hfov_deg": 0.5}}, r"^r\.toml: rig\.photo\.hfov_deg: must be >= 1\.0"),
])
def test_photo_config_errors_are_one_line(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        rig.load_rig_settings(raw, "r.toml")
    assert "\n" not in str(err.value)


def test_a_photo_at_38400_baud_fits_with_a_longer_cap() -> None:
    s = load(Vc0706StillSettings, {"fast_baud": 0, "capture_timeout_s": 31.0,
                                   "reply_timeout_s": 0.5}, "r.toml", "photo")
    assert 1.5 * capture_wire_s(s, 37_000) <= s.capture_timeout_s


# --- when the frozen picture was exposed -----------------------------------------------------

FRAME_NS = 33_333_333


@pytest.mark.parametrize("baud", [38400, 115200])
@pytest.mark.parametrize("slack_ns", [0, 2_000_000, 40_000_000])
def test_freeze_exposure_bounds_every_lag_the_camera_allows(baud: int, slack_ns: int) -> None:
    """For a freeze taking effect anywhere in the bracket and a picture exposed anywhere from
    P/2 to 2P before it (hal.vc0706.freeze_exposure), the truth lies within the bound."""
    wire = 5 * 10 * 10**9 // baud
    t_send = 10**12
    t_ack = t_send + 2 * wire + slack_ns
    est, bound = freeze_exposure(t_send, t_ack, baud, FRAME_NS / 1e9)
    assert bound == pytest.approx(0.75 * FRAME_NS + slack_ns / 2, abs=2)
    for f in range(11):  # where in the bracket the camera acted
        t_freeze = t_send + wire + slack_ns * f // 10
        for k in range(11):  # the lag of the frozen picture's mid-exposure
            lag = FRAME_NS // 2 + (2 * FRAME_NS - FRAME_NS // 2) * k // 10
            assert abs(est - (t_freeze - lag)) <= bound
    # outside the model the bound says so: a picture exposed after the freeze is not allowed
    assert abs(est - (t_send + wire + slack_ns + 1_000_000)) > bound


def test_freeze_exposure_never_inverts_on_odd_stamps() -> None:
    est, bound = freeze_exposure(1000, 900, 38400, 1 / 30)  # an ack stamped before its send
    assert bound >= 0 and est <= 1000
