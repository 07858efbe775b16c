"""PCA9685 PWM output driver (hal/pca9685.py) against its register-level emulator."""

from __future__ import annotations

from typing import Any

import pytest

from hal.pca9685 import Pca9685, Pca9685MissingError, Pca9685Settings
from hal.tomlschema import ConfigError, load
from hal.types import ActuatorCommand
from sim_hal import pca9685_emu as P
from sim_hal.i2c_bus import EmulatedI2cBus, ManualClock
from sim_hal.pca9685_emu import Pca9685Emulator


def rig(**kw: Any) -> tuple[ManualClock, EmulatedI2cBus, Pca9685Emulator, Pca9685,
                            list[list[float | None]]]:
    clk = ManualClock()
    bus = EmulatedI2cBus(clk)
    seen: list[list[float | None]] = []
    emu = Pca9685Emulator(clk, on_outputs=seen.append)
    bus.attach(0x40, emu)
    drv = Pca9685(bus, clk, Pca9685Settings(**kw))
    return clk, bus, emu, drv, seen


def armed(*u: float) -> ActuatorCommand:
    return ActuatorCommand(tuple(u), True)


def test_open_sets_frequency_outdrv_autoincrement_all_off() -> None:
    clk, _bus, emu, drv, _seen = rig(pwm_hz=400.0)
    t0 = clk.now_ns()
    drv.open()
    assert emu.regs[P.PRE_SCALE] == round(25e6 / (4096 * 400)) - 1 == 14
    assert emu.regs[P.MODE1] == P.MODE1_AI  # awake, auto-increment
    assert emu.regs[P.MODE2] == 0x04
    assert clk.now_ns() - t0 >= 500_000  # oscillator start-up
    assert emu.pulses_us() == [None] * 16
    assert drv.pwm_hz_actual == pytest.approx(25e6 / (4096 * 15))


def test_outputs_off_unless_enabled_and_armed() -> None:
    for enabled, arm in ((False, True), (True, False), (False, False)):
        _clk, _bus, emu, drv, _seen = rig(enabled=enabled)
        drv.open()
        drv.write(ActuatorCommand((0.5, 0.5, 0.5, 0.5), arm))
        assert emu.pulses_us() == [None] * 16, (enabled, arm)


def test_armed_write_is_one_block_transaction_with_mapped_pulses() -> None:
    _clk, bus, emu, drv, seen = rig(enabled=True, channels=[4, 5, 7, 6])
    drv.open()
    drv.write(armed(0.0, 0.0, 0.0, 0.0))  # first write also does the ~100 ms MODE1 check
    before = bus.counters.transactions
    drv.write(armed(0.0, 1.0, 0.5, 0.25))
    assert bus.counters.transactions - before == 1
    out = emu.pulses_us()
    step = 1e6 / drv.pwm_hz_actual / 4096  # one count in us
    assert out[4] == pytest.approx(1000.0, abs=step)
    assert out[5] == pytest.approx(2000.0, abs=step)
    assert out[7] == pytest.approx(1500.0, abs=step)
    assert out[6] == pytest.approx(1250.0, abs=step)
    assert [out[i] for i in range(16) if i not in (4, 5, 6, 7)] == [None] * 12
    assert seen[-1] == out  # the callback saw the same outputs, once per block
    assert drv.last_pulses_us[1] == pytest.approx(2000.0, abs=step)


def test_gap_in_mapping_written_full_off_and_clipping() -> None:
    _clk, _bus, emu, drv, _seen = rig(enabled=True, channels=[0, 2], min_us=1100, max_us=1900)
    drv.open()
    drv.write(armed(-3.0, float("nan")))
    out = emu.pulses_us()
    assert out[1] is None
    assert out[0] == pytest.approx(1100.0, abs=1.0) and out[2] == pytest.approx(1100.0, abs=1.0)
    assert drv.health().bad_data == 1  # the nan


def test_more_than_eight_channels_uses_i2c_rdwr_single_transaction() -> None:
    _clk, bus, emu, drv, _seen = rig(enabled=True, channels=list(range(12)))
    drv.open()
    drv.write(armed(*([0.0] * 12)))
    before = bus.counters.transactions
    drv.write(armed(*([1.0] * 12)))
    assert bus.counters.transactions - before == 1
    assert all(p == pytest.approx(2000.0, abs=1.0) for p in emu.pulses_us()[:12])


def test_disarm_turns_everything_off_and_is_always_safe() -> None:
    _clk, bus, emu, drv, _seen = rig(enabled=True)
    drv.disarm()  # before open: allowed
    drv.open()
    drv.write(armed(0.5, 0.5, 0.5, 0.5))
    assert emu.pulses_us()[0] is not None
    drv.disarm()
    assert emu.pulses_us() == [None] * 16
    bus.inject(0x40, "nack")
    drv.disarm()  # swallowed, counted
    assert drv.health().errors == 1
    bus.clear()
    drv.write(ActuatorCommand((0.5,) * 4, False))  # retries the off after the failed one
    assert emu.pulses_us() == [None] * 16


