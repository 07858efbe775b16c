"""What replay reads from a flight log, checked once before the first cycle.

Everything replay reads from the log is checked once, before the first cycle: the info
values against ranges the flight software can be built with, every field of every input
topic for its type and shape, the logged LAND_NOW's check index. A log that fails is refused
with one ``ConfigError`` line naming the file and the field ("not a usable flightsw log").
The topics and fields are the schema's (``firmware.log_topics``).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware import log_topics as lt
from firmware.config import FlightConfig, FlightPlan
from ground.logdata import check_names
from ground.logfile import FlightLog
from hal.tomlschema import ConfigError, load
from hal.tomlschema import describe as show

logger = logging.getLogger(__name__)

UNUSABLE = "not a usable flightsw log"

# The info values replay builds the flight software from: type and the range it can be built
# with (the device configs allow the same or less). The flow estimator's buffers grow with
# width x height; it needs 8 pixels a side.
INFO_RANGES: dict[str, tuple[type, float, float]] = {
    lt.INFO_IMU_RATE_HZ: (float, 1.0, 10_000.0),
    lt.INFO_CAMERA_RATE_HZ: (float, 0.1, 1_000.0),
    lt.INFO_CAMERA_WIDTH: (int, 8, 4096),
    lt.INFO_CAMERA_HEIGHT: (int, 8, 4096),
    lt.INFO_CAMERA_FOCAL_PX: (float, 1.0, 100_000.0),
    lt.INFO_GRAVITY: (float, 0.1, 100.0),
}

# The input topics and the fields replay reads, in the order it unpacks them: (name, numpy
# kinds accepted, array length; 0 for one value per record).
_INT, _NUM, _BOOL = "iu", "iuf", "biu"


def _reads(topic: lt.TopicDef, *fields: tuple[str, str, int]) -> list[tuple[str, str, int]]:
    return [(topic.field(name), kinds, width) for name, kinds, width in fields]


IMU, RANGE, FRAME = lt.SENSOR_IMU.name, lt.SENSOR_RANGE.name, lt.CAMERA_FRAME.name
FLOW, CYCLE, CONTINGENCY = lt.VISION_FLOW.name, lt.CYCLE_INPUTS.name, lt.CONTINGENCY.name
INPUTS: dict[str, list[tuple[str, str, int]]] = {
    IMU: _reads(lt.SENSOR_IMU, ("t_ns", _INT, 0), ("seq", _INT, 0), ("accel_mps2", _NUM, 3),
                ("gyro_rps", _NUM, 3), ("temp_c", _NUM, 0), ("device_t_ns", _INT, 0),
                ("cycle", _INT, 0)),
    RANGE: _reads(lt.SENSOR_RANGE, ("t_ns", _INT, 0), ("seq", _INT, 0),
                  ("distance_m", _NUM, 0), ("valid", _BOOL, 0), ("cycle", _INT, 0)),
    FRAME: _reads(lt.CAMERA_FRAME, ("t_ns", _INT, 0), ("seq", _INT, 0), ("t_rx_ns", _INT, 0),
                  ("device_t_ns", _INT, 0), ("exposure_ns", _INT, 0), ("cycle", _INT, 0)),
    FLOW: _reads(lt.VISION_FLOW, ("frame_seq", _INT, 0), ("drow", _NUM, 0), ("dcol", _NUM, 0),
                 ("quality", _NUM, 0), ("at_row", _NUM, 0), ("at_col", _NUM, 0)),
    CYCLE: _reads(
        lt.CYCLE_INPUTS,
        ("now_ns", _INT, 0), ("cycle", _INT, 0), ("exec_cycles", _INT, 0),
        ("exec_overruns", _INT, 0), ("imu_overflows", _INT, 0), ("imu_errors", _INT, 0),
        ("imu_resets", _INT, 0), ("imu_clock_skew_ppm", _NUM, 0),
        ("imu_clock_updates", _INT, 0), ("cam_clock_residual_ns", _NUM, 0),
        ("cam_clock_skew_ppm", _NUM, 0), ("cam_clock_updates", _INT, 0), ("cam_lost", _INT, 0),
        ("cam_errors", _INT, 0), ("cam_connected", _BOOL, 0), ("exec_slips", _INT, 0),
        ("cam_overflows", _INT, 0), ("imu_clock_settled", _BOOL, 0),
        ("cam_clock_settled", _BOOL, 0), ("imu_clock_skew_lo_ppm", _NUM, 0),
        ("imu_clock_skew_hi_ppm", _NUM, 0)),
    CONTINGENCY: _reads(lt.CONTINGENCY, ("tripped", "i", 0)),
}
assert tuple(INPUTS) == tuple(t.name for t in lt.INPUT_TOPICS)


def cycle_column(topic: str) -> int:
    """Where a sample topic's row holds the cycle that drained it."""
    return [name for name, _, _ in INPUTS[topic]].index("cycle")


