"""LIDAR-Lite v3 driver (hal/lidarlite.py) against its register-level emulator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hal.lidarlite import ACQ_MID_NS, LidarLiteMissingError, LidarLiteSettings, LidarLiteV3
from hal.tomlschema import ConfigError, load
from hal.types import RangeSample
from sim_hal import lidarlite_emu as L
from sim_hal.i2c_bus import EmulatedI2cBus, ManualClock
from sim_hal.lidarlite_emu import LidarLiteV3Emulator

POLL_NS = 2_000_000


def rig(
    dist: float | None = 5.0, noise: float = 0.0, **kw: float
) -> tuple[ManualClock, EmulatedI2cBus, LidarLiteV3Emulator, LidarLiteV3]:
    clk = ManualClock()
    bus = EmulatedI2cBus(clk)

    def range_m(t: int) -> float:
        if dist is None:
            return 3.0 + 1e-9 * (t - 1_000_000_000)  # climbing 1 m/s
        return dist

    emu = LidarLiteV3Emulator(clk, range_m, noise_m=noise)
    bus.attach(0x62, emu)
    lid = LidarLiteV3(bus, clk, LidarLiteSettings(**kw))  # type: ignore[arg-type]
    return clk, bus, emu, lid


def run(clk: ManualClock, lid: LidarLiteV3, polls: int) -> list[RangeSample]:
    out: list[RangeSample] = []
    for _ in range(polls):
        clk.advance(POLL_NS)
        out += lid.poll()
    return out


def test_rate_distance_and_at_most_two_transactions_per_poll() -> None:
    clk, bus, _emu, lid = rig()
    lid.open()
    worst = 0
    out: list[RangeSample] = []
    for _ in range(500):  # 1 s
        clk.advance(POLL_NS)
        before = bus.counters.transactions
        out += lid.poll()
        worst = max(worst, bus.counters.transactions - before)
    assert worst <= 2
    assert 49 <= len(out) <= 50
    assert all(s.valid and s.distance_m == pytest.approx(5.0) for s in out)
    assert [s.seq for s in out] == list(range(out[0].seq, out[0].seq + len(out)))
    # stamped at trigger + mid-acquisition: 20 ms apart, on the absolute schedule
    t = np.array([s.t_ns for s in out])
    assert set(np.diff(t)[1:]) == {20_000_000}  # the first waits for the first poll
    assert lid.health().errors == 0


def test_measurement_time_matches_the_world() -> None:
    clk, _bus, emu, lid = rig(dist=None)
    lid.open()
    out = run(clk, lid, 200)
    for s in out:
        # the emulator samples the world mid-acquisition; stamp says the same instant
        truth = 3.0 + 1e-9 * (s.t_ns - 1_000_000_000)
        assert s.distance_m == pytest.approx(truth, abs=0.006 + 1e-9 * abs(
            emu.acquisition_ns // 2 - ACQ_MID_NS))


def test_bias_correction_on_first_of_every_n() -> None:
    clk, _bus, emu, lid = rig(bias_every=3)
    lid.open()
    cmds: list[int] = []
    orig = emu._write_reg

    def spy(reg: int, value: int) -> None:
        if reg == L.ACQ_COMMAND:
            cmds.append(value)
        orig(reg, value)

    emu._write_reg = spy  # type: ignore[method-assign]
    run(clk, lid, 100)
    assert cmds[:6] == [4, 3, 3, 4, 3, 3]


@pytest.mark.parametrize("dist", [0.0, 45.0, math.nan])
def test_out_of_range_is_invalid_nan(dist: float) -> None:
    clk, _bus, _emu, lid = rig(dist=dist)
    lid.open()
    out = run(clk, lid, 50)
    assert out and all(not s.valid and math.isnan(s.distance_m) for s in out)
    assert lid.health().counters.invalid == len(out)


def test_stuck_busy_times_out_as_invalid_then_recovers() -> None:
    clk, _bus, emu, lid = rig(busy_timeout_ms=30.0)
    lid.open()
    run(clk, lid, 30)
    emu.stuck_busy = True
    stuck = run(clk, lid, 50)
    assert any(not s.valid for s in stuck)
    assert lid.health().counters.stuck_busy >= 1
    emu.stuck_busy = False
    after = run(clk, lid, 100)
    assert sum(s.valid for s in after) >= 8


def test_never_waits_in_poll() -> None:
    clk, _bus, _emu, lid = rig()
    lid.open()
    t = clk.now_ns()
    for _ in range(20):
        lid.poll()
    assert clk.now_ns() == t  # poll never advanced (slept on) the clock


@pytest.mark.parametrize("kind", ["nack", "eio", "timeout"])
def test_bus_errors_counted_never_raised(kind: str) -> None:
    clk, bus, _emu, lid = rig()
    lid.open()
    before = run(clk, lid, 50)
    bus.inject(0x62, kind, count=4)  # type: ignore[arg-type]
    after = run(clk, lid, 100)
    h = lid.health()
    assert h.errors == 4 and "errno" in h.last_error
    assert len(after) >= 7 and all(s.valid for s in after)
    assert after[0].seq > before[-1].seq
    assert h.lost >= 1  # a measurement whose read failed is gone: its seq is skipped
    seq = [s.seq for s in before + after]
    assert len(seq) + h.lost == seq[-1] - seq[0] + 1


def test_missing_unit_named_in_error() -> None:
    clk = ManualClock()
    lid = LidarLiteV3(EmulatedI2cBus(clk), clk)
    with pytest.raises(LidarLiteMissingError, match=r"0x62.*errno 121"):
        lid.open()


def test_wrong_device_named_in_error() -> None:
    _clk, bus, _emu, lid = rig()

    class Rom:
        def i2c_write(self, data: bytes) -> None:
            pass

        def i2c_read(self, n: int) -> bytes:
            return b"\x00" * n

        def power_on_reset(self) -> None:
            pass

    bus.attach(0x62, Rom())
    with pytest.raises(LidarLiteMissingError, match=r"0x62 read SIG_COUNT_VAL back"):
        lid.open()


def test_emulator_register_semantics() -> None:
    clk, bus, emu, _lid = rig(dist=12.34)
    bus.write_byte_data(0x62, L.ACQ_COMMAND, 0x04)
    assert bus.read_byte_data(0x62, L.STATUS) & L.STATUS_BUSY
    clk.advance(emu.acquisition_ns)
    assert not bus.read_byte_data(0x62, L.STATUS) & L.STATUS_BUSY
    hi, lo = bus.read_i2c_block_data(0x62, 0x8F, 2)
    assert (hi << 8) | lo == 1234
    # without bit 7 the pointer stays on 0x0F
    assert bus.read_i2c_block_data(0x62, 0x0F, 2) == [hi, hi]
    bus.write_byte_data(0x62, L.SIG_COUNT_VAL, 0x20)
    bus.write_byte_data(0x62, L.ACQ_COMMAND, 0x00)  # reset to defaults
    assert bus.read_byte_data(0x62, L.SIG_COUNT_VAL) == 0x80


def test_settings_load_and_errors() -> None:
    s = load(LidarLiteSettings, {"rate_hz": 100.0}, "rig.toml", "altimeter")
    assert s.rate_hz == 100.0
    with pytest.raises(ConfigError, match=r"altimeter.rate_hz: must be <= 250"):
        load(LidarLiteSettings, {"rate_hz": 1000.0}, "rig.toml", "altimeter")
    with pytest.raises(ConfigError, match=r"min_valid_cm must be below"):
        load(LidarLiteSettings, {"min_valid_cm": 100, "max_valid_cm": 50}, "rig.toml",
             "altimeter")
