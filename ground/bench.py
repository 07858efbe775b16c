"""Bench routines: is every device there, is it the right one, and how does it behave?

``bench_i2c`` scans the bus, identifies each configured chip through its own driver's bring-up
(which names the address and what answered), then runs the IMU and the altimeter at the
control loop's rate and measures them. ``bench_camera`` opens a camera driver, grabs frames and
measures rate, latency and error counters. Both work the same on a real rig (smbus2, a UART)
and on the hil backend's emulators; both return a ``BenchReport`` whose ``lines`` are for a
person and whose ``figures`` are for one JSON line.

Nothing here arms anything: the PCA9685 is only opened (which writes all outputs off), checked
and closed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hal.bench_target import I2cDevices
from hal.camera_stream import OVERHEAD
from hal.interfaces import Camera, Clock
from hal.lidarlite import LidarLiteV3
from hal.mpu6050 import Mpu6050
from hal.pca9685 import Pca9685
from hal.serial_reader import wire_time_ns
from hal.types import NS_PER_S, DeviceHealth, Frame, ImuSample, RangeSample

log = logging.getLogger(__name__)

SCAN_FIRST, SCAN_LAST = 0x03, 0x77  # i2cdetect's default range: the rest are reserved
LOOP_HZ = 500.0  # the control loop's rate: the IMU is read as the flight software reads it
CAMERA_POLL_NS = 5_000_000
CAMERA_SETTLE_NS = 300_000_000


class BenchBus(Protocol):
    """What the bench needs of an smbus2.SMBus (EmulatedI2cBus has the same methods)."""

    def read_byte(self, i2c_addr: int) -> int: ...
    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...
    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Any) -> None: ...
    def i2c_rdwr(self, *i2c_msgs: Any) -> None: ...


@dataclass
class BenchReport:
    lines: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    ok: bool = True

    def fail(self, line: str) -> None:
        self.ok = False
        self.lines.append(f"FAIL {line}")


def _r(x: float, nd: int = 3) -> float | None:
    return round(float(x), nd) if math.isfinite(x) else None


def _health_figures(h: DeviceHealth) -> dict[str, Any]:
    return {"errors": h.errors, "lost": h.lost, "resets": h.resets, "overflows": h.overflows,
            "bad_data": h.bad_data, "reconnects": h.reconnects, "last_error": h.last_error}


# -- I2C ------------------------------------------------------------------------------------------


def scan(bus: BenchBus) -> list[int]:
    """Addresses that ACK a one-byte read (i2cdetect -r). A read is harmless on these chips;
    call it before the drivers start an IMU FIFO, whose data port a stray read would pop."""
    found = []
    for addr in range(SCAN_FIRST, SCAN_LAST + 1):
        try:
            bus.read_byte(addr)
        except OSError:
            continue
        found.append(addr)
    return found


def bench_i2c(bus: BenchBus, clock: Clock, settings: I2cDevices, seconds: float) -> BenchReport:
    rep = BenchReport()
    fig = rep.figures
    found = scan(bus)
    fig["scan"] = [f"0x{a:02x}" for a in found]
    rep.lines.append("scan 0x03..0x77: " + (" ".join(fig["scan"]) or "nothing answered"))
    expected: dict[int, str] = {}
    if settings.mpu6050 is not None:
        expected[settings.mpu6050.address] = "imu (MPU-6050 family)"
    if settings.lidarlite is not None:
        expected[settings.lidarlite.address] = "altimeter (LIDAR-Lite v3)"
    if settings.pca9685 is not None:
        expected[settings.pca9685.address] = "motors (PCA9685)"
    for addr in found:
        if addr not in expected:
            rep.lines.append(f"note 0x{addr:02x}: answers but is not configured")
    for addr, what in expected.items():
        if addr not in found:
            rep.fail(f"0x{addr:02x}: {what} MISSING: no ACK at its address (wiring, power, "
                     "address jumper?)")

    imu: Mpu6050 | None = None
    alt: LidarLiteV3 | None = None
    ident: dict[str, str] = {}
    if settings.mpu6050 is not None:
        imu = Mpu6050(bus, clock, settings.mpu6050)
        try:
            imu.open()
            ident["imu"] = f"{imu.chip} at 0x{imu.addr:02x}"
            rep.lines.append(f"ok   0x{imu.addr:02x}: imu: {imu.chip}, WHO_AM_I="
                             f"0x{imu.counters.who_am_i:02x}, FIFO "
                             f"{imu.fifo_size} bytes, nominal {imu.rate_hz:g} Hz")
        except OSError as exc:
            rep.fail(str(exc))
            imu = None
    if settings.lidarlite is not None:
        alt = LidarLiteV3(bus, clock, settings.lidarlite)
        try:
            alt.open()
            ident["altimeter"] = f"LIDAR-Lite v3 at 0x{alt.addr:02x}"
            rep.lines.append(f"ok   0x{alt.addr:02x}: altimeter: LIDAR-Lite v3 "
                             "(SIG_COUNT_VAL read back)")
        except OSError as exc:
            rep.fail(str(exc))
            alt = None
    if settings.pca9685 is not None:
        pca = Pca9685(bus, clock, settings.pca9685)
        try:
            pca.open()  # writes all outputs off first
            ident["motors"] = f"PCA9685 at 0x{pca.addr:02x}"
            rep.lines.append(f"ok   0x{pca.addr:02x}: motors: PCA9685, PRE_SCALE "
                             f"{pca.prescale} ({pca.pwm_hz_actual:.1f} Hz), outputs off")
            pca.close()
        except OSError as exc:
            rep.fail(str(exc))
    fig["identified"] = ident
    if imu is not None or alt is not None:
        _measure(rep, clock, imu, alt, seconds)
    for dev in (imu, alt):
        if dev is not None:
            dev.close()
    return rep


def _measure(rep: BenchReport, clock: Clock, imu: Mpu6050 | None, alt: LidarLiteV3 | None,
             seconds: float) -> None:
    period = round(NS_PER_S / LOOP_HZ)
    imu_s: list[ImuSample] = []
    rng_s: list[RangeSample] = []
    polls: list[int] = []
    fills: list[float] = []
    t_start = clock.now_ns()
    # The first poll drains what piled up during bring-up: it is not the steady state.
    if imu is not None:
        imu.poll()
    h0 = _snapshot(imu) if imu is not None else {}
    deadline = t_start
    end = t_start + round(seconds * NS_PER_S)
    while True:
        deadline += period
        clock.sleep_until(deadline)
        now = clock.now_ns()
        if now >= end:
            break
        polls.append(now)
        if imu is not None:
            imu_s += imu.poll()
            fills.append(float(imu.counters.fifo_fill_bytes))
        if alt is not None:
            rng_s += alt.poll()
    elapsed_s = (polls[-1] - polls[0]) / NS_PER_S if len(polls) > 1 else math.nan
    fig = rep.figures
    fig["seconds"] = _r(elapsed_s)
    dp = np.diff(np.array(polls, dtype=np.int64)) / 1e3
    fig["poll_period_us"] = {"mean": _r(float(dp.mean())) if dp.size else None,
                             "p99": _r(float(np.percentile(dp, 99))) if dp.size else None}
    if imu is not None:
        _imu_figures(rep, imu, imu_s, fills, h0, elapsed_s)
    if alt is not None:
        _alt_figures(rep, alt, rng_s, elapsed_s)


def _snapshot(imu: Mpu6050) -> dict[str, float]:
    c = imu.counters
    return {"transactions": float(c.transactions), "bytes_read": float(c.bytes_read),
            "samples": float(imu.health().samples)}


def _imu_figures(rep: BenchReport, imu: Mpu6050, samples: list[ImuSample], fills: list[float],
                 h0: dict[str, float], elapsed_s: float) -> None:
    h = imu.health()
    h1 = _snapshot(imu)
    n = len(samples)
    tx = h1["transactions"] - h0["transactions"]
    nbytes = h1["bytes_read"] - h0["bytes_read"]
    rate = n / elapsed_s if elapsed_s > 0 else math.nan
    skew = h.clock.skew_ppm if h.clock is not None else math.nan
    fig: dict[str, Any] = {
        "chip": imu.chip, "samples": n, "nominal_hz": _r(imu.rate_hz),
        "rate_hz": _r(rate), "rate_error_pct": _r((rate / imu.rate_hz - 1) * 100, 3),
        # the chip's own period against the host clock, from the driver's clock fit
        "rate_from_clock_fit_hz": _r(imu.rate_hz / (1 + skew * 1e-6)),
        "transactions_per_sample": _r(tx / n, 4) if n else None,
        "bytes_per_sample": _r(nbytes / n, 2) if n else None,
        "fifo_fill_bytes_mean": _r(float(np.nanmean(fills)), 1) if fills else None,
        "fifo_fill_bytes_max": _r(float(np.nanmax(fills)), 1) if fills else None,
        "bad_register": float(imu.counters.bad_register),
        "fifo_resets": float(imu.counters.fifo_resets),
        **_health_figures(h),
    }
    if n > 2:
        t = np.array([s.t_ns for s in samples], dtype=np.int64)
        d = np.diff(t) / 1e3
        seq = np.array([s.seq for s in samples], dtype=np.int64)
        fig["seq_gaps"] = int(np.count_nonzero(np.diff(seq) != 1))
        fig["period_us"] = {"mean": _r(float(d.mean())), "std": _r(float(d.std())),
                            "max_abs_dev": _r(float(np.max(np.abs(d - d.mean()))))}
        acc = np.array([s.accel_mps2 for s in samples])
        gyr = np.array([s.gyro_rps for s in samples])
        fig["accel_mean_mps2"] = [_r(float(v)) for v in acc.mean(axis=0)]
        fig["accel_std_mps2"] = [_r(float(v), 4) for v in acc.std(axis=0)]
        fig["gyro_std_rps"] = [_r(float(v), 5) for v in gyr.std(axis=0)]
    rep.figures["imu"] = fig
    rep.lines.append(
        f"imu: {n} samples, {fig['rate_hz']} Hz measured vs {fig['nominal_hz']} Hz nominal "
        f"({fig['rate_error_pct']} %; clock fit says {fig['rate_from_clock_fit_hz']} Hz)")
    if "period_us" in fig:
        p = fig["period_us"]
        rep.lines.append(f"imu: sample period {p['mean']} us, jitter std {p['std']} us, max "
                         f"deviation {p['max_abs_dev']} us (stamps after the driver's clock fit)"
                         f", {fig['seq_gaps']} sequence gaps")
    rep.lines.append(
        f"imu: {fig['transactions_per_sample']} bus transactions and {fig['bytes_per_sample']} "
        f"bytes per sample; FIFO fill mean {fig['fifo_fill_bytes_mean']} max "
        f"{fig['fifo_fill_bytes_max']} of {imu.fifo_size} bytes")
    rep.lines.append(
        f"imu: errors {h.errors}, overflows {h.overflows}, resets {h.resets}, lost {h.lost}, "
        f"bad data {h.bad_data}, bad register {fig['bad_register']:g}"
        + (f", last error: {h.last_error}" if h.last_error else ""))
    if n == 0:
        rep.fail("imu: no samples in the measurement window")
    elif abs(rate / imu.rate_hz - 1) > 0.05:
        rep.fail(f"imu: output rate {rate:.1f} Hz is more than 5 % off nominal")


def _alt_figures(rep: BenchReport, alt: LidarLiteV3, samples: list[RangeSample],
                 elapsed_s: float) -> None:
    h = alt.health()
    good = np.array([s.distance_m for s in samples if s.valid], dtype=np.float64)
    fig: dict[str, Any] = {
        "samples": len(samples), "valid": int(good.size),
        "nominal_hz": _r(alt.rate_hz),
        "rate_hz": _r(len(samples) / elapsed_s if elapsed_s > 0 else math.nan),
        "distance_mean_m": _r(float(good.mean())) if good.size else None,
        "noise_std_m": _r(float(good.std()), 4) if good.size > 1 else None,
        "invalid": float(alt.counters.invalid), "stuck_busy": float(alt.counters.stuck_busy),
        **_health_figures(h),
    }
    rep.figures["altimeter"] = fig
    rep.lines.append(
        f"altimeter: {fig['samples']} measurements ({fig['valid']} valid), {fig['rate_hz']} Hz "
        f"vs {fig['nominal_hz']} Hz configured; distance {fig['distance_mean_m']} m, noise "
        f"(std) {fig['noise_std_m']} m; invalid {fig['invalid']:g}, stuck busy "
        f"{fig['stuck_busy']:g}, errors {h.errors}")
    if not samples:
        rep.fail("altimeter: no measurements in the measurement window")


# -- camera ---------------------------------------------------------------------------------------


def bench_camera(camera: Camera, clock: Clock, seconds: float,
                 baud: int | None = None) -> BenchReport:
    """Open ``camera``, poll it like the control cycle would for ``seconds``, close it.
    ``baud``: the line rate, for a stream camera's wire-time figure."""
    rep = BenchReport()
    fig = rep.figures
    frames: list[tuple[Frame, int]] = []  # with the time the poll got it
    warm = 0
    camera.open()
    try:
        t0 = clock.now_ns()
        end = t0 + round(seconds * NS_PER_S)
        settle = t0 + CAMERA_SETTLE_NS
        deadline = t0
        while True:
            deadline += CAMERA_POLL_NS
            clock.sleep_until(deadline)
            now = clock.now_ns()
            got = camera.poll()
            if now < settle:
                # bytes that waited for the port to open, and the clock fit's first
                # points, are not the steady state
                warm += len(got)
            else:
                frames += [(f, now) for f in got]
            if now >= end:
                break
        ident_fn = getattr(camera, "identify", None)
        ident: dict[str, Any] = dict(ident_fn()) if callable(ident_fn) else {}
    finally:
        camera.close()
    ident.setdefault("size", f"{camera.width}x{camera.height}")
    ident.setdefault("kind", type(camera).__name__)
    fig["identity"] = ident
    rep.lines.append("camera: " + ", ".join(f"{k} {v}" for k, v in ident.items() if v != ""))
    h = camera.health()
    n = len(frames)
    fig["frames"] = n
    fig["warmup_frames"] = warm
    fig["nominal_hz"] = _r(camera.rate_hz)
    fig.update(_health_figures(h))
    fig["extra"] = h.counters.figures() if h.counters is not None else {}
    if n == 0:
        rep.fail(f"camera: no frames in {seconds:g} s after warm-up (connected={h.connected}, "
                 f"last error: {h.last_error or 'none'})")
        return rep
    t_rx = np.array([f.t_rx_ns for f, _ in frames], dtype=np.int64)
    t_ns = np.array([f.t_ns for f, _ in frames], dtype=np.int64)
    t_av = np.array([a for _, a in frames], dtype=np.int64)
    seq = np.array([f.seq for f, _ in frames], dtype=np.int64)
    span_s = (t_ns[-1] - t_ns[0]) / NS_PER_S if n > 1 else 0.0
    rate = (n - 1) / span_s if span_s > 0 else math.nan  # by mid-exposure stamps
    lat = (t_rx - t_ns) / 1e6
    avail = (t_av - t_ns) / 1e6
    fig["rate_hz"] = _r(rate)
    fig["seq_gaps"] = int(np.count_nonzero(np.diff(seq) != 1)) if n > 1 else 0
    fig["latency_ms"] = {"median": _r(float(np.median(lat))),
                         "p99": _r(float(np.percentile(lat, 99)))}
    fig["available_latency_ms"] = {"median": _r(float(np.median(avail))),
                                   "p99": _r(float(np.percentile(avail, 99)))}
    wrong = sum(1 for f, _ in frames if f.image.shape != (camera.height, camera.width))
    fig["wrong_size"] = wrong
    if baud and any(f.device_t_ns is not None for f, _ in frames):
        wire = wire_time_ns(OVERHEAD + camera.width * camera.height, baud) / 1e6
        fig["wire_ms"] = _r(wire)
        fig["latency_beyond_wire_ms"] = _r(float(np.median(lat)) - wire)
    else:
        fig["wire_ms"] = None
    rep.lines.append(f"camera: {n} frames, {fig['rate_hz']} fps vs {fig['nominal_hz']} "
                     f"nominal, {fig['seq_gaps']} sequence gaps")
    rep.lines.append(
        f"camera: latency measurement->last byte median {fig['latency_ms']['median']} ms, p99 "
        f"{fig['latency_ms']['p99']} ms; measurement->available to the loop median "
        f"{fig['available_latency_ms']['median']} ms"
        + (f"; wire time {fig['wire_ms']} ms" if fig["wire_ms"] is not None else ""))
    rep.lines.append(f"camera: errors {h.errors}, lost {h.lost}, bad data {h.bad_data}, "
                     f"reconnects {h.reconnects}, queue overflows {h.overflows}"
                     + (f", last error: {h.last_error}" if h.last_error else ""))
    if wrong:
        rep.fail(f"camera: {wrong} frames of the wrong size")
    if n > 1 and rate < 0.5 * camera.rate_hz:
        rep.fail(f"camera: {rate:.1f} fps is under half the nominal {camera.rate_hz:g}")
    return rep
