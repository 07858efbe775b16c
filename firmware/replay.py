"""Offline replay: feed a flight log's sensor inputs back through navigation and the watchdog.

The recorder logs everything one control cycle consumed: the samples each cycle drained, the
health counters and clock statistics the watchdog read, the executive's counters and every
vision displacement. Replay rebuilds the flight software from the logged configuration and
plan, and calls its cycle once per logged cycle with exactly those inputs (no world, no
actuators). With the logged configuration it reproduces the logged LAND_NOW on the same cycle;
with other thresholds it tells when, or whether, LAND_NOW would have fired.

Limits, by construction: inputs that depend on the vehicle's own motion are the logged ones,
so a replay that lands earlier still "sees" the logged flight afterwards; and frames whose
displacement was never computed in flight (after vision was distrusted) carry none in replay.

Everything replay reads from the log is checked once, before the first cycle: the info
values against ranges the flight software can be built with, every field of every input
topic for its type and shape, the logged LAND_NOW's check index. A log that fails is refused
with one ``ConfigError`` line naming the file and the field ("not a usable flightsw log").
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware.config import FlightConfig, FlightPlan
from firmware.executive import ExecStats
from firmware.flight import FlightSoftware
from firmware.logtools import check_names
from firmware.ulog_reader import ULogData, read_ulog
from firmware.vision import FlowResult
from hal.interfaces import Hal
from hal.tomlschema import ConfigError, load
from hal.tomlschema import describe as show
from hal.types import (
    NS_PER_S,
    ActuatorCommand,
    ClockStats,
    DeviceHealth,
    Frame,
    ImuSample,
    RangeSample,
)

logger = logging.getLogger(__name__)

NO_IMAGE = np.zeros((0, 0), dtype=np.uint8)
UNUSABLE = "not a usable flightsw log"

# The info values replay builds the flight software from: type and the range it can be built
# with (the device configs allow the same or less). The flow estimator's buffers grow with
# width x height; it needs 8 pixels a side.
INFO_RANGES: dict[str, tuple[type, float, float]] = {
    "imu_rate_hz": (float, 1.0, 10_000.0),
    "camera_rate_hz": (float, 0.1, 1_000.0),
    "camera_width": (int, 8, 4096),
    "camera_height": (int, 8, 4096),
    "camera_focal_px": (float, 1.0, 100_000.0),
    "gravity": (float, 0.1, 100.0),
}

# The input topics and the fields replay reads, in the order it unpacks them: (name, numpy
# kinds accepted, array length; 0 for one value per record).
_INT, _NUM, _BOOL = "iu", "iuf", "biu"
INPUTS: dict[str, list[tuple[str, str, int]]] = {
    "sensor_imu": [("t_ns", _INT, 0), ("seq", _INT, 0), ("accel_mps2", _NUM, 3),
                   ("gyro_rps", _NUM, 3), ("temp_c", _NUM, 0), ("device_t_ns", _INT, 0),
                   ("cycle", _INT, 0)],
    "sensor_range": [("t_ns", _INT, 0), ("seq", _INT, 0), ("distance_m", _NUM, 0),
                     ("valid", _BOOL, 0), ("cycle", _INT, 0)],
    "camera_frame": [("t_ns", _INT, 0), ("seq", _INT, 0), ("t_rx_ns", _INT, 0),
                     ("device_t_ns", _INT, 0), ("exposure_ns", _INT, 0), ("cycle", _INT, 0)],
    "vision_flow": [("frame_seq", _INT, 0), ("drow", _NUM, 0), ("dcol", _NUM, 0),
                    ("quality", _NUM, 0)],
    "cycle_inputs": [
        ("now_ns", _INT, 0), ("cycle", _INT, 0), ("exec_cycles", _INT, 0),
        ("exec_overruns", _INT, 0), ("imu_overflows", _INT, 0), ("imu_errors", _INT, 0),
        ("imu_resets", _INT, 0), ("imu_clock_skew_ppm", _NUM, 0),
        ("imu_clock_updates", _INT, 0), ("cam_clock_residual_ns", _NUM, 0),
        ("cam_clock_skew_ppm", _NUM, 0), ("cam_clock_updates", _INT, 0), ("cam_lost", _INT, 0),
        ("cam_errors", _INT, 0), ("cam_connected", _BOOL, 0), ("exec_slips", _INT, 0),
        ("cam_overflows", _INT, 0), ("imu_clock_settled", _BOOL, 0),
        ("cam_clock_settled", _BOOL, 0)],
    "contingency": [("tripped", "i", 0)],
}
_KIND_NAMES = {_INT: "integer", _NUM: "number", _BOOL: "boolean", "i": "signed integer"}
# Values no flight can have logged: an IMU delivers NaN (a fault) or a reading within its full
# scale (MPU-6050: 35 rad/s, 157 m/s^2; the simulated one is not clipped, hence the margin).
# A larger one, or an infinity, is damage, and navigation would integrate it into a
# quaternion of zero length.
LIMITS: dict[tuple[str, str], float] = {
    ("sensor_imu", "accel_mps2"): 1e4,
    ("sensor_imu", "gyro_rps"): 1e4,
}


@dataclass
class LandNow:
    check: str
    cycle: int
    t_s: float  # from the first cycle


@dataclass
class ReplayResult:
    logged: LandNow | None
    replayed: LandNow | None
    cycles: int
    config_source: str

    @property
    def reproduced(self) -> bool:
        a, b = self.logged, self.replayed
        if a is None or b is None:
            return a is b
        return a.check == b.check and a.cycle == b.cycle


class _Clock:
    def __init__(self) -> None:
        self.t = 0

    def now_ns(self) -> int:
        return self.t

    def sleep_until(self, t_ns: int) -> None:
        self.t = max(self.t, t_ns)


class _Device:
    """A device whose poll() returns what the logged cycle drained."""

    def __init__(self, name: str, rate_hz: float) -> None:
        self.name = name
        self.rate_hz = rate_hz
        self.batch: list[Any] = []
        self._health = DeviceHealth()
        self.width = self.height = 0
        self.focal_px = 0.0
        self.motor_count = 4

    def open(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> DeviceHealth:
        return self._health

    def poll(self) -> list[Any]:
        return self.batch

    def write(self, cmd: ActuatorCommand) -> None: ...

    def disarm(self) -> None: ...


def _group(rows: list[tuple[Any, ...]], cycle_index: int) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        out.setdefault(int(r[cycle_index]), []).append(r)
    return out


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


def _table(log: ULogData, topic: str) -> npt.NDArray[np.void] | None:
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


def _rows(data: npt.NDArray[np.void] | None, topic: str) -> list[tuple[Any, ...]]:
    if data is None:
        return []
    cols = [data[n].tolist() for n, _, _ in INPUTS[topic]]
    return list(zip(*cols, strict=True))


def _info(log: ULogData, key: str) -> float:
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
class _Inputs:
    """Everything replay reads from a log, checked."""

    info: dict[str, float]
    tables: dict[str, npt.NDArray[np.void] | None]
    logged: tuple[int, str] | None  # the logged LAND_NOW: cycle_inputs row, check


def _check_log(log: ULogData, path: Path) -> _Inputs:
    info = {k: _info(log, k) for k in INFO_RANGES}
    tables = {topic: _table(log, topic) for topic in INPUTS}
    if tables["cycle_inputs"] is None:
        raise _unusable("no cycle_inputs records: nothing to replay")
    logged = _logged_land_now(tables["cycle_inputs"], tables["contingency"], check_names(log))
    damage = (["cut short"] if log.truncated else []) + (
        [f"{log.bad_messages} undecodable messages"] if log.bad_messages else [])
    if damage:
        logger.warning("%s: %s: the replay may not match the flight", path, ", ".join(damage))
    return _Inputs(info, tables, logged)


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


def load_logged_config(log: ULogData) -> tuple[FlightConfig, FlightPlan]:
    raw: dict[str, dict[str, Any]] = {}
    for key in ("config_json", "plan_json"):
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
    source = raw["config_json"].pop("source", "(log)")
    cfg = load(FlightConfig, raw["config_json"], f"{UNUSABLE}: info config_json")
    cfg.source = source if isinstance(source, str) else "(log)"
    return cfg, load(FlightPlan, raw["plan_json"], f"{UNUSABLE}: info plan_json")


def replay(path: Path, config: FlightConfig | None = None) -> ReplayResult:
    """Replay the log at ``path``, with ``config``'s contingency settings if given.

    ``ConfigError`` (one line, naming the file) for a log replay cannot use; ``ULogError``
    for a file that is no readable ULog; ``OSError`` for one that cannot be read."""
    try:
        return _replay(path, config)
    except ConfigError as exc:
        text = str(exc)
        raise ConfigError(text if text.startswith(str(path)) else f"{path}: {text}") from None


def _replay(path: Path, config: FlightConfig | None) -> ReplayResult:
    log = read_ulog(path)
    logged_cfg, plan = load_logged_config(log)
    inputs = _check_log(log, path)
    if config is not None:
        cfg = dataclasses.replace(logged_cfg, contingency=config.contingency)
        cfg.source = config.source
    else:
        cfg = logged_cfg
    info, tables = inputs.info, inputs.tables
    clock = _Clock()
    imu = _Device("imu", info["imu_rate_hz"])
    rng = _Device("altimeter", 50.0)
    cam = _Device("camera", info["camera_rate_hz"])
    cam.width, cam.height = int(info["camera_width"]), int(info["camera_height"])
    cam.focal_px = info["camera_focal_px"]
    motors = _Device("motors", 0.0)
    imu_h, cam_h = imu.health(), cam.health()
    imu_clock, cam_clock = ClockStats(), ClockStats()
    imu_h.clock, cam_h.clock = imu_clock, cam_clock
    hal = Hal(backend=f"replay:{log.info.get('backend', '?')}", clock=clock, imu=imu,
              rangefinder=rng, camera=cam, actuators=motors)
    stats = ExecStats(round(NS_PER_S / cfg.loop.rate_hz))
    fsw = FlightSoftware(cfg, hal, plan, info["gravity"], stats)

    flows = {int(r[0]): FlowResult(r[1], r[2], r[3])
             for r in _rows(tables["vision_flow"], "vision_flow")}
    fsw.nav.flow_begin = lambda fr: None
    fsw.nav.flow_advance = lambda: False
    fsw.nav.flow_finish = lambda fr: flows.get(fr.seq)

    imu_rows = _group(_rows(tables["sensor_imu"], "sensor_imu"), 6)
    rng_rows = _group(_rows(tables["sensor_range"], "sensor_range"), 4)
    cam_rows = _group(_rows(tables["camera_frame"], "camera_frame"), 5)
    cyc = _rows(tables["cycle_inputs"], "cycle_inputs")
    t0 = cyc[0][0]
    replayed: LandNow | None = None
    for (now, c, ex_c, ex_o, i_ovf, i_err, i_res, i_skew, i_upd, c_res, c_skew, c_upd,
         c_lost, c_err, c_conn, ex_s, c_ovf, i_set, c_set) in cyc:
        clock.t = now
        stats.cycles, stats.overruns, stats.slips = ex_c, ex_o, ex_s
        imu_h.overflows, imu_h.errors, imu_h.resets = i_ovf, i_err, i_res
        imu_clock.skew_ppm, imu_clock.updates, imu_clock.settled = i_skew, i_upd, bool(i_set)
        cam_clock.residual_ns, cam_clock.skew_ppm, cam_clock.updates = c_res, c_skew, c_upd
        cam_clock.settled = bool(c_set)
        cam_h.lost, cam_h.errors, cam_h.connected = c_lost, c_err, bool(c_conn)
        cam_h.overflows = c_ovf
        imu.batch = [ImuSample(t, s, tuple(a), tuple(g), tc, d or None)
                     for t, s, a, g, tc, d, _ in imu_rows.get(c, ())]
        rng.batch = [RangeSample(t, s, dist, bool(v)) for t, s, dist, v, _ in rng_rows.get(c, ())]
        cam.batch = [Frame(t, s, rx, NO_IMAGE, d or None, e)
                     for t, s, rx, d, e, _ in cam_rows.get(c, ())]
        fsw.cycle(now, c)
        if replayed is None and fsw.watchdog.trip is not None:
            replayed = LandNow(fsw.watchdog.trip.check, c, (now - t0) / NS_PER_S)
        stats.cycles += 1

    logged = None
    if inputs.logged is not None:
        row, check = inputs.logged
        logged = LandNow(check, cyc[row][1], (cyc[row][0] - t0) / NS_PER_S)
    return ReplayResult(logged, replayed, len(cyc), cfg.source)


def describe(r: ReplayResult) -> str:
    def one(x: LandNow | None) -> str:
        return "no LAND_NOW" if x is None else \
            f"LAND_NOW '{x.check}' at cycle {x.cycle} (t = {x.t_s:.3f} s)"

    lines = [f"replayed {r.cycles} cycles with config {r.config_source}",
             f"  logged:   {one(r.logged)}", f"  replayed: {one(r.replayed)}"]
    if r.reproduced:
        lines.append("  the replay reproduces the logged outcome exactly")
    elif r.logged is not None and r.replayed is not None:
        dt = r.replayed.t_s - r.logged.t_s
        lines.append(f"  LAND_NOW would have fired {abs(dt):.3f} s "
                     f"{'later' if dt > 0 else 'earlier'}" +
                     ("" if r.replayed.check == r.logged.check else
                      f", by '{r.replayed.check}'"))
    elif r.replayed is None:
        lines.append("  with this configuration LAND_NOW would not have fired")
    else:
        lines.append("  with this configuration LAND_NOW would have fired where the flight "
                     "had none")
    return "\n".join(lines)