_KIND_NAMES = {_INT: "integer", _NUM: "number", _BOOL: "boolean", "i": "signed integer"}
# Values no flight can have logged: an IMU delivers NaN (a fault) or a reading within its full
# scale (MPU-6050: 35 rad/s, 157 m/s^2; the simulated one is not clipped, hence the margin).
# A larger one, or an infinity, is damage, and navigation would integrate it into a
# quaternion of zero length.
LIMITS: dict[tuple[str, str], float] = {
    (IMU, lt.SENSOR_IMU.field("accel_mps2")): 1e4,
    (IMU, lt.SENSOR_IMU.field("gyro_rps")): 1e4,
}


def _unusable(what: str) -> ConfigError:
    return ConfigError(f"{UNUSABLE}: {what}")


def _check_field(data: npt.NDArray[np.void], topic: str, name: str, kinds: str,
                 width: int) -> None:
    fields: dict[str, Any] = dict(data.dtype.fields or {})
    if name not in fields:
        raise _unusable(f"{topic}: no field {name!r} (a log from another flightsw version?)")
    dt: np.dtype[Any] = fields[name][0]
    if dt.shape != ((width,) if width else ()) or dt.base.kind not in kinds:
        want = f"{width} {_KIND_NAMES[kinds]}s" if width else f"one {_KIND_NAMES[kinds]}"
        got = f"{dt.base}{list(dt.shape) if dt.shape else ''}"
        raise _unusable(f"{topic}.{name}: {got}, expected {want} per record")


def _table(log: FlightLog, topic: str) -> npt.NDArray[np.void] | None:
    """The topic's records with the fields replay reads checked; None if it has none.

    The recorder defines every input topic and logs one instance of each: a missing
    definition or another instance means a damaged log, whose replay would mislead."""
    if topic not in log.formats:
        raise _unusable(f"no {topic} format")
    extra = sorted(m for (name, m) in log.topics if name == topic and m != 0)
    if extra:
        raise _unusable(f"{topic}: instance {extra[0]} (the recorder logs one)")
    t = log.topics.get((topic, 0))
    if t is None or not len(t):
        return None
    for name, kinds, width in INPUTS[topic]:
        _check_field(t.data, topic, name, kinds, width)
        limit = LIMITS.get((topic, name))
        if limit is not None:
            col = t.data[name]
            bad = np.flatnonzero(np.any(np.abs(col) > limit, axis=-1) if width else
                                 np.abs(col) > limit)
            if bad.size:
                raise _unusable(f"{topic}.{name}: record {int(bad[0])} holds "
                                f"{col[bad[0]].tolist()}, beyond any sensor (|x| <= {limit:g})")
    return t.data


def rows(data: npt.NDArray[np.void] | None, topic: str) -> list[tuple[Any, ...]]:
    if data is None:
        return []
    cols = [data[n].tolist() for n, _, _ in INPUTS[topic]]
    return list(zip(*cols, strict=True))


