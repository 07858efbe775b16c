"""What the VC0706 integrity check (``verify_reads``: every chunk and the frame length read
until two readings agree) costs in capture time, against the emulator paced at the real baud
rate over a pty. Also the time the bytes need on the wire (8N1), counted at the port, so the
figure does not depend on this machine. Prints a table and, last, one JSON line; never passes
or fails on time.

    .venv/bin/python benchmarks/vc0706_capture.py [--captures 3] [--size 160x120]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Literal, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import serial

from hal.serial_reader import SerialPort, wire_time_ns
from hal.vc0706 import IMAGE_SIZES, Vc0706Camera, Vc0706Settings
from sim_hal.camera_emu_base import gradient_source
from sim_hal.vc0706_emu import Vc0706Emulator

Size = Literal["640x480", "320x240", "160x120"]


class MonoClock:
    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until(self, t_ns: int) -> None:
        time.sleep(max(0, t_ns - self.now_ns()) / 1e9)


class CountingPort:
    """A pyserial port that counts the bytes each way."""

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self.rx = 0
        self.tx = 0

    @property
    def baudrate(self) -> int:
        return int(self._port.baudrate)

    @baudrate.setter
    def baudrate(self, baud: int) -> None:
        self._port.baudrate = baud

    def read(self, size: int = 1) -> bytes:
        data = bytes(self._port.read(size))
        self.rx += len(data)
        return data

    def write(self, data: bytes) -> int | None:
        self.tx += len(data)
        n = self._port.write(data)
        return None if n is None else int(n)

    @property
    def in_waiting(self) -> int:
        return int(self._port.in_waiting)

    def reset_input_buffer(self) -> None:
        self._port.reset_input_buffer()

    def close(self) -> None:
        self._port.close()


def run(baud: int, verify: bool, captures: int, size: Size) -> dict[str, float]:
    emu = Vc0706Emulator(gradient_source(640, 480), baud=baud, size_code=IMAGE_SIZES[size][0],
                         paced=True)
    emu.start()
    ports: list[CountingPort] = []

    def factory() -> SerialPort:
        p = CountingPort(serial.Serial(emu.path, baud, timeout=0.02))
        ports.append(p)
        return p

    s = Vc0706Settings(baud=baud, fast_baud=0, reset_on_open=False, image_size=size,
                       verify_reads=verify, capture_timeout_s=120.0)
    cam = Vc0706Camera(factory, MonoClock(), s)
    times: list[float] = []
    rx: list[int] = []
    tx: list[int] = []
    jpeg_bytes: list[int] = []
    try:
        cam.connect()
        port = ports[-1]
        for _ in range(captures):
            rx0, tx0 = port.rx, port.tx
            t0 = time.monotonic_ns()
            f = cam.capture()
            times.append((time.monotonic_ns() - t0) / 1e6)
            if f is None:
                raise RuntimeError("capture gave no frame")
            rx.append(port.rx - rx0)
            tx.append(port.tx - tx0)
            jpeg_bytes.append(emu.last_jpeg_len)
    finally:
        cam.close()
        emu.stop()
    wire = [wire_time_ns(r + t, baud) / 1e6 for r, t in zip(rx, tx, strict=True)]
    return {
        "capture_ms": statistics.median(times), "wire_ms": statistics.median(wire),
        "rx_bytes": statistics.median(rx), "tx_bytes": statistics.median(tx),
        "jpeg_bytes": statistics.median(jpeg_bytes), "mismatches": cam.mismatches,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captures", type=int, default=3)
    ap.add_argument("--size", choices=sorted(IMAGE_SIZES), default="160x120")
    a = ap.parse_args()
    size = cast(Size, a.size)
    out: dict[str, object] = {"bench": "vc0706_capture", "size": size,
                              "chunk_size": Vc0706Settings().chunk_size}
    for baud in (38400, 115200):
        plain = run(baud, False, a.captures, size)
        checked = run(baud, True, a.captures, size)
        ratio = checked["capture_ms"] / plain["capture_ms"]
        print(f"{size} at {baud:6d} baud, JPEG ~{plain['jpeg_bytes']:.0f} B: capture "
              f"{plain['capture_ms']:7.0f} ms single read, {checked['capture_ms']:7.0f} ms "
              f"verified (x{ratio:.2f}); wire time {plain['wire_ms']:.0f} -> "
              f"{checked['wire_ms']:.0f} ms ({plain['rx_bytes']:.0f} -> "
              f"{checked['rx_bytes']:.0f} B received)")
        for name, r in (("plain", plain), ("verified", checked)):
            out[f"{name}_{baud}"] = {k: round(v, 1) for k, v in r.items()}
        out[f"ratio_{baud}"] = round(ratio, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
