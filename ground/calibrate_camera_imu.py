"""``flightsw calibrate camera-imu LOG``: the camera-IMU time offset of a whole flight log.

The online estimator's method (``firmware.time_offset``: image rotation against gyro
rotation, scored over a grid of candidate offsets) run over the entire log at once: no
forgetting, a wider search and a finer grid, every IMU sample rather than the per-cycle sums.
Works on any of our flight logs (sim, hil, rig): it needs the IMU samples, the frames and the
vision displacements, which the recorder always writes.

The result is relative to the stamps plus the offset the flight was configured with; the
config line printed is the total to put in ``[nav] camera_time_offset_ms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware import log_topics as lt
from firmware.time_offset import CameraImuOffset, TimeOffsetConfig
from firmware.vision import derotation_gain, window_shape
from ground.logdata import LogToolError, column, json_value, read, topic

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    path: Path
    configured_ms: float  # the offset the flight ran with
    offset_ms: float  # beyond it: the images were exposed this much later still
    sigma_ms: float
    pairs: int
    excitation_px_per_ms: float
    confident: bool
    at_edge: bool
    span_s: float  # flight time the pairs cover
    grid_ms: F64  # the candidates and their cost: the correlation used
    cost: F64

    @property
    def total_ms(self) -> float:
        return self.configured_ms + self.offset_ms

    def config_line(self) -> str:
        return f"camera_time_offset_ms = {self.total_ms:.1f}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": str(self.path), "configured_ms": self.configured_ms,
                "offset_ms": round(self.offset_ms, 3), "sigma_ms": round(self.sigma_ms, 3),
                "total_ms": round(self.total_ms, 3), "pairs": self.pairs,
                "excitation_px_per_ms": round(self.excitation_px_per_ms, 5),
                "confident": self.confident, "at_edge": self.at_edge,
                "span_s": round(self.span_s, 3), "config_line": self.config_line()}

    def text(self) -> str:
        head = (f"camera-IMU time offset from {self.path.name}: {self.pairs} frame pairs over "
                f"{self.span_s:.1f} s, excitation {self.excitation_px_per_ms:.4f} px/ms")
        if not self.confident:
            return (f"{head}\n  no confident estimate (best {self.offset_ms:+.1f} ms, 1-sigma "
                    f"{self.sigma_ms:.1f} ms): too little change in body rate between frames; "
                    "calibrate on a log with manoeuvres (a box or a few pitch and roll "
                    "doublets), not a steady hover")
        edge = ("\n  WARNING: at the edge of the search: the offset may be larger still "
                "(--search-ms)" if self.at_edge else "")
        return (f"{head}\n  images exposed {self.offset_ms:+.2f} ms (1-sigma "
                f"{self.sigma_ms:.2f} ms) later than their stamps + the configured "
                f"{self.configured_ms:g} ms{edge}\n  put in the flight config:\n"
                f"  [nav]\n  {self.config_line()}")


def _config_nav(d: Any) -> dict[str, Any]:
    cfg = json_value(d.info.get(lt.INFO_CONFIG_JSON))
    nav = cfg.get("nav") if isinstance(cfg, dict) else None
    return nav if isinstance(nav, dict) else {}


def _number(v: Any, default: float) -> float:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else default


def _need(t: Any, what: lt.TopicDef, path: Path) -> Any:
    if t is None:
        raise LogToolError(f"{path}: no {what.name} records: not a flight log of ours, or one "
                           "cut before the flight")
    return t


def calibrate(path: Path, search_ms: float = 200.0, step_ms: float = 0.25) -> Calibration:
    d = read(path)
    imu = _need(topic(d, lt.SENSOR_IMU), lt.SENSOR_IMU, path)
    frames = _need(topic(d, lt.CAMERA_FRAME), lt.CAMERA_FRAME, path)
    flows = _need(topic(d, lt.VISION_FLOW), lt.VISION_FLOW, path)
    focal = _number(d.info.get(lt.INFO_CAMERA_FOCAL_PX), 0.0)
    width = int(_number(d.info.get(lt.INFO_CAMERA_WIDTH), 0.0))
    height = int(_number(d.info.get(lt.INFO_CAMERA_HEIGHT), 0.0))
    if focal <= 0.0 or width < 8 or height < 8:
        raise LogToolError(f"{path}: info {lt.INFO_CAMERA_FOCAL_PX}/{lt.INFO_CAMERA_WIDTH}/"
                           f"{lt.INFO_CAMERA_HEIGHT}: missing or not a camera's")
    nav = _config_nav(d)
    configured_ms = _number(nav.get("camera_time_offset_ms"), 0.0)
    min_quality = _number(nav.get("vision_min_quality"), 0.3)
    # the navigator's window
    win_rows, win_cols = window_shape(int(_number(nav.get("vision_window_px"), 64.0)), width,
                                      height)

    imu_t = column(imu, lt.SENSOR_IMU.field("t_ns"), kinds="iu")
    gyro = column(imu, lt.SENSOR_IMU.field("gyro_rps"), 3)
    fr_t = column(frames, lt.CAMERA_FRAME.field("t_ns"), kinds="iu")
    fr_seq = column(frames, lt.CAMERA_FRAME.field("seq"), kinds="iu")
    fl_seq = column(flows, lt.VISION_FLOW.field("frame_seq"), kinds="iu")
    drow = column(flows, lt.VISION_FLOW.field("drow"))
    dcol = column(flows, lt.VISION_FLOW.field("dcol"))
    quality = column(flows, lt.VISION_FLOW.field("quality"))
    at_row = column(flows, lt.VISION_FLOW.field("at_row"))
    at_col = column(flows, lt.VISION_FLOW.field("at_col"))
    if any(c is None for c in (imu_t, gyro, fr_t, fr_seq, fl_seq, drow, dcol, quality, at_row,
                               at_col)):
        raise LogToolError(f"{path}: a field the calibration needs is missing (IMU t_ns/gyro, "
                           "frame t_ns/seq, flow drow/dcol/quality/at_row/at_col)")
    assert imu_t is not None and gyro is not None and fr_t is not None and fr_seq is not None
    assert fl_seq is not None and drow is not None and dcol is not None and quality is not None
    assert at_row is not None and at_col is not None

    cfg = TimeOffsetConfig(search_ms=search_ms, step_ms=step_ms, time_constant_s=1e12,
                           max_sigma_ms=1.0, min_pairs=30.0)
    est = CameraImuOffset(cfg, focal, derotation_gain(win_cols, win_rows, focal))
    pairs = _pairs(fr_t, fr_seq, fl_seq, (drow, dcol, at_row, at_col), quality,
                   round(configured_ms * 1e6), min_quality)
    _replay(est, imu_t.astype(np.int64), gyro.astype(np.float64), pairs)
    e = est.estimate
    if e is None:
        raise LogToolError(f"{path}: no usable frame pairs (vision never ran with quality >= "
                           f"{min_quality:g})")
    span = (pairs[-1][1] - pairs[0][1]) / 1e9 if pairs else 0.0
    return Calibration(path, configured_ms, e.offset_s * 1e3, e.sigma_s * 1e3,
                       est.pairs_used, e.excitation_px_per_ms, e.confident, e.at_edge, span,
                       est.grid_ns / 1e6, est.cost.copy())


Pair = tuple[int, int, float, float, float, float]


def _pairs(fr_t: Any, fr_seq: Any, fl_seq: Any, flow: tuple[Any, Any, Any, Any], quality: Any,
           offset_ns: int, min_quality: float) -> list[Pair]:
    """(t0, t1, row shift, column shift, window row, window column) per usable flow result,
    its pair being the frame received before it (the one navigation's vision compared it
    with)."""
    drow, dcol, at_row, at_col = flow
    index = {int(s): i for i, s in enumerate(fr_seq)}
    out = []
    for k in range(len(fl_seq)):
        i = index.get(int(fl_seq[k]))
        if i is None or i == 0 or not quality[k] >= min_quality:
            continue
        t0, t1 = int(fr_t[i - 1]) + offset_ns, int(fr_t[i]) + offset_ns
        if t1 > t0:
            out.append((t0, t1, float(drow[k]), float(dcol[k]), float(at_row[k]),
                        float(at_col[k])))
    out.sort(key=lambda p: p[1])
    return out


def _replay(est: CameraImuOffset, t: npt.NDArray[np.int64], gyro: F64,
            pairs: list[Pair]) -> None:
    """Feed every IMU sample's rotation and each pair once its second frame's time passed."""
    order = np.argsort(t, kind="stable")
    t, gyro = t[order], gyro[order]
    dt = np.diff(t, prepend=t[:1]) / 1e9
    dt[dt > 0.02] = 0.0  # a gap: its rotation is unknown, not a constant rate
    dax, day, daz = gyro[:, 0] * dt, gyro[:, 1] * dt, gyro[:, 2] * dt
    p = 0
    for i in range(len(t)):
        ti = int(t[i])
        est.record_gyro(ti, float(dax[i]), float(day[i]), float(daz[i]))
        while p < len(pairs) and pairs[p][1] <= ti:
            est.add_pair(*pairs[p])
            p += 1
        if i % 64 == 0:
            est.update()
    est.update()


def plot(cal: Calibration, out: Path) -> Path:
    """The cost over the candidate offsets, its minimum and the 2-sigma band (matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LogToolError("plotting needs matplotlib: pip install -e '.[plot]'") from None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    total = cal.grid_ms + cal.configured_ms
    ax.plot(total, cal.cost / max(cal.pairs, 1), lw=1.2)
    best = cal.total_ms
    ax.axvline(best, color="C3", lw=1, label=f"estimate {best:+.2f} ms")
    if math.isfinite(cal.sigma_ms):
        ax.axvspan(best - 2 * cal.sigma_ms, best + 2 * cal.sigma_ms, color="C3", alpha=0.15,
                   label=f"2 sigma ({2 * cal.sigma_ms:.2f} ms)")
    ax.axvline(cal.configured_ms, color="0.4", ls="--", lw=1,
               label=f"configured {cal.configured_ms:g} ms")
    ax.set_xlabel("camera-IMU time offset (ms): images exposed this much after their stamps")
    ax.set_ylabel("mean squared residual per pair (px^2)")
    ax.set_title(f"{cal.path.name}: image rotation against gyro rotation, {cal.pairs} pairs")
    ax.legend(loc="upper right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