def _info(log: FlightLog, key: str) -> float:
    """An info value replay builds the flight software from, checked against INFO_RANGES."""
    tp, lo, hi = INFO_RANGES[key]
    if key not in log.info:
        raise _unusable(f"info {key}: missing")
    v = log.info[key]
    types = (int,) if tp is int else (int, float)
    if isinstance(v, bool) or not isinstance(v, types):
        want = "an integer" if tp is int else "a number"
        raise _unusable(f"info {key}: expected {want} (got {show(v)})")
    if not (math.isfinite(v) and lo <= v <= hi):
        raise _unusable(f"info {key}: must be in {lo:g}..{hi:g} (got {show(v)})")
    return float(v)


@dataclass
class ReplayInputs:
    """Everything replay reads from a log, checked."""

    info: dict[str, float]
    tables: dict[str, npt.NDArray[np.void] | None]
    logged: tuple[int, str] | None  # the logged LAND_NOW: cycle_inputs row, check


def check_log(log: FlightLog, path: Path) -> ReplayInputs:
    info = {k: _info(log, k) for k in INFO_RANGES}
    tables = {topic: _table(log, topic) for topic in INPUTS}
    cycles = tables[CYCLE]
    if cycles is None:
        raise _unusable(f"no {CYCLE} records: nothing to replay")
    logged = _logged_land_now(cycles, tables[CONTINGENCY], check_names(log))
    damage = (["cut short"] if log.truncated else []) + (
        [f"{log.bad_messages} undecodable messages"] if log.bad_messages else [])
    if damage:
        logger.warning("%s: %s: the replay may not match the flight", path, ", ".join(damage))
    return ReplayInputs(info, tables, logged)


def _logged_land_now(cyc: npt.NDArray[np.void], cont: npt.NDArray[np.void] | None,
                     checks: list[str]) -> tuple[int, str] | None:
    """The first logged LAND_NOW: the cycle_inputs row of its cycle and the check's name.

    ``tripped`` indexes the log's own check list. The row is found by timestamp (a cycle's
    records all carry its time), so a record lost to a dropout or a cut cannot shift it."""
    if cont is None:
        if len(cyc) > 1:  # a log cut in its first cycle may hold no contingency record yet
            raise _unusable(f"contingency: no records for {len(cyc)} cycles")
        return None
    tripped = cont["tripped"]
    bad = np.flatnonzero((tripped < -1) | (tripped >= len(checks)))
    if bad.size:
        raise _unusable(f"contingency.tripped: check index {int(tripped[bad[0]])} out of "
                        f"range (the log names {len(checks)} checks)")
    hit = np.flatnonzero(tripped >= 0)
    if not hit.size:
        return None
    i = int(hit[0])
    ts = int(cont["timestamp"][i])
    rows = np.flatnonzero(cyc["timestamp"] == ts)
    if not rows.size:
        raise _unusable(f"contingency: the LAND_NOW record (timestamp {ts} us) has no "
                        "cycle_inputs record")
    return int(rows[0]), checks[int(tripped[i])]


def load_logged_config(log: FlightLog) -> tuple[FlightConfig, FlightPlan]:
    raw: dict[str, dict[str, Any]] = {}
    for key in (lt.INFO_CONFIG_JSON, lt.INFO_PLAN_JSON):
        text = log.info.get(key)
        if not isinstance(text, str):
            raise _unusable(f"info {key}: " + ("missing" if text is None else
                                               f"expected JSON text (got {show(text)})"))
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise _unusable(f"info {key}: not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise _unusable(f"info {key}: expected a JSON object (got {show(value)})")
        raw[key] = value
    source = raw[lt.INFO_CONFIG_JSON].pop("source", "(log)")
    cfg = load(FlightConfig, raw[lt.INFO_CONFIG_JSON], f"{UNUSABLE}: info config_json")
    cfg.source = source if isinstance(source, str) else "(log)"
    return cfg, load(FlightPlan, raw["plan_json"], f"{UNUSABLE}: info plan_json")
