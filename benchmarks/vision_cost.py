"""Cost per frame of the simulated camera renderer and the vision flow estimator.

Renders a 160x120 sequence along a climbing, turning, rolling path (so several mip levels and
the horizon-free fast path are visited) and runs the flow over it twice: navigation's engine
(the window of ``[nav] vision_window_px`` kept below the vehicle) and the whole image, in the
same run. Prints median and p99 in microseconds, then one JSON line.

    .venv/bin/python benchmarks/vision_cost.py [--frames N]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import numpy as np

from firmware.config import NavConfig
from firmware.vision import FlowEstimator, VisionFlowEngine, nadir_pixel
from hal.types import Frame
from sim_hal.render import GroundTexture, PinholeCamera, render, rotation_from_euler


def percentiles_us(samples_ns: list[int]) -> tuple[float, float]:
    arr = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    return float(np.median(arr)), float(np.percentile(arr, 99))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2000)
    args = ap.parse_args()

    t0 = time.perf_counter_ns()
    tex = GroundTexture(seed=1)
    texture_build_ms = (time.perf_counter_ns() - t0) / 1e6
    cam = PinholeCamera()
    est = FlowEstimator(cam.width, cam.height)
    out = np.empty((cam.height, cam.width), dtype=np.uint8)

    frames = []
    aims = []
    render_ns: list[int] = []
    for i in range(args.frames):
        s = i / max(1, args.frames - 1)
        alt = 1.0 + 19.0 * s
        pos = (40.0 * s, 5.0 * math.sin(6.0 * s), -alt)
        r_wb = rotation_from_euler(0.2 * math.sin(20 * s), 0.15 * math.cos(13 * s), 3.0 * s)
        t = time.perf_counter_ns()
        render(tex, cam, pos, r_wb, out=out)
        render_ns.append(time.perf_counter_ns() - t)
        frames.append(out.copy())
        aims.append(nadir_pixel(tuple(float(v) for v in r_wb.ravel()), cam.focal_px))

    flow_ns: list[int] = []
    for img in frames:
        t = time.perf_counter_ns()
        est.update(img)
        flow_ns.append(time.perf_counter_ns() - t)
    flow_ns = flow_ns[1:]  # the first frame only caches its spectrum

    window = NavConfig().vision_window_px
    engine = VisionFlowEngine(cam.width, cam.height, window)
    nav_ns: list[int] = []
    for k, (img, aim) in enumerate(zip(frames, aims, strict=True)):
        frame = Frame(t_ns=k, seq=k, t_rx_ns=k, image=img)
        t = time.perf_counter_ns()
        engine.begin(frame, aim)
        while engine.advance():
            pass
        engine.finish(frame)
        nav_ns.append(time.perf_counter_ns() - t)
    nav_ns = nav_ns[1:]

    r_med, r_p99 = percentiles_us(render_ns[10:])  # skip building the first mip quads
    f_med, f_p99 = percentiles_us(flow_ns)
    n_med, n_p99 = percentiles_us(nav_ns)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, numpy {np.__version__}")
    print(f"texture build (1024^2, pyramid): {texture_build_ms:.0f} ms")
    print(f"render 160x120: median {r_med:.0f} us, p99 {r_p99:.0f} us  (target <= 600 us)")
    print(f"flow   160x120: median {f_med:.0f} us, p99 {f_p99:.0f} us")
    print(f"flow   {window}x{window} window below the vehicle (navigation's): median "
          f"{n_med:.0f} us, p99 {n_p99:.0f} us  (target <= 500 us; {f_med / n_med:.1f}x less "
          "than the whole image)")
    print(
        json.dumps(
            {
                "bench": "vision_cost",
                "frames": args.frames,
                "texture_build_ms": round(texture_build_ms, 1),
                "render_median_us": round(r_med, 1),
                "render_p99_us": round(r_p99, 1),
                "flow_median_us": round(f_med, 1),
                "flow_p99_us": round(f_p99, 1),
                "window_px": window,
                "window_flow_median_us": round(n_med, 1),
                "window_flow_p99_us": round(n_p99, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