def test_disarmed_command_after_armed_turns_off() -> None:
    _clk, bus, emu, drv, _seen = rig(enabled=True)
    drv.open()
    drv.write(armed(0.3, 0.3, 0.3, 0.3))
    drv.write(ActuatorCommand((0.3,) * 4, False))
    assert emu.pulses_us() == [None] * 16
    before = bus.counters.transactions
    drv.write(ActuatorCommand((0.3,) * 4, False))
    assert bus.counters.transactions == before  # off already confirmed: no traffic


def test_close_disarms_and_sleeps() -> None:
    _clk, _bus, emu, drv, _seen = rig(enabled=True)
    drv.open()
    drv.write(armed(0.5, 0.5, 0.5, 0.5))
    drv.close()
    assert emu.pulses_us() == [None] * 16
    assert emu.regs[P.MODE1] & P.MODE1_SLEEP
    drv.write(armed(0.5, 0.5, 0.5, 0.5))  # closed: ignored
    assert emu.pulses_us() == [None] * 16


def test_write_errors_counted_never_raised() -> None:
    _clk, bus, emu, drv, _seen = rig(enabled=True)
    drv.open()
    bus.inject(0x40, "eio", count=2)
    drv.write(armed(0.5, 0.5, 0.5, 0.5))
    drv.write(armed(0.5, 0.5, 0.5, 0.5))
    assert drv.health().errors == 2
    drv.write(armed(0.5, 0.5, 0.5, 0.5))
    assert emu.pulses_us()[0] == pytest.approx(1500.0, abs=1.0)


def test_spontaneous_chip_reset_reinitialised_on_next_check() -> None:
    clk, _bus, emu, drv, _seen = rig(enabled=True, pwm_hz=300.0)
    drv.open()
    drv.write(armed(0.5, 0.5, 0.5, 0.5))
    emu.power_on_reset()  # asleep, 200 Hz prescale, all off
    clk.advance(150_000_000)
    drv.write(armed(0.5, 0.5, 0.5, 0.5))
    assert drv.health().resets == 1
    assert emu.regs[P.PRE_SCALE] == drv.prescale
    assert emu.pulses_us()[0] == pytest.approx(1500.0, abs=1.0)


def test_missing_chip_named() -> None:
    clk = ManualClock()
    drv = Pca9685(EmulatedI2cBus(clk), clk, Pca9685Settings(address=0x41))
    with pytest.raises(Pca9685MissingError, match=r"0x41.*errno 121"):
        drv.open()


def test_emulator_prescale_only_while_sleeping_and_auto_increment() -> None:
    _clk, bus, emu, _drv, _seen = rig()
    bus.write_byte_data(0x40, P.MODE1, 0x00)  # awake
    bus.write_byte_data(0x40, P.PRE_SCALE, 0x05)
    assert emu.regs[P.PRE_SCALE] == 0x1E  # blocked (DS 7.3.5)
    bus.write_byte_data(0x40, P.MODE1, P.MODE1_SLEEP)
    bus.write_byte_data(0x40, P.PRE_SCALE, 0x05)
    assert emu.regs[P.PRE_SCALE] == 0x05
    # without AI a block write lands on one register
    bus.write_i2c_block_data(0x40, P.LED0_ON_L, [1, 2, 3, 4])
    assert list(emu.regs[6:10]) == [4, 0, 0, 0x10]
    bus.write_byte_data(0x40, P.MODE1, P.MODE1_AI)
    bus.write_i2c_block_data(0x40, P.LED0_ON_L, [1, 2, 3, 4])
    assert list(emu.regs[6:10]) == [1, 2, 3, 4]
    assert bus.read_byte_data(0x40, P.ALL_LED_OFF_H) == 0  # write-only
    # full off wins over full on
    bus.write_i2c_block_data(0x40, P.LED0_ON_L, [0, 0x10, 0, 0x10])
    assert emu.pulses_us()[0] is None


def test_settings_validation() -> None:
    s = load(Pca9685Settings, {"enabled": True, "channels": [3, 2, 1, 0]}, "rig.toml", "motors")
    assert s.channels == [3, 2, 1, 0]
    with pytest.raises(ConfigError, match=r"motors.channels: must be <= 15 \(got 16\)"):
        load(Pca9685Settings, {"channels": [0, 16]}, "rig.toml", "motors")
    with pytest.raises(ConfigError, match=r"mapped twice"):
        load(Pca9685Settings, {"channels": [0, 0]}, "rig.toml", "motors")
    with pytest.raises(ConfigError, match=r"does not fit a 500 Hz period"):
        load(Pca9685Settings, {"pwm_hz": 500.0, "max_us": 2100.0}, "rig.toml", "motors")
