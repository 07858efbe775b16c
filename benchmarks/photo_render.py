"""Cost of one colour still photo: render (``sim_hal.render_photo``) and JPEG encoding.

Renders photos along a climbing, turning path toward a rover, over the flat world and over
the jezero preset (height field: the ray march), at the ``[sim.photo]`` defaults. Prints the
median, p90 and max in milliseconds per world, then one JSON line.

    .venv/bin/python benchmarks/photo_render.py [--photos N] [--step PX]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from hal.geometry import euler_to_quat
from sim_hal.photo_camera import PhotoSettings, encode_jpeg
from sim_hal.render_photo import PhotoRenderer
from sim_hal.world_settings import build_world_parts, load_world_settings

ROVER = {"kind": "rover", "north_m": 85.0, "east_m": 10.0, "heading_deg": 30.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--step", type=int, default=PhotoSettings().depth_step_px,
                    help="the renderer's ray grid, pixels")
    args = ap.parse_args()
    s = PhotoSettings()
    model = s.model()
    result: dict[str, object] = {"width": model.width, "height": model.height,
                                 "step_px": args.step, "cpus": os.cpu_count(),
                                 "python": platform.python_version()}
    for world in ("flat", "jezero"):
        raw: dict[str, object] = {"objects": [ROVER]}
        if world != "flat":
            raw["preset"] = world
        parts = build_world_parts(load_world_settings(raw, Path("benchmark.toml")), 1, 0)
        t = time.perf_counter()
        renderer = PhotoRenderer(parts, model, 1, depth_step_px=args.step)
        build_ms = (time.perf_counter() - t) * 1e3
        render_ms, jpeg_ms = [], []
        for i in range(args.photos):
            f = i / max(1, args.photos - 1)
            n = 70.0 * f
            ground = parts.terrain.height(n, 0.0) if parts.terrain is not None else 0.0
            pos = (n, 0.0, -(ground + 3.0 + 12.0 * f))
            q = euler_to_quat(0.1 * math.sin(7 * f), 0.1 * math.cos(5 * f),
                              math.atan2(10.0, 85.0 - n) + 0.4 * math.sin(3 * f))
            t = time.perf_counter()
            img = renderer.render(pos, q)
            t1 = time.perf_counter()
            encode_jpeg(img, s.jpeg_quality)
            render_ms.append((t1 - t) * 1e3)
            jpeg_ms.append((time.perf_counter() - t1) * 1e3)
        r, j = np.array(render_ms), np.array(jpeg_ms)
        line = {"build_ms": round(build_ms, 1), "render_median_ms": round(float(np.median(r)), 1),
                "render_p90_ms": round(float(np.percentile(r, 90)), 1),
                "render_max_ms": round(float(r.max()), 1),
                "jpeg_median_ms": round(float(np.median(j)), 1)}
        print(f"{world:7s} renderer built in {line['build_ms']} ms; render median "
              f"{line['render_median_ms']} ms, p90 {line['render_p90_ms']} ms, max "
              f"{line['render_max_ms']} ms; JPEG {line['jpeg_median_ms']} ms")
        result[world] = line
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
