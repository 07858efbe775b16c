"""Flight log cost: AsyncLogWriter.data() time in the producer thread, and log bytes per minute.

Run: .venv/bin/python benchmarks/log_cost.py [--calls N]
Prints the figures, then one JSON line. Besides the representative mix, the log schema's own
record sizes at the shipped sim config's rates give our topics' and the PX4 topics' bytes per
minute (``benchmarks/cycle_cost.py`` measures a whole flight's log).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

from firmware import log_topics as lt
from firmware.config import load_config
from firmware.px4_log import every_cycles
from firmware.ulog_encoder import BASIC_TYPES, ULogWriter, split_type
from firmware.ulog_writer import AsyncLogWriter
from ground.logfile import read_log as read_ulog


def percentile(sorted_vals: list[int], q: float) -> float:
    return float(sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))])


def data_call_cost(calls: int) -> dict[str, float]:
    """Per-call time of data() for a 20-float record, with the writer thread running."""
    fields = [("uint64_t", "timestamp")] + [("float", f"f{i}") for i in range(20)]
    with tempfile.TemporaryDirectory() as tmp:
        w = AsyncLogWriter(Path(tmp) / "bench.ulg", 0)
        w.add_format("rec", fields)
        w.end_definitions()
        rid = w.add_logged("rec")
        values = tuple(float(i) * 0.1 for i in range(20))
        clock = time.perf_counter_ns
        overhead = []
        for _ in range(10_000):
            t0 = clock()
            t1 = clock()
            overhead.append(t1 - t0)
        samples: list[int] = []
        burst = 500  # then pause so the writer drains and the queue never fills
        for k in range(calls):
            rec = (k * 2000, *values)
            t0 = clock()
            w.data(rid, rec)
            t1 = clock()
            samples.append(t1 - t0)
            if k % burst == burst - 1:
                time.sleep(0.06)
        w.close()
        stats = w.stats
    timer = statistics.median(overhead)
    samples.sort()
    return {
        "data_call_median_us": (statistics.median(samples) - timer) / 1000,
        "data_call_p99_us": (percentile(samples, 0.99) - timer) / 1000,
        "data_call_max_us": (samples[-1] - timer) / 1000,
        "timer_overhead_us": timer / 1000,
        "calls": float(calls),
        "dropped": float(stats.records_dropped),
        "written": float(stats.records_written),
    }


def writer_thread_cost(records: int = 50_000) -> dict[str, float]:
    """CPU time the writer thread spends packing one 20-float record (no I/O)."""
    w = ULogWriter(io.BytesIO(), 0)
    w.add_format("rec", [("uint64_t", "timestamp")] + [("float", f"f{i}") for i in range(20)])
    rid = w.add_logged("rec")
    values = tuple(float(i) * 0.1 for i in range(20))
    t0 = time.process_time_ns()
    for k in range(records):
        w.pack_data(rid, (k, *values))
    return {"pack_us_per_record": (time.process_time_ns() - t0) / records / 1000}


def read_speed(blob: bytes) -> dict[str, float]:
    """Seconds to read the one-minute mix with our reader and with pyulog (if installed)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "minute.ulg"
        path.write_bytes(blob)
        t0 = time.perf_counter()
        read_ulog(path)
        out = {"read_s_per_log_minute": time.perf_counter() - t0}
        try:
            from pyulog import ULog
        except ImportError:
            return out
        t0 = time.perf_counter()
        ULog(str(path))
        out["pyulog_read_s_per_log_minute"] = time.perf_counter() - t0
    return out


def bytes_per_minute() -> tuple[dict[str, float], bytes]:
    """One simulated minute of the representative mix, written by the same packing code."""
    buf = io.BytesIO()
    w = ULogWriter(buf, 0)
    ts = [("uint64_t", "timestamp")]
    w.add_format("state", ts + [("float", f"s{i}") for i in range(12)])
    w.add_format("imu", [*ts, ("float[3]", "accel"), ("float[3]", "gyro"), ("float", "temp")])
    w.add_format(
        "frame",
        [
            *ts,
            ("uint32_t", "seq"),
            ("uint64_t", "t_rx_us"),
            ("float", "latency_ms"),
            ("uint16_t", "features"),
            ("float[2]", "flow"),
            ("float", "quality"),
            ("float", "offset_ms"),
            ("float", "skew_ppm"),
            ("bool", "used"),
            ("uint8_t", "dropped"),
        ],
    )
    w.add_format(
        "range", [*ts, ("float", "distance_m"), ("bool", "valid"), ("uint32_t", "seq")]
    )
    w.info("sys_name", "flightsw")
    w.end_definitions()
    header_bytes = buf.tell()
    ids = {n: w.add_logged(n) for n in ("state", "imu", "frame", "range")}
    rates = {"state": 500, "imu": 1000, "frame": 30, "range": 50}
    recs = {
        "state": lambda t: (t, *([0.5] * 12)),
        "imu": lambda t: (t, (0.1, 0.2, -9.8), (0.01, 0.02, 0.03), 25.0),
        "frame": lambda t: (t, 1, t + 5000, 12.5, 80, (0.1, 0.2), 0.9, 1.0, 2.0, True, 0),
        "range": lambda t: (t, 10.0, True, 7),
    }
    per_topic: dict[str, int] = {}
    for name, hz in rates.items():
        before = buf.tell()
        period_us = 1_000_000 // hz
        for k in range(60 * hz):
            w.data(ids[name], recs[name](k * period_us))
        per_topic[name] = buf.tell() - before
    for _ in range(60):
        w.sync()  # the async writer adds one a second
    total = buf.tell() - header_bytes
    out = {f"{n}_bytes_per_min": float(b) for n, b in per_topic.items()}
    out["total_bytes_per_min"] = float(total)
    out["mb_per_hour"] = total * 60 / 1e6
    out["records_per_s"] = float(sum(rates.values()))
    return out, buf.getvalue()


