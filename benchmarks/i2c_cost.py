"""What the MPU-6050 driver costs per sample, against the register-level emulator.

1 kHz output, 500 Hz polling, the chip's oscillator 2 % fast, simulated time (the clock only
moves between polls). Figures: bus transactions and bytes per sample, samples lost, driver
CPU per sample (poll time minus the time spent inside the emulated chip), and the timestamp
error against the emulator's true sample times after 1 s of settling. Compared with the
naive way: read the 14 data registers every cycle (one transaction, but half the samples
are never seen), or one transaction per axis as a popular Pi package does.

    .venv/bin/python benchmarks/i2c_cost.py [--seconds 60] [--ppm 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hal.mpu6050 import Mpu6050, Mpu6050Settings
from hal.types import ImuSample, Vec3
from sim_hal.i2c_bus import EmulatedI2cBus, ManualClock
from sim_hal.mpu6050_emu import Mpu6050Emulator

POLL_NS = 2_000_000


class TimedChip:
    """Wraps the emulated chip to measure the time spent emulating (not the driver's cost)."""

    def __init__(self, chip: Mpu6050Emulator) -> None:
        self.chip = chip
        self.spent = 0.0

    def i2c_write(self, data: bytes) -> None:
        t = time.perf_counter()
        self.chip.i2c_write(data)
        self.spent += time.perf_counter() - t

    def i2c_read(self, n: int) -> bytes:
        t = time.perf_counter()
        out = self.chip.i2c_read(n)
        self.spent += time.perf_counter() - t
        return out

    def power_on_reset(self) -> None:
        self.chip.power_on_reset()


def truth(t_ns: int) -> tuple[Vec3, Vec3, float]:
    s = t_ns * 1e-9
    return (0.3 * np.sin(s), 0.0, -9.80665), (0.2 * np.cos(3 * s), 0.1, 0.0), 30.0


def run_driver(seconds: float, ppm: float, combined: bool) -> dict[str, float]:
    clk = ManualClock()
    bus = EmulatedI2cBus(clk)
    emu = Mpu6050Emulator(clk, truth, rate_error_ppm=ppm, record_times=True, seed=2)
    chip = TimedChip(emu)
    bus.attach(0x68, chip)
    imu = Mpu6050(bus, clk, Mpu6050Settings(combined_read=combined))
    imu.open()
    tr0, by0, prod0 = bus.counters.transactions, bus.counters.bytes_read, emu.samples_produced
    chip.spent = 0.0
    out: list[ImuSample] = []
    polls = int(seconds * 1e9 / POLL_NS)
    cpu = 0.0
    ages: list[int] = []  # poll time minus the newest delivered sample's stamp
    for _ in range(polls):
        clk.advance(POLL_NS)
        t = time.perf_counter()
        got = imu.poll()
        cpu += time.perf_counter() - t
        out += got
        if got:
            ages.append(clk.now_ns() - got[-1].t_ns)
    n = len(out)
    produced = emu.samples_produced - prod0
    in_fifo = len(emu.fifo) // 14
    true_t = np.array(emu.sample_times_ns[:n])
    stamps = np.array([s.t_ns for s in out])
    settled = np.abs(stamps - true_t)[np.asarray(true_t) - true_t[0] >= 1e9]
    h = imu.health()
    return {
        "samples": n,
        "produced": produced,
        "lost": produced - n - in_fifo,
        "lost_counter": h.lost,
        "transactions_per_sample": (bus.counters.transactions - tr0) / n,
        "transactions_per_produced_sample": (bus.counters.transactions - tr0) / produced,
        "bytes_per_sample": (bus.counters.bytes_read - by0) / n,
        "driver_us_per_sample": (cpu - chip.spent) / n * 1e6,
        "driver_us_per_poll": (cpu - chip.spent) / polls * 1e6,
        "emulator_us_per_poll": chip.spent / polls * 1e6,
        "ts_err_mean_us": float(np.mean(settled)) / 1e3,
        "ts_err_p99_us": float(np.percentile(settled, 99)) / 1e3,
        "ts_err_max_us": float(np.max(settled)) / 1e3,
        "newest_age_mean_us": float(np.mean(ages)) / 1e3,
        "skew_ppm_est": h.clock.skew_ppm if h.clock else float("nan"),
        "overflows": h.overflows,
        "errors": h.errors,
    }


def run_naive(seconds: float, ppm: float, per_axis: bool) -> dict[str, float]:
    clk = ManualClock()
    bus = EmulatedI2cBus(clk)
    emu = Mpu6050Emulator(clk, truth, rate_error_ppm=ppm, seed=2)
    bus.attach(0x68, emu)
    bus.write_byte_data(0x68, 0x6B, 0x01)
    bus.write_byte_data(0x68, 0x1A, 0x01)
    prod0, tr0 = emu.samples_produced, bus.counters.transactions
    polls = int(seconds * 1e9 / POLL_NS)
    for _ in range(polls):
        clk.advance(POLL_NS)
        if per_axis:
            for reg in (0x3B, 0x3D, 0x3F, 0x41, 0x43, 0x45, 0x47):
                bus.read_i2c_block_data(0x68, reg, 2)
        else:
            bus.read_i2c_block_data(0x68, 0x3B, 14)
    produced = emu.samples_produced - prod0
    seen = min(polls, produced)  # at most one distinct sample a cycle
    return {
        "samples": seen,
        "produced": produced,
        "lost": produced - seen,
        "transactions_per_sample": (bus.counters.transactions - tr0) / seen,
        "transactions_per_produced_sample": (bus.counters.transactions - tr0) / produced,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--ppm", type=float, default=20_000.0)
    args = ap.parse_args()
    res = {
        "combined": run_driver(args.seconds, args.ppm, True),
        "two_step": run_driver(args.seconds, args.ppm, False),
        "naive_14_regs": run_naive(args.seconds, args.ppm, False),
        "naive_per_axis": run_naive(args.seconds, args.ppm, True),
    }
    print(f"MPU-6050 at 1 kHz (+{args.ppm:g} ppm), polled at 500 Hz, {args.seconds:g} s "
          "simulated")
    for name, r in res.items():
        line = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in r.items())
        print(f"  {name}: {line}")
    print(json.dumps({"benchmark": "i2c_cost", "seconds": args.seconds, "ppm": args.ppm,
                      **{k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in res.items()}}))


if __name__ == "__main__":
    main()
