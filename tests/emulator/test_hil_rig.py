"""The rig backend's settings and wiring (hal/rig.py), without hardware: the I2C bus is the
emulated one, handed in where smbus2 would open /dev/i2c-N."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.config import load_config
from hal import rig
from hal.camera_stream import StreamCamera
from hal.tomlschema import ConfigError
from hal.types import ActuatorCommand
from hal.vc0706_still import Vc0706StillCamera
from sim_hal.hil import load_hil_settings
from sim_hal.i2c_bus import EmulatedI2cBus, ManualClock
from sim_hal.pca9685_emu import Pca9685Emulator
from tests.conftest import CONFIG


def test_config_files_load() -> None:
    cfg = load_config(CONFIG / "rig.toml")
    assert cfg.backend == "rig"
    s = rig.load_rig_settings(cfg.rig, str(cfg.source))
    assert s.i2c_bus == 1 and not s.pca9685.enabled  # outputs off by default
    assert s.camera_protocol == "stream" and s.photo.protocol == "vc0706"
    cfg = load_config(CONFIG / "hil.toml")
    assert cfg.backend == "hil"
    h = load_hil_settings(cfg.hil, str(cfg.source))
    assert h.pca9685.enabled and (h.camera.width, h.camera.height) == (160, 120)
    assert h.photo.protocol == "vc0706" and h.photo.image_size == "640x480"


def test_rig_settings_errors_are_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^r\.toml: rig\.camera_protocol: must be one of"):
        rig.load_rig_settings({"camera_protocol": "usb"}, "r.toml")
    with pytest.raises(ConfigError, match=r"^r\.toml: rig\.mpu6050\.adress: unknown key"):
        rig.load_rig_settings({"mpu6050": {"adress": 0x68}}, "r.toml")
    with pytest.raises(ConfigError, match="share an I2C address"):
        rig.load_rig_settings({"lidarlite": {"address": 0x68}}, "r.toml")


def test_a_missing_bus_is_a_clear_error() -> None:
    with pytest.raises(rig.RigError, match=r"cannot open /dev/i2c-250"):
        rig.open_i2c_bus(250)


@pytest.mark.parametrize("enabled,arm,live", [(False, False, False), (False, True, False),
                                              (True, False, False), (True, True, True)])
def test_outputs_live_only_when_enabled_and_armed(monkeypatch: pytest.MonkeyPatch,
                                                  enabled: bool, arm: bool, live: bool) -> None:
    clk = ManualClock()
    bus = EmulatedI2cBus(clk)
    pca = Pca9685Emulator(clk)
    bus.attach(0x40, pca)
    monkeypatch.setattr(rig, "open_i2c_bus", lambda n: bus)
    s = rig.load_rig_settings({"pca9685": {"enabled": enabled}}, "r.toml")
    hal = rig.build_rig(s, arm=arm)
    assert hal.backend == "rig" and hal.truth is None and hal.realtime
    assert isinstance(hal.camera, StreamCamera)
    assert isinstance(hal.photo_camera, Vc0706StillCamera)
    hal.actuators.open()
    hal.actuators.write(ActuatorCommand((0.5, 0.5, 0.5, 0.5), armed=True))
    pulses = pca.pulses_us()[:4]
    if live:
        assert all(p is not None and 1490 < p < 1510 for p in pulses), pulses
    else:
        assert pulses == [None] * 4
    hal.close()
    assert pca.pulses_us()[:4] == [None] * 4  # off on exit, whatever happened
    assert bus.closed


def test_stream_camera_protocol(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(rig, "open_i2c_bus", lambda n: EmulatedI2cBus(ManualClock()))
    s = rig.load_rig_settings({"camera_protocol": "stream", "camera_port": str(tmp_path / "t"),
                               "stream": {"width": 64, "height": 48}}, "r.toml")
    hal = rig.build_rig(s, arm=False)
    assert isinstance(hal.camera, StreamCamera)
    assert (hal.camera.width, hal.camera.height) == (64, 48)
    t = rig.rig_camera_bench_target(s)
    assert t.baud == 3_000_000 and isinstance(t.camera, StreamCamera)
