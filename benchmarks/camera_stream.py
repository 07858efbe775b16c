"""Serial camera figures: parser throughput, driver latency over a pty, clock mapping error,
VC0706 capture time. Prints a table and, last, one JSON line.

    .venv/bin/python benchmarks/camera_stream.py [--pty-seconds 6] [--seeds 8]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hal.camera_stream import (
    OVERHEAD,
    FrameTimestamper,
    ParsedFrame,
    StreamCamera,
    StreamCameraSettings,
    StreamParser,
    encode_frame,
)
from hal.serial_reader import wire_time_ns
from hal.types import Frame
from hal.vc0706 import Vc0706Camera, Vc0706Settings
from sim_hal.camera_emu_base import DeviceClock, gradient_source
from sim_hal.camera_stream_emu import StreamCameraEmulator
from sim_hal.vc0706_emu import Vc0706Emulator

BAUD = 3_000_000
WIRE_MBPS = BAUD / 10 / 1e6  # payload MB/s a 3 Mbaud 8N1 line carries


class MonoClock:
    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        time.sleep(max(0, t_ns - self.now_ns()) / 1e9)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def parser_throughput(w: int, h: int, total_mb: float = 8.0, read: int = 4096) -> float:
    rng = np.random.default_rng(0)
    one = len(encode_frame(0, 0, 0, np.zeros((h, w), np.uint8)))
    n = max(4, int(total_mb * 1e6 / one))
    imgs = [rng.integers(0, 256, (h, w), dtype=np.uint8) for _ in range(8)]
    data = b"".join(encode_frame(i, i * 33_333, 1000, imgs[i % 8]) for i in range(n))
    p = StreamParser(max_width=w, max_height=h)
    t0 = time.perf_counter()
    got = 0
    for i in range(0, len(data), read):
        got += len(p.feed(data[i : i + read]))
    dt = time.perf_counter() - t0
    assert got == n
    return len(data) / dt / 1e6


def estimator_errors(window: int, seeds: int, seconds: float = 60.0) -> dict[str, float]:
    """30 Hz, uniform 0..1 ms receive jitter, device clock 200 ppm fast, through the driver's
    timestamper; errors after the first 15 s (convergence), all seeds pooled."""
    s = StreamCameraSettings(width=96, height=72, clock_window=window)
    nbytes = OVERHEAD + 96 * 72
    wire = wire_time_ns(nbytes, s.baud)
    period = 1e9 / 30
    errs: list[float] = []
    for seed in range(seeds):
        rnd = random.Random(seed)
        ts = FrameTimestamper(s)
        for k in range(int(seconds * 30)):
            t_mid = 10**12 + round(k * period)
            dev_us = round((t_mid - 4_000_000_000) * (1 + 200e-6)) // 1000
            t_rx = t_mid + s.fixed_latency_ns + wire + round(rnd.uniform(0, 1e6))
            pf = ParsedFrame(k, dev_us, 1000, 96, 72, 0, bytes(96 * 72), nbytes)
            f = ts.stamp(pf, t_rx)
            if k >= 15 * 30:
                errs.append(abs(f.t_ns - t_mid) / 1e3)
    return {"median_us": statistics.median(errs), "p99_us": pct(errs, 0.99), "max_us": max(errs)}


def pty_run(seconds: float) -> dict[str, float]:
    emu = StreamCameraEmulator(
        gradient_source(96, 72), width=96, height=72, rate_hz=30.0, baud=BAUD,
        device_clock=DeviceClock(offset_ns=-4_000_000_000, skew_ppm=200.0),
        tx_delay_ns=2_000_000,
    )
    cam = StreamCamera(emu.path, MonoClock(), StreamCameraSettings(width=96, height=72))
    emu.start()
    cam.open()
    frames: list[Frame] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frames += cam.poll()
        time.sleep(0.002)
    cam.close()
    emu.stop()
    sent = {s.seq: s for s in emu.sent}
    extra = [(f.t_rx_ns - sent[f.seq].t_last_byte_ns) / 1e3 for f in frames if f.seq in sent]
    age = [(f.t_rx_ns - sent[f.seq].t_mid_ns) / 1e6 for f in frames if f.seq in sent]
    tail = frames[len(frames) // 2 :]
    err = [abs(f.t_ns - sent[f.seq].t_mid_ns) / 1e3 for f in tail if f.seq in sent]
    h = cam.health()
    return {
        "frames": len(frames), "lost": h.lost, "bad_data": h.bad_data,
        "extra_median_us": statistics.median(extra), "extra_p99_us": pct(extra, 0.99),
        "rx_minus_mid_median_ms": statistics.median(age),
        "wire_ms": wire_time_ns(OVERHEAD + 96 * 72, BAUD) / 1e6,
        "map_err_median_us": statistics.median(err), "map_err_p99_us": pct(err, 0.99),
    }


def vc0706_capture(baud: int, paced: bool, n: int) -> dict[str, float]:
    emu = Vc0706Emulator(gradient_source(640, 480), baud=baud, paced=paced)
    emu.start()
    s = Vc0706Settings(baud=baud, fast_baud=0, reset_on_open=False)
    cam = Vc0706Camera(emu.path, MonoClock(), s)
    try:
        cam.connect()
        times = []
        for _ in range(n):
            t0 = time.monotonic_ns()
            f = cam.capture()
            times.append((time.monotonic_ns() - t0) / 1e6)
            assert f is not None and f.image.shape == (120, 160)
        size = emu.last_jpeg_len
    finally:
        cam.close()
        emu.stop()
    return {"capture_ms": statistics.median(times), "jpeg_bytes": size,
            "retries": cam.chunk_retries}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pty-seconds", type=float, default=6.0)
    ap.add_argument("--seeds", type=int, default=8)
    args = ap.parse_args()
    out: dict[str, object] = {"bench": "camera_stream"}

    small = parser_throughput(96, 72)
    vga = parser_throughput(640, 480)
    print(f"parser 96x72 frames : {small:8.1f} MB/s = {small / WIRE_MBPS:6.0f} x 3 Mbaud wire")
    print(f"parser 640x480      : {vga:8.1f} MB/s = {vga / WIRE_MBPS:6.0f} x 3 Mbaud wire")
    out["parser_mbps_96x72"] = round(small, 1)
    out["parser_mbps_640x480"] = round(vga, 1)
    out["parser_x_wire"] = round(min(small, vga) / WIRE_MBPS, 1)

    pty = pty_run(args.pty_seconds)
    print(f"pty 96x72 @30 Hz, {pty['frames']} frames: driver latency beyond wire time "
          f"median {pty['extra_median_us']:.0f} us, p99 {pty['extra_p99_us']:.0f} us "
          f"(wire {pty['wire_ms']:.2f} ms, last byte - mid-exposure "
          f"{pty['rx_minus_mid_median_ms']:.2f} ms); mapped-time error (2nd half) "
          f"median {pty['map_err_median_us']:.0f} us, p99 {pty['map_err_p99_us']:.0f} us")
    out["pty"] = {k: round(v, 1) for k, v in pty.items()}

    for window in (64, 256):
        e = estimator_errors(window, args.seeds)
        print(f"clock mapping, window {window:3d} (30 Hz, 1 ms jitter, 200 ppm): |error| median "
              f"{e['median_us']:.0f} us, p99 {e['p99_us']:.0f} us, max {e['max_us']:.0f} us")
        out[f"map_err_window{window}"] = {k: round(v, 1) for k, v in e.items()}

    for baud, paced, n in ((38400, True, 2), (115200, True, 3), (115200, False, 5)):
        v = vc0706_capture(baud, paced, n)
        label = f"{baud} baud" + ("" if paced else ", unpaced (driver overhead)")
        print(f"VC0706 160x120 capture, {label}: {v['capture_ms']:.0f} ms "
              f"({v['jpeg_bytes']:.0f} B JPEG, chunk 512, delay 0.1 ms)")
        out[f"vc0706_ms_{baud}{'' if paced else '_unpaced'}"] = round(v["capture_ms"], 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