def record_bytes(topic: lt.TopicDef) -> int:
    """One 'D' message of ``topic``: 3-byte header, msg_id, the packed fields."""
    size = 3 + 2
    for type_str, _ in topic.fields:
        base, count = split_type(type_str)
        size += BASIC_TYPES[base][1] * max(count, 1)
    return size


def schema_bytes_per_minute() -> dict[str, float]:
    """Our topics and the PX4 topics at the sim config's rates (the records alone)."""
    root = Path(__file__).resolve().parent.parent
    cfg = load_config(root / "config" / "sim.toml")
    sim = cfg.sim
    loop = cfg.loop.rate_hz
    imu, cam = float(sim["imu"]["rate_hz"]), float(sim["camera"]["rate_hz"])
    rng = float(sim.get("altimeter", {}).get("rate_hz", 50.0))  # sim_hal's default: 50
    ours = {lt.SENSOR_IMU: imu, lt.SENSOR_RANGE: rng, lt.CAMERA_FRAME: cam,
            lt.VISION_FLOW: cam, lt.TRUTH: loop / 10, lt.CAMERA_IMU_OFFSET: 0.0,
            lt.CONTINGENCY_THRESHOLDS: 0.0}
    px4_hz = loop / every_cycles(loop, cfg.log.px4_rate_hz)
    px4 = {lt.PX4_DISTANCE_SENSOR: rng, lt.PX4_VEHICLE_OPTICAL_FLOW: cam}
    out: dict[str, float] = {"px4_rate_hz": px4_hz}
    for label, topics, default_hz in (("ours", lt.TOPICS, loop), ("px4", lt.PX4_TOPICS, px4_hz)):
        rates = ours if label == "ours" else px4
        per_s = sum(record_bytes(t) * rates.get(t, default_hz) for t in topics)
        truth = sum(record_bytes(t) * default_hz for t in lt.PX4_TRUTH_TOPICS)
        out[f"{label}_schema_bytes_per_min"] = per_s * 60
        if label == "px4":
            out["px4_schema_bytes_per_min_without_truth"] = (per_s - truth) * 60
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=20_000)
    args = ap.parse_args()
    cost = data_call_cost(args.calls)
    size, blob = bytes_per_minute()
    pack = writer_thread_cost()
    read = read_speed(blob)
    print(f"AsyncLogWriter.data(), 20-float record, {args.calls} calls (timer overhead "
          f"{cost['timer_overhead_us']:.3f} us subtracted):")
    print(f"  median {cost['data_call_median_us']:.3f} us  p99 {cost['data_call_p99_us']:.3f} us"
          f"  max {cost['data_call_max_us']:.1f} us  dropped {cost['dropped']:.0f}")
    print(f"Log volume for the mix ({size['records_per_s']:.0f} records/s):")
    for n in ("state", "imu", "frame", "range"):
        print(f"  {n:6s} {size[f'{n}_bytes_per_min'] / 1e6:7.3f} MB/min")
    print(f"  total  {size['total_bytes_per_min'] / 1e6:7.3f} MB/min = "
          f"{size['mb_per_hour']:.0f} MB/hour")
    print(f"Writer thread: {pack['pack_us_per_record']:.2f} us CPU to pack a 20-float record "
          f"(x {size['records_per_s']:.0f}/s = "
          f"{pack['pack_us_per_record'] * size['records_per_s'] / 1e4:.2f} % of a core)")
    print(f"Reading one minute of the mix: read_ulog {read['read_s_per_log_minute']:.3f} s"
          + (f", pyulog {read['pyulog_read_s_per_log_minute']:.3f} s"
             if "pyulog_read_s_per_log_minute" in read else ""))
    schema = schema_bytes_per_minute()
    print(f"The log schema at the sim config's rates: our topics "
          f"{schema['ours_schema_bytes_per_min'] / 1e6:.2f} MB/min, PX4 topics at "
          f"{schema['px4_rate_hz']:g} Hz {schema['px4_schema_bytes_per_min'] / 1e6:.2f} MB/min "
          f"({schema['px4_schema_bytes_per_min_without_truth'] / 1e6:.2f} without the "
          f"simulation's ground truth)")
    print(json.dumps({"benchmark": "log_cost", **cost, **size, **pack, **read, **schema}))


if __name__ == "__main__":
    main()
